//! The pure decision: request parts in, what S3 would do out. No I/O, no tower.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};

use crate::fetch_metadata::{FetchMetadata, SiteVerdict};
use crate::matcher::{Mask, Matcher};
use crate::memo::{self, Matched, Outcome};
use crate::options::CorsOptions;
use crate::policy::CorsPolicy;
use crate::request::{
    CorsFields, Listed, OriginField, RequestHead, Requested, RequestedHeaders, ResourceType, S3Method,
};
use crate::response::{error_response, preflight_response, CorsHeaders, VARY_VALUE};
use crate::s3_error::{Refusal, RequestIds};
use crate::source::BucketCors;

/// What the layer does with a request.
#[derive(Clone, Debug)]
#[must_use]
#[non_exhaustive]
pub enum Decision {
    /// Serve with the inner service and return its response unchanged (apart from
    /// [`PassThrough::vary`]).
    PassThrough(PassThrough),
    /// Answer the preflight 200 with these headers; the inner service is not called.
    Preflight(Allowed),
    /// Serve with the inner service and add these headers to its response.
    Actual(Allowed),
    /// Answer with this S3 error document; the inner service is not called.
    Refuse(Refusal),
}

impl Decision {
    /// One word for the outcome, as the command line's `explain` and the decision hook say
    /// it: `preflight-allowed`, `cors-headers-added`, `refused` or `pass-through`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Preflight(_) => "preflight-allowed",
            Decision::Actual(_) => "cors-headers-added",
            Decision::Refuse(_) => "refused",
            Decision::PassThrough(_) => "pass-through",
        }
    }

    /// Why, in one sentence for people (the command line's `explain` and the decision hook
    /// use these words).
    pub fn reason(&self) -> &'static str {
        match self {
            Decision::Preflight(_) => "the first rule that matches; the layer answers the preflight itself",
            Decision::Actual(_) => {
                "the first rule that matches; your service answers and the layer adds these \
                 headers to its response (replacing same-named ones, merging Vary)"
            }
            Decision::Refuse(refusal) => refusal.kind().reason(),
            Decision::PassThrough(pass) => pass.reason().sentence(),
        }
    }

    /// The 0-based index of the rule that matched, for an allowed preflight or actual request.
    pub fn rule_index(&self) -> Option<usize> {
        match self {
            Decision::Preflight(allowed) | Decision::Actual(allowed) => Some(allowed.rule_index()),
            Decision::Refuse(_) | Decision::PassThrough(_) => None,
        }
    }
}

/// Why a request is served unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PassReason {
    /// No (or an empty) `Origin`: not a CORS request.
    NotCors,
    /// The request names no bucket.
    NoBucket,
    /// The bucket does not exist (its own handler answers).
    NoSuchBucket,
    /// The bucket has no CORS configuration.
    NotConfigured,
    /// No rule matched the origin, method and requested headers.
    NoRuleMatched,
    /// In Fetch mode, an `OPTIONS` request without `Origin`: not a preflight.
    NotPreflight,
}

impl PassReason {
    /// Why, in one sentence for people ([`Decision::reason`]).
    pub fn sentence(self) -> &'static str {
        match self {
            PassReason::NotCors => {
                "no Origin: not a CORS request; your service's response goes back unchanged"
            }
            PassReason::NoRuleMatched => {
                "no rule matches: your service's response goes back unchanged, without CORS \
                 headers, and the browser will not let the page read it (S3 never refuses an \
                 actual request)"
            }
            PassReason::NoBucket => {
                "the request names no bucket; your service's response goes back unchanged"
            }
            PassReason::NoSuchBucket => {
                "the bucket does not exist; your service's response goes back unchanged"
            }
            PassReason::NotConfigured => {
                "the bucket has no CORS configuration; your service's response goes back unchanged"
            }
            PassReason::NotPreflight => {
                "an OPTIONS request that is not a preflight (Fetch mode); your service answers it"
            }
        }
    }
}

/// A request served unchanged, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassThrough {
    pub(crate) reason: PassReason,
    pub(crate) vary: bool,
    /// The Fetch Metadata verdict that let the request through, when that option is on.
    pub(crate) fetch_metadata: Option<SiteVerdict>,
}

