//! The pure decision: request parts in, what S3 would do out. No I/O, no tower.

use http::header::{GetAll, ValueIter};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, ORIGIN, VARY,
};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::fetch_metadata::{FetchMetadata, SiteVerdict};
use crate::matcher::{bytes_equal, CorsPolicy, S3Method, HIGH};
use crate::s3_error::Refusal;

/// `Access-Control-Request-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `Access-Control-Allow-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// The `Vary` value S3 sends with every CORS answer.
pub(crate) const VARY_VALUE: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const VARY_VALUE_PRIVATE_NETWORK: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Access-Control-Request-Private-Network";

/// The parts of a request the decision reads: method, URI and headers (and, for hooks, the
/// extensions).
///
/// Made from a [`http::Request`] or [`http::request::Parts`] with `From`, or with
/// [`RequestHead::new`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI (its path tells a bucket URL from an object URL).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request extensions, when the head was made from a request (hooks may read an id
    /// an earlier middleware stored there).
    pub extensions: Option<&'a Extensions>,
}

impl<'a> RequestHead<'a> {
    /// A head from its parts (no extensions).
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        RequestHead {
            method,
            uri,
            headers,
            extensions: None,
        }
    }
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestHead {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: Some(&parts.extensions),
        }
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: Some(request.extensions()),
        }
    }
}

/// Whether the URL names the bucket itself or an object in it (S3's `<ResourceType>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// The bucket URL.
    Bucket,
    /// An object URL.
    Object,
}

impl ResourceType {
    /// For a layer that stands for one virtual-hosted bucket: `/` is the bucket, any other
    /// path an object.
    pub fn from_path(path: &str) -> ResourceType {
        if path.is_empty() || path == "/" {
            ResourceType::Bucket
        } else {
            ResourceType::Object
        }
    }

    /// `BUCKET` or `OBJECT`, as S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Bucket => "BUCKET",
            ResourceType::Object => "OBJECT",
        }
    }
}

/// What looking up the request's bucket gave (spec §3).
#[derive(Clone, Copy, Debug)]
pub enum BucketCors<'a> {
    /// The request names no bucket (the service endpoint).
    NoBucket,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The bucket exists and has no CORS configuration.
    NotConfigured,
    /// The bucket's compiled rules, and whether the URL names the bucket or an object.
    Configured {
        /// The bucket's rules.
        policy: &'a CorsPolicy,
        /// Bucket URL or object URL.
        resource: ResourceType,
    },
}

/// Behaviour beyond S3, each off by default. See the crate documentation for why one would
/// turn each on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct CorsOptions {
    pub(crate) cache_safe_vary: bool,
    pub(crate) fetch_mode: bool,
    pub(crate) enforce: bool,
    pub(crate) private_network: bool,
    // Fetch Metadata resource isolation (beyond S3): see `crate::fetch_metadata`.
    pub(crate) fetch_metadata: Option<FetchMetadata>,
}

impl CorsOptions {
    /// S3's behaviour: every option off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send `Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method` on
    /// every response of a configured resource, also when the request had no `Origin` or
    /// matched no rule, so a shared cache never serves a CORS-less copy to a CORS request.
    pub fn cache_safe_vary(mut self, on: bool) -> Self {
        self.cache_safe_vary = on;
        self
    }

    /// Intercept only true preflights (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); other `OPTIONS` requests reach the inner service.
    pub fn fetch_mode(mut self, on: bool) -> Self {
        self.fetch_mode = on;
        self
    }

    /// Refuse an actual request whose `Origin` matches no rule with S3's 403
    /// `AccessForbidden`, without calling the inner service. Requests without `Origin` pass;
    /// [`fetch_metadata`](Self::fetch_metadata) judges those, and with it on a same-origin
    /// request (`Sec-Fetch-Site: same-origin`) is served even when no rule lists its `Origin`.
    pub fn enforce(mut self, on: bool) -> Self {
        self.enforce = on;
        self
    }

