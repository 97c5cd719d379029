//! Hostile and odd input, each case with the exact answer: never a panic, never unbounded work.
//!
//! Requests go through the real layer around a service that counts its calls. Every answer is
//! compared whole (status, every header field, the body), and every header the layer emits is
//! also checked to echo nothing but what the request sent. Configurations go through the
//! public parsers and must be refused with S3's exact code and message, without expanding,
//! recursing or allocating in proportion to what an attacker sends. Every loop is bounded;
//! nothing here measures time.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{NOT_ALLOWED, VARY as VARY_VALUE};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsOptions, CorsRule, ErrorCode, RequestIds};

// ---------------------------------------------------------------------------------------
// The request side.
// ---------------------------------------------------------------------------------------

/// Rule 0 (`app`): two origins, GET and PUT, any requested header, ETag exposed, 600 s.
/// Rule 1 (`public`): any origin, GET only, no requested headers.
/// Rule 2 (`meta`): the bucket's own origin for POST with `x-amz-meta-*` headers only.
const CONFIG: &str = r#"{"CORSRules": [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
     "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"],
     "MaxAgeSeconds": 600},
    {"ID": "public", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    {"ID": "meta", "AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["POST"],
     "AllowedHeaders": ["x-amz-meta-*"]}
]}"#;

const MALFORMED: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";
const RID: &str = "RID-BAD-INPUT";
const HID: &str = "HID/bad+input=";

/// What came back: status, headers, body, and whether the inner service was called.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    inner_called: bool,
}

fn layer(options: CorsOptions) -> CorsLayer {
    CorsLayer::new(CorsConfiguration::from_json(CONFIG).expect("valid"))
        .options(options)
        .request_ids(|_| RequestIds {
            request_id: HeaderValue::from_static(RID),
            host_id: HeaderValue::from_static(HID),
        })
}

/// A request with raw header values (each must be a valid `HeaderValue`: what a server hands
/// to a middleware).
fn request(method: &str, path: &str, headers: &[(&HeaderName, &[u8])]) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = Method::from_bytes(method.as_bytes()).expect("method");
    *request.uri_mut() = path.parse().expect("path");
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("a value a server accepts");
        request.headers_mut().append((*name).clone(), value);
    }
    request
}

fn send_with(options: CorsOptions, request: Request<Full<Bytes>>) -> Answer {
    let sent = request.headers().clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let service = layer(options).layer(service_fn(move |_: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
        response
            .headers_mut()
            .insert("x-inner", HeaderValue::from_static("yes"));
        async move { Ok::<_, Infallible>(response) }
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (parts, body) = runtime
        .block_on(service.oneshot(request))
        .expect("infallible")
        .into_parts();
    let body = runtime
        .block_on(body.collect())
        .expect("body")
        .to_bytes()
        .to_vec();
    let answer = Answer {
        status: parts.status,
        headers: parts.headers,
        body,
        inner_called: calls.load(Ordering::SeqCst) > 0,
    };
    assert_echoes_only_the_request(&sent, &answer);
    answer
}

fn send(request: Request<Full<Bytes>>) -> Answer {
    send_with(CorsOptions::new(), request)
}

/// The names a request lists, trimmed and lowercased, in order.
fn requested_names(sent: &HeaderMap) -> Vec<Vec<u8>> {
    let joined: Vec<&[u8]> = sent
        .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    joined
        .join(&b","[..])
        .split(|&b| b == b',')
        .map(|item| {
            let start = item
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(item.len());
            let end = item
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |i| i + 1);
            item[start..end].to_ascii_lowercase()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every header the layer emits is one field, a valid `HeaderValue` (the type guarantees no
/// CR, LF or NUL), and echoes only what the request sent: Allow-Origin is `*` or the one
/// `Origin` sent, Allow-Headers is exactly the requested names lowercased; every other value
/// is a constant of the configuration.
fn assert_echoes_only_the_request(sent: &HeaderMap, answer: &Answer) {
    let known_constants = ["GET, PUT", "GET", "POST", "ETag", "600", "true", VARY_VALUE];
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
        VARY,
    ] {
        let values: Vec<&HeaderValue> = answer.headers.get_all(&name).iter().collect();
        assert!(values.len() <= 1, "{name} sent {} times", values.len());
        let Some(value) = values.first() else { continue };
        assert!(value
            .as_bytes()
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)));
        if name == ACCESS_CONTROL_ALLOW_ORIGIN {
            let origins: Vec<&HeaderValue> = sent.get_all(ORIGIN).iter().collect();
            assert!(
                *value == "*" || (origins.len() == 1 && origins[0] == *value),
                "{value:?}"
            );
        } else if name == ACCESS_CONTROL_ALLOW_HEADERS {
            assert_eq!(value.as_bytes(), requested_names(sent).join(&b", "[..]));
        } else {
            assert!(
                known_constants.contains(&value.to_str().expect("constant")),
                "{name}: {value:?}"
            );
        }
    }
    if !answer.inner_called {
        for name in answer.headers.keys() {
            assert!(
                [
                    ACCESS_CONTROL_ALLOW_ORIGIN,
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    ACCESS_CONTROL_ALLOW_METHODS,
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    ACCESS_CONTROL_EXPOSE_HEADERS,
                    ACCESS_CONTROL_MAX_AGE,
                    VARY,
                    CONTENT_LENGTH,
                    CONTENT_TYPE,
                ]
                .contains(name)
                    || name == "x-amz-request-id"
                    || name == "x-amz-id-2",
                "unexpected header {name}"
            );
        }
    }
}

/// The headers of an answer as (name, value bytes), sorted, for whole comparisons.
fn headers_of(answer: &Answer) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = answer
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    all.sort();
    all
}

fn expect_headers(answer: &Answer, expected: &[(&str, &[u8])]) {
    let mut expected: Vec<(String, Vec<u8>)> = expected
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
        .collect();
    expected.sort();
    assert_eq!(headers_of(answer), expected);
}

/// A 200 preflight with these CORS headers (Vary and Content-Length added).
fn expect_preflight(answer: &Answer, cors: &[(&str, &[u8])]) {
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.inner_called);
    assert!(answer.body.is_empty());
    let mut all = cors.to_vec();
    all.push(("vary", VARY_VALUE.as_bytes()));
    all.push(("content-length", b"0"));
    expect_headers(answer, &all);
}