impl PassThrough {
    /// Why the request is served unchanged.
    pub fn reason(&self) -> PassReason {
        self.reason
    }

    /// Whether cache-safe `Vary` applies to this response.
    pub fn adds_vary(&self) -> bool {
        self.vary
    }

    /// The Fetch Metadata verdict that let the request through, when that option is on.
    pub fn fetch_metadata(&self) -> Option<SiteVerdict> {
        self.fetch_metadata
    }

    /// The `Vary` value merged into the response, if any: cache-safe `Vary`'s tokens, then
    /// the Fetch Metadata headers the decision read.
    pub fn vary(&self) -> Option<HeaderValue> {
        match (self.vary, self.fetch_metadata) {
            (false, None) => None,
            (true, None) => Some(const { HeaderValue::from_static(VARY_VALUE) }),
            (cache_safe, Some(verdict)) => Some(verdict.vary_value(cache_safe)),
        }
    }
}

/// A rule matched: which one, and the headers to send.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub(crate) rule_index: usize,
    pub(crate) headers: CorsHeaders,
}

impl Allowed {
    /// The 0-based index of the first matching rule.
    pub fn rule_index(&self) -> usize {
        self.rule_index
    }

    /// The headers to send.
    pub fn headers(&self) -> &CorsHeaders {
        &self.headers
    }

    /// The headers to send, taken (to insert them without cloning).
    pub fn into_headers(self) -> CorsHeaders {
        self.headers
    }
}

/// Finds the first rule that accepts `origin`, `method` and every requested header. The same
/// pass over the requested names fills `listed` for the echo.
fn first_match<'a>(
    matcher: &Matcher,
    origin: &[u8],
    method: S3Method,
    requested: &RequestedHeaders<'a>,
    listed: &mut Listed<'a>,
) -> Option<usize> {
    let mut candidates = accepting(matcher, origin, method)?;
    for name in requested.names() {
        // Rules with AllowedHeader `*` accept any name; only look a name up while another
        // rule is in the running.
        if candidates & !matcher.any_header() != 0 {
            candidates = matcher.header_mask(name, candidates);
            if candidates == 0 {
                return None;
            }
        }
        if let Some(kept) = listed.first.get_mut(listed.count) {
            *kept = name;
        }
        listed.count += 1;
        listed.bytes += name.len();
    }
    let [first_name, ..] = listed.first;
    listed.verbatim = listed.count == 1
        && requested
            .single()
            .is_some_and(|field| field.len() == first_name.len())
        && !first_name.iter().any(u8::is_ascii_uppercase);
    Some(candidates.trailing_zeros() as usize)
}

/// The rules that accept `origin` and `method`; `None` when none does.
#[inline]
fn accepting(matcher: &Matcher, origin: &[u8], method: S3Method) -> Option<Mask> {
    let candidates = matcher.method_mask(method) & matcher.all();
    if candidates == 0 {
        return None;
    }
    let candidates = matcher.origin_mask(origin, candidates);
    (candidates != 0).then_some(candidates)
}

/// What matching decides for a request: the first rule that accepts it and the echo of its
/// requested names; `None` when no rule does.
fn outcome(matcher: &Matcher, origin: &[u8], method: S3Method, requested: &RequestedHeaders<'_>) -> Outcome {
    let mut listed = Listed::default();
    let rule = first_match(matcher, origin, method, requested, &mut listed)?;
    Some(Matched {
        rule,
        echo: requested.echo(&listed),
        echo_is_field: listed.verbatim,
    })
}

