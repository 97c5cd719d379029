//! Spec §9: hostile and odd input. Never a panic, and S3's answer for each.

mod common;

use http::StatusCode;
use tower_s3_cors::{decide, BucketCors, CorsOptions, CorsPolicy, Decision, RequestHead};

use common::*;

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
async fn non_utf8_requested_headers_are_matched_and_echoed_lowercased() {
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
    let answer = send_json(STAR, request("OPTIONS", "/k", headers)).await;
    assert_eq!(
        answer.header_bytes("access-control-allow-headers"),
        b"x-\xC9t\xE9, x-b"
    );
}

#[tokio::test]
async fn non_utf8_request_method_is_refused_with_a_well_formed_document() {
    let answer = send_json(
        STAR,
        request(
            "OPTIONS",
            "/k",
            &[("origin", b"o"), ("access-control-request-method", b"G\xFFT")],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Invalid UTF-8 becomes U+FFFD in the (UTF-8) document.
    assert_eq!(
        answer.body_str(),
        bad_request_xml("Invalid Access-Control-Request-Method: G\u{FFFD}T")
    );
    // On an actual request it matches nothing.
    let answer = send_json(
        STAR,
        request(
            "GET",
            "/k",
            &[("origin", b"o"), ("access-control-request-method", b"G\xFFT")],
        ),
    )
    .await;
    answer.assert_no_cors();
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

#[tokio::test]
async fn two_origin_fields_match_nothing() {
    for second in [&b"https://a.example"[..], b"", b"https://b.example"] {
        let preflight = request(
            "OPTIONS",
            "/k",
            &[
                ("origin", b"https://a.example"),
                ("origin", second),
                ("access-control-request-method", b"GET"),
            ],
        );
        let answer = send_json(STAR, preflight).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(answer.body_str(), forbidden_xml(NOT_ALLOWED, "GET", "OBJECT"));
        let actual = request(
            "GET",
            "/k",
            &[("origin", b"https://a.example"), ("origin", second)],
        );
        send_json(STAR, actual).await.assert_no_cors();
    }
}

#[tokio::test]
async fn a_method_with_markup_is_escaped_in_the_document() {
    let odd: &[u8] = b"<x>&\"'";
    let answer = send_json(
        STAR,
        request(
            "OPTIONS",
            "/k",
            &[("origin", b"o"), ("access-control-request-method", odd)],
        ),
    )
    .await;
    assert_eq!(
        answer.body_str(),
        bad_request_xml("Invalid Access-Control-Request-Method: &lt;x&gt;&amp;\"'")
    );
    // In an AccessForbidden document, `<Method>` is escaped too.
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