/// S3's error document, exactly.
fn expect_error(
    answer: &Answer,
    status: u16,
    code: &str,
    message: &str,
    method_resource: Option<(&str, &str)>,
) {
    assert_eq!(answer.status.as_u16(), status);
    assert!(!answer.inner_called);
    expect_headers(
        answer,
        &[
            ("content-type", b"application/xml"),
            ("x-amz-request-id", RID.as_bytes()),
            ("x-amz-id-2", HID.as_bytes()),
        ],
    );
    let extra = match method_resource {
        Some((method, resource)) => {
            format!("<Method>{method}</Method><ResourceType>{resource}</ResourceType>")
        }
        None => String::new(),
    };
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>{RID}</RequestId><HostId>{HID}</HostId></Error>"
    );
    assert_eq!(String::from_utf8(answer.body.clone()).expect("UTF-8"), expected);
}

/// The inner response, untouched.
fn expect_unchanged(answer: &Answer) {
    assert!(answer.inner_called);
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, b"inner");
    expect_headers(answer, &[("x-inner", b"yes")]);
}

const APP_PUT: [(&str, &[u8]); 4] = [
    ("access-control-allow-credentials", b"true"),
    ("access-control-allow-methods", b"GET, PUT"),
    ("access-control-expose-headers", b"ETag"),
    ("access-control-max-age", b"600"),
];

fn with<'a>(extra: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
    let mut all = APP_PUT.to_vec();
    all.extend_from_slice(extra);
    all
}

#[test]
fn non_utf8_origin_is_matched_and_echoed_byte_for_byte() {
    let origin: &[u8] = b"https://\xff\xfe.example.org";
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[(&ORIGIN, origin), (&ACCESS_CONTROL_REQUEST_METHOD, b"PUT")],
    ));
    expect_preflight(&answer, &with(&[("access-control-allow-origin", origin)]));
}

#[test]
fn obs_text_origin_on_an_actual_request_is_echoed_byte_for_byte() {
    let origin: &[u8] = b"https://caf\xe9.example.org";
    let answer = send(request("GET", "/k", &[(&ORIGIN, origin)]));
    assert!(answer.inner_called);
    expect_headers(
        &answer,
        &with(&[
            ("access-control-allow-origin", origin),
            ("vary", VARY_VALUE.as_bytes()),
            ("x-inner", b"yes"),
        ]),
    );
}

#[test]
fn obs_text_origin_that_no_pattern_names_falls_to_the_any_origin_rule() {
    let origin: &[u8] = b"https://caf\xe9.example.com";
    let get = send(request(
        "OPTIONS",
        "/k",
        &[(&ORIGIN, origin), (&ACCESS_CONTROL_REQUEST_METHOD, b"GET")],
    ));
    expect_preflight(
        &get,
        &[
            ("access-control-allow-origin", b"*"),
            ("access-control-allow-methods", b"GET"),
        ],
    );
    let put = send(request(
        "OPTIONS",
        "/k",
        &[(&ORIGIN, origin), (&ACCESS_CONTROL_REQUEST_METHOD, b"PUT")],
    ));
    expect_error(&put, 403, "AccessForbidden", NOT_ALLOWED, Some(("PUT", "OBJECT")));
}

#[test]
fn non_utf8_request_method_is_refused_and_written_lossily() {
    let answer = send(request(
        "OPTIONS",
        "/",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"G\xffT"),
        ],
    ));
    expect_error(
        &answer,
        400,
        "BadRequest",
        "Invalid Access-Control-Request-Method: G\u{FFFD}T",
        None,
    );
}

#[test]
fn obs_text_request_method_on_an_actual_request_matches_nothing() {
    for method in [&b"GET\x80"[..], b"G\xffT"] {
        let answer = send(request(
            "GET",
            "/k",
            &[
                (&ORIGIN, b"https://app.example.com"),
                (&ACCESS_CONTROL_REQUEST_METHOD, method),
            ],
        ));
        expect_unchanged(&answer);
    }
}

#[test]
fn non_utf8_requested_headers_are_echoed_lowercasing_ascii_only() {
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"PUT"),
            (
                &ACCESS_CONTROL_REQUEST_HEADERS,
                b" X-\xC3\x89t\xff ,Content-Type,\tx-A\tB\t",
            ),
        ],
    ));
    expect_preflight(
        &answer,
        &with(&[
            ("access-control-allow-origin", b"https://app.example.com"),
            (
                "access-control-allow-headers",
                b"x-\xC3\x89t\xff, content-type, x-a\tb",
            ),
        ]),
    );
}

#[test]
fn obs_text_requested_header_is_not_matched_by_an_ascii_pattern() {
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"POST"),
            (&ACCESS_CONTROL_REQUEST_HEADERS, b"x-amz-meta-a, x-amz-met\xe1-b"),
        ],
    ));
    expect_error(
        &answer,
        403,
        "AccessForbidden",
        NOT_ALLOWED,
        Some(("POST", "OBJECT")),
    );
}