/// The first rule that accepts the request, with the headers to send. A preflight with one
/// `Access-Control-Request-Headers` field (as browsers send them) is matched once per thread
/// while it keeps coming ([`memo`]); actual requests rarely carry the field.
#[inline]
fn matched_rule(
    policy: &CorsPolicy,
    headers: &HeaderMap,
    requested: Requested<'_>,
    origin: &HeaderValue,
    method: S3Method,
    private_network: bool,
    remember: bool,
) -> Option<Allowed> {
    let Some(requested) = RequestedHeaders::from_fields(requested, headers) else {
        // No requested headers (most actual requests): the origin and the method decide.
        let candidates = accepting(&policy.matcher, origin.as_bytes(), method)?;
        let rule = candidates.trailing_zeros() as usize;
        return Some(Allowed {
            rule_index: rule,
            headers: policy.headers(rule, origin, None, private_network)?,
        });
    };
    let field = requested.single();
    let decide = || outcome(&policy.matcher, origin.as_bytes(), method, &requested);
    let decided = match field {
        Some(field) if remember => memo::decided(
            &memo::Key {
                policy: policy.id,
                method,
                origin: origin.as_bytes(),
                requested: Some(field.as_bytes()),
                // Matching depends on neither.
                options: CorsOptions::NONE,
                private_network: false,
            },
            decide,
        ),
        _ => decide(),
    };
    let Matched {
        rule,
        echo,
        echo_is_field,
    } = decided?;
    let echo = if echo_is_field { field.cloned() } else { echo };
    Some(Allowed {
        rule_index: rule,
        headers: policy.headers(rule, origin, echo, private_network)?,
    })
}

/// Decides what S3 would do with a request, given the outcome of the bucket lookup and the
/// options. This is the whole of the crate's CORS logic; the tower layer only carries it out.
///
/// ```
/// use tower_s3_cors::{decide, BucketCors, CorsOptions, Decision, PassReason};
///
/// let request = http::Request::get("/key").header("origin", "https://a.example").body(()).unwrap();
/// let decision = decide((&request).into(), BucketCors::NotConfigured, &CorsOptions::new());
/// assert!(matches!(decision, Decision::PassThrough(p) if p.reason() == PassReason::NotConfigured));
/// ```
pub fn decide(head: RequestHead<'_>, bucket: BucketCors<'_>, options: &CorsOptions) -> Decision {
    decide_on(head, CorsFields::of(&head), bucket, options, true)
}

/// [`decide`], on the request's CORS fields read already; `remember`: whether a preflight's
/// matching may be kept and given again ([`memo`]), which a caller that keeps
/// whole answers does not need.
#[inline]
pub(crate) fn decide_on<'a>(
    head: RequestHead<'a>,
    fields: CorsFields<'a>,
    bucket: BucketCors<'_>,
    options: &CorsOptions,
    remember: bool,
) -> Decision {
    if fields.is_preflight(options) {
        return preflight_decision(head, bucket, options, fields, remember);
    }
    let (policy, resource) = match bucket {
        BucketCors::NoBucket => return pass(PassReason::NoBucket, false),
        BucketCors::NoSuchBucket => return pass(PassReason::NoSuchBucket, false),
        BucketCors::NotConfigured => return pass(PassReason::NotConfigured, false),
        BucketCors::Configured { policy, resource } => (policy, resource),
    };
    let s3 = actual_decision(&head, &fields, policy, resource, options);
    // Fetch Metadata resource isolation (beyond S3): the S3 decision, then the site check.
    match options.fetch_metadata {
        Some(site_policy) => fetch_metadata_guard(site_policy, s3, &head, &fields, resource, options),
        None => s3,
    }
}

/// S3's decision for an actual request to a configured resource (enforce included, Fetch
/// Metadata not), on the fields [`decide`] read once.
fn actual_decision(
    head: &RequestHead<'_>,
    fields: &CorsFields<'_>,
    policy: &CorsPolicy,
    resource: ResourceType,
    options: &CorsOptions,
) -> Decision {
    let is_options = *head.method == Method::OPTIONS;
    let vary = options.cache_safe_vary;
    let origin = match fields.origin {
        OriginField::Absent if is_options => return pass(PassReason::NotPreflight, vary),
        OriginField::Absent => return pass(PassReason::NotCors, vary),
        OriginField::One(origin) => Some(origin),
        OriginField::Many => None,
    };
    let matched = match (origin, fields.matched_method()) {
        (Some(origin), Some(method)) => matched_rule(
            policy,
            head.headers,
            fields.requested,
            origin,
            method,
            false,
            false,
        ),
        _ => None,
    };
    match matched {
        Some(allowed) => Decision::Actual(allowed),
        None if options.enforce => refuse_actual(head, fields, resource),
        None => pass(PassReason::NoRuleMatched, vary),
    }
}

