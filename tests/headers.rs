//! The headers added when a rule matched (preflight and actual alike), and actual
//! requests: unchanged when nothing matched, headers added to any response when a rule did).

mod common;

use http::StatusCode;
use tower_s3_cors::CorsConfiguration;

use common::*;

const RULES: &str = r#"[
    {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["PUT", "GET", "HEAD"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-Meta-Owner"], "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["https://other.example", "*"], "AllowedMethods": ["DELETE"]},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["POST"], "MaxAgeSeconds": 0},
    {"AllowedOrigins": ["http://*.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": -1}
]"#;

/// The CORS headers of an answer, by name, as `name: value` lines sorted by name.
fn cors_headers(answer: &Answer) -> Vec<String> {
    let mut out: Vec<String> = answer
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-") || *name == "vary")
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    out.sort();
    out
}

fn lines(expected: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

/// Sends the same request as a preflight (method in ACRM) and as an actual request: both get
/// the same headers.
async fn both(origin: &'static str, method: &'static str, acrh: Option<&'static [u8]>) -> (Answer, Answer) {
    let layer = layer(config(RULES));
    let stub = Stub::new();
    let mut preflight: Vec<(&str, &[u8])> = vec![
        ("origin", origin.as_bytes()),
        ("access-control-request-method", method.as_bytes()),
    ];
    let mut actual: Vec<(&str, &[u8])> = vec![("origin", origin.as_bytes())];
    if let Some(acrh) = acrh {
        preflight.push(("access-control-request-headers", acrh));
        actual.push(("access-control-request-headers", acrh));
    }
    let p = send(&layer, &stub, request("OPTIONS", "/key", &preflight)).await;
    let a = send(&layer, &stub, request(method, "/key", &actual)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body_str(), STUB_BODY);
    (p, a)
}

#[tokio::test]
async fn echoed_origin_with_credentials_and_every_header() {
    let (p, a) = both(
        "https://app.example",
        "GET",
        Some(b"X-Amz-Date, Content-Type,x-amz-meta-owner"),
    )
    .await;
    let expected = lines(&[
        "access-control-allow-origin: https://app.example",
        "access-control-allow-credentials: true",
        // All of the rule's methods, configuration order, not the requested one.
        "access-control-allow-methods: PUT, GET, HEAD",
        // Requested names lowercased, request order, even though the rule says `*`.
        "access-control-allow-headers: x-amz-date, content-type, x-amz-meta-owner",
        // Configuration order, case kept.
        "access-control-expose-headers: ETag, x-amz-Meta-Owner",
        "access-control-max-age: 3000",
        &format!("vary: {VARY}"),
    ]);
    assert_eq!(cors_headers(&p), expected);
    assert_eq!(cors_headers(&a), expected);
    assert_eq!(p.header("content-length"), "0");
    assert!(!p.has("content-type"));
}

#[tokio::test]
async fn star_origin_sends_star_without_credentials() {
    let (p, a) = both("https://anyone.example", "POST", None).await;
    let expected = lines(&[
        "access-control-allow-origin: *",
        "access-control-allow-methods: POST",
        "access-control-max-age: 0",
        &format!("vary: {VARY}"),
    ]);
    assert_eq!(cors_headers(&p), expected);
    assert_eq!(cors_headers(&a), expected);
}

#[tokio::test]
async fn a_rule_mixing_star_and_an_origin_sends_star() {
    // Decided: `*` among the rule's origins gives `*`, even for the listed origin.
    let (p, a) = both("https://other.example", "DELETE", None).await;
    for answer in [&p, &a] {
        assert_eq!(answer.header("access-control-allow-origin"), "*");
        assert!(!answer.has("access-control-allow-credentials"));
        assert_eq!(answer.header("access-control-allow-methods"), "DELETE");
        assert!(!answer.has("access-control-max-age"));
        assert!(!answer.has("access-control-expose-headers"));
    }
}

#[tokio::test]
async fn wildcard_origin_is_echoed_with_credentials() {
    let (p, a) = both("http://a.b.example", "GET", Some(b"")).await;
    let expected = lines(&[
        "access-control-allow-origin: http://a.b.example",
        "access-control-allow-credentials: true",
        "access-control-allow-methods: GET",
        "access-control-max-age: -1",
        &format!("vary: {VARY}"),
    ]);
    // An empty ACRH lists no names: no Allow-Headers.
    assert_eq!(cors_headers(&p), expected);
    assert_eq!(cors_headers(&a), expected);
}

#[tokio::test]
async fn allow_headers_echo_trims_drops_empty_items_and_joins_fields() {
    let layer = layer(config(RULES));
    let answer = send(
        &layer,
        &Stub::new(),
        request(
            "OPTIONS",
            "/k",
            &[
                ("origin", b"https://app.example"),
                ("access-control-request-method", b"PUT"),
                ("access-control-request-headers", b" B ,\t,A"),
                ("access-control-request-headers", b""),
                ("access-control-request-headers", b"c,,B"),
            ],
        ),
    )
    .await;
    // Duplicates are echoed as requested; order is the request's.
    assert_eq!(answer.header("access-control-allow-headers"), "b, a, c, b");
}

#[tokio::test]
async fn the_layer_replaces_the_inner_services_cors_headers() {
    let stub = Stub::new()
        .header("access-control-allow-origin", "https://inner.example")
        .header("access-control-allow-origin", "https://second.example")
        .header("access-control-allow-methods", "PATCH")
        .header("access-control-allow-credentials", "false")
        .header("access-control-allow-headers", "x-inner")
        .header("access-control-expose-headers", "x-inner")
        .header("access-control-max-age", "1")
        .header("etag", "\"abc\"");
    let layer = layer(config(RULES));
    let answer = send(
        &layer,
        &stub,
        request("DELETE", "/k", &[("origin", b"https://x.example")]),
    )
    .await;
    // The rule's header set, and nothing of the inner service's CORS headers.
    assert_eq!(
        cors_headers(&answer),
        lines(&[
            "access-control-allow-origin: *",
            "access-control-allow-methods: DELETE",
            &format!("vary: {VARY}"),
        ])
    );
    assert_eq!(answer.header("etag"), "\"abc\"", "other headers are kept");

    let answer = send(
        &layer,
        &stub,
        request(
            "GET",
            "/k",
            &[
                ("origin", b"https://app.example"),
                ("access-control-request-headers", b"x-a"),
            ],
        ),
    )
    .await;
    assert_eq!(
        cors_headers(&answer),
        lines(&[
            "access-control-allow-origin: https://app.example",
            "access-control-allow-credentials: true",
            "access-control-allow-methods: PUT, GET, HEAD",
            "access-control-allow-headers: x-a",
            "access-control-expose-headers: ETag, x-amz-Meta-Owner",
            "access-control-max-age: 3000",
            &format!("vary: {VARY}"),
        ])
    );
}

#[tokio::test]
async fn vary_is_merged_into_one_field_without_repeats() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("no Vary: S3's", &[], VARY),
        (
            "one token: appended",
            &["Accept-Encoding"],
            "Accept-Encoding, Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
        (
            "several fields and a token already there (other case): one field",
            &["Accept-Encoding", "origin"],
            "Accept-Encoding, origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
        (
            "a list with our tokens: none repeated",
            &["access-control-request-method,Accept"],
            "access-control-request-method, Accept, Origin, Access-Control-Request-Headers",
        ),
        ("exactly ours: unchanged", &[VARY], VARY),
        ("`*` left alone", &["*"], "*"),
    ];
    let layer = layer(config(RULES));
    for (behaviour, inner, want) in cases {
        let mut stub = Stub::new();
        for value in *inner {
            stub = stub.header("vary", value);
        }
        let answer = send(
            &layer,
            &stub,
            request("GET", "/k", &[("origin", b"https://app.example")]),
        )
        .await;
        let got: Vec<&str> = answer
            .headers
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(got, [*want], "{behaviour}");
    }
}

#[tokio::test]
async fn vary_star_in_one_of_several_fields_is_left_alone() {
    let stub = Stub::new().header("vary", "Accept").header("vary", "*");
    let answer = send(
        &layer(config(RULES)),
        &stub,
        request("GET", "/k", &[("origin", b"https://app.example")]),
    )
    .await;
    let got: Vec<&str> = answer
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(got, ["Accept", "*"]);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        "https://app.example"
    );
}