/// The second `Origin` field of the two-field cases: the same value, an empty one, another one.
const SECOND_ORIGINS: [&[u8]; 3] = [b"https://app.example.com", b"", b"https://evil.example"];

#[test]
fn two_origin_fields_on_a_preflight_match_nothing() {
    for second in SECOND_ORIGINS {
        let answer = send(request(
            "OPTIONS",
            "/k",
            &[
                (&ORIGIN, b"https://app.example.com"),
                (&ORIGIN, second),
                (&ACCESS_CONTROL_REQUEST_METHOD, b"GET"),
            ],
        ));
        // Not even the any-origin rule: several Origin fields are not one origin.
        expect_error(
            &answer,
            403,
            "AccessForbidden",
            NOT_ALLOWED,
            Some(("GET", "OBJECT")),
        );
    }
}

#[test]
fn two_origin_fields_on_an_actual_request_are_served_unchanged() {
    for second in SECOND_ORIGINS {
        let answer = send(request(
            "GET",
            "/k",
            &[(&ORIGIN, b"https://app.example.com"), (&ORIGIN, second)],
        ));
        expect_unchanged(&answer);
    }
}

#[test]
fn empty_origin_on_a_preflight_is_a_missing_origin() {
    let answer = send(request(
        "OPTIONS",
        "/",
        &[(&ORIGIN, b""), (&ACCESS_CONTROL_REQUEST_METHOD, b"GET")],
    ));
    expect_error(
        &answer,
        400,
        "BadRequest",
        "Insufficient information. Origin request header needed.",
        None,
    );
}

#[test]
fn empty_origin_on_an_actual_request_is_not_a_cors_request() {
    expect_unchanged(&send(request("GET", "/k", &[(&ORIGIN, b"")])));
}

/// `x-amz-meta-00000, x-amz-meta-00001, ...` up to at least `bytes` bytes.
fn many_names(bytes: usize) -> Vec<u8> {
    let mut list = Vec::with_capacity(bytes + 32);
    let mut i = 0;
    while list.len() < bytes {
        if i > 0 {
            list.extend_from_slice(b", ");
        }
        list.extend_from_slice(format!("x-amz-meta-{i:05}").as_bytes());
        i += 1;
    }
    list
}

#[test]
fn one_hundred_kib_of_requested_headers_are_echoed_exactly() {
    let list = many_names(100 * 1024);
    assert!(list.len() >= 100 * 1024);
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"PUT"),
            (&ACCESS_CONTROL_REQUEST_HEADERS, &list),
        ],
    ));
    expect_preflight(
        &answer,
        &with(&[
            ("access-control-allow-origin", b"https://app.example.com"),
            ("access-control-allow-headers", &list),
        ]),
    );
}

#[test]
fn one_hundred_kib_of_requested_headers_with_one_unlisted_name_is_refused() {
    let mut list = many_names(100 * 1024);
    list.extend_from_slice(b", x-other");
    let answer = send(request(
        "OPTIONS",
        "/",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"POST"),
            (&ACCESS_CONTROL_REQUEST_HEADERS, &list),
        ],
    ));
    expect_error(
        &answer,
        403,
        "AccessForbidden",
        NOT_ALLOWED,
        Some(("POST", "BUCKET")),
    );
}

#[test]
fn one_hundred_kib_of_commas_list_no_header() {
    let commas = vec![b','; 100 * 1024];
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"GET"),
            (&ACCESS_CONTROL_REQUEST_HEADERS, &commas),
        ],
    ));
    // No names: rule 0 matches and no Allow-Headers is sent.
    expect_preflight(
        &answer,
        &with(&[("access-control-allow-origin", b"https://app.example.com")]),
    );
}

#[test]
fn ten_thousand_requested_header_fields_are_joined_and_echoed_in_order() {
    let names: Vec<String> = (0..10_000).map(|i| format!("X-Amz-Meta-{i}")).collect();
    let headers: Vec<(&HeaderName, &[u8])> = std::iter::once((&ORIGIN, &b"https://app.example.com"[..]))
        .chain(std::iter::once((&ACCESS_CONTROL_REQUEST_METHOD, &b"POST"[..])))
        .chain(
            names
                .iter()
                .map(|n| (&ACCESS_CONTROL_REQUEST_HEADERS, n.as_bytes())),
        )
        .collect();
    let answer = send(request("OPTIONS", "/k", &headers));
    let echo = names.join(", ").to_ascii_lowercase();
    expect_preflight(
        &answer,
        &[
            ("access-control-allow-origin", b"https://app.example.com"),
            ("access-control-allow-credentials", b"true"),
            ("access-control-allow-methods", b"POST"),
            ("access-control-allow-headers", echo.as_bytes()),
        ],
    );
}

#[test]
fn ten_thousand_empty_requested_header_fields_list_no_header() {
    let headers: Vec<(&HeaderName, &[u8])> = [(&ORIGIN, &b"https://a.example.org"[..])]
        .into_iter()
        .chain([(&ACCESS_CONTROL_REQUEST_METHOD, &b"GET"[..])])
        .chain((0..10_000).map(|_| (&ACCESS_CONTROL_REQUEST_HEADERS, &b" , "[..])))
        .collect();
    let answer = send(request("OPTIONS", "/k", &headers));
    expect_preflight(
        &answer,
        &with(&[("access-control-allow-origin", b"https://a.example.org")]),
    );
}

#[test]
fn request_method_with_xml_metacharacters_is_escaped_in_the_error_document() {
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"<x>&\"'"),
        ],
    ));
    expect_error(
        &answer,
        400,
        "BadRequest",
        "Invalid Access-Control-Request-Method: &lt;x&gt;&amp;\"'",
        None,
    );
}

