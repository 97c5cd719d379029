//! The one reference model of S3's CORS behaviour (the preflight's order of checks, matching,
//! the headers sent, actual requests), written straight from the behaviour with nothing
//! precomputed, and the property tests that check the crate against it twice: the compiled
//! matcher (`CorsPolicy::evaluate` and `explain`) decision by decision, and the real layer
//! answer by answer.
//!
//! The model reads the configuration as data and decides every request from scratch: a
//! backtracking glob for `*`, strings split and lowercased on every call, rules tried one by
//! one in order. The generators favour near-misses (letter case, trailing slashes, explicit
//! ports, other schemes, overlapping prefix and suffix, empty wildcard runs, header lists with
//! spaces and empty items, several `Access-Control-Request-Headers` fields, two `Origin`
//! fields, `Access-Control-Request-Method` on actual requests) so that the model and the
//! layer are compared where they are most likely to differ. Every answer is compared whole:
//! status, every header field, the body, and whether the inner service was called.
//!
//! Choices S3 leaves open, and that the model takes as the crate documents them:
//! several `Access-Control-Request-Method` fields on an actual request match no rule (as a
//! preflight refuses them as a bad method); on a match, every `Access-Control-*` response header the inner
//! service set is replaced or removed, not only those the rule sends; a request method or
//! header value that is not UTF-8 is written in an error document lossily, without the
//! characters XML 1.0 cannot carry.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{NOT_ALLOWED, VARY};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::Service;
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::{CorsBody, CorsConfiguration, CorsLayer, CorsRule, RequestIds};

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

const S3_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];
const MISSING_ORIGIN: &str = "Insufficient information. Origin request header needed.";
const REQUEST_ID: &str = "MODEL-RID";
const HOST_ID: &str = "model/host+id=";

/// A request as the model reads it: the method, the path, and the header fields in order.
#[derive(Clone, Debug)]
struct ModelRequest {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl ModelRequest {
    /// Every value of the field `name`, in order.
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// What the inner service answers with.
#[derive(Clone, Debug)]
struct Inner {
    status: u16,
    vary: Vec<&'static str>,
    stale_cors: bool,
}

impl Inner {
    fn headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut headers = vec![("x-inner".to_owned(), b"yes".to_vec())];
        for v in &self.vary {
            headers.push(("vary".to_owned(), v.as_bytes().to_vec()));
        }
        if self.stale_cors {
            for (name, value) in [
                ("access-control-allow-origin", "https://stale.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "X-Stale"),
                ("access-control-max-age", "5"),
            ] {
                headers.push((name.to_owned(), value.as_bytes().to_vec()));
            }
        }
        headers
    }
}

/// A whole answer: status, header fields (name → values in order), body, and whether the
/// inner service saw the request. Values are kept as `escape_ascii` text, which is lossless.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: String,
    inner_called: bool,
}

fn answer(status: u16, headers: &[(String, Vec<u8>)], body: &str, inner_called: bool) -> Answer {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        map.entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.escape_ascii().to_string());
    }
    Answer {
        status,
        headers: map,
        body: body.to_owned(),
        inner_called,
    }
}

/// `*` in `pattern` matches any run of bytes, the empty run included; every other byte matches
/// itself. Tries every possible run.
fn glob(pattern: &[u8], value: &[u8]) -> bool {
    match pattern.split_first() {
        None => value.is_empty(),
        Some((b'*', rest)) => (0..=value.len()).any(|skip| glob(rest, &value[skip..])),
        Some((&p, rest)) => value.first() == Some(&p) && glob(rest, &value[1..]),
    }
}

/// A header name against a pattern: `glob`, ignoring ASCII letter case.
fn header_glob(pattern: &str, name: &[u8]) -> bool {
    glob(
        &pattern.to_ascii_lowercase().into_bytes(),
        &name.to_ascii_lowercase(),
    )
}