    /// Answer `Access-Control-Request-Private-Network: true` on an allowed preflight with
    /// `Access-Control-Allow-Private-Network: true` (and that request header in `Vary`).
    ///
    /// Only Chromium sent these Private Network Access preflights (from Chrome 104, before
    /// requests from a public site to a private or loopback address; failures were warnings
    /// unless enforcement was switched on). Chrome replaced them with the Local Network Access
    /// permission prompt, shipped in Chrome 142: the user grants it, no response header can.
    /// This option neither grants nor skips that prompt, and it does not protect a service on
    /// a private network from public sites; [`enforce`](Self::enforce) and
    /// [`fetch_metadata`](Self::fetch_metadata) do that on the server.
    pub fn private_network(mut self, on: bool) -> Self {
        self.private_network = on;
        self
    }

    /// Refuse cross-site requests no rule allows, judged on the Fetch Metadata headers
    /// browsers send (`Sec-Fetch-Site`, `Sec-Fetch-Mode`, `Sec-Fetch-Dest`), before the inner
    /// service runs; [`FetchMetadata`] says which requests pass. `None` turns it off.
    ///
    /// ```
    /// use tower_s3_cors::{CorsOptions, FetchMetadata};
    ///
    /// let options = CorsOptions::new()
    ///     .enforce(true)
    ///     .fetch_metadata(FetchMetadata::new().allow_navigation(false));
    /// assert!(options.fetch_metadata_policy().is_some());
    /// assert!(options.fetch_metadata(None).fetch_metadata_policy().is_none());
    /// ```
    pub fn fetch_metadata(mut self, policy: impl Into<Option<FetchMetadata>>) -> Self {
        self.fetch_metadata = policy.into();
        self
    }

    /// The Fetch Metadata policy, when it is on.
    pub fn fetch_metadata_policy(&self) -> Option<FetchMetadata> {
        self.fetch_metadata
    }

    /// Whether cache-safe `Vary` is on.
    pub fn is_cache_safe_vary(&self) -> bool {
        self.cache_safe_vary
    }

    /// Whether Fetch-mode `OPTIONS` handling is on.
    pub fn is_fetch_mode(&self) -> bool {
        self.fetch_mode
    }

    /// Whether enforce mode is on.
    pub fn is_enforce(&self) -> bool {
        self.enforce
    }

    /// Whether Private Network Access answers are on.
    pub fn is_private_network(&self) -> bool {
        self.private_network
    }
}

/// What the layer does with a request.
#[derive(Clone, Debug)]
#[must_use]
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

/// A request served unchanged, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassThrough {
    pub(crate) reason: PassReason,
    pub(crate) vary: bool,
    /// The Fetch Metadata verdict that let the request through, when that option is on.
    pub(crate) fetch_metadata: Option<SiteVerdict>,
}

impl PassThrough {
    /// Why.
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
        crate::fetch_metadata::pass_through_vary(self.vary, self.fetch_metadata)
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

    /// Takes the headers.
    pub fn into_headers(self) -> CorsHeaders {
        self.headers
    }
}

/// The `Access-Control-*` headers (and `Vary`) of an allowed request, ready to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsHeaders {
    pub(crate) allow_origin: HeaderValue,
    pub(crate) allow_credentials: bool,
    pub(crate) allow_methods: HeaderValue,
    pub(crate) allow_headers: Option<HeaderValue>,
    pub(crate) expose_headers: Option<HeaderValue>,
    pub(crate) max_age: Option<HeaderValue>,
    pub(crate) allow_private_network: bool,
    pub(crate) vary: HeaderValue,
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
const STAR: HeaderValue = HeaderValue::from_static("*");

/// The inner response's headers a match replaces that the layer does not always set.
const REMOVED: [HeaderName; 5] = [
    ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
];

impl CorsHeaders {
    /// `Access-Control-Allow-Origin`: `*`, or the request's `Origin` verbatim.
    pub fn allow_origin(&self) -> &HeaderValue {
        &self.allow_origin
    }

    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub fn allow_credentials(&self) -> bool {
        self.allow_credentials
    }

    /// `Access-Control-Allow-Methods`: the rule's methods, configuration order.
    pub fn allow_methods(&self) -> &HeaderValue {
        &self.allow_methods
    }