#[test]
fn request_method_with_xml_metacharacters_is_escaped_in_the_enforce_refusal() {
    let answer = send_with(
        CorsOptions::new().enforce(true),
        request(
            "GET",
            "/",
            &[
                (&ORIGIN, b"https://app.example.com"),
                (&ACCESS_CONTROL_REQUEST_METHOD, b"<Method>&amp;</Method>"),
            ],
        ),
    );
    expect_error(
        &answer,
        403,
        "AccessForbidden",
        NOT_ALLOWED,
        Some(("&lt;Method&gt;&amp;amp;&lt;/Method&gt;", "BUCKET")),
    );
}

#[test]
fn tab_in_an_origin_is_part_of_the_value() {
    // A tab is the only control character a header value can hold; it is not trimmed away.
    let answer = send(request(
        "OPTIONS",
        "/k",
        &[
            (&ORIGIN, b"https://app.example.com\t"),
            (&ACCESS_CONTROL_REQUEST_METHOD, b"PUT"),
        ],
    ));
    expect_error(
        &answer,
        403,
        "AccessForbidden",
        NOT_ALLOWED,
        Some(("PUT", "OBJECT")),
    );
}

#[test]
fn other_control_characters_cannot_reach_the_layer() {
    // CR, LF, NUL, other C0 controls and DEL are refused by `http` before any middleware runs.
    for byte in (0u8..0x20).filter(|&b| b != b'\t').chain([0x7f]) {
        let value = [b'a', byte, b'b'];
        assert!(HeaderValue::from_bytes(&value).is_err(), "byte {byte:#04x}");
    }
}

// ---------------------------------------------------------------------------------------
// The configuration side.
// ---------------------------------------------------------------------------------------

fn refused_xml(xml: &str) -> tower_s3_cors::ConfigError {
    CorsConfiguration::from_xml(xml).expect_err("refused")
}

fn refused_json(json: &str) -> tower_s3_cors::ConfigError {
    CorsConfiguration::from_json(json).expect_err("refused")
}

fn assert_malformed(err: &tower_s3_cors::ConfigError) {
    assert_eq!(err.code().as_str(), "MalformedXML", "{err}");
    assert_eq!(err.message(), MALFORMED);
}

fn assert_too_big(err: &tower_s3_cors::ConfigError) {
    assert_eq!(err.code().as_str(), "MaxMessageLengthExceeded", "{err}");
    assert_eq!(err.message(), "Your request was too big.");
}

const RULE: &str = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";