/// The requested header names: split on `,`, trim spaces and tabs, drop empty items; several fields are joined
/// with `,` first.
fn requested_header_names(request: &ModelRequest) -> Vec<Vec<u8>> {
    let joined = request.all("access-control-request-headers").join(&b","[..]);
    let mut names = Vec::new();
    for item in joined.split(|&b| b == b',') {
        let mut item = item;
        while let [b' ' | b'\t', rest @ ..] = item {
            item = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = item {
            item = rest;
        }
        if !item.is_empty() {
            names.push(item.to_vec());
        }
    }
    names
}

/// A rule matches when it allows the origin, the effective method and every requested header.
fn rule_matches(rule: &CorsRule, origin: &[u8], method: &[u8], names: &[Vec<u8>]) -> bool {
    let origin_ok = rule.allowed_origins().iter().any(|p| glob(p.as_bytes(), origin));
    let method_ok = rule.allowed_methods().iter().any(|m| m.as_bytes() == method);
    let headers_ok = names
        .iter()
        .all(|name| rule.allowed_headers().iter().any(|p| header_glob(p, name)));
    origin_ok && method_ok && headers_ok
}

/// The headers added for the rule that matched (without `Vary`).
fn cors_headers(rule: &CorsRule, origin: &[u8], names: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut headers = Vec::new();
    let mut add = |name: &str, value: Vec<u8>| headers.push((name.to_owned(), value));
    if rule.allowed_origins().iter().any(|o| o == "*") {
        add("access-control-allow-origin", b"*".to_vec());
    } else {
        add("access-control-allow-origin", origin.to_vec());
        add("access-control-allow-credentials", b"true".to_vec());
    }
    add(
        "access-control-allow-methods",
        rule.allowed_methods().join(", ").into_bytes(),
    );
    if !names.is_empty() {
        let lower: Vec<Vec<u8>> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        add("access-control-allow-headers", lower.join(&b", "[..]));
    }
    if !rule.expose_headers().is_empty() {
        add(
            "access-control-expose-headers",
            rule.expose_headers().join(", ").into_bytes(),
        );
    }
    if let Some(seconds) = rule.max_age_seconds() {
        add("access-control-max-age", seconds.to_string().into_bytes());
    }
    headers
}

/// XML text as S3 writes it: `&`, `<`, `>` escaped; bytes that are not UTF-8 or characters
/// XML cannot carry are not written.
fn xml_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => out.push(c),
            _ => {}
        }
    }
    out
}

/// S3's error document, with its headers.
fn error_answer(
    status: u16,
    code: &str,
    message: &str,
    method_and_resource: Option<(&[u8], &str)>,
) -> Answer {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>"
    );
    if let Some((method, resource)) = method_and_resource {
        body.push_str(&format!(
            "<Method>{}</Method><ResourceType>{resource}</ResourceType>",
            xml_text(method)
        ));
    }
    body.push_str(&format!(
        "<RequestId>{REQUEST_ID}</RequestId><HostId>{HOST_ID}</HostId></Error>"
    ));
    let headers = [
        ("content-type".to_owned(), b"application/xml".to_vec()),
        ("x-amz-request-id".to_owned(), REQUEST_ID.as_bytes().to_vec()),
        ("x-amz-id-2".to_owned(), HOST_ID.as_bytes().to_vec()),
    ];
    answer(status, &headers, &body, false)
}

/// The `Vary` of an actual request that matched: the inner service's tokens first, then ours not already
/// there (compared ignoring ASCII case), as one field; `Vary: *` is left as it is.
fn merge_vary(inner: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for field in inner {
        for token in String::from_utf8_lossy(field).split(',') {
            let token = token.trim_matches([' ', '\t']);
            if token == "*" {
                return inner.to_vec();
            }
            if !token.is_empty() && !tokens.iter().any(|t| t.eq_ignore_ascii_case(token.as_bytes())) {
                tokens.push(token.as_bytes().to_vec());
            }
        }
    }
    for token in VARY.split(", ") {
        if !tokens.iter().any(|t| t.eq_ignore_ascii_case(token.as_bytes())) {
            tokens.push(token.as_bytes().to_vec());
        }
    }
    vec![tokens.join(&b", "[..])]
}

