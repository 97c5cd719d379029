//! Side-by-side cost of a CORS layer, interleaved so that a shared machine's drift hits every
//! variant alike: no middleware, tower-http's `CorsLayer` configured equivalently, two floors
//! (what any layer sending S3's bytes pays with no decision at all), a minimal layer, and this
//! crate.
//!
//! ```text
//! cargo bench --bench cors                      # every case, then the table of ratios
//! cargo bench --bench cors -- preflight         # only the cases whose name contains it
//! cargo bench --bench cors -- --rounds 400      # more rounds (default 300)
//! cargo bench --bench cors -- --callgrind preflight_allowed/s3_cors 1000
//!                                               # one variant N times (for benches/callgrind.sh;
//!                                               # `…/s3_cors:build` only makes the requests)
//! ```
//!
//! A case is a few variants, each serving the same kind of request. One round gives every
//! variant one batch of requests, in an order that rotates from round to round; a batch is
//! timed as a whole and gives that variant's nanoseconds per request for that round. A ratio
//! is computed within each round (both sides measured a few microseconds apart) and the table
//! shows the median over all rounds, so a slow round (another process compiling) moves both
//! sides of a ratio alike and a preempted batch is outvoted.
//!
//! A request is what a server pays per request: `poll_ready`, `call`, polling the future to
//! completion (no-op waker, no runtime) and dropping the response. Each request is made right
//! before it is served (as a server parses one); making the batch's requests is timed alone
//! in the same round and subtracted. The stub's response carries one header, as any real
//! response does.
//!
//! The floors:
//! - *insert-only* (actual requests): S3's six headers, prebuilt, inserted into the stub's
//!   response with no decision.
//! - *prebuilt preflight*: the layer's answer map, prebuilt and cloned, with the request's
//!   `Origin` and its `Access-Control-Request-Headers` in S3's form (lowercased, `, `-joined)
//!   put in place, with no decision.
//!
//! And the *minimal layer* (actual requests): the least a layer sending S3's headers must do,
//! written for one exact origin: look `Origin` up, compare it, keep it and the rule's values
//! across the inner call, insert the six headers.
//!
//! A case whose template holds one request serves it again and again, as a browser's
//! preflight comes again for every URL a page fetches: the layer answers such a preflight
//! from the answer it kept (see `src/memo.rs`). `preflight_allowed_unseen` cycles through 64
//! origins instead, none seen lately, so that every preflight is decided.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ETAG, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsRule};
use tower_service::Service;

// ---- the services -------------------------------------------------------------------------

/// The inner service: answers at once with an empty body and one header.
#[derive(Clone, Copy)]
struct Stub;

fn stub_response() -> Response<()> {
    let mut response = Response::new(());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

impl Service<Request<()>> for Stub {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        drop(request);
        ready(Ok(stub_response()))
    }
}

/// The insert-only floor: the headers this crate adds to the stub's response for a request,
/// prebuilt and inserted with no decision at all.
struct InsertOnly {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl InsertOnly {
    /// What `cors` adds to the stub's response for `request`.
    fn of<S, B>(cors: &mut S, request: Request<()>) -> InsertOnly
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        let response = respond(cors, request);
        let stub = stub_response();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| !stub.headers().contains_key(*name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        InsertOnly { headers }
    }
}

impl Service<Request<()>> for InsertOnly {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let mut response = respond(&mut Stub, request);
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        ready(Ok(response))
    }
}

/// The prebuilt-preflight floor: this crate's answer to an allowed preflight, prebuilt; each
/// request clones it and puts its own `Origin` and requested headers (in S3's form) in place.
struct PrebuiltPreflight {
    headers: HeaderMap,
}

impl PrebuiltPreflight {
    fn of<S, B>(cors: &mut S, request: Request<()>) -> PrebuiltPreflight
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        PrebuiltPreflight {
            headers: respond(cors, request).headers().clone(),
        }
    }
}

/// The requested names as S3 echoes them: trimmed, lowercased, joined by `, ` (one buffer of
/// the exact size; the request's own value when it already is that).
fn s3_echo(value: &HeaderValue) -> HeaderValue {
    let names = || {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .map(|n| n.trim_ascii())
            .filter(|n| !n.is_empty())
    };
    let (count, len) = names().fold((0, 0), |(c, l), n| (c + 1, l + n.len()));
    let size = len + 2 * (count - 1);
    if size == value.len() && !value.as_bytes().iter().any(u8::is_ascii_uppercase) {
        return value.clone();
    }
    let mut out = Vec::with_capacity(size);
    for name in names() {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend(name.iter().map(u8::to_ascii_lowercase));
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(out)).expect("value")
}