#[tokio::test]
async fn unmatched_actual_requests_are_returned_unchanged() {
    let stub = Stub::new()
        .status(StatusCode::CREATED)
        .header("access-control-allow-origin", "https://inner.example")
        .header("vary", "Accept-Encoding")
        .header("content-type", "text/plain");
    let layer = layer(config(RULES));
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a [u8])>);
    let cases: &[Case] = &[
        ("no Origin", "GET", vec![]),
        ("empty Origin", "GET", vec![("origin", b"")]),
        (
            "origin matches no rule",
            "GET",
            vec![("origin", b"https://evil.example")],
        ),
        (
            "method matches no rule",
            "PATCH",
            vec![("origin", b"https://app.example")],
        ),
        (
            "ACRM matches no rule",
            "GET",
            vec![
                ("origin", b"http://a.example"),
                ("access-control-request-method", b"PUT"),
            ],
        ),
        (
            "ACRH matches no rule",
            "DELETE",
            vec![
                ("origin", b"https://x.example"),
                ("access-control-request-headers", b"x-a"),
            ],
        ),
    ];
    for (behaviour, method, headers) in cases {
        let before = stub.calls();
        let answer = send(&layer, &stub, request(method, "/k", headers)).await;
        assert_eq!(
            stub.calls(),
            before + 1,
            "{behaviour}: CORS never blocks an actual request"
        );
        assert_eq!(answer.status, StatusCode::CREATED, "{behaviour}");
        assert_eq!(answer.body_str(), STUB_BODY, "{behaviour}");
        let mut headers: Vec<(String, Vec<u8>)> = answer
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        headers.sort();
        assert_eq!(
            headers,
            vec![
                (
                    "access-control-allow-origin".to_owned(),
                    b"https://inner.example".to_vec()
                ),
                ("content-type".to_owned(), b"text/plain".to_vec()),
                ("vary".to_owned(), b"Accept-Encoding".to_vec()),
            ],
            "{behaviour}: the inner response unchanged"
        );
    }
}