/// What the model decides for a request to a configured bucket, before any answer is written.
#[derive(Debug)]
enum Decided<'a> {
    /// Not a CORS request, or no rule matched: served unchanged.
    Pass,
    /// A preflight without a usable `Origin` (none, or one empty field).
    MissingOrigin,
    /// A preflight whose `Access-Control-Request-Method` is missing (`None`), sent twice or
    /// not one of S3's five; the first value sent.
    BadMethod(Option<&'a [u8]>),
    /// A preflight no rule allows; the requested method.
    NotAllowed(&'a [u8]),
    /// A preflight the rule at this index allows, with that rule's headers.
    Preflight(usize, Vec<(String, Vec<u8>)>),
    /// An actual request the rule at this index matched, with that rule's headers.
    Actual(usize, Vec<(String, Vec<u8>)>),
}

/// The decision for `request`, read from the configuration as data, rule by rule.
fn decide_model<'a>(config: &'a CorsConfiguration, request: &'a ModelRequest) -> Decided<'a> {
    let origins = request.all("origin");
    // An empty Origin counts as absent; two fields are present but match nothing.
    let no_origin = origins.is_empty() || (origins.len() == 1 && origins[0].is_empty());
    let origin = if origins.len() == 1 {
        Some(origins[0])
    } else {
        None
    };
    let acrm = request.all("access-control-request-method");
    let names = requested_header_names(request);
    let first_match = |method: &[u8]| {
        let origin = origin?;
        config
            .rules()
            .iter()
            .position(|rule| rule_matches(rule, origin, method, &names))
            .map(|i| (i, cors_headers(&config.rules()[i], origin, &names)))
    };

    if request.method == "OPTIONS" {
        // A missing Origin is reported first.
        if no_origin {
            return Decided::MissingOrigin;
        }
        // Then the method: exactly one Access-Control-Request-Method, one of the five.
        let method = match acrm.as_slice() {
            [one] if S3_METHODS.iter().any(|m| m.as_bytes() == *one) => *one,
            [] => return Decided::BadMethod(None),
            [first, ..] => return Decided::BadMethod(Some(*first)),
        };
        // Then the first rule that allows origin, method and every requested header.
        return match first_match(method) {
            Some((i, headers)) => Decided::Preflight(i, headers),
            None => Decided::NotAllowed(method),
        };
    }

    // An actual request is always served; a match adds the rule's headers.
    if no_origin {
        return Decided::Pass;
    }
    // S3 matches an actual request on Access-Control-Request-Method when present (sent twice:
    // not one method, so nothing matches).
    let method: &[u8] = match acrm.as_slice() {
        [] => request.method.as_bytes(),
        [one] => one,
        _ => b"",
    };
    match first_match(method) {
        Some((i, headers)) => Decided::Actual(i, headers),
        None => Decided::Pass,
    }
}

/// What S3 sends back for `request` to a configured bucket whose URL is `/`, the inner
/// service answering as `inner` says.
fn model(config: &CorsConfiguration, request: &ModelRequest, inner: &Inner) -> Answer {
    let inner_headers = inner.headers();
    let ours = match decide_model(config, request) {
        Decided::MissingOrigin => return error_answer(400, "BadRequest", MISSING_ORIGIN, None),
        Decided::BadMethod(None) => {
            return error_answer(
                400,
                "BadRequest",
                "Invalid Access-Control-Request-Method: null",
                None,
            )
        }
        Decided::BadMethod(Some(first)) => {
            let message = format!("Invalid Access-Control-Request-Method: {}", xml_text(first));
            return error_answer(400, "BadRequest", &message, None);
        }
        Decided::NotAllowed(method) => {
            let resource = if request.path == "/" { "BUCKET" } else { "OBJECT" };
            return error_answer(403, "AccessForbidden", NOT_ALLOWED, Some((method, resource)));
        }
        Decided::Preflight(_, mut headers) => {
            headers.push(("vary".to_owned(), VARY.as_bytes().to_vec()));
            headers.push(("content-length".to_owned(), b"0".to_vec()));
            return answer(200, &headers, "", false);
        }
        Decided::Pass => return answer(inner.status, &inner_headers, "inner", true),
        Decided::Actual(_, headers) => headers,
    };
    let inner_vary: Vec<Vec<u8>> = inner_headers
        .iter()
        .filter(|(n, _)| n == "vary")
        .map(|(_, v)| v.clone())
        .collect();
    let mut headers: Vec<(String, Vec<u8>)> = inner_headers
        .into_iter()
        .filter(|(n, _)| !n.starts_with("access-control-") && n != "vary")
        .collect();
    headers.extend(ours);
    for v in merge_vary(&inner_vary) {
        headers.push(("vary".to_owned(), v));
    }
    answer(inner.status, &headers, "inner", true)
}

// ---------------------------------------------------------------------------------------
// The layer, driven the same way.
// ---------------------------------------------------------------------------------------

fn layer_answer(
    runtime: &tokio::runtime::Runtime,
    config: &CorsConfiguration,
    request: &ModelRequest,
    inner: &Inner,
) -> Answer {
    let layer = CorsLayer::new(config.clone()).request_ids(|_| RequestIds {
        request_id: HeaderValue::from_static(REQUEST_ID),
        host_id: HeaderValue::from_static(HOST_ID),
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let inner = inner.clone();
    let service = layer.layer(service_fn(move |_: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
        *response.status_mut() = StatusCode::from_u16(inner.status).expect("status");
        for (name, value) in inner.headers() {
            response.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(&value).expect("value"),
            );
        }
        async move { Ok::<_, Infallible>(response) }
    }));
    // The same request three times through the same layer: a preflight's answer is kept the
    // second time and the third is a clone of it (this thread's memo), which must be the same
    // answer, byte for byte.
    let first = send(runtime, service.clone(), request, &calls);
    for _ in 0..2 {
        let again = send(runtime, service.clone(), request, &calls);
        assert_eq!(again, first, "the same request answered again");
    }
    first
}

/// One request through `service`, as an [`Answer`].
fn send<S>(
    runtime: &tokio::runtime::Runtime,
    service: S,
    request: &ModelRequest,
    calls: &AtomicUsize,
) -> Answer
where
    S: Service<Request<Full<Bytes>>, Response = Response<CorsBody<Full<Bytes>>>, Error = Infallible>,
{
    calls.store(0, Ordering::SeqCst);
    let mut http_request = Request::new(Full::new(Bytes::new()));
    *http_request.method_mut() = Method::from_bytes(request.method.as_bytes()).expect("method");
    *http_request.uri_mut() = request.path.parse().expect("path");
    for (name, value) in &request.headers {
        http_request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(value).expect("generated values are valid"),
        );
    }
    let (parts, body) = runtime
        .block_on(service.oneshot(http_request))
        .expect("infallible")
        .into_parts();
    let body = runtime.block_on(body.collect()).expect("body").to_bytes();
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let body = String::from_utf8(body.to_vec()).expect("bodies are UTF-8");
    answer(
        parts.status.as_u16(),
        &headers,
        &body,
        calls.load(Ordering::SeqCst) > 0,
    )
}

