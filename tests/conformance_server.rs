//! Every request vector of `tests/conformance/aws-vectors.json` (responses recorded against
//! Amazon S3) sent over HTTP to the example S3 server (s3s + s3s-fs behind the layer), each
//! against a bucket of its own set up as the vector describes (missing, without CORS, or with the
//! vector's rules; the object present or not).
//!
//! The vectors address buckets virtual-hosted (`/` is the bucket), so the server runs with
//! `--domain s3.test` and each request is sent with `Host: BUCKET.s3.test`. Preflights are sent
//! as browsers send them, unsigned; every other request is signed with SigV4 (the presigned
//! upload as a presigned URL), since the server refuses anonymous requests to private buckets.

#![cfg(all(feature = "xml", feature = "json"))]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::s3::{element, presign, signed, signed_as, ACCESS_KEY, SECRET_KEY};
use support::{request, Reply, Running};
use tower_s3_cors::CorsConfiguration;

const VECTORS: &str = include_str!("conformance/aws-vectors.json");

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

/// Creates the case's bucket, rules and object as the vector's context says.
fn set_up(server: &Running, case: &Value, bucket: &str, key: &str) {
    let a = server.addr;
    if !case["context"]["bucket_exists"].as_bool().expect("bucket_exists") {
        return;
    }
    let created = signed(a, "PUT", &format!("/{bucket}"), &[], b"");
    assert_eq!(created.status, 200, "{}", created.text());
    if !case["config"].is_null() {
        let json = serde_json::to_string(&case["config"]).expect("JSON");
        let xml = CorsConfiguration::from_json(&json)
            .expect("a valid configuration")
            .to_xml();
        let put = signed(a, "PUT", &format!("/{bucket}?cors"), &[], xml.as_bytes());
        assert_eq!(put.status, 200, "{}", put.text());
    }
    if case["context"]["object_exists"].as_bool() == Some(true) && !key.is_empty() {
        let put = signed(a, "PUT", &format!("/{bucket}/{key}"), &[], b"object body");
        assert_eq!(put.status, 200, "{}", put.text());
    }
}

/// Sends the case's request: unsigned for a preflight, presigned where the vector's URL was,
/// signed in the headers otherwise.
fn send(server: &Running, case: &Value, host: &str) -> Reply {
    let r = &case["request"];
    let method = text(&r["method"]);
    let full_path = text(&r["path"]);
    let (path, presigned) = match full_path.split_once('?') {
        Some((path, _)) => (path, true),
        None => (full_path, false),
    };
    let mut headers: Vec<(&str, &str)> = r["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(n, v)| (n.as_str(), text(v)))
        .collect();
    let body: &[u8] = if method == "PUT" { b"uploaded" } else { b"" };
    if method == "OPTIONS" {
        headers.push(("Host", host));
        request(server.addr, method, path, &headers, body)
    } else if presigned {
        let url = presign(host, method, path, Duration::from_secs(600));
        headers.push(("Host", host));
        request(server.addr, method, &url, &headers, body)
    } else {
        signed_as(
            server.addr,
            host,
            (ACCESS_KEY, SECRET_KEY),
            method,
            path,
            &headers,
            body,
        )
    }
}

fn check(case: &Value, reply: &Reply) -> Vec<String> {
    let name = text(&case["name"]);
    let expect = &case["expect"];
    let mut problems = Vec::new();
    let mut eq = |what: String, got: String, want: String| {
        if got != want {
            problems.push(format!("{name}: {what}: got {got:?}, want {want:?}"));
        }
    };
    if let Some(status) = expect["status"].as_u64() {
        eq("status".into(), reply.status.to_string(), status.to_string());
    }
    for (header, want) in expect["headers"].as_object().expect("headers") {
        let got: Vec<&str> = reply
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(header))
            .map(|(_, v)| v.as_str())
            .collect();
        eq(
            format!("header {header}"),
            format!("{got:?}"),
            format!("{:?}", [text(want)]),
        );
    }
    for header in expect["absent_headers"].as_array().into_iter().flatten() {
        eq(
            format!("header {} absent", text(header)),
            format!("{:?}", reply.header(text(header))),
            "None".into(),
        );
    }
    let body = reply.text();
    let mut from = 0;
    for needle in expect["body_contains"].as_array().into_iter().flatten() {
        match body.get(from..).and_then(|rest| rest.find(text(needle))) {
            Some(at) => from += at + text(needle).len(),
            None => problems.push(format!(
                "{name}: body lacks {:?} (in order) in {body:?}",
                text(needle)
            )),
        }
    }
    if expect["body_empty"].as_bool() == Some(true) && !body.is_empty() {
        problems.push(format!("{name}: body should be empty: {body:?}"));
    }
    if body.contains("<RequestId>") && element(&body, "RequestId") != reply.header("x-amz-request-id") {
        problems.push(format!("{name}: <RequestId> is not x-amz-request-id"));
    }
    problems
}

#[test]
fn every_aws_request_vector_holds_over_http_against_the_s3s_server() {
    let vectors: Value = serde_json::from_str(VECTORS).expect("the vectors are JSON");
    let cases = vectors["cases"].as_array().expect("cases");
    let server = Running::start_with("s3_server", &["--domain", "s3.test"]);
    let mut problems = Vec::new();
    let (mut preflights, mut signed_requests) = (0, 0);
    for (index, case) in cases.iter().enumerate() {
        let bucket = format!("vector-{index}");
        let path = text(&case["request"]["path"]);
        let key = path.split('?').next().unwrap_or_default().trim_start_matches('/');
        set_up(&server, case, &bucket, key);
        let reply = send(&server, case, &format!("{bucket}.s3.test"));
        problems.extend(check(case, &reply));
        if text(&case["request"]["method"]) == "OPTIONS" {
            preflights += 1;
        } else {
            signed_requests += 1;
        }
    }
    println!(
        "{} vectors over HTTP: {preflights} preflights, {signed_requests} signed requests",
        cases.len()
    );
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(cases.len(), 22, "every vector ran");
    assert_eq!((preflights, signed_requests), (15, 7));
}