#[tokio::test]
async fn error_responses_of_the_inner_service_get_the_headers_too() {
    let layer = layer(config(RULES));
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::FORBIDDEN,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        let stub = Stub::new()
            .status(status)
            .header("content-type", "application/xml");
        let answer = send(
            &layer,
            &stub,
            request("GET", "/k", &[("origin", b"https://app.example")]),
        )
        .await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.body_str(), STUB_BODY);
        assert_eq!(
            answer.header("access-control-allow-origin"),
            "https://app.example"
        );
        assert_eq!(answer.header("access-control-allow-methods"), "PUT, GET, HEAD");
        assert_eq!(answer.header("vary"), VARY);
        assert_eq!(answer.header("content-type"), "application/xml");
    }
}

#[tokio::test]
async fn an_inner_answer_to_a_request_without_origin_has_no_vary() {
    // S3 sends no Vary when the request had no Origin (cache-safe Vary is an option).
    let answer = send(&layer(config(RULES)), &Stub::new(), request("GET", "/k", &[])).await;
    answer.assert_no_cors();
    assert_eq!(answer.body_str(), STUB_BODY);
}

#[tokio::test]
async fn an_empty_expose_header_is_sent_as_an_empty_field() {
    // A rule that has ExposeHeaders sends Access-Control-Expose-Headers, even when its only
    // value is empty (`<ExposeHeader></ExposeHeader>`); two empty values join to ", ".
    let xml = CorsConfiguration::from_xml(
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod><ExposeHeader></ExposeHeader></CORSRule>\
         </CORSConfiguration>",
    )
    .expect("valid");
    let cases = [
        (xml, ""),
        (
            config(r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": [""]}]"#),
            "",
        ),
        (
            config(r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["", ""]}]"#),
            ", ",
        ),
    ];
    for (rules, expected) in cases {
        let layer = layer(rules);
        let stub = Stub::new();
        let origin: &[u8] = b"https://a.example";
        let p = send(
            &layer,
            &stub,
            request(
                "OPTIONS",
                "/key",
                &[("origin", origin), ("access-control-request-method", b"GET")],
            ),
        )
        .await;
        let a = send(&layer, &stub, request("GET", "/key", &[("origin", origin)])).await;
        for answer in [&p, &a] {
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.header("access-control-expose-headers"), expected);
        }
    }
}