impl Service<Request<()>> for PrebuiltPreflight {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let mut response = Response::new(());
        let mut headers = self.headers.clone();
        if let Some(origin) = request.headers().get(ORIGIN) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        if let Some(requested) = request.headers().get(ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, s3_echo(requested));
        }
        *response.headers_mut() = headers;
        ready(Ok(response))
    }
}

/// The least a layer that sends S3's headers on an actual request must do, written for one
/// exact origin: look `Origin` up and compare it, keep it and the rule's values (one shared
/// reference) while the inner service runs, then insert the six headers. No general matching,
/// no options, no body type of its own.
///
/// With `s3`, also what S3's answer to an actual request needs beyond that, still for one rule
/// (GET, PUT, POST): `Origin` read once and not repeated, the method matched being
/// `Access-Control-Request-Method` when the request has one, and on the way back a look at the
/// inner response for CORS fields the layer replaces and a `Vary` it merges into (the stub
/// sends neither: the look is what is measured).
struct MinimalLayer {
    allowed: HeaderValue,
    /// The rule's five other headers (Allow-Credentials, -Methods, Expose-Headers, Max-Age,
    /// Vary), as the crate sends them.
    rule: RuleHeaders,
    s3: bool,
}

type RuleHeaders = std::sync::Arc<[(HeaderName, HeaderValue)]>;

impl MinimalLayer {
    fn of<S, B>(cors: &mut S, request: Request<()>, s3: bool) -> MinimalLayer
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        let allowed = request.headers()[ORIGIN].clone();
        let InsertOnly { headers } = InsertOnly::of(cors, request);
        MinimalLayer {
            allowed,
            rule: headers
                .into_iter()
                .filter(|(name, _)| *name != ACCESS_CONTROL_ALLOW_ORIGIN)
                .collect(),
            s3,
        }
    }

    /// The request's origin when the rule allows it, read as S3 reads it.
    fn s3_origin<'a>(&self, request: &'a Request<()>) -> Option<&'a HeaderValue> {
        let (mut origin, mut origins, mut method, mut methods) = (None, 0, None, 0);
        for (name, value) in request.headers() {
            if *name == ORIGIN {
                origin = origin.or(Some(value));
                origins += 1;
            } else if *name == ACCESS_CONTROL_REQUEST_METHOD {
                method = method.or(Some(value.as_bytes()));
                methods += 1;
            }
        }
        let method = match method {
            Some(method) => method,
            None => request.method().as_str().as_bytes(),
        };
        let allowed = origins == 1 && methods <= 1 && matches!(method, b"GET" | b"PUT" | b"POST");
        origin.filter(|origin| allowed && **origin == self.allowed)
    }
}

impl Service<Request<()>> for MinimalLayer {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = MinimalFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let origin = match self.s3 {
            true => self.s3_origin(&request).cloned(),
            false => request
                .headers()
                .get(ORIGIN)
                .filter(|origin| **origin == self.allowed)
                .cloned(),
        };
        let rule = origin.as_ref().map(|_| std::sync::Arc::clone(&self.rule));
        MinimalFuture {
            inner: Stub.call(request),
            allowed: origin.zip(rule),
            s3: self.s3,
        }
    }
}

struct MinimalFuture {
    inner: Ready<Result<Response<()>, Infallible>>,
    allowed: Option<(HeaderValue, RuleHeaders)>,
    s3: bool,
}

impl Future for MinimalFuture {
    type Output = Result<Response<()>, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Poll::Ready(Ok(mut response)) = std::pin::Pin::new(&mut self.inner).poll(cx) else {
            return Poll::Pending;
        };
        if let Some((origin, rule)) = self.allowed.take() {
            let headers = response.headers_mut();
            let (mut stale, mut vary) = (false, false);
            if self.s3 {
                for name in headers.keys() {
                    vary |= *name == VARY;
                    stale |= name.as_str().starts_with("access-control-");
                }
            }
            if stale {
                for (name, _) in rule.iter() {
                    headers.remove(name);
                }
            }
            headers.reserve(rule.len() + 1);
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            for (name, value) in rule.iter() {
                match *name == VARY && vary {
                    true => headers.append(name.clone(), value.clone()),
                    false => headers.insert(name.clone(), value.clone()).is_some(),
                };
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// One request through `service`, as a server drives it: `poll_ready`, `call`, one poll.
fn respond<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = service.poll_ready(&mut cx) else {
        panic!("stub is always ready");
    };
    let mut future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("stub answers at once");
    };
    response
}

/// [`respond`], and the response dropped (as a server does once it is written).
fn drive<S, B>(service: &mut S, request: Request<()>)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    drop(black_box(respond(service, request)));
}