/// Fetch Metadata resource isolation (beyond S3) on the S3 decision `s3` for an actual
/// request (not a preflight: the layer answers those, the handler never runs) to a configured
/// resource:
///
/// - a rule allowed the `Origin`: the S3 decision stands, and as its answer does not depend
///   on Fetch Metadata, nothing is added to `Vary`;
/// - otherwise a [`SiteVerdict::CrossSite`] request is refused with S3's 403;
/// - a `same-origin` request that enforce refused for its `Origin` is served, without CORS
///   headers (the browser vouches that the page is the resource's own);
/// - other refusals (enforce judging an `Origin`) stand; what passes is served as S3 would,
///   with the Fetch Metadata headers it was judged on in `Vary`.
fn fetch_metadata_guard(
    site_policy: FetchMetadata,
    s3: Decision,
    head: &RequestHead<'_>,
    fields: &CorsFields<'_>,
    resource: ResourceType,
    options: &CorsOptions,
) -> Decision {
    // A rule allowed the Origin: the headers need not be read.
    if matches!(s3, Decision::Actual(_) | Decision::Preflight(_)) {
        return s3;
    }
    let verdict = site_policy.judge(head.method, head.headers);
    let passed = |reason| {
        Decision::PassThrough(PassThrough {
            reason,
            vary: options.cache_safe_vary,
            fetch_metadata: Some(verdict),
        })
    };
    match s3 {
        Decision::Refuse(_) if verdict == SiteVerdict::SameOrigin => passed(PassReason::NoRuleMatched),
        Decision::Actual(_) | Decision::Preflight(_) | Decision::Refuse(_) => s3,
        Decision::PassThrough(_) if !verdict.passes() => refuse_actual(head, fields, resource),
        Decision::PassThrough(pass) => passed(pass.reason),
    }
}

/// S3's 403 for an actual request no rule allows (enforce, Fetch Metadata): `<Method>` is its
/// `Access-Control-Request-Method` when sent, else its own method.
fn refuse_actual(head: &RequestHead<'_>, fields: &CorsFields<'_>, resource: ResourceType) -> Decision {
    let method = match fields.request_method {
        Some((value, _)) => value.clone(),
        None => HeaderValue::from_str(head.method.as_str()).unwrap_or(HeaderValue::from_static("")),
    };
    Decision::Refuse(Refusal::not_allowed(method, resource))
}

fn pass(reason: PassReason, vary: bool) -> Decision {
    Decision::PassThrough(PassThrough {
        reason,
        vary,
        fetch_metadata: None,
    })
}

fn preflight_decision(
    head: RequestHead<'_>,
    bucket: BucketCors<'_>,
    options: &CorsOptions,
    fields: CorsFields<'_>,
    remember: bool,
) -> Decision {
    let CorsFields {
        origin,
        request_method,
        requested,
        ..
    } = fields;
    // Origin first, before anything is looked up.
    if matches!(origin, OriginField::Absent) {
        return Decision::Refuse(Refusal::missing_origin());
    }
    // The request method as sent, for the refusals that echo it (cloned only for them).
    let method_echo = || request_method.map(|(value, _)| value.clone());
    // Then the bucket, before the request method is looked at.
    let (policy, resource) = match bucket {
        BucketCors::NoBucket | BucketCors::NoSuchBucket => {
            return Decision::Refuse(Refusal::no_such_bucket(method_echo()))
        }
        BucketCors::NotConfigured => return Decision::Refuse(Refusal::cors_not_enabled(method_echo())),
        BucketCors::Configured { policy, resource } => (policy, resource),
    };
    // Then exactly one Access-Control-Request-Method, one of the five.
    let (value, method) = match request_method {
        None => return Decision::Refuse(Refusal::invalid_request_method(None)),
        Some((value, true)) => return Decision::Refuse(Refusal::invalid_request_method(Some(value.clone()))),
        Some((value, false)) => match S3Method::from_bytes(value.as_bytes()) {
            Some(method) => (value, method),
            None => return Decision::Refuse(Refusal::invalid_request_method(Some(value.clone()))),
        },
    };
    // Then the first rule that matches origin, method and every requested header.
    let private_network = CorsFields::private_network(&head, options);
    let matched = match origin {
        OriginField::One(origin) => matched_rule(
            policy,
            head.headers,
            requested,
            origin,
            method,
            private_network,
            remember,
        ),
        _ => None,
    };
    match matched {
        Some(allowed) => Decision::Preflight(allowed),
        None => Decision::Refuse(Refusal::not_allowed(value.clone(), resource)),
    }
}