    /// `Access-Control-Allow-Headers`: the requested names, lowercased, request order.
    pub fn allow_headers(&self) -> Option<&HeaderValue> {
        self.allow_headers.as_ref()
    }

    /// `Access-Control-Expose-Headers`, when the rule has ExposeHeaders.
    pub fn expose_headers(&self) -> Option<&HeaderValue> {
        self.expose_headers.as_ref()
    }

    /// `Access-Control-Max-Age`, when the rule has MaxAgeSeconds.
    pub fn max_age(&self) -> Option<&HeaderValue> {
        self.max_age.as_ref()
    }

    /// `Vary`.
    pub fn vary(&self) -> &HeaderValue {
        &self.vary
    }

    /// Every header, in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        [
            Some((ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin.clone())),
            self.allow_credentials
                .then_some((ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE)),
            Some((ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone())),
            self.allow_headers
                .clone()
                .map(|v| (ACCESS_CONTROL_ALLOW_HEADERS, v)),
            self.expose_headers
                .clone()
                .map(|v| (ACCESS_CONTROL_EXPOSE_HEADERS, v)),
            self.max_age.clone().map(|v| (ACCESS_CONTROL_MAX_AGE, v)),
            self.allow_private_network
                .then_some((ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, TRUE)),
            Some((VARY, self.vary.clone())),
        ]
        .into_iter()
        .flatten()
    }

    /// How many fields [`write_to`](Self::write_to) writes.
    pub(crate) fn len(&self) -> usize {
        3 + usize::from(self.allow_credentials)
            + usize::from(self.allow_headers.is_some())
            + usize::from(self.expose_headers.is_some())
            + usize::from(self.max_age.is_some())
            + usize::from(self.allow_private_network)
    }

    /// Writes the headers of a short-circuited preflight into an empty map.
    pub(crate) fn write_to(self, headers: &mut HeaderMap) {
        let vary = self.insert_access_control(headers);
        headers.insert(VARY, vary);
    }

    /// Applies the headers to an inner service's response: the layer's values replace every
    /// `Access-Control-*` header the inner service set, and `Vary` is merged into one field.
    pub fn apply_to(self, headers: &mut HeaderMap) {
        // One look at the response's field names (no hashing) tells whether the inner service
        // set a CORS header the layer may not overwrite, or a `Vary` to merge into. Most
        // responses have neither, and then nothing is looked up before inserting.
        let mut stale = false;
        let mut has_vary = false;
        for name in headers.keys() {
            if *name == VARY {
                has_vary = true;
            } else if REMOVED.contains(name) {
                stale = true;
            }
        }
        if stale {
            for name in REMOVED {
                headers.remove(name);
            }
        }
        let vary = self.insert_access_control(headers);
        if has_vary {
            crate::vary::merge(headers, vary);
        } else {
            headers.insert(VARY, vary);
        }
    }

    /// Inserts every `Access-Control-*` header (replacing same-named ones); gives back `Vary`.
    fn insert_access_control(self, headers: &mut HeaderMap) -> HeaderValue {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin);
        if self.allow_credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods);
        if let Some(v) = self.allow_headers {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(v) = self.expose_headers {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
        if let Some(v) = self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, v);
        }
        if self.allow_private_network {
            headers.insert(ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, TRUE);
        }
        self.vary
    }
}

/// A rule's preflight answer headers, built when the rules are compiled, in the order
/// [`CorsHeaders::write_to`] writes them, with placeholders for the two values that come
/// from the request (Allow-Origin, the echoed Allow-Headers). A preflight clones the map that
/// fits (two allocations, no hashing) and puts the request's values in place.
#[derive(Clone, Debug)]
pub(crate) struct PreflightTemplate {
    without_echo: HeaderMap,
    with_echo: HeaderMap,
}

impl PreflightTemplate {
    pub(crate) fn new(
        any_origin: bool,
        allow_methods: &HeaderValue,
        expose_headers: &Option<HeaderValue>,
        max_age: &Option<HeaderValue>,
    ) -> Self {
        let map = |echo: bool| {
            CorsHeaders {
                allow_origin: STAR,
                allow_credentials: !any_origin,
                allow_methods: allow_methods.clone(),
                allow_headers: echo.then_some(STAR),
                expose_headers: expose_headers.clone(),
                max_age: max_age.clone(),
                allow_private_network: false,
                vary: HeaderValue::from_static(VARY_VALUE),
            }
            .preflight_map(None)
        };
        PreflightTemplate {
            without_echo: map(false),
            with_echo: map(true),
        }
    }
}