// ---------------------------------------------------------------------------------------
// Generators, biased toward near-misses.
// ---------------------------------------------------------------------------------------

/// Origins close to one another: case, trailing slash, ports, schemes, an empty label, a
/// prefix and suffix that overlap (`ab` + `ba` in `aba`), values that are not URLs.
const ORIGINS: &[&str] = &[
    "https://app.example.com",
    "https://APP.example.com",
    "https://app.example.com/",
    "https://app.example.com:443",
    "http://app.example.com",
    "https://example.com",
    "https://.example.com",
    "https://a.b.example.com",
    "https://aba.example",
    "https://abba.example",
    "null",
    "localhost:4566",
    "*",
];

const ORIGIN_PATTERNS: &[&str] = &[
    "*",
    "https://app.example.com",
    "https://*.example.com",
    "https://*",
    "*.example.com",
    "*example.com",
    "https://app.*",
    "https://app.example.com*",
    "http*://app.example.com",
    "https://ab*ba.example",
    "null",
    "",
    "localhost:4566",
];

/// Requested header names and their patterns, in several letter cases.
const HEADER_NAMES: &[&str] = &[
    "x-amz-date",
    "X-Amz-Date",
    "X-AMZ-META-owner",
    "content-type",
    "Content-Type",
    "x-amz-",
    "x-id",
    "x-amz-request-id",
    "authorization",
];

const HEADER_PATTERNS: &[&str] = &[
    "*",
    "x-amz-*",
    "X-Amz-Date",
    "content-type",
    "Content-*",
    "*-id",
    "x-*-id",
    "X-AMZ-META-*",
    "",
];

/// Bytes from a small alphabet, so that random patterns and values often meet.
fn small_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(&['a', 'b', 'A', '.', '-', ':', '/'][..]),
        0..=max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// A pattern with at most one `*`, placed anywhere (start, end, alone, or nowhere).
fn small_pattern() -> impl Strategy<Value = String> {
    (small_text(5), prop::option::of(0usize..=5)).prop_map(|(text, star)| match star {
        Some(at) => {
            let at = at.min(text.len());
            format!("{}*{}", &text[..at], &text[at..])
        }
        None => text,
    })
}

fn origin_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(ORIGIN_PATTERNS).prop_map(str::to_owned),
        1 => small_pattern(),
    ]
}

fn header_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(HEADER_PATTERNS).prop_map(str::to_owned),
        1 => small_pattern(),
    ]
}

fn rule() -> impl Strategy<Value = CorsRule> {
    (
        proptest::collection::vec(prop::sample::select(&S3_METHODS[..]), 1..=3),
        proptest::collection::vec(origin_pattern(), 1..=3),
        prop_oneof![
            1 => Just(Vec::new()),
            2 => Just(vec!["*".to_owned()]),
            2 => proptest::collection::vec(header_pattern(), 1..=3),
        ],
        proptest::collection::vec(
            prop::sample::select(&["ETag", "x-amz-request-id", "X-Custom"][..]),
            0..=2,
        ),
        prop::option::of(prop::sample::select(&[0, -1, 3000, i32::MAX, i32::MIN][..])),
    )
        .prop_map(|(methods, origins, headers, expose, max_age)| {
            let mut builder = CorsRule::builder()
                .allowed_methods(methods)
                .allowed_origins(origins)
                .allowed_headers(headers)
                .expose_headers(expose);
            if let Some(seconds) = max_age {
                builder = builder.max_age_seconds(seconds);
            }
            builder.build()
        })
}

fn configuration() -> impl Strategy<Value = CorsConfiguration> {
    proptest::collection::vec(rule(), 1..=4)
        .prop_map(|rules| CorsConfiguration::new(rules).expect("generated rules are valid"))
}

fn origin_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(ORIGINS).prop_map(|s| s.as_bytes().to_vec()),
        2 => small_text(8).prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => Just(b"https://\xff\xfe.example.com".to_vec()),
    ]
}

fn method_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(&S3_METHODS[..]).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::sample::select(&["get", "PATCH", "OPTIONS", "<x&y>", "", " GET"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(b"G\xffT".to_vec()),
    ]
}