#[test]
fn xml_with_a_doctype_is_refused() {
    let err = refused_xml(&format!(
        "<!DOCTYPE CORSConfiguration><CORSConfiguration>{RULE}</CORSConfiguration>"
    ));
    assert_malformed(&err);
    assert_eq!(err.line_column(), Some((1, 1)));
    assert!(err.detail().contains("DOCTYPE"), "{err}");
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut doctype = String::from("<!DOCTYPE lolz [<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let prev = format!("&lol{};", i - 1);
        doctype.push_str(&format!("<!ENTITY lol{i} \"{}\">", prev.repeat(10)));
    }
    doctype.push_str("]>");
    let xml = format!(
        "{doctype}<CORSConfiguration><CORSRule><AllowedOrigin>&lol9;</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    );
    let err = refused_xml(&xml);
    assert_malformed(&err);
    assert!(err.detail().contains("DOCTYPE"), "{err}");
}

#[test]
fn external_entity_is_refused() {
    let err = refused_xml(&format!(
        "<!DOCTYPE c [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><CORSConfiguration>{RULE}</CORSConfiguration>"
    ));
    assert_malformed(&err);
}

#[test]
fn undeclared_entity_reference_is_refused() {
    let err = refused_xml(
        "<CORSConfiguration><CORSRule><AllowedOrigin>&lol9;</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    assert_malformed(&err);
    assert_eq!(err.rule_index(), Some(0));
    assert!(err.detail().contains("&lol9;"), "{err}");
}

#[test]
fn deeply_nested_xml_under_the_limit_is_refused_at_the_first_unknown_element() {
    let depth = 8_000;
    let xml = format!(
        "<CORSConfiguration><CORSRule>{}{}</CORSRule></CORSConfiguration>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(xml.len() <= CorsConfiguration::MAX_DOCUMENT_BYTES);
    let err = refused_xml(&xml);
    assert_malformed(&err);
    assert_eq!(err.line_column(), Some((1, 30)));
    assert!(err.detail().contains("unknown element <a>"), "{err}");
}

#[test]
fn deeply_nested_xml_inside_a_field_is_refused() {
    let depth = 8_000;
    let xml = format!(
        "<CORSConfiguration><CORSRule><AllowedOrigin>{}{}</AllowedOrigin></CORSRule></CORSConfiguration>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(xml.len() <= CorsConfiguration::MAX_DOCUMENT_BYTES);
    let err = refused_xml(&xml);
    assert_malformed(&err);
    assert!(
        err.detail().contains("AllowedOrigin must contain text only"),
        "{err}"
    );
}

#[test]
fn deeply_nested_xml_over_the_limit_is_too_big() {
    let depth = 50_000;
    let xml = format!("<CORSConfiguration>{}", "<CORSRule>".repeat(depth));
    assert_too_big(&refused_xml(&xml));
}

#[test]
fn ten_megabyte_xml_is_too_big() {
    let rules = RULE.repeat(10 * 1024 * 1024 / RULE.len() + 1);
    let xml = format!("<CORSConfiguration>{rules}</CORSConfiguration>");
    assert!(xml.len() > 10 * 1024 * 1024);
    let err = refused_xml(&xml);
    assert_too_big(&err);
    assert_eq!(err.rule_index(), None);
}

/// A valid document padded with spaces to exactly `len` bytes.
fn padded_xml(len: usize) -> String {
    let head = format!("<CORSConfiguration>{RULE}");
    let tail = "</CORSConfiguration>";
    format!("{head}{}{tail}", " ".repeat(len - head.len() - tail.len()))
}

#[test]
fn a_document_of_exactly_64_kib_is_read_and_one_byte_more_is_too_big() {
    let at_limit = padded_xml(CorsConfiguration::MAX_DOCUMENT_BYTES);
    assert_eq!(at_limit.len(), 65_536);
    assert_eq!(
        CorsConfiguration::from_xml(&at_limit)
            .expect("accepted")
            .rules()
            .len(),
        1
    );
    assert_too_big(&refused_xml(&padded_xml(
        CorsConfiguration::MAX_DOCUMENT_BYTES + 1,
    )));
    let json = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#;
    let json_at_limit = format!(
        "{json}{}",
        " ".repeat(CorsConfiguration::MAX_DOCUMENT_BYTES - json.len())
    );
    assert!(CorsConfiguration::from_json(&json_at_limit).is_ok());
    assert_too_big(&refused_json(&format!("{json_at_limit} ")));
}

#[test]
fn ten_megabyte_json_is_too_big() {
    let json = format!("[{}]", "1,".repeat(5 * 1024 * 1024));
    assert_too_big(&refused_json(&json));
}

#[test]
fn deeply_nested_json_is_refused() {
    let depth = 20_000;
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(json.len() <= CorsConfiguration::MAX_DOCUMENT_BYTES);
    let err = refused_json(&json);
    assert_malformed(&err);
}

#[test]
fn json_with_a_duplicate_member_in_a_rule_is_refused() {
    let err = refused_json(
        r#"{"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedMethods": ["PUT"]}]}"#,
    );
    assert_malformed(&err);
    assert!(err.detail().contains("duplicate field `AllowedMethods`"), "{err}");
    assert_eq!(err.line_column(), Some((1, 84)));
}

#[test]
fn json_with_a_duplicate_cors_rules_member_is_refused() {
    let rule = r#"{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}"#;
    let err = refused_json(&format!(r#"{{"CORSRules": [{rule}], "CORSRules": [{rule}]}}"#));
    assert_malformed(&err);
    assert!(err.detail().contains("duplicate field `CORSRules`"), "{err}");
}

#[test]
fn json_with_wrong_types_is_refused() {
    for (json, detail) in [
        (
            r#"[{"AllowedOrigins": "*", "AllowedMethods": ["GET"]}]"#,
            "expected a sequence",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": [1]}]"#,
            "expected a string",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": "3000"}]"#,
            "expected i32",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 1.5}]"#,
            "expected i32",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 1e3}]"#,
            "expected i32",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ID": 7}]"#,
            "expected a string",
        ),
        (
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": null}]"#,
            "expected a sequence",
        ),
        (
            r#"{"CORSRules": {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}}"#,
            "expected a sequence",
        ),
        (r#""CORSRules""#, "expected struct"),
    ] {
        let err = refused_json(json);
        assert_malformed(&err);
        assert!(err.detail().contains(detail), "{json}: {err}");
    }
}

#[test]
fn json_null_for_an_optional_member_means_absent() {
    let config = CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": null, "ID": null}]"#,
    )
    .expect("accepted");
    assert_eq!(config.rules()[0].max_age_seconds(), None);
    assert_eq!(config.rules()[0].id(), None);
}

#[test]
fn huge_max_age_seconds_is_refused() {
    for value in ["2147483648", "-2147483649", "99999999999999999999999999", "1e400"] {
        let json =
            format!(r#"[{{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": {value}}}]"#);
        assert_malformed(&refused_json(&json));
        let xml = format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
             <MaxAgeSeconds>{value}</MaxAgeSeconds></CORSRule></CORSConfiguration>"
        );
        let err = refused_xml(&xml);
        assert_malformed(&err);
        assert_eq!(err.field(), Some("MaxAgeSeconds"));
        assert_eq!(err.value(), Some(value));
    }
}

#[test]
fn extreme_max_age_seconds_are_sent_verbatim() {
    for (value, header) in [(i32::MAX, "2147483647"), (i32::MIN, "-2147483648")] {
        let config = CorsConfiguration::new([CorsRule::builder()
            .allowed_origin("*")
            .allowed_method("GET")
            .max_age_seconds(value)
            .build()])
        .expect("valid");
        let policy = tower_s3_cors::CorsPolicy::new(config);
        let preflight = Request::options("/")
            .header("origin", "https://a.example")
            .header("access-control-request-method", "GET")
            .body(())
            .expect("request");
        match policy.evaluate(&preflight) {
            tower_s3_cors::Decision::Preflight(allowed) => {
                assert_eq!(allowed.headers().max_age().expect("max age"), header)
            }
            other => panic!("{other:?}"),
        }
    }
}

fn rules_xml(count: usize) -> String {
    format!("<CORSConfiguration>{}</CORSConfiguration>", RULE.repeat(count))
}

fn rules_json(count: usize) -> String {
    let rule = r#"{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}"#;
    format!("[{}]", vec![rule; count].join(","))
}

#[test]
fn one_hundred_and_one_rules_are_refused() {
    for err in [refused_xml(&rules_xml(101)), refused_json(&rules_json(101))] {
        assert_eq!(err.code().as_str(), "InvalidRequest");
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert_eq!(
            err.message(),
            "The number of CORS rules should not exceed allowed limit of 100 rules."
        );
    }
    assert_eq!(
        CorsConfiguration::from_xml(&rules_xml(100))
            .expect("100")
            .rules()
            .len(),
        100
    );
    assert_eq!(
        CorsConfiguration::from_json(&rules_json(100))
            .expect("100")
            .rules()
            .len(),
        100
    );
}

#[test]
fn a_malformed_rule_is_reported_before_too_many_rules() {
    // Schema checks of every rule come first (the first problem found is reported, rules in order).
    let xml = format!(
        "<CORSConfiguration>{}<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
        RULE.repeat(101)
    );
    let err = refused_xml(&xml);
    assert_malformed(&err);
    assert_eq!(err.rule_index(), Some(101));
}

fn one_rule_json(field: &str, value: &str) -> String {
    let mut rule = serde_json::json!({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]});
    rule[field] = serde_json::json!([value]);
    serde_json::json!([rule]).to_string()
}

#[test]
fn control_characters_that_xml_cannot_carry_are_refused_in_every_field() {
    for field in [
        "AllowedOrigins",
        "AllowedHeaders",
        "ExposeHeaders",
        "AllowedMethods",
    ] {
        for c in ['\u{0}', '\u{1}', '\u{1b}', '\u{fffe}'] {
            let err = refused_json(&one_rule_json(field, &format!("x{c}y")));
            assert_malformed(&err);
            assert_eq!(err.rule_index(), Some(0));
            assert!(
                err.detail().contains("is not allowed in an XML document"),
                "{field}: {err}"
            );
        }
    }
    let err = refused_json(r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ID": "a\u0007"}]"#);
    assert_malformed(&err);
    assert_eq!(err.field(), Some("ID"));
    // In XML the same characters cannot even be written as references.
    let err = refused_xml(
        "<CORSConfiguration><CORSRule><AllowedOrigin>a&#1;b</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    assert_malformed(&err);
}

#[test]
fn expose_header_with_a_line_break_or_delete_is_refused() {
    // An ExposeHeader is sent in a response header: CR, LF and DEL would break or be refused.
    for value in ["ETag\r\nSet-Cookie: a=b", "ETag\n", "ETag\u{7f}"] {
        let err = refused_json(&one_rule_json("ExposeHeaders", value));
        assert_malformed(&err);
        assert_eq!(err.field(), Some("ExposeHeader"));
        assert_eq!(err.value(), Some(value));
    }
}

#[test]
fn origin_and_allowed_header_patterns_with_line_breaks_are_accepted_and_never_sent() {
    // XML can carry them and S3 stores them; they only ever match requests, whose values
    // cannot hold a line break, so they match nothing and are never written to a response.
    let config = CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["https://a.example\n"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-a\r\n"]}]"#,
    )
    .expect("accepted");
    let answer = send_with_config(
        config,
        request(
            "OPTIONS",
            "/",
            &[
                (&ORIGIN, b"https://a.example"),
                (&ACCESS_CONTROL_REQUEST_METHOD, b"GET"),
            ],
        ),
    );
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

fn send_with_config(config: CorsConfiguration, request: Request<Full<Bytes>>) -> Answer {
    let service = CorsLayer::new(config).layer(service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (parts, body) = runtime
        .block_on(service.oneshot(request))
        .expect("infallible")
        .into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: runtime
            .block_on(body.collect())
            .expect("body")
            .to_bytes()
            .to_vec(),
        inner_called: false,
    }
}

#[test]
fn a_configuration_whose_s3_xml_passes_the_limit_is_refused_whatever_its_source() {
    // 64 KiB is a limit on the XML body S3 receives; the AWS CLI and SDKs send a JSON or
    // in-code configuration as XML, so the XML form is what must fit. Otherwise S3 would refuse
    // it, and the crate's own `to_xml` output could not be read back.
    let origins: Vec<String> = (0..6_000).map(|i| format!("o{i}")).collect();
    let rule = CorsRule::builder()
        .allowed_origins(origins)
        .allowed_method("GET")
        .build();
    let compact = format!(
        "{{\"CORSRules\":[{}]}}",
        serde_json::to_string(&rule).expect("serialises")
    );
    assert!(
        compact.len() < CorsConfiguration::MAX_DOCUMENT_BYTES,
        "the JSON itself is small enough"
    );
    assert_too_big(&refused_json(&compact));
    let in_code = CorsConfiguration::new([rule.clone()]).expect_err("too big as XML");
    assert_eq!(in_code.code(), "MaxMessageLengthExceeded");
    assert!(in_code.detail().contains("S3 XML form"), "{}", in_code.detail());
    assert!(serde_json::from_str::<CorsConfiguration>(&compact).is_err());

    // Just under the limit: accepted, and both outputs read back (JSON falls back to compact
    // when pretty-printing would pass 64 KiB).
    let mut count = 0;
    let fits = loop {
        let origins: Vec<String> = (0..count + 100)
            .map(|i| format!("https://o{i}.example"))
            .collect();
        let rule = CorsRule::builder()
            .allowed_origins(origins)
            .allowed_method("GET")
            .build();
        match CorsConfiguration::new([rule]) {
            Ok(config) => {
                count += 100;
                if config.to_xml().len() > CorsConfiguration::MAX_DOCUMENT_BYTES - 6_000 {
                    break config;
                }
            }
            Err(err) => panic!("{count} origins: {err}"),
        }
    };
    let xml = fits.to_xml();
    assert!(xml.len() <= CorsConfiguration::MAX_DOCUMENT_BYTES);
    assert_eq!(CorsConfiguration::from_xml(&xml).expect("reads back"), fits);
    let json = fits.to_json();
    assert!(json.len() <= CorsConfiguration::MAX_DOCUMENT_BYTES);
    assert_eq!(CorsConfiguration::from_json(&json).expect("reads back"), fits);
}

#[test]
fn line_breaks_in_cdata_are_normalised_as_in_text() {
    // XML 1.0 §2.11: CR LF and a lone CR become LF everywhere in the document, CDATA included.
    let read = |origin: &str| {
        let xml = format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>{origin}</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
        );
        CorsConfiguration::from_xml(&xml).expect("accepted").rules()[0].allowed_origins()[0].clone()
    };
    assert_eq!(read("a\r\nb\rc"), "a\nb\nc");
    assert_eq!(read("<![CDATA[a\r\nb\rc]]>"), "a\nb\nc");
    // A carriage return kept on purpose is written as a reference, which is not normalised.
    assert_eq!(read("a&#13;\nb"), "a\r\nb");
}

#[test]
fn serde_refuses_unknown_members_as_from_json_does() {
    // The same document must mean the same thing whether it is uploaded (`from_json`) or
    // embedded in an application's own configuration (serde): a misspelt member is an error.
    let text = r#"{"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}], "CORSRule": []}"#;
    assert_malformed(&refused_json(text));
    assert!(serde_json::from_str::<CorsConfiguration>(text).is_err());
    // Rules keep refusing unknown members too, in both forms.
    let bare = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAge": 5}]"#;
    assert_malformed(&refused_json(bare));
    assert!(serde_json::from_str::<CorsConfiguration>(bare).is_err());
}

#[test]
fn serde_refuses_the_cli_form_written_as_an_array_as_from_json_does() {
    // A derived struct also reads a sequence of its fields: `[[rule]]` would read as
    // `{"CORSRules": [rule]}` through serde, a form S3 does not have and `from_json` refuses
    // (found by the json_parser fuzz target).
    let text = r#"[[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]]"#;
    assert_malformed(&refused_json(text));
    assert!(serde_json::from_str::<CorsConfiguration>(text).is_err());
    // The two forms S3 has still read, through both.
    for text in [
        r#"{"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}"#,
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
    ] {
        assert!(CorsConfiguration::from_json(text).is_ok());
        assert!(serde_json::from_str::<CorsConfiguration>(text).is_ok());
    }
}

// ---------------------------------------------------------------------------------------
// The same kinds of input under other configurations (a one-`*` origin pattern, a UTF-8
// pattern, `null`, a hundred rules), through the shared test helpers.
// ---------------------------------------------------------------------------------------

mod other_configurations {
    use http::StatusCode;
    use tower_s3_cors::{decide, BucketCors, CorsOptions, CorsPolicy, Decision, RequestHead};

    use crate::common::*;

    const STAR: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]"#;
    const PATTERNS: &str = r#"[
        {"AllowedOrigins": ["http://*.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*"]},
        {"AllowedOrigins": ["http://\u00e9.example"], "AllowedMethods": ["PUT"]}
    ]"#;

    #[tokio::test]
    async fn non_utf8_origin_is_matched_byte_for_byte_and_echoed_verbatim() {
        let latin1: &[u8] = b"http://\xe9.example";
        // `*` matches it.
        let answer = send_json(STAR, request("GET", "/k", &[("origin", latin1)])).await;
        assert_eq!(answer.header("access-control-allow-origin"), "*");
        // A wildcard pattern matches it and the bytes are echoed as sent.
        let answer = send_json(PATTERNS, request("GET", "/k", &[("origin", latin1)])).await;
        assert_eq!(answer.header_bytes("access-control-allow-origin"), latin1);
        assert_eq!(answer.header("access-control-allow-credentials"), "true");
        // The UTF-8 pattern `é` (C3 A9) is not the Latin-1 byte E9.
        let answer = send_json(
            PATTERNS,
            request(
                "OPTIONS",
                "/k",
                &[("origin", latin1), ("access-control-request-method", b"PUT")],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        let answer = send_json(
            PATTERNS,
            request(
                "OPTIONS",
                "/k",
                &[
                    ("origin", "http://é.example".as_bytes()),
                    ("access-control-request-method", b"PUT"),
                ],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.header_bytes("access-control-allow-origin"),
            "http://é.example".as_bytes()
        );
    }

    #[tokio::test]
    async fn non_utf8_requested_headers_are_matched_by_a_wildcard_pattern_and_echoed_lowercased() {
        let headers: &[(&str, &[u8])] = &[
            ("origin", b"http://a.example"),
            ("access-control-request-method", b"GET"),
            ("access-control-request-headers", b"X-\xC9T\xE9, x-b"),
        ];
        let answer = send_json(PATTERNS, request("OPTIONS", "/k", headers)).await;
        assert_eq!(answer.status, StatusCode::OK);
        // ASCII letters lowercased, other bytes as sent.
        assert_eq!(
            answer.header_bytes("access-control-allow-headers"),
            b"x-\xC9t\xE9, x-b"
        );
    }

    #[tokio::test]
    async fn origin_null_is_an_ordinary_value() {
        let answer = send_json(STAR, request("GET", "/k", &[("origin", b"null")])).await;
        assert_eq!(answer.header("access-control-allow-origin"), "*");
        let null_rule = r#"[{"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]}]"#;
        let answer = send_json(
            null_rule,
            request(
                "OPTIONS",
                "/k",
                &[("origin", b"null"), ("access-control-request-method", b"GET")],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("access-control-allow-origin"), "null");
        assert_eq!(answer.header("access-control-allow-credentials"), "true");
        let answer = send_json(PATTERNS, request("GET", "/k", &[("origin", b"null")])).await;
        answer.assert_no_cors();
    }

    #[test]
    fn a_method_with_markup_is_escaped_in_the_not_enabled_document_and_so_are_the_ids() {
        // (The BadRequest document for the same method is checked above, in
        // `request_method_with_xml_metacharacters_is_escaped_in_the_error_document`.)
        let odd: &[u8] = b"<x>&\"'";
        let request = request(
            "OPTIONS",
            "/k",
            &[("origin", b"o"), ("access-control-request-method", odd)],
        );
        let Decision::Refuse(refusal) = decide(
            RequestHead::from(&request),
            BucketCors::NotConfigured,
            &CorsOptions::new(),
        ) else {
            panic!("refusal expected");
        };
        assert_eq!(refusal.method().as_deref(), Some("<x>&\"'"));
        assert_eq!(
            refusal.to_xml(RID, HID),
            forbidden_xml(NOT_ENABLED, "&lt;x&gt;&amp;\"'", "BUCKET")
        );
        // Ids from the application are escaped as well.
        assert!(refusal
            .to_xml("a<b", "c&d")
            .ends_with("<RequestId>a&lt;b</RequestId><HostId>c&amp;d</HostId></Error>"));
    }

    #[tokio::test]
    async fn a_hundred_rules_with_the_match_in_the_last() {
        // 99 near misses (right origin but wrong method, right method but wrong origin, headers not
        // allowed), then the rule that matches.
        let mut rules = Vec::new();
        for i in 0..99 {
            rules.push(match i % 3 {
                0 => r#"{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["DELETE"], "AllowedHeaders": ["*"]}"#.to_owned(),
                1 => format!(r#"{{"AllowedOrigins": ["https://app{i}.example"], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"]}}"#),
                _ => r#"{"AllowedOrigins": ["https://*"], "AllowedMethods": ["PUT"], "AllowedHeaders": ["x-amz-meta-*"]}"#.to_owned(),
            });
        }
        rules.push(
            r#"{"ID": "last", "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["PUT"], "AllowedHeaders": ["x-*"], "MaxAgeSeconds": 99}"#
                .to_owned(),
        );
        let json = format!("[{}]", rules.join(","));
        let policy = CorsPolicy::new(config(&json));
        let headers: &[(&str, &[u8])] = &[
            ("origin", b"https://app.example"),
            ("access-control-request-method", b"PUT"),
            ("access-control-request-headers", b"x-custom"),
        ];
        match policy.evaluate(&request("OPTIONS", "/k", headers)) {
            Decision::Preflight(allowed) => {
                assert_eq!(allowed.rule_index(), 99);
                assert_eq!(allowed.headers().max_age().unwrap(), "99");
            }
            other => panic!("{other:?}"),
        }
        let checks = policy.explain(&request("OPTIONS", "/k", headers));
        assert_eq!(checks.len(), 100);
        assert_eq!(checks.iter().position(|c| c.matches()), Some(99));
        assert_eq!(checks[99].id.as_deref(), Some("last"));
        let answer = send_json(&json, request("OPTIONS", "/k", headers)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("access-control-max-age"), "99");
    }

    #[tokio::test]
    async fn huge_requested_header_lists_are_handled() {
        let no_headers = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#;
        // Thousands of commas list no names.
        let commas = ",".repeat(20_000);
        let answer = send_json(
            no_headers,
            request(
                "OPTIONS",
                "/k",
                &[
                    ("origin", b"o"),
                    ("access-control-request-method", b"GET"),
                    ("access-control-request-headers", commas.as_bytes()),
                ],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(!answer.has("access-control-allow-headers"));

        // Thousands of names: echoed.
        let names = vec!["X-A"; 5_000].join(",");
        let answer = send_json(
            STAR,
            request(
                "OPTIONS",
                "/k",
                &[
                    ("origin", b"o"),
                    ("access-control-request-method", b"GET"),
                    ("access-control-request-headers", names.as_bytes()),
                ],
            ),
        )
        .await;
        assert_eq!(
            answer.header("access-control-allow-headers"),
            vec!["x-a"; 5_000].join(", ")
        );

        // Many fields, one name each, the last one not allowed.
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("origin", b"http://a.example"),
            ("access-control-request-method", b"GET"),
        ];
        headers.extend(std::iter::repeat_n(
            ("access-control-request-headers", &b"x-ok"[..]),
            1_000,
        ));
        headers.push(("access-control-request-headers", b"y-no"));
        let answer = send_json(PATTERNS, request("OPTIONS", "/k", &headers)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn odd_but_legal_bytes_never_panic() {
        let values: &[&[u8]] = &[
            b"\t",
            b" ",
            b"\x7e\x80\xff",
            b"*",
            b"**",
            b",",
            b"\"",
            b"<",
            b"&amp;",
            b"\xc3",
        ];
        let stub = Stub::new();
        let layer = layer(config(PATTERNS));
        for &v in values {
            for method in ["OPTIONS", "GET", "PUT"] {
                for name in [
                    "origin",
                    "access-control-request-method",
                    "access-control-request-headers",
                ] {
                    let answer = send(
                        &layer,
                        &stub,
                        request(method, "/k", &[(name, v), ("origin", b"http://a.example")]),
                    )
                    .await;
                    assert!(
                        answer.status.is_client_error() || answer.status.is_success(),
                        "{answer:?}"
                    );
                    if answer.body.starts_with(b"<?xml") {
                        // The document stays UTF-8.
                        assert!(std::str::from_utf8(&answer.body).is_ok());
                    }
                }
            }
        }
    }
}