impl CorsHeaders {
    /// The headers of a 200 preflight answer (these, then `Content-Length: 0`), from the
    /// matched rule's `template` when there is one.
    pub(crate) fn preflight_map(self, template: Option<&PreflightTemplate>) -> HeaderMap {
        match template {
            // Private Network Access changes Vary and adds a field: built by hand (opt-in).
            Some(template) if !self.allow_private_network => {
                let mut map = match self.allow_headers {
                    Some(_) => template.with_echo.clone(),
                    None => template.without_echo.clone(),
                };
                let mut origin = Some(self.allow_origin);
                let mut echo = self.allow_headers;
                for (name, value) in map.iter_mut() {
                    if *name == ACCESS_CONTROL_ALLOW_ORIGIN {
                        if let Some(origin) = origin.take() {
                            *value = origin;
                        }
                    } else if *name == ACCESS_CONTROL_ALLOW_HEADERS {
                        if let Some(echo) = echo.take() {
                            *value = echo;
                        }
                    }
                }
                map
            }
            _ => {
                // Sized for every field at once: allocated once, never grown.
                let mut map = HeaderMap::with_capacity(self.len() + 1);
                self.write_to(&mut map);
                map.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                map
            }
        }
    }
}

/// `Origin` as the request sent it.
enum OriginField<'a> {
    Absent,
    One(&'a HeaderValue),
    /// More than one `Origin` field: matches nothing.
    Many,
}

fn origin_field(headers: &HeaderMap) -> OriginField<'_> {
    let mut fields = headers.get_all(ORIGIN).iter();
    match (fields.next(), fields.next()) {
        (None, _) => OriginField::Absent,
        // S3 treats an empty Origin as no Origin.
        (Some(v), None) if v.is_empty() => OriginField::Absent,
        (Some(v), None) => OriginField::One(v),
        (Some(_), Some(_)) => OriginField::Many,
    }
}

/// `Access-Control-Request-Method`: absent, or its first value and whether it was repeated.
fn request_method_field(headers: &HeaderMap) -> Option<(&HeaderValue, bool)> {
    let mut fields = headers.get_all(ACCESS_CONTROL_REQUEST_METHOD).iter();
    let first = fields.next()?;
    Some((first, fields.next().is_some()))
}

/// Whether a request is a preflight: S3 treats every `OPTIONS` as one; Fetch mode only those
/// a browser sends (with `Origin` and `Access-Control-Request-Method`).
fn is_preflight(
    method: &Method,
    origin: &OriginField<'_>,
    request_method: Option<(&HeaderValue, bool)>,
    options: &CorsOptions,
) -> bool {
    *method == Method::OPTIONS
        && (!options.fetch_mode || (!matches!(origin, OriginField::Absent) && request_method.is_some()))
}

/// The method an actual request is matched on: `Access-Control-Request-Method` when present
/// (S3 matches an actual request on it), else the request's own; none when it was sent twice.
fn actual_method(method: &Method, request_method: Option<(&HeaderValue, bool)>) -> Option<S3Method> {
    match request_method {
        None => S3Method::from_bytes(method.as_str().as_bytes()),
        Some((value, false)) => S3Method::from_bytes(value.as_bytes()),
        Some((_, true)) => None,
    }
}

/// What the request's CORS fields say, for code beside [`decide`] (the per-rule explanation,
/// a failed lookup) that must read them exactly as it does.
pub(crate) struct CorsFields<'a> {
    method: &'a Method,
    origin: OriginField<'a>,
    request_method: Option<(&'a HeaderValue, bool)>,
}

impl<'a> CorsFields<'a> {
    pub(crate) fn of(head: &RequestHead<'a>) -> Self {
        CorsFields {
            method: head.method,
            origin: origin_field(head.headers),
            request_method: request_method_field(head.headers),
        }
    }