impl CorsPolicy {
    /// Evaluates a request against this policy as S3 would for one configured bucket whose
    /// URL is `/` (any other path is an object), with every option off.
    pub fn evaluate<'a>(&self, request: impl Into<RequestHead<'a>>) -> Decision {
        self.evaluate_with(request, &CorsOptions::default())
    }

    /// [`evaluate`](Self::evaluate) with options.
    pub fn evaluate_with<'a>(&self, request: impl Into<RequestHead<'a>>, options: &CorsOptions) -> Decision {
        let head = request.into();
        let resource = ResourceType::from_path(head.uri.path());
        decide(
            head,
            BucketCors::Configured {
                policy: self,
                resource,
            },
            options,
        )
    }
}

impl Decision {
    /// The response the layer sends without calling the inner service, built by the same code
    /// as the layer's: the 200 answer to an allowed preflight, or the S3 error document of a
    /// refusal (with `ids` in its headers and body). `None` when the inner service answers:
    /// [`Decision::PassThrough`], and [`Decision::Actual`], whose headers
    /// [`CorsHeaders::apply_to`] adds to the inner response.
    ///
    /// ```
    /// use tower_s3_cors::{CorsConfiguration, CorsPolicy, RequestIds};
    ///
    /// let policy = CorsPolicy::new(CorsConfiguration::from_json(
    ///     r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    /// )?);
    /// let preflight = http::Request::options("/photo.jpg")
    ///     .header("origin", "https://evil.example")
    ///     .header("access-control-request-method", "GET")
    ///     .body(())
    ///     .unwrap();
    /// let ids = RequestIds {
    ///     request_id: http::HeaderValue::from_static("REQ1"),
    ///     host_id: http::HeaderValue::from_static("HOST1"),
    /// };
    /// let response = policy.evaluate(&preflight).to_response(&ids).unwrap();
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(response.headers()["x-amz-request-id"], "REQ1");
    /// assert!(response.body().ends_with(b"<RequestId>REQ1</RequestId><HostId>HOST1</HostId></Error>"));
    /// # Ok::<(), tower_s3_cors::ConfigError>(())
    /// ```
    pub fn to_response(&self, ids: &RequestIds) -> Option<Response<Bytes>> {
        match self {
            Decision::Preflight(allowed) => Some(preflight_response(allowed.headers().clone(), Bytes::new())),
            Decision::Refuse(refusal) => Some(error_response(refusal, Some(ids.clone()))),
            Decision::PassThrough(_) | Decision::Actual(_) => None,
        }
    }
}

/// A failed lookup: a preflight (or, in enforce mode, any cross-origin request) gets S3's 500
/// `InternalError`; otherwise the request is served without CORS headers, as S3 serves an
/// actual request it cannot match.
pub(crate) fn lookup_failed(head: &RequestHead<'_>, options: &CorsOptions) -> Decision {
    let fields = CorsFields::of(head);
    // Fetch Metadata: whether a rule would allow a cross-site request cannot be known either.
    let cross_site = options
        .fetch_metadata
        .is_some_and(|policy| !policy.judge(head.method, head.headers).passes());
    if fields.is_preflight(options) || (options.enforce && fields.has_origin()) || cross_site {
        Decision::Refuse(Refusal::lookup_failed())
    } else {
        decide(*head, BucketCors::NoBucket, options)
    }
}