/// One `Access-Control-Request-Headers` field: names in any case, with spaces, tabs and empty
/// items around them.
fn header_list() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        4 => prop::sample::select(HEADER_NAMES).prop_map(str::to_owned),
        1 => small_text(4),
    ];
    let padding = prop::sample::select(&["", "", " ", "\t", "  "][..]);
    let count = prop_oneof![1 => Just(0usize), 6 => Just(1), 2 => Just(2), 1 => Just(4)];
    (
        count,
        proptest::collection::vec((padding.clone(), item, padding), 4),
    )
        .prop_map(|(count, mut items)| {
            items.truncate(count);
            items
        })
        .prop_map(|items| {
            items
                .into_iter()
                .map(|(before, name, after)| format!("{before}{name}{after}"))
                .collect::<Vec<_>>()
                .join(",")
                .into_bytes()
        })
}

fn request(method: BoxedStrategy<String>) -> impl Strategy<Value = ModelRequest> {
    (
        method,
        prop::sample::select(&["/", "/key", "/a/b.jpg"][..]),
        prop_oneof![1 => Just(0usize), 8 => Just(1), 1 => Just(2)],
        proptest::collection::vec(origin_value(), 2),
        prop_oneof![1 => Just(0usize), 8 => Just(1), 1 => Just(2)],
        proptest::collection::vec(method_value(), 2),
        prop_oneof![4 => Just(0usize), 8 => Just(1), 1 => Just(2), 1 => Just(3)],
        proptest::collection::vec(header_list(), 3),
    )
        .prop_map(
            |(method, path, origin_count, origins, acrm_count, acrm, acrh_count, acrh)| {
                let mut headers = Vec::new();
                for origin in origins.into_iter().take(origin_count) {
                    headers.push(("origin".to_owned(), origin));
                }
                for value in acrm.into_iter().take(acrm_count) {
                    headers.push(("access-control-request-method".to_owned(), value));
                }
                for value in acrh.into_iter().take(acrh_count) {
                    headers.push(("access-control-request-headers".to_owned(), value));
                }
                headers.push(("x-amz-date".to_owned(), b"20260101T000000Z".to_vec()));
                ModelRequest {
                    method,
                    path: path.to_owned(),
                    headers,
                }
            },
        )
}

/// The inner service's `Vary` fields: none, one, one our tokens repeat in another case, `*`,
/// two fields, exactly ours.
const INNER_VARY: &[&[&str]] = &[
    &[],
    &["Accept-Encoding"],
    &["origin"],
    &["*"],
    &["Accept-Encoding", "Origin, x-a"],
    &[VARY],
];

fn inner() -> impl Strategy<Value = Inner> {
    (
        prop::sample::select(&[200u16, 404, 500][..]),
        prop::sample::select(INNER_VARY),
        any::<bool>(),
    )
        .prop_map(|(status, vary, stale_cors)| Inner {
            status,
            vary: vary.to_vec(),
            stale_cors,
        })
}