// ---- requests and configurations -----------------------------------------------------------

/// A request template. Header values are shared `Bytes`, as hyper hands them over (slices of
/// its read buffer).
///
/// A template of several requests hands them out in turn (a stream of different requests).
#[derive(Clone)]
struct Template {
    method: Method,
    headers: Vec<HeaderMap>,
    next: std::cell::Cell<usize>,
}

impl Template {
    fn new(method: Method, headers: &[(&str, &str)]) -> Template {
        Self::rotating(method, &[headers.to_vec()])
    }

    /// Requests with these fields, one after the other, round and round.
    fn rotating(method: Method, requests: &[Vec<(&str, &str)>]) -> Template {
        let headers = requests
            .iter()
            .map(|fields| {
                let mut map = HeaderMap::new();
                for (name, value) in fields {
                    map.append(
                        HeaderName::from_bytes(name.as_bytes()).expect("name"),
                        shared(value.as_bytes()),
                    );
                }
                map
            })
            .collect();
        Template {
            method,
            headers,
            next: std::cell::Cell::new(0),
        }
    }

    fn request(&self) -> Request<()> {
        let i = self.next.get();
        self.next.set((i + 1) % self.headers.len());
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = Uri::from_static("/photos/cat.jpg");
        *request.headers_mut() = self.headers[i].clone();
        request
    }
}

/// A header value backed by shared bytes, so cloning it is a reference-count increment.
fn shared(bytes: &[u8]) -> HeaderValue {
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    let value = HeaderValue::from_maybe_shared(bytes.slice(..)).expect("value");
    drop(bytes);
    value
}

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";
const HEADERS: [&str; 2] = ["Content-Type", "x-amz-date"];
const METHODS: [&str; 3] = ["GET", "PUT", "POST"];
const EXPOSE: [&str; 2] = ["ETag", "x-amz-request-id"];
const MAX_AGE: i32 = 3000;

/// A rule as S3 users write them: methods, allowed headers, two exposed, max-age.
fn rule(origin: &str, headers: &[&str]) -> CorsRule {
    CorsRule::builder()
        .allowed_origin(origin)
        .allowed_methods(METHODS)
        .allowed_headers(headers.iter().copied())
        .expose_headers(EXPOSE)
        .max_age_seconds(MAX_AGE)
        .build()
}

fn s3(rules: Vec<CorsRule>) -> tower_s3_cors::Cors<Stub> {
    CorsLayer::new(CorsConfiguration::new(rules).expect("valid configuration")).layer(Stub)
}

/// tower-http's layer with the same methods, headers, exposed headers and max-age. tower-http
/// has no header patterns: a rule listing `x-amz-*` is mirrored.
fn tower(origin: tower_http::cors::AllowOrigin, headers: &[&str]) -> tower_http::cors::Cors<Stub> {
    use tower_http::cors::{AllowHeaders, CorsLayer};
    let allow_headers = if headers.iter().any(|h| h.contains('*')) {
        AllowHeaders::mirror_request()
    } else {
        AllowHeaders::list(
            headers
                .iter()
                .map(|h| HeaderName::from_bytes(h.as_bytes()).expect("name")),
        )
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::PUT, Method::POST])
        .allow_headers(allow_headers)
        .expose_headers([ETAG, HeaderName::from_static("x-amz-request-id")])
        .max_age(Duration::from_secs(MAX_AGE as u64))
        .allow_credentials(true)
        .layer(Stub)
}

fn wildcard_predicate(patterns: &[String]) -> tower_http::cors::AllowOrigin {
    let pairs: Vec<(String, String)> = patterns
        .iter()
        .map(|p| {
            let (prefix, suffix) = p.split_once('*').expect("one *");
            (prefix.to_owned(), suffix.to_owned())
        })
        .collect();
    tower_http::cors::AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        let origin = origin.as_bytes();
        pairs.iter().any(|(prefix, suffix)| {
            origin.len() >= prefix.len() + suffix.len()
                && origin.starts_with(prefix.as_bytes())
                && origin.ends_with(suffix.as_bytes())
        })
    })
}