    pub(crate) fn is_preflight(&self, options: &CorsOptions) -> bool {
        is_preflight(self.method, &self.origin, self.request_method, options)
    }

    /// Whether the request names an origin (one or several `Origin` fields, not empty).
    pub(crate) fn has_origin(&self) -> bool {
        !matches!(self.origin, OriginField::Absent)
    }

    /// The one `Origin` a rule can match (several fields match nothing).
    pub(crate) fn single_origin(&self) -> Option<&'a HeaderValue> {
        match self.origin {
            OriginField::One(origin) => Some(origin),
            _ => None,
        }
    }

    /// The method rules are matched on: a preflight's `Access-Control-Request-Method`, or an
    /// actual request's (see [`actual_method`]); an `OPTIONS` without one matches nothing.
    pub(crate) fn matched_method(&self) -> Option<S3Method> {
        actual_method(self.method, self.request_method)
    }
}

/// The names listed in `Access-Control-Request-Headers`: every field joined with `,`, split on
/// `,`, trimmed of spaces and tabs, empty items dropped. One pass, no allocation.
pub(crate) fn requested_headers(headers: &HeaderMap) -> Names<'_> {
    RequestedHeaders::of(headers).names()
}

/// The `Access-Control-Request-Headers` fields of a request, looked up once.
pub(crate) struct RequestedHeaders<'a> {
    fields: GetAll<'a, HeaderValue>,
}

impl<'a> RequestedHeaders<'a> {
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        RequestedHeaders {
            fields: headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS),
        }
    }

    pub(crate) fn names(&self) -> Names<'a> {
        Names {
            fields: self.fields.iter(),
            rest: b"",
        }
    }

    /// The `Access-Control-Allow-Headers` echo of names `listed` counted: lowercased, joined
    /// by `, `. One allocation of the exact size, or none when the request's single field is
    /// already that value (one lowercase name, as browsers send it).
    fn echo(&self, listed: &Listed) -> Option<HeaderValue> {
        if listed.count == 0 {
            return None;
        }
        if let Some(field) = listed.verbatim {
            return Some(field.clone());
        }
        let mut out = Vec::with_capacity(listed.bytes + 2 * (listed.count - 1));
        let mut push = |name: &[u8]| {
            if !out.is_empty() {
                out.extend_from_slice(b", ");
            }
            let start = out.len();
            out.extend_from_slice(name);
            if let Some(copied) = out.get_mut(start..) {
                copied.make_ascii_lowercase();
            }
        };
        // A short list was kept by the matching pass; a long one is read again.
        match listed.first.get(..listed.count) {
            Some(names) => names.iter().for_each(|name| push(name)),
            None => self.names().for_each(push),
        }
        // Exact capacity, so `Bytes` takes the buffer over without a second allocation. The
        // bytes come from header values, so they are valid in one.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(out)).ok()
    }
}

/// What the matching pass learnt about the requested names, to size the echo.
#[derive(Default)]
struct Listed<'a> {
    count: usize,
    /// Total length of the names.
    bytes: usize,
    /// The first names (all of them when `count` is at most their number).
    first: [&'a [u8]; KEPT_NAMES],
    /// The request's one field, when it is exactly the echo.
    verbatim: Option<&'a HeaderValue>,
}

/// How many requested names the matching pass keeps for the echo (browsers send a few).
const KEPT_NAMES: usize = 8;

/// Iterator over requested header names (see [`requested_headers`]).
pub(crate) struct Names<'a> {
    fields: ValueIter<'a, HeaderValue>,
    /// What is left of the current field.
    rest: &'a [u8],
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = skip_separators(self.rest);
            if rest.is_empty() {
                self.rest = self.fields.next()?.as_bytes();
                continue;
            }
            // `rest` starts with a name byte, so the trimmed item is not empty.
            let (item, after) = rest.split_at_checked(find_comma(rest)).unwrap_or((rest, b""));
            self.rest = after;
            return Some(trim_end_ows(item));
        }
    }
}

/// Branch-free (`|`, not `||`), so a block of tests becomes a few vector compares.
fn is_separator(b: u8) -> bool {
    (b == b',') | (b == b' ') | (b == b'\t')
}

