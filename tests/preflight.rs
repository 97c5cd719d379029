//! Which requests are CORS requests, and the preflight decision: missing Origin, missing
//! bucket, CORS not enabled, bad request method, no rule allows it, allowed — in that order —
//! with S3's exact error documents.

mod common;

use http::{HeaderValue, StatusCode};
use tower_s3_cors::{
    decide, BucketCors, CorsLayer, CorsOptions, Decision, PassReason, RefusalKind, RequestHead, RequestIds,
    ResourceType,
};

use common::*;

const RULES: &str = r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"],
                         "AllowedHeaders": ["x-amz-*"], "MaxAgeSeconds": 600}]"#;

/// One preflight through the layer: the expected status and exact body.
struct Case {
    behaviour: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    status: StatusCode,
    body: String,
}

#[tokio::test]
async fn preflight_outcomes_on_a_configured_bucket() {
    let origin: (&str, &[u8]) = ("origin", b"https://app.example");
    let table = vec![
        // No usable Origin.
        Case {
            behaviour: "no Origin",
            path: "/key",
            headers: vec![("access-control-request-method", b"GET")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml(NO_ORIGIN),
        },
        Case {
            behaviour: "an empty Origin counts as absent",
            path: "/key",
            headers: vec![("origin", b""), ("access-control-request-method", b"GET")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml(NO_ORIGIN),
        },
        Case {
            behaviour: "a bare OPTIONS (every OPTIONS is a preflight)",
            path: "/",
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml(NO_ORIGIN),
        },
        Case {
            behaviour: "Referer does not stand in for Origin",
            path: "/key",
            headers: vec![
                ("referer", b"https://app.example/page"),
                ("access-control-request-method", b"GET"),
            ],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml(NO_ORIGIN),
        },
        Case {
            behaviour: "a missing Origin is reported before a bad method",
            path: "/key",
            headers: vec![("access-control-request-method", b"get")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml(NO_ORIGIN),
        },
        // A bad Access-Control-Request-Method.
        Case {
            behaviour: "Access-Control-Request-Method missing reports null",
            path: "/key",
            headers: vec![origin],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: null"),
        },
        Case {
            behaviour: "a lowercase method is reported as sent",
            path: "/key",
            headers: vec![origin, ("access-control-request-method", b"get")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: get"),
        },
        Case {
            behaviour: "a method outside S3's five",
            path: "/key",
            headers: vec![origin, ("access-control-request-method", b"PATCH")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: PATCH"),
        },
        Case {
            behaviour: "OPTIONS is not one of the five",
            path: "/key",
            headers: vec![origin, ("access-control-request-method", b"OPTIONS")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: OPTIONS"),
        },
        Case {
            behaviour: "an empty method is reported as sent (empty)",
            path: "/key",
            headers: vec![origin, ("access-control-request-method", b"")],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: "),
        },
        Case {
            behaviour: "a method sent twice: the first value is reported",
            path: "/key",
            headers: vec![
                origin,
                ("access-control-request-method", b"GET"),
                ("access-control-request-method", b"PUT"),
            ],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: GET"),
        },
        Case {
            behaviour: "a bad method is reported before an origin no rule allows",
            path: "/key",
            headers: vec![
                ("origin", b"https://evil.example"),
                ("access-control-request-method", b"TRACE"),
            ],
            status: StatusCode::BAD_REQUEST,
            body: bad_request_xml("Invalid Access-Control-Request-Method: TRACE"),
        },
        // No rule allows the request.
        Case {
            behaviour: "origin not allowed, object URL",
            path: "/photos/cat.jpg",
            headers: vec![
                ("origin", b"https://evil.example"),
                ("access-control-request-method", b"PUT"),
            ],
            status: StatusCode::FORBIDDEN,
            body: forbidden_xml(NOT_ALLOWED, "PUT", "OBJECT"),
        },
        Case {
            behaviour: "method not allowed, bucket URL",
            path: "/",
            headers: vec![origin, ("access-control-request-method", b"DELETE")],
            status: StatusCode::FORBIDDEN,
            body: forbidden_xml(NOT_ALLOWED, "DELETE", "BUCKET"),
        },
        Case {
            behaviour: "the bucket URL with a query is still the bucket",
            path: "/?cors",
            headers: vec![origin, ("access-control-request-method", b"POST")],
            status: StatusCode::FORBIDDEN,
            body: forbidden_xml(NOT_ALLOWED, "POST", "BUCKET"),
        },
        Case {
            behaviour: "a requested header not allowed",
            path: "/key",
            headers: vec![
                origin,
                ("access-control-request-method", b"GET"),
                ("access-control-request-headers", b"x-amz-date, content-type"),
            ],
            status: StatusCode::FORBIDDEN,
            body: forbidden_xml(NOT_ALLOWED, "GET", "OBJECT"),
        },
        // A rule allows it.
        Case {
            behaviour: "allowed",
            path: "/key",
            headers: vec![origin, ("access-control-request-method", b"PUT")],
            status: StatusCode::OK,
            body: String::new(),
        },
    ];

    let layer = layer(config(RULES));
    let stub = Stub::new();
    let mut problems = Vec::new();
    for case in &table {
        let answer = send(&layer, &stub, request("OPTIONS", case.path, &case.headers)).await;
        if answer.status != case.status {
            problems.push(format!(
                "{}: status {} want {}",
                case.behaviour, answer.status, case.status
            ));
        }
        if answer.body_str() != case.body {
            problems.push(format!(
                "{}: body {:?}\n want {:?}",
                case.behaviour,
                answer.body_str(),
                case.body
            ));
        }
        if case.status == StatusCode::OK {
            check_allowed_preflight(&answer);
        } else {
            check_error_framing(case.behaviour, &answer, &mut problems);
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert_eq!(stub.calls(), 0, "a preflight never reaches the inner service");
}

/// An allowed preflight: 200, empty body, `Content-Length: 0`, no `Content-Type`, the
/// matched rule's headers.
fn check_allowed_preflight(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
    assert_eq!(answer.header("content-length"), "0");
    assert!(!answer.has("content-type"));
    assert_eq!(
        answer.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(answer.header("access-control-allow-credentials"), "true");
    assert_eq!(answer.header("access-control-allow-methods"), "GET, PUT");
    assert_eq!(answer.header("access-control-max-age"), "600");
    assert_eq!(answer.header("vary"), VARY);
    assert!(!answer.has("access-control-allow-headers"));
    assert!(!answer.has("access-control-expose-headers"));
}

/// An error answer: `Content-Type: application/xml`, the ids in headers and body, and no CORS
/// header or `Vary`.
fn check_error_framing(behaviour: &str, answer: &Answer, problems: &mut Vec<String>) {
    if answer.headers.get("content-type").map(HeaderValue::as_bytes) != Some(b"application/xml") {
        problems.push(format!(
            "{behaviour}: Content-Type {:?}",
            answer.headers.get("content-type")
        ));
    }
    if answer.headers.get("x-amz-request-id").map(HeaderValue::as_bytes) != Some(RID.as_bytes())
        || answer.headers.get("x-amz-id-2").map(HeaderValue::as_bytes) != Some(HID.as_bytes())
    {
        problems.push(format!("{behaviour}: ids {:?}", answer.headers));
    }
    let cors = answer
        .headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-") || name == "vary");
    if cors {
        problems.push(format!(
            "{behaviour}: CORS headers on an error: {:?}",
            answer.headers
        ));
    }
}

fn decision(method: &str, path: &str, headers: &[(&str, &[u8])], bucket: BucketCors<'_>) -> Decision {
    let request = request(method, path, headers);
    decide(RequestHead::from(&request), bucket, &CorsOptions::new())
}

fn refusal_document(decision: Decision) -> (StatusCode, RefusalKind, String) {
    match decision {
        Decision::Refuse(refusal) => (refusal.status(), refusal.kind(), refusal.to_xml(RID, HID)),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn preflight_to_a_missing_bucket() {
    let origin: (&str, &[u8]) = ("origin", b"https://app.example");
    for (behaviour, path, headers, method) in [
        (
            "with a method, object URL: ResourceType BUCKET",
            "/key",
            vec![origin, ("access-control-request-method", &b"PUT"[..])],
            "PUT",
        ),
        ("without a method: OPTIONS", "/", vec![origin], "OPTIONS"),
        (
            "checked before the method: an invalid method is reported as sent",
            "/key",
            vec![origin, ("access-control-request-method", &b"get"[..])],
            "get",
        ),
    ] {
        let (status, kind, body) =
            refusal_document(decision("OPTIONS", path, &headers, BucketCors::NoSuchBucket));
        assert_eq!(status, StatusCode::FORBIDDEN, "{behaviour}");
        assert_eq!(kind, RefusalKind::NoSuchBucket, "{behaviour}");
        assert_eq!(body, forbidden_xml(NO_BUCKET, method, "BUCKET"), "{behaviour}");
    }
    // A missing Origin is reported first, even when the bucket does not exist.
    let (status, kind, body) = refusal_document(decision("OPTIONS", "/key", &[], BucketCors::NoSuchBucket));
    assert_eq!(
        (status, kind),
        (StatusCode::BAD_REQUEST, RefusalKind::MissingOrigin)
    );
    assert_eq!(body, bad_request_xml(NO_ORIGIN));
}

#[test]
fn preflight_to_a_bucket_without_cors_configuration() {
    let origin: (&str, &[u8]) = ("origin", b"https://app.example");
    for (behaviour, path, headers, method) in [
        (
            "object URL reports BUCKET",
            "/key",
            vec![origin, ("access-control-request-method", &b"PUT"[..])],
            "PUT",
        ),
        (
            "bucket URL",
            "/",
            vec![origin, ("access-control-request-method", &b"GET"[..])],
            "GET",
        ),
        (
            "checked before the method: missing method is OPTIONS",
            "/key",
            vec![origin],
            "OPTIONS",
        ),
        (
            "checked before the method: invalid method as sent",
            "/key",
            vec![origin, ("access-control-request-method", &b"PATCH"[..])],
            "PATCH",
        ),
    ] {
        let (status, kind, body) =
            refusal_document(decision("OPTIONS", path, &headers, BucketCors::NotConfigured));
        assert_eq!(status, StatusCode::FORBIDDEN, "{behaviour}");
        assert_eq!(kind, RefusalKind::CorsNotEnabled, "{behaviour}");
        assert_eq!(body, forbidden_xml(NOT_ENABLED, method, "BUCKET"), "{behaviour}");
    }
    let (_, kind, _) = refusal_document(decision("OPTIONS", "/key", &[], BucketCors::NotConfigured));
    assert_eq!(
        kind,
        RefusalKind::MissingOrigin,
        "a missing Origin is reported before CORS not enabled"
    );
}

#[test]
fn refusal_accessors_match_the_document() {
    let headers: &[(&str, &[u8])] = &[("origin", b"o"), ("access-control-request-method", b"DELETE")];
    let Decision::Refuse(refusal) = decision("OPTIONS", "/a/b", headers, BucketCors::NotConfigured) else {
        panic!("refusal expected");
    };
    assert_eq!(refusal.code(), "AccessForbidden");
    assert_eq!(refusal.message(), NOT_ENABLED);
    assert_eq!(refusal.method().as_deref(), Some("DELETE"));
    assert_eq!(refusal.resource_type(), Some(ResourceType::Bucket));

    let Decision::Refuse(refusal) = decision("OPTIONS", "/a", &[("origin", b"o")], BucketCors::NoSuchBucket)
    else {
        panic!("refusal expected");
    };
    assert_eq!(refusal.method().as_deref(), Some("OPTIONS"));

    let Decision::Refuse(refusal) = decision("OPTIONS", "/a", &[], BucketCors::NoSuchBucket) else {
        panic!("refusal expected");
    };
    assert_eq!(
        (refusal.code(), refusal.status()),
        ("BadRequest", StatusCode::BAD_REQUEST)
    );
    assert_eq!(refusal.message(), NO_ORIGIN);
    assert_eq!(refusal.method(), None, "BadRequest documents carry no <Method>");
    assert_eq!(refusal.resource_type(), None);
}

#[test]
fn service_endpoint_preflight_is_refused_like_a_missing_bucket() {
    // Documented decision: an OPTIONS at the service endpoint (no bucket) gets the
    // bucket-not-found answer.
    let headers: &[(&str, &[u8])] = &[
        ("origin", b"https://app.example"),
        ("access-control-request-method", b"GET"),
    ];
    let (status, kind, body) = refusal_document(decision("OPTIONS", "/", headers, BucketCors::NoBucket));
    assert_eq!((status, kind), (StatusCode::FORBIDDEN, RefusalKind::NoSuchBucket));
    assert_eq!(body, forbidden_xml(NO_BUCKET, "GET", "BUCKET"));
    // An actual request there passes through untouched.
    match decision("GET", "/", headers, BucketCors::NoBucket) {
        Decision::PassThrough(pass) => assert_eq!(pass.reason(), PassReason::NoBucket),
        other => panic!("{other:?}"),
    }
}

#[test]
fn which_requests_are_cors_requests() {
    let policy = tower_s3_cors::CorsPolicy::new(config(RULES));
    let reason =
        |method: &str, headers: &[(&str, &[u8])]| match policy.evaluate(&request(method, "/k", headers)) {
            Decision::PassThrough(pass) => Some(pass.reason()),
            _ => None,
        };
    assert_eq!(reason("GET", &[]), Some(PassReason::NotCors), "no Origin");
    assert_eq!(
        reason("GET", &[("origin", b"")]),
        Some(PassReason::NotCors),
        "empty Origin"
    );
    assert_eq!(
        reason("GET", &[("referer", b"https://app.example/")]),
        Some(PassReason::NotCors),
        "Referer ignored"
    );
    assert_eq!(
        reason("PUT", &[("origin", b"https://evil.example")]),
        Some(PassReason::NoRuleMatched)
    );
    assert!(matches!(
        policy.evaluate(&request("GET", "/k", &[("origin", b"https://app.example")])),
        Decision::Actual(_)
    ));
    // Every OPTIONS is a preflight, whatever it carries.
    for headers in [
        &[][..],
        &[("origin", &b"x"[..])][..],
        &[("access-control-request-method", &b"GET"[..])][..],
    ] {
        assert!(matches!(
            policy.evaluate(&request("OPTIONS", "/k", headers)),
            Decision::Refuse(_)
        ));
    }
}

#[tokio::test]
async fn ids_come_from_the_hook_in_header_and_body() {
    // The hook sees the request, e.g. to reuse the application's own request id.
    let layer = CorsLayer::new(config(RULES)).request_ids(|head| RequestIds {
        request_id: head
            .headers
            .get("x-request-id")
            .cloned()
            .unwrap_or(HeaderValue::from_static("none")),
        host_id: HeaderValue::from_static("host-1"),
    });
    let answer = send(
        &layer,
        &Stub::new(),
        request("OPTIONS", "/k", &[("x-request-id", b"ABC123")]),
    )
    .await;
    assert_eq!(answer.header("x-amz-request-id"), "ABC123");
    assert_eq!(answer.header("x-amz-id-2"), "host-1");
    assert!(answer
        .body_str()
        .ends_with("<RequestId>ABC123</RequestId><HostId>host-1</HostId></Error>"));
}

#[tokio::test]
async fn default_ids_are_fresh_and_match_the_body() {
    let layer = CorsLayer::new(config(RULES));
    let stub = Stub::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let answer = send(&layer, &stub, request("OPTIONS", "/k", &[])).await;
        let rid = answer.header("x-amz-request-id").to_owned();
        let hid = answer.header("x-amz-id-2").to_owned();
        assert!(!rid.is_empty() && !hid.is_empty());
        assert!(
            answer.body_str().ends_with(&format!(
                "<RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>"
            )),
            "{}",
            answer.body_str()
        );
        assert!(seen.insert(rid), "request ids repeat");
    }
}

#[tokio::test]
async fn a_preflight_never_calls_the_inner_service() {
    let layer = layer(config(RULES));
    let stub = Stub::new();
    let origin: (&str, &[u8]) = ("origin", b"https://app.example");
    for headers in [
        vec![],
        vec![origin],
        vec![origin, ("access-control-request-method", &b"GET"[..])],
        vec![origin, ("access-control-request-method", &b"DELETE"[..])],
        vec![
            ("origin", &b"https://evil.example"[..]),
            ("access-control-request-method", &b"GET"[..]),
        ],
    ] {
        send(&layer, &stub, request("OPTIONS", "/k", &headers)).await;
    }
    assert_eq!(stub.calls(), 0);
    // Actual requests, allowed or not, always do.
    send(&layer, &stub, request("GET", "/k", &[origin])).await;
    send(&layer, &stub, request("DELETE", "/k", &[origin])).await;
    send(&layer, &stub, request("GET", "/k", &[])).await;
    assert_eq!(stub.calls(), 3);
}

// ---- repeated preflights --------------------------------------------------------------------
//
// Each thread keeps its last few preflight decisions (the same preflight comes again for every
// URL a page fetches). These tests pin what that may not change.

/// A preflight whose `Origin` and `Access-Control-Request-Headers` are slices of `buffer`, as
/// hyper hands them over (slices of its read buffer).
fn preflight_from(
    buffer: &bytes::Bytes,
    origin: std::ops::Range<usize>,
    acrh: std::ops::Range<usize>,
) -> http::Request<()> {
    let mut request = http::Request::new(());
    *request.method_mut() = http::Method::OPTIONS;
    *request.uri_mut() = http::Uri::from_static("/key");
    let headers = request.headers_mut();
    let value = |range| HeaderValue::from_maybe_shared(buffer.slice(range)).expect("value");
    headers.insert("origin", value(origin));
    headers.insert("access-control-request-method", HeaderValue::from_static("PUT"));
    headers.insert("access-control-request-headers", value(acrh));
    request
}

#[test]
fn a_repeated_preflight_gets_the_same_answer_and_nothing_of_the_request_is_kept() {
    let policy = tower_s3_cors::CorsPolicy::new(config(RULES));
    // One lowercase name (sent back as the request's own field) and two names in capitals
    // (an echo built for them).
    for acrh in ["x-amz-date", "X-Amz-Date, x-amz-meta-a"] {
        let text = format!("https://app.example{acrh}");
        let buffer = bytes::Bytes::from(text.into_bytes());
        let at = "https://app.example".len();
        let answers: Vec<_> = (0..3)
            .map(|_| {
                let request = preflight_from(&buffer, 0..at, at..buffer.len());
                match policy.evaluate(&request) {
                    Decision::Preflight(allowed) => allowed.headers().clone(),
                    other => panic!("{acrh}: {other:?}"),
                }
            })
            .collect();
        let echo = acrh.to_ascii_lowercase();
        for headers in &answers {
            assert_eq!(
                headers.allow_headers(),
                Some(&HeaderValue::from_str(&echo).unwrap()),
                "{acrh}"
            );
            assert_eq!(headers.allow_origin(), "https://app.example");
        }
        drop(answers);
        // The decisions are kept; the request's values (and the buffer they are slices of,
        // a server's whole read buffer) are not.
        assert!(
            buffer.is_unique(),
            "{acrh}: the request's buffer is still referenced"
        );
    }
}

#[test]
fn a_repeated_preflight_is_decided_by_the_policy_it_comes_to() {
    // Two policies that answer the same preflight differently, asked in turn, and a policy
    // compiled again from a changed configuration (as PutBucketCors does).
    let allowing = tower_s3_cors::CorsPolicy::new(config(RULES));
    let refusing = tower_s3_cors::CorsPolicy::new(config(
        r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"],
             "AllowedHeaders": ["content-type"]}]"#,
    ));
    let headers: &[(&str, &[u8])] = &[
        ("origin", b"https://app.example"),
        ("access-control-request-method", b"PUT"),
        ("access-control-request-headers", b"x-amz-date"),
    ];
    let request = request("OPTIONS", "/key", headers);
    for _ in 0..3 {
        assert!(matches!(allowing.evaluate(&request), Decision::Preflight(_)));
        assert!(
            matches!(refusing.evaluate(&request), Decision::Refuse(r) if r.kind() == RefusalKind::NotAllowed)
        );
    }
    for round in 0..3 {
        let policy = tower_s3_cors::CorsPolicy::new(config(if round % 2 == 0 {
            RULES
        } else {
            r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]"#
        }));
        let decision = policy.evaluate(&request);
        assert_eq!(
            matches!(decision, Decision::Preflight(_)),
            round % 2 == 0,
            "round {round}: {decision:?}"
        );
    }
}

/// Preflights that differ in one part each (origin, method, requested headers, Private
/// Network Access), sent through one layer in an order where each comes again soon (so its
/// answer is kept and then given again), must get what a layer that never saw them gives.
#[tokio::test]
async fn repeated_preflights_through_one_layer_get_a_fresh_layers_answers() {
    let rules = r#"[{"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET", "PUT"],
                     "AllowedHeaders": ["x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60},
                    {"AllowedOrigins": ["https://b.example"], "AllowedMethods": ["DELETE"],
                     "AllowedHeaders": ["*"]}]"#;
    let options = CorsOptions::new().private_network(true);
    let kept = layer(config(rules)).options(options);
    let stub = Stub::new();
    let origins: [&[u8]; 3] = [b"https://a.example", b"https://b.example", b"https://c.other"];
    let methods: [&[u8]; 3] = [b"PUT", b"DELETE", b"GET"];
    let requested: [Option<&[u8]>; 4] = [
        None,
        Some(b"x-amz-date"),
        Some(b"X-Amz-Date, x-amz-meta-a"),
        Some(b"content-type"),
    ];
    let mut pool = Vec::new();
    for origin in origins {
        for method in methods {
            for acrh in requested {
                for pna in [false, true] {
                    let mut fields: Vec<(&str, &[u8])> =
                        vec![("origin", origin), ("access-control-request-method", method)];
                    fields.extend(acrh.map(|v| ("access-control-request-headers", v)));
                    if pna {
                        fields.push(("access-control-request-private-network", b"true"));
                    }
                    pool.push(fields);
                }
            }
        }
    }
    // A fixed walk over the pool: mostly one of the last few again, sometimes a new one.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut recent: Vec<usize> = vec![0];
    let mut allowed = 0;
    for _ in 0..600 {
        let pick = if next(4) == 0 {
            next(pool.len())
        } else {
            recent[next(recent.len())]
        };
        recent.push(pick);
        if recent.len() > 3 {
            recent.remove(0);
        }
        let fields = &pool[pick];
        let got = send(&kept, &stub, request("OPTIONS", "/key", fields)).await;
        let fresh = layer(config(rules)).options(options);
        let want = send(&fresh, &stub, request("OPTIONS", "/key", fields)).await;
        assert_eq!(
            (got.status, &got.headers, &got.body),
            (want.status, &want.headers, &want.body),
            "{fields:?}"
        );
        allowed += usize::from(got.status == StatusCode::OK);
    }
    // Both kinds of answer were compared, many times.
    assert!((100..500).contains(&allowed), "{allowed} allowed of 600");
}

#[tokio::test]
async fn a_decision_hook_sees_every_repeated_preflight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let hooked = layer(config(RULES)).on_decision(move |event| {
        assert_eq!(event.decision().outcome(), "preflight-allowed");
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let fields: &[(&str, &[u8])] = &[
        ("origin", b"https://app.example"),
        ("access-control-request-method", b"PUT"),
        ("access-control-request-headers", b"x-amz-date"),
    ];
    for _ in 0..5 {
        let answer = send(&hooked, &Stub::new(), request("OPTIONS", "/key", fields)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert_eq!(seen.load(Ordering::Relaxed), 5);
}