fn exact_list(origins: &[String]) -> tower_http::cors::AllowOrigin {
    tower_http::cors::AllowOrigin::list(origins.iter().map(|o| HeaderValue::from_str(o).expect("origin")))
}

fn preflight(origin: &str, acrh: &[&str]) -> Template {
    let mut fields = vec![("origin", origin), ("access-control-request-method", "PUT")];
    fields.extend(acrh.iter().map(|v| ("access-control-request-headers", *v)));
    Template::new(Method::OPTIONS, &fields)
}

// ---- the interleaved harness ---------------------------------------------------------------

/// One contender of a case: a name, the request it serves, and how it serves one.
struct Variant {
    name: &'static str,
    template: Template,
    serve: Box<dyn FnMut(Request<()>)>,
}

fn variant<S, B>(name: &'static str, template: &Template, mut service: S) -> Variant
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + 'static,
{
    Variant {
        name,
        template: template.clone(),
        serve: Box::new(move |request| drive(&mut service, request)),
    }
}

/// A case and its per-round timings, by variant, in nanoseconds per request.
struct Case {
    name: &'static str,
    variants: Vec<Variant>,
    /// `times[variant][round]`.
    times: Vec<Vec<f64>>,
}

impl Case {
    fn new(name: &'static str, variants: Vec<Variant>) -> Case {
        Case {
            name,
            variants,
            times: Vec::new(),
        }
    }

    /// Interleaved rounds: every variant one batch per round, the order rotating.
    fn run(&mut self, rounds: usize, batch: usize) {
        let n = self.variants.len();
        self.times = vec![Vec::with_capacity(rounds); n];
        // Warm-up: caches, branch predictors, and the first clone of a prebuilt value.
        for v in &mut self.variants {
            for _ in 0..batch.min(64) {
                (v.serve)(v.template.request());
            }
        }
        for round in 0..rounds {
            for k in 0..n {
                let i = (round + k) % n;
                let v = &mut self.variants[i];
                // Each request is made just before it is served, as a server parses one (a
                // batch made beforehand and freed request by request has the allocator merge
                // the freed batch over and over, which serving never does); making the same
                // requests is timed alone right before and subtracted.
                let start = Instant::now();
                for _ in 0..batch {
                    drop(black_box(v.template.request()));
                }
                let making = start.elapsed();
                let start = Instant::now();
                for _ in 0..batch {
                    (v.serve)(black_box(v.template.request()));
                }
                let elapsed = start.elapsed().saturating_sub(making);
                self.times[i].push(elapsed.as_nanos() as f64 / batch as f64);
            }
        }
    }

    fn index(&self, name: &str) -> usize {
        self.variants
            .iter()
            .position(|v| v.name == name)
            .unwrap_or_else(|| panic!("{}: no variant {name}", self.name))
    }

    /// Median time of a variant.
    fn median(&self, name: &str) -> f64 {
        median(self.times[self.index(name)].clone())
    }

    /// Median over rounds of `f(a, b)` with both from the same round.
    fn paired(&self, a: &str, b: &str, f: impl Fn(f64, f64) -> f64) -> f64 {
        let (a, b) = (&self.times[self.index(a)], &self.times[self.index(b)]);
        median(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect())
    }

    /// Median over rounds of `a / b`.
    fn ratio(&self, a: &str, b: &str) -> f64 {
        self.paired(a, b, |x, y| x / y)
    }

    /// Median over rounds of `(a - none) / (b - none)`: overhead over no middleware.
    fn overhead_ratio(&self, a: &str, b: &str) -> f64 {
        let none = &self.times[self.index("none")];
        let (a, b) = (&self.times[self.index(a)], &self.times[self.index(b)]);
        median(
            a.iter()
                .zip(b)
                .zip(none)
                .map(|((&x, &y), &z)| (x - z) / (y - z))
                .collect(),
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

// ---- the cases -------------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    let app = [APP.to_owned()];
    let full = || s3(vec![rule(APP, &HEADERS)]);
    let tower_full = || tower(exact_list(&app), &HEADERS);
    let mut cases = Vec::new();

    let actual = Template::new(Method::GET, &[("origin", APP)]);
    cases.push(Case::new(
        "actual_allowed",
        vec![
            variant("none", &actual, Stub),
            variant(
                "insert_only",
                &actual,
                InsertOnly::of(&mut full(), actual.request()),
            ),
            variant(
                "minimal_layer",
                &actual,
                MinimalLayer::of(&mut full(), actual.request(), false),
            ),
            variant(
                "minimal_s3_layer",
                &actual,
                MinimalLayer::of(&mut full(), actual.request(), true),
            ),
            variant("tower_http", &actual, tower_full()),
            variant("s3_cors", &actual, full()),
        ],
    ));

    let minimal = CorsRule::builder()
        .allowed_origin(APP)
        .allowed_method("GET")
        .build();
    let mut minimal = s3(vec![minimal]);
    let tower_minimal = tower_http::cors::CorsLayer::new()
        .allow_origin(exact_list(&app))
        .allow_methods([Method::GET])
        .allow_credentials(true)
        .layer(Stub);
    cases.push(Case::new(
        "actual_allowed_minimal",
        vec![
            variant("none", &actual, Stub),
            variant(
                "insert_only",
                &actual,
                InsertOnly::of(&mut minimal, actual.request()),
            ),
            variant("tower_http", &actual, tower_minimal),
            variant("s3_cors", &actual, minimal),
        ],
    ));

    let not_matching = Template::new(Method::GET, &[("origin", EVIL)]);
    cases.push(Case::new(
        "actual_not_matching",
        vec![
            variant("none", &not_matching, Stub),
            variant("tower_http", &not_matching, tower_full()),
            variant("s3_cors", &not_matching, full()),
        ],
    ));

    let allowed = preflight(APP, &["content-type,x-amz-date"]);
    cases.push(Case::new(
        "preflight_allowed",
        vec![
            variant(
                "prebuilt",
                &allowed,
                PrebuiltPreflight::of(&mut full(), allowed.request()),
            ),
            variant("tower_http", &allowed, tower_full()),
            variant("s3_cors", &allowed, full()),
        ],
    ));

    // Preflights the layer has not seen lately: 64 origins in turn, each matched by the rule's
    // wildcard, so none comes again before it is forgotten (the layer keeps the last few).
    let origins: Vec<String> = (0..64).map(|i| format!("https://app{i}.example.com")).collect();
    let changing = Template::rotating(
        Method::OPTIONS,
        &origins
            .iter()
            .map(|origin| {
                vec![
                    ("origin", origin.as_str()),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "content-type,x-amz-date"),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let wildcard_origin = ["https://*.example.com".to_owned()];
    let wildcard_rules = || s3(vec![rule(&wildcard_origin[0], &HEADERS)]);
    cases.push(Case::new(
        "preflight_allowed_unseen",
        vec![
            variant(
                "prebuilt",
                &changing,
                PrebuiltPreflight::of(&mut wildcard_rules(), changing.request()),
            ),
            variant(
                "tower_http",
                &changing,
                tower(wildcard_predicate(&wildcard_origin), &HEADERS),
            ),
            variant("s3_cors", &changing, wildcard_rules()),
        ],
    ));

    let one = preflight(APP, &["content-type"]);
    cases.push(Case::new(
        "preflight_allowed_one_header",
        vec![
            variant(
                "prebuilt",
                &one,
                PrebuiltPreflight::of(&mut full(), one.request()),
            ),
            variant("tower_http", &one, tower_full()),
            variant("s3_cors", &one, full()),
        ],
    ));

    let refused = preflight(EVIL, &[]);
    cases.push(Case::new(
        "preflight_refused",
        vec![
            variant("tower_http_allowed", &allowed, tower_full()),
            variant("tower_http", &refused, tower_full()),
            variant("s3_cors", &refused, full()),
        ],
    ));

    let wildcard_headers = ["x-amz-*"];
    let header_wildcard = preflight(APP, &["x-amz-date,x-amz-meta-owner"]);
    let mut hw = s3(vec![rule(APP, &wildcard_headers)]);
    cases.push(Case::new(
        "preflight_header_wildcard",
        vec![
            variant(
                "prebuilt",
                &header_wildcard,
                PrebuiltPreflight::of(&mut hw, header_wildcard.request()),
            ),
            variant(
                "tower_http",
                &header_wildcard,
                tower(exact_list(&app), &wildcard_headers),
            ),
            variant("s3_cors", &header_wildcard, hw),
        ],
    ));

    // `n` rules, the request's origin matching only the last one.
    let exact = |n: usize| -> Vec<String> { (0..n).map(|i| format!("https://app{i}.example.com")).collect() };
    let exact_rules = |n: usize| exact(n).iter().map(|o| rule(o, &HEADERS)).collect::<Vec<_>>();
    let exact_one = Template::new(Method::GET, &[("origin", "https://app0.example.com")]);
    let exact_hundred = Template::new(Method::GET, &[("origin", "https://app99.example.com")]);
    cases.push(Case::new(
        "rules_exact",
        vec![
            variant("s3_cors_1", &exact_one, s3(exact_rules(1))),
            variant("s3_cors_100", &exact_hundred, s3(exact_rules(100))),
            variant("tower_http_1", &exact_one, tower(exact_list(&exact(1)), &HEADERS)),
            variant(
                "tower_http_100",
                &exact_hundred,
                tower(exact_list(&exact(100)), &HEADERS),
            ),
        ],
    ));
    let wild = |n: usize| -> Vec<String> { (0..n).map(|i| format!("https://*.site{i}.example")).collect() };
    let wild_rules = |n: usize| wild(n).iter().map(|o| rule(o, &HEADERS)).collect::<Vec<_>>();
    let wild_one = Template::new(Method::GET, &[("origin", "https://app.site0.example")]);
    let wild_hundred = Template::new(Method::GET, &[("origin", "https://app.site99.example")]);
    cases.push(Case::new(
        "rules_wildcard",
        vec![
            variant("s3_cors_1", &wild_one, s3(wild_rules(1))),
            variant("s3_cors_100", &wild_hundred, s3(wild_rules(100))),
            variant(
                "tower_http_1",
                &wild_one,
                tower(wildcard_predicate(&wild(1)), &HEADERS),
            ),
            variant(
                "tower_http_100",
                &wild_hundred,
                tower(wildcard_predicate(&wild(100)), &HEADERS),
            ),
        ],
    ));
    // The decision hook: none set (what every case above pays), a hook that does nothing, and
    // one that counts refusals (an atomic add). "unset" must cost what the plain layer costs.
    let hooked = |hook: &'static str| {
        let layer =
            CorsLayer::new(CorsConfiguration::new(vec![rule(APP, &HEADERS)]).expect("valid configuration"));
        let refused = std::sync::atomic::AtomicU64::new(0);
        match hook {
            "no_op" => layer.on_decision(|event| {
                black_box(event);
            }),
            "counting" => layer.on_decision(move |event| {
                if event.outcome() == "refused" {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }),
            _ => layer,
        }
        .layer(Stub)
    };
    for (name, template) in [("on_decision_actual", &actual), ("on_decision_refused", &refused)] {
        cases.push(Case::new(
            name,
            vec![
                variant("unset", template, hooked("unset")),
                variant("no_op", template, hooked("no_op")),
                variant("counting", template, hooked("counting")),
            ],
        ));
    }
    cases
}

/// Hostile `Access-Control-Request-Headers` on a preflight, at three sizes each (linear cost).
fn hostile_cases() -> Vec<Case> {
    let headers = ["Content-Type", "x-amz-*"];
    let app = [APP.to_owned()];
    let pair = |name: &'static str, acrh: Vec<String>| {
        let acrh: Vec<&str> = acrh.iter().map(String::as_str).collect();
        let template = preflight(APP, &acrh);
        Case::new(
            name,
            vec![
                variant("tower_http", &template, tower(exact_list(&app), &headers)),
                variant("s3_cors", &template, s3(vec![rule(APP, &headers)])),
            ],
        )
    };
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("x-amz-meta-{i:05}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut names_64kib = String::new();
    for i in 0.. {
        let next = format!("{}x-amz-meta-{i:05}", if i == 0 { "" } else { ", " });
        if names_64kib.len() + next.len() > 64 * 1024 {
            break;
        }
        names_64kib.push_str(&next);
    }
    vec![
        pair("hostile_commas_16kib", vec![",".repeat(16 * 1024)]),
        pair("hostile_commas_64kib", vec![",".repeat(64 * 1024)]),
        pair("hostile_names_2500", vec![names(2_500)]),
        pair("hostile_names_10000", vec![names(10_000)]),
        pair("hostile_fields_250", vec!["x-amz-date".to_owned(); 250]),
        pair("hostile_fields_1000", vec!["x-amz-date".to_owned(); 1_000]),
        pair("hostile_names_64kib", vec![names_64kib]),
    ]
}

// ---- the report ------------------------------------------------------------------------------

fn find<'a>(cases: &'a [Case], name: &str) -> Option<&'a Case> {
    cases.iter().find(|c| c.name == name && !c.times.is_empty())
}

fn report(cases: &[Case], hostile: &[Case]) {
    println!("\n== medians (ns per request) ==");
    for case in cases.iter().chain(hostile).filter(|c| !c.times.is_empty()) {
        let cells: Vec<String> = case
            .variants
            .iter()
            .map(|v| format!("{} {:.0}", v.name, case.median(v.name)))
            .collect();
        println!("{:<30} {}", case.name, cells.join(" | "));
    }

    println!("\n== ratios (median over rounds of the per-round ratio) ==");
    let line = |label: &str, value: f64, goal: &str| {
        let verdict = match goal.split_once(' ') {
            Some(("<=", g)) => g
                .parse::<f64>()
                .map_or("", |g| if value <= g { "met" } else { "MISSED" }),
            Some((">=", g)) => g
                .parse::<f64>()
                .map_or("", |g| if value >= g { "met" } else { "MISSED" }),
            _ => "",
        };
        println!("{label:<62} {value:>6.3}   goal {goal:<8} {verdict}");
    };
    let ratios = |c: &Case, rows: &[(&str, &str, &str, bool, &str)]| {
        // (label, variant, against, over no middleware, goal)
        for &(label, a, b, overhead, goal) in rows {
            let value = match overhead {
                true => c.overhead_ratio(a, b),
                false => c.ratio(a, b),
            };
            line(label, value, goal);
        }
    };
    if let Some(c) = find(cases, "actual_allowed") {
        ratios(
            c,
            &[
                (
                    "actual allowed: overhead / insert-only floor's overhead",
                    "s3_cors",
                    "insert_only",
                    true,
                    "<= 1.10",
                ),
                (
                    "actual allowed: overhead / tower-http's overhead",
                    "s3_cors",
                    "tower_http",
                    true,
                    "<= 0.80",
                ),
                (
                    "actual allowed: insert-only floor's overhead / tower-http's",
                    "insert_only",
                    "tower_http",
                    true,
                    "",
                ),
                (
                    "actual allowed: minimal layer's overhead / insert-only floor's",
                    "minimal_layer",
                    "insert_only",
                    true,
                    "",
                ),
                (
                    "actual allowed: minimal S3 layer's overhead / insert-only floor's",
                    "minimal_s3_layer",
                    "insert_only",
                    true,
                    "",
                ),
                (
                    "actual allowed: overhead / minimal layer's overhead",
                    "s3_cors",
                    "minimal_layer",
                    true,
                    "",
                ),
                (
                    "actual allowed: overhead / minimal S3 layer's overhead",
                    "s3_cors",
                    "minimal_s3_layer",
                    true,
                    "",
                ),
                (
                    "actual allowed: time / tower-http's time",
                    "s3_cors",
                    "tower_http",
                    false,
                    "",
                ),
            ],
        );
    }
    if let Some(c) = find(cases, "actual_allowed_minimal") {
        ratios(
            c,
            &[
                (
                    "actual allowed, minimal rule: overhead / insert-only floor's",
                    "s3_cors",
                    "insert_only",
                    true,
                    "",
                ),
                (
                    "actual allowed, minimal rule: overhead / tower-http's",
                    "s3_cors",
                    "tower_http",
                    true,
                    "",
                ),
            ],
        );
    }
    if let Some(c) = find(cases, "actual_not_matching") {
        line(
            "actual not matching: overhead / tower-http's overhead",
            c.overhead_ratio("s3_cors", "tower_http"),
            "",
        );
    }
    for name in [
        "preflight_allowed",
        "preflight_allowed_unseen",
        "preflight_allowed_one_header",
        "preflight_header_wildcard",
    ] {
        if let Some(c) = find(cases, name) {
            let goal = if name == "preflight_allowed" {
                "<= 1.10"
            } else {
                ""
            };
            line(
                &format!("{name}: / prebuilt-preflight floor"),
                c.ratio("s3_cors", "prebuilt"),
                goal,
            );
            let goal = if name == "preflight_allowed" {
                "<= 0.95"
            } else {
                ""
            };
            line(
                &format!("{name}: / tower-http"),
                c.ratio("s3_cors", "tower_http"),
                goal,
            );
            line(
                &format!("{name}: floor / tower-http"),
                c.ratio("prebuilt", "tower_http"),
                "",
            );
        }
    }
    if let Some(c) = find(cases, "preflight_refused") {
        line(
            "preflight refused (S3 XML document) / tower-http's allowed preflight",
            c.ratio("s3_cors", "tower_http_allowed"),
            "<= 1.00",
        );
        line(
            "preflight refused / tower-http's refused preflight (no body)",
            c.ratio("s3_cors", "tower_http"),
            "",
        );
    }
    for name in ["rules_exact", "rules_wildcard"] {
        if let Some(c) = find(cases, name) {
            line(
                &format!("{name}: 100 rules / 1 rule"),
                c.ratio("s3_cors_100", "s3_cors_1"),
                "<= 1.30",
            );
            line(
                &format!("{name}: 100 rules / tower-http's 100"),
                c.ratio("s3_cors_100", "tower_http_100"),
                "",
            );
        }
    }
    for name in ["on_decision_actual", "on_decision_refused"] {
        if let Some(c) = find(cases, name) {
            line(
                &format!("{name}: no-op hook / no hook"),
                c.ratio("no_op", "unset"),
                "",
            );
            line(
                &format!("{name}: counting hook / no hook"),
                c.ratio("counting", "unset"),
                "",
            );
        }
    }
    for c in hostile.iter().filter(|c| !c.times.is_empty()) {
        line(
            &format!("{}: / tower-http", c.name),
            c.ratio("s3_cors", "tower_http"),
            "",
        );
    }
}

// ---- main --------------------------------------------------------------------------------------

struct Args {
    filter: Option<String>,
    rounds: usize,
    callgrind: Option<(String, usize)>,
}

fn args() -> Args {
    let mut parsed = Args {
        filter: None,
        rounds: 300,
        callgrind: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--rounds" => parsed.rounds = args.next().and_then(|n| n.parse().ok()).expect("--rounds N"),
            "--callgrind" => {
                let id = args.next().expect("--callgrind CASE/VARIANT N");
                let n = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--callgrind CASE/VARIANT N");
                parsed.callgrind = Some((id, n));
            }
            other if other.starts_with("--") => {}
            other => parsed.filter = Some(other.to_owned()),
        }
    }
    parsed
}

/// Serves `n` requests with one variant and nothing else, for instruction counts: the
/// difference between two values of `n` is the cost of the extra requests alone.
fn callgrind(cases: Vec<Case>, id: &str, n: usize) {
    // `CASE/VARIANT:build`: only making the variant's requests (what benches/callgrind.sh
    // subtracts).
    let (id, build_only) = match id.strip_suffix(":build") {
        Some(id) => (id, true),
        None => (id, false),
    };
    let (case, name) = id.split_once('/').expect("CASE/VARIANT");
    let mut case = cases
        .into_iter()
        .find(|c| c.name == case)
        .unwrap_or_else(|| panic!("no case {case}"));
    let i = case.index(name);
    let v = &mut case.variants[i];
    if build_only {
        for _ in 0..n {
            drop(black_box(v.template.request()));
        }
        return;
    }
    // Warm-up: the first clone of a prebuilt value may allocate once.
    (v.serve)(v.template.request());
    // Each request made just before it is served, as a server parses one: a batch made
    // beforehand and freed request by request would have the allocator merge the freed batch
    // over and over (glibc's malloc_consolidate), which serving never does.
    for _ in 0..n {
        (v.serve)(black_box(v.template.request()));
    }
}

fn main() {
    let args = args();
    if let Some((id, n)) = &args.callgrind {
        let mut all = cases();
        all.extend(hostile_cases());
        callgrind(all, id, *n);
        return;
    }
    let selected = |c: &Case| args.filter.as_deref().is_none_or(|f| c.name.contains(f));
    let mut cases = cases();
    for case in cases.iter_mut().filter(|c| selected(c)) {
        case.run(args.rounds, 256);
        eprintln!("{} done", case.name);
    }
    let mut hostile = hostile_cases();
    for case in hostile.iter_mut().filter(|c| selected(c)) {
        // Each request takes microseconds: small batches, fewer rounds.
        case.run((args.rounds / 10).max(9), 4);
        eprintln!("{} done", case.name);
    }
    report(&cases, &hostile);
}