/// `bytes` after its leading commas, spaces and tabs (empty items and whitespace). Hostile
/// lists are mostly separators: they are skipped sixteen bytes a step (the compiler turns
/// the block test into vector compares), the first other byte is then found eight at a time.
fn skip_separators(mut bytes: &[u8]) -> &[u8] {
    // The usual separators between two names, `,` and `, `, without the block machinery.
    match bytes {
        [b',', b' ', next, ..] if !is_separator(*next) => return bytes.get(2..).unwrap_or_default(),
        [b',', next, ..] if !is_separator(*next) => return bytes.get(1..).unwrap_or_default(),
        _ => {}
    }
    while let Some((block, rest)) = bytes.split_first_chunk::<16>() {
        if !block.iter().fold(true, |all, &b| all & is_separator(b)) {
            break;
        }
        bytes = rest;
    }
    while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*word);
        let separators = bytes_equal(word, b',') | bytes_equal(word, b' ') | bytes_equal(word, b'\t');
        let others = !separators & HIGH;
        if others != 0 {
            return bytes
                .get(others.trailing_zeros() as usize / 8..)
                .unwrap_or_default();
        }
        bytes = rest;
    }
    let start = bytes
        .iter()
        .position(|&b| !is_separator(b))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The index of the first comma in `bytes`, or its length; sixteen then eight bytes a step.
fn find_comma(bytes: &[u8]) -> usize {
    let mut skipped = 0;
    let mut rest = bytes;
    while let Some((block, tail)) = rest.split_first_chunk::<16>() {
        if block.iter().fold(false, |any, &b| any | (b == b',')) {
            break;
        }
        skipped += 16;
        rest = tail;
    }
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let commas = bytes_equal(u64::from_le_bytes(*word), b',');
        if commas != 0 {
            return skipped + commas.trailing_zeros() as usize / 8;
        }
        skipped += 8;
        rest = tail;
    }
    skipped + rest.iter().position(|&b| b == b',').unwrap_or(rest.len())
}