fn check(method: BoxedStrategy<String>, cases: u32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(configuration(), request(method), inner()),
            |(config, request, inner)| {
                let expected = model(&config, &request, &inner);
                let actual = layer_answer(&runtime, &config, &request, &inner);
                prop_assert_eq!(actual, expected, "configuration: {}", config.to_json());
                Ok(())
            },
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn preflights_agree_with_the_model() {
    check(Just("OPTIONS".to_owned()).boxed(), 2000);
}

#[test]
fn actual_requests_agree_with_the_model() {
    let methods =
        prop::sample::select(&["GET", "PUT", "HEAD", "POST", "DELETE", "PATCH"][..]).prop_map(str::to_owned);
    check(methods.boxed(), 2000);
}

// ---------------------------------------------------------------------------------------
// The compiled matcher (`CorsPolicy::evaluate`, i.e. `decide`, and `explain`) against the same
// model, decision by decision. Configurations are small (1–6 rules over a tiny alphabet) so
// that requests often come close to a rule: letter case changed, a trailing slash or a port
// added, a wildcard run left empty, requested headers with spaces, tabs and empty items,
// spread over several fields.
// ---------------------------------------------------------------------------------------

mod matcher {
    use bytes::Bytes;
    use proptest::prelude::*;
    use tower_s3_cors::{CorsConfiguration, CorsPolicy, CorsRule, Decision, PassReason, RefusalKind};

    use super::{decide_model, requested_header_names, Decided, ModelRequest, S3_METHODS};
    use crate::common::{self, VARY};

    /// A decision in a shape both the model and the crate can be put in: headers as
    /// (lowercase name, value bytes), sorted, `Vary` included.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        /// Not a CORS request, or no rule matched: served unchanged.
        Pass,
        /// A refused preflight (with the requested method when no rule allows it).
        Refused(RefusalKind, Option<String>),
        /// An allowed preflight: the rule's index and headers.
        Preflight(usize, Vec<(String, Vec<u8>)>),
        /// An actual request that matched.
        Actual(usize, Vec<(String, Vec<u8>)>),
    }

    fn with_vary(mut headers: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
        headers.push(("vary".to_owned(), VARY.as_bytes().to_vec()));
        headers.sort();
        headers
    }

    /// The model's decision in that shape, and the rule it selects (`None` when none).
    fn model_outcome(config: &CorsConfiguration, request: &ModelRequest) -> (Outcome, Option<usize>) {
        match decide_model(config, request) {
            Decided::Pass => (Outcome::Pass, None),
            Decided::MissingOrigin => (Outcome::Refused(RefusalKind::MissingOrigin, None), None),
            Decided::BadMethod(_) => (Outcome::Refused(RefusalKind::InvalidRequestMethod, None), None),
            Decided::NotAllowed(method) => (
                Outcome::Refused(
                    RefusalKind::NotAllowed,
                    Some(String::from_utf8_lossy(method).into_owned()),
                ),
                None,
            ),
            Decided::Preflight(i, headers) => (Outcome::Preflight(i, with_vary(headers)), Some(i)),
            Decided::Actual(i, headers) => (Outcome::Actual(i, with_vary(headers)), Some(i)),
        }
    }

    /// The crate's decision in the same shape.
    fn crate_outcome(decision: Decision) -> Outcome {
        let headers = |allowed: &tower_s3_cors::Allowed| {
            let mut out: Vec<(String, Vec<u8>)> = allowed
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect();
            out.sort();
            out
        };
        match decision {
            Decision::PassThrough(pass) => {
                assert!(
                    matches!(pass.reason(), PassReason::NotCors | PassReason::NoRuleMatched),
                    "{pass:?}"
                );
                assert!(!pass.adds_vary());
                Outcome::Pass
            }
            Decision::Refuse(refusal) => {
                let method = match refusal.kind() {
                    RefusalKind::NotAllowed => refusal.method().map(|m| m.into_owned()),
                    _ => None,
                };
                Outcome::Refused(refusal.kind(), method)
            }
            Decision::Preflight(allowed) => Outcome::Preflight(allowed.rule_index(), headers(&allowed)),
            Decision::Actual(allowed) => Outcome::Actual(allowed.rule_index(), headers(&allowed)),
            other => panic!("a decision this model does not know: {other:?}"),
        }
    }

    #[derive(Clone, Debug)]
    struct Rule {
        origins: Vec<String>,
        methods: Vec<String>,
        headers: Vec<String>,
        expose: Vec<String>,
        max_age: Option<i32>,
    }

    // ---------------------------------------------------------------------------------------------
    // Generators.

    /// Origins are made of few characters so that patterns and requests collide often.
    fn origin_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ab.:/]{0,5}",
            Just("http://a.ex".to_owned()),
            Just("https://a.ex".to_owned()),
            Just("http://b.a.ex".to_owned()),
            Just("null".to_owned()),
        ]
    }

    fn origin_pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("*".to_owned()),
            3 => origin_text(),
            3 => (origin_text(), origin_text()).prop_map(|(p, s)| format!("{p}*{s}")),
            2 => (origin_text(), "[ab.]{0,2}").prop_map(|(o, s)| format!("{o}*{s}")),
        ]
    }

    fn header_text() -> impl Strategy<Value = String> {
        "[xXaA-]{1,4}"
    }

    fn header_pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => Just("*".to_owned()),
            3 => header_text(),
            3 => ("[xXaA-]{0,3}", "[xXaA-]{0,3}").prop_map(|(p, s)| format!("{p}*{s}")),
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        (
            prop::collection::vec(origin_pattern(), 1..4),
            prop::collection::vec(prop::sample::select(&S3_METHODS[..]), 1..4),
            prop::collection::vec(header_pattern(), 0..4),
            prop::collection::vec("[A-Za-z-]{1,6}", 0..3),
            prop::option::of(-5i32..5000),
        )
            .prop_map(|(origins, methods, headers, expose, max_age)| Rule {
                origins,
                methods: methods.into_iter().map(str::to_owned).collect(),
                headers,
                expose,
                max_age,
            })
    }

    /// A value near one of the configuration's patterns: the `*` filled with a run (often empty),
    /// then maybe nudged.
    fn near(pattern: &str, run: &str, nudge: u8) -> Vec<u8> {
        let mut value = pattern.replacen('*', run, 1).into_bytes();
        match nudge {
            0 => {}
            1 => value.push(b'/'),
            2 => value.extend_from_slice(b":80"),
            3 => {
                if let Some(b) = value.iter_mut().find(|b| b.is_ascii_lowercase()) {
                    b.make_ascii_uppercase();
                }
            }
            4 => {
                value.pop();
            }
            5 => value.insert(0, b'x'),
            6 => value.push(0xE9),
            _ => {}
        }
        value
    }

    #[derive(Clone, Debug)]
    struct Req {
        method: String,
        headers: Vec<(&'static str, Bytes)>,
    }

    /// The `Access-Control-Request-Headers` fields: names near the patterns, with spaces, tabs and
    /// empty items.
    fn acrh_fields(patterns: Vec<String>) -> impl Strategy<Value = Vec<Vec<u8>>> {
        let name = prop_oneof![
            1 => header_text().prop_map(String::into_bytes),
            4 => (prop::sample::select(patterns), "[xa-]{0,2}", 0u8..12).prop_map(|(p, run, nudge)| {
                let mut v = near(&p, &run, nudge);
                if nudge == 6 {
                    v.pop(); // keep header names ASCII here; non-ASCII bytes come from the origin
                }
                v
            }),
        ];
        let separator = prop::sample::select(vec![",", ", ", " ,", ",\t", ",,", " , ,"]);
        let field = prop::collection::vec((name, separator), 0..3).prop_map(|items| {
            let mut out = Vec::new();
            for (i, (name, sep)) in items.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep.as_bytes());
                }
                out.extend_from_slice(&name);
            }
            out
        });
        prop::collection::vec(field, 1..3)
    }

    fn request_for(rules: Vec<Rule>) -> impl Strategy<Value = Req> {
        let origin_patterns: Vec<String> = rules.iter().flat_map(|r| r.origins.clone()).collect();
        let mut header_patterns: Vec<String> = rules.iter().flat_map(|r| r.headers.clone()).collect();
        header_patterns.push("x-a".to_owned());
        let origin = prop_oneof![
            1 => Just(None),
            1 => Just(Some(Vec::new())),
            2 => origin_text().prop_map(|o| Some(o.into_bytes())),
            6 => (prop::sample::select(origin_patterns), "[ab.]{0,3}", 0u8..14)
                .prop_map(|(p, run, nudge)| Some(near(&p, &run, nudge))),
        ];
        let second_origin = prop::option::weighted(0.05, "[ab]{0,2}");
        // Methods: mostly ones the rules allow, sometimes others, lowercase or outside S3's five.
        let mut methods: Vec<&'static str> = rules
            .iter()
            .flat_map(|r| r.methods.iter())
            .filter_map(|m| S3_METHODS.iter().copied().find(|s| s == m))
            .collect();
        methods.extend(["GET", "DELETE", "get", "PATCH", ""]);
        let method = prop::sample::select(methods);
        // A preflight usually sends one method; an actual request usually none (when it does, it
        // replaces the request's method).
        let request_line = prop_oneof![
            4 => method.clone().prop_map(|m| ("OPTIONS", vec![m])),
            1 => Just(("OPTIONS", Vec::new())),
            1 => (method.clone(), method.clone()).prop_map(|(a, b)| ("OPTIONS", vec![a, b])),
            4 => method.clone().prop_map(|m| (m, Vec::new())),
            1 => (method.clone(), method).prop_map(|(m, a)| (m, vec![a])),
        ]
        .prop_map(|(m, acrm)| {
            // An empty request method is not a method; use PATCH for it.
            (if m.is_empty() { "PATCH" } else { m }, acrm)
        });
        let acrh = prop_oneof![
            1 => Just(Vec::new()),
            1 => acrh_fields(header_patterns),
        ];
        (origin, second_origin, request_line, acrh).prop_map(|(origin, second, (method, acrm), acrh)| {
            let mut headers: Vec<(&'static str, Bytes)> = Vec::new();
            if let Some(origin) = origin {
                headers.push(("origin", Bytes::from(origin)));
            }
            if let Some(second) = second {
                headers.push(("origin", Bytes::from(second)));
            }
            for m in acrm {
                headers.push(("access-control-request-method", Bytes::from_static(m.as_bytes())));
            }
            for field in acrh {
                headers.push(("access-control-request-headers", Bytes::from(field)));
            }
            Req {
                method: method.to_owned(),
                headers,
            }
        })
    }

    fn case() -> impl Strategy<Value = (Vec<Rule>, Vec<Req>)> {
        prop::collection::vec(rule(), 1..7).prop_flat_map(|rules| {
            let requests = prop::collection::vec(request_for(rules.clone()), 1..8);
            (Just(rules), requests)
        })
    }

    fn configuration(rules: &[Rule]) -> CorsConfiguration {
        CorsConfiguration::new(rules.iter().map(|r| {
            let mut b = CorsRule::builder()
                .allowed_origins(r.origins.clone())
                .allowed_methods(r.methods.clone())
                .allowed_headers(r.headers.clone())
                .expose_headers(r.expose.clone());
            if let Some(s) = r.max_age {
                b = b.max_age_seconds(s);
            }
            b.build()
        }))
        .expect("generated configurations are valid")
    }

    impl Req {
        fn model_request(&self) -> ModelRequest {
            ModelRequest {
                method: self.method.clone(),
                path: "/k".to_owned(),
                headers: self
                    .headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
                    .collect(),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        #[test]
        fn compiled_matcher_agrees_with_the_model((rules, requests) in case()) {
            let config = configuration(&rules);
            let policy = CorsPolicy::new(config.clone());
            // The requests three times over: a preflight's decision is kept the second time
            // and given again the third (this thread's memo of recent decisions, a few of
            // them), and must agree all the same.
            for req in requests.iter().chain(&requests).chain(&requests) {
                let headers: Vec<(&str, &[u8])> = req.headers.iter().map(|(n, v)| (*n, &v[..])).collect();
                let request = common::request(&req.method, "/k", &headers);
                let (want, want_rule) = model_outcome(&config, &req.model_request());
                let got = crate_outcome(policy.evaluate(&request));
                prop_assert_eq!(&got, &want, "request {:?}", req);
                // explain: the first rule that matches is the rule the model selects.
                let explained = policy.explain(&request).iter().position(|c| c.matches());
                prop_assert_eq!(explained, want_rule, "explain, request {:?}", req);
            }
        }
    }

    /// The generators reach every outcome often enough for the comparison to mean something.
    #[test]
    fn generated_requests_reach_every_outcome() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;

        let mut runner = TestRunner::deterministic();
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for _ in 0..300 {
            let (rules, requests) = case().new_tree(&mut runner).unwrap().current();
            let config = configuration(&rules);
            for req in &requests {
                let request = req.model_request();
                let names = requested_header_names(&request);
                let kind = match model_outcome(&config, &request).0 {
                    Outcome::Pass => "pass",
                    Outcome::Refused(RefusalKind::MissingOrigin, _) => "missing origin",
                    Outcome::Refused(RefusalKind::InvalidRequestMethod, _) => "bad method",
                    Outcome::Refused(_, _) => "not allowed",
                    Outcome::Preflight(..) if names.is_empty() => "allowed preflight",
                    Outcome::Preflight(..) => "allowed preflight with requested headers",
                    Outcome::Actual(..) if names.is_empty() => "actual",
                    Outcome::Actual(..) => "actual with requested headers",
                };
                *counts.entry(kind).or_default() += 1;
            }
        }
        for kind in [
            "pass",
            "missing origin",
            "bad method",
            "not allowed",
            "allowed preflight",
            "allowed preflight with requested headers",
            "actual",
            "actual with requested headers",
        ] {
            assert!(
                counts.get(kind).copied().unwrap_or(0) >= 15,
                "{kind} too rare: {counts:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model itself, on documented examples (so a wrong model cannot agree with a wrong
// crate unnoticed).
// ---------------------------------------------------------------------------------------

#[test]
fn model_glob_matches_the_documented_examples() {
    assert!(glob(b"http://*.example.com", b"http://a.b.example.com"));
    assert!(glob(b"http://*.example.com", b"http://.example.com"));
    assert!(!glob(b"http://*.example.com", b"http://example.com"));
    assert!(glob(b"ab*ba", b"abba"));
    assert!(!glob(b"ab*ba", b"aba"));
    assert!(glob(b"*", b"localhost:4566"));
    assert!(!glob(b"https://app.example.com", b"https://app.example.com/"));
    assert!(glob(b"*", b""));
    // Origins are compared byte for byte, header names ignoring ASCII case.
    assert!(!glob(b"X-Amz-*", b"x-amz-date"));
    assert!(header_glob("X-Amz-*", b"x-amz-date"));
}

#[test]
fn model_splits_requested_headers_as_documented() {
    let request = ModelRequest {
        method: "OPTIONS".into(),
        path: "/".into(),
        headers: vec![
            (
                "access-control-request-headers".into(),
                b" X-Amz-Date ,, \tcontent-type\t".to_vec(),
            ),
            ("access-control-request-headers".into(), b"x-a".to_vec()),
        ],
    };
    assert_eq!(
        requested_header_names(&request),
        [&b"X-Amz-Date"[..], b"content-type", b"x-a"]
    );
    let request = ModelRequest {
        method: "OPTIONS".into(),
        path: "/".into(),
        headers: vec![
            ("access-control-request-headers".into(), b" a ,,\tB".to_vec()),
            ("access-control-request-headers".into(), b"c".to_vec()),
        ],
    };
    assert_eq!(requested_header_names(&request), [&b"a"[..], b"B", b"c"]);
}

#[test]
fn model_answers_a_matching_preflight_as_documented() {
    let config = CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
             "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]"#,
    )
    .expect("valid");
    let request = ModelRequest {
        method: "OPTIONS".into(),
        path: "/photo.jpg".into(),
        headers: vec![
            ("origin".into(), b"https://app.example.com".to_vec()),
            ("access-control-request-method".into(), b"PUT".to_vec()),
            ("access-control-request-headers".into(), b"Content-Type".to_vec()),
        ],
    };
    let inner = Inner {
        status: 200,
        vary: vec![],
        stale_cors: false,
    };
    let answer = model(&config, &request, &inner);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        ["https://app.example.com"]
    );
    assert_eq!(answer.headers["access-control-allow-methods"], ["GET, PUT"]);
    assert_eq!(answer.headers["access-control-allow-headers"], ["content-type"]);
    assert_eq!(answer.headers["access-control-max-age"], ["3000"]);
    assert!(!answer.inner_called);
}