fn trim_end_ows(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

/// Finds the first rule that accepts `origin`, `method` and every requested header. The same
/// pass over the requested names fills `listed` for the echo.
fn first_match<'a>(
    policy: &CorsPolicy,
    origin: &[u8],
    method: S3Method,
    requested: &RequestedHeaders<'a>,
    listed: &mut Listed<'a>,
) -> Option<usize> {
    let mut candidates = policy.method_mask(method) & policy.all();
    if candidates == 0 {
        return None;
    }
    candidates = policy.origin_mask(origin, candidates);
    if candidates == 0 {
        return None;
    }
    let mut fields = requested.fields.iter();
    let Some(first_field) = fields.next() else {
        return Some(candidates.trailing_zeros() as usize);
    };
    let one_field = fields.next().is_none();
    for name in requested.names() {
        // Rules with AllowedHeader `*` accept any name; only look a name up while another
        // rule is in the running.
        if candidates & !policy.any_header() != 0 {
            candidates = policy.header_mask(name, candidates);
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
    if one_field
        && listed.count == 1
        && first_name.len() == first_field.len()
        && !first_name.iter().any(u8::is_ascii_uppercase)
    {
        listed.verbatim = Some(first_field);
    }
    Some(candidates.trailing_zeros() as usize)
}

fn allowed(
    policy: &CorsPolicy,
    index: usize,
    listed: &Listed<'_>,
    origin: &HeaderValue,
    requested: &RequestedHeaders<'_>,
    private_network: bool,
) -> Option<Allowed> {
    let rule = policy.rules.get(index)?;
    Some(Allowed {
        rule_index: index,
        headers: CorsHeaders {
            allow_origin: if rule.any_origin { STAR } else { origin.clone() },
            allow_credentials: !rule.any_origin,
            allow_methods: rule.allow_methods.clone(),
            allow_headers: requested.echo(listed),
            expose_headers: rule.expose_headers.clone(),
            max_age: rule.max_age.clone(),
            allow_private_network: private_network,
            vary: if private_network {
                HeaderValue::from_static(VARY_VALUE_PRIVATE_NETWORK)
            } else {
                HeaderValue::from_static(VARY_VALUE)
            },
        },
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
    let origin = origin_field(head.headers);
    let request_method = request_method_field(head.headers);
    let is_options = *head.method == Method::OPTIONS;
    if is_preflight(head.method, &origin, request_method, options) {
        return preflight_decision(head, bucket, options, origin, request_method);
    }
    let (policy, resource) = match bucket {
        BucketCors::NoBucket => return pass(PassReason::NoBucket, false),
        BucketCors::NoSuchBucket => return pass(PassReason::NoSuchBucket, false),
        BucketCors::NotConfigured => return pass(PassReason::NotConfigured, false),
        BucketCors::Configured { policy, resource } => (policy, resource),
    };
    // Fetch Metadata resource isolation (beyond S3): the S3 decision, then the site check.
    if let Some(site_policy) = options.fetch_metadata {
        let s3 = decide(head, bucket, &options.fetch_metadata(None));
        return crate::fetch_metadata::guard(site_policy, s3, &head, resource, options);
    }
    let vary = options.cache_safe_vary;
    let origin = match origin {
        OriginField::Absent if is_options => return pass(PassReason::NotPreflight, vary),
        OriginField::Absent => return pass(PassReason::NotCors, vary),
        OriginField::One(origin) => Some(origin),
        OriginField::Many => None,
    };
    let matched = match (origin, actual_method(head.method, request_method)) {
        (Some(origin), Some(method)) => {
            let requested = RequestedHeaders::of(head.headers);
            let mut listed = Listed::default();
            first_match(policy, origin.as_bytes(), method, &requested, &mut listed)
                .and_then(|index| allowed(policy, index, &listed, origin, &requested, false))
        }
        _ => None,
    };
    match matched {
        Some(allowed) => Decision::Actual(allowed),
        None if options.enforce => refuse_actual(&head, resource),
        None => pass(PassReason::NoRuleMatched, vary),
    }
}

/// S3's 403 for an actual request no rule allows (enforce, Fetch Metadata): `<Method>` is its
/// `Access-Control-Request-Method` when sent, else its own method.
pub(crate) fn refuse_actual(head: &RequestHead<'_>, resource: ResourceType) -> Decision {
    let method = match request_method_field(head.headers) {
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
    origin: OriginField<'_>,
    request_method: Option<(&HeaderValue, bool)>,
) -> Decision {
    // P1: Origin first, before anything is looked up.
    if matches!(origin, OriginField::Absent) {
        return Decision::Refuse(Refusal::missing_origin());
    }
    let method_echo = request_method.map(|(value, _)| value.clone());
    // P2, P3: the bucket, before the request method is looked at.
    let (policy, resource) = match bucket {
        BucketCors::NoBucket | BucketCors::NoSuchBucket => {
            return Decision::Refuse(Refusal::no_such_bucket(method_echo))
        }
        BucketCors::NotConfigured => return Decision::Refuse(Refusal::cors_not_enabled(method_echo)),
        BucketCors::Configured { policy, resource } => (policy, resource),
    };
    // P4: exactly one Access-Control-Request-Method, one of the five.
    let (value, method) = match request_method {
        None => return Decision::Refuse(Refusal::invalid_request_method(None)),
        Some((value, true)) => return Decision::Refuse(Refusal::invalid_request_method(Some(value.clone()))),
        Some((value, false)) => match S3Method::from_bytes(value.as_bytes()) {
            Some(method) => (value, method),
            None => return Decision::Refuse(Refusal::invalid_request_method(Some(value.clone()))),
        },
    };
    // P5, P6: the first matching rule.
    let private_network = options.private_network
        && head
            .headers
            .get(ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK)
            .is_some_and(|v| v == "true");
    let matched = match origin {
        OriginField::One(origin) => {
            let requested = RequestedHeaders::of(head.headers);
            let mut listed = Listed::default();
            first_match(policy, origin.as_bytes(), method, &requested, &mut listed)
                .and_then(|index| allowed(policy, index, &listed, origin, &requested, private_network))
        }
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
