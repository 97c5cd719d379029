//! Runs every vector of `tests/conformance/aws-vectors.json` (responses recorded against Amazon
//! S3; provenance in the file) through the crate.
//!
//! Request cases on a configured bucket go through the real `CorsLayer` wrapping a stub
//! service. A `CorsLayer` built from one configuration stands for one configured bucket, so the
//! cases whose bucket has no configuration or does not exist are checked on the pure decision
//! (`decide` with `BucketCors::NotConfigured` / `BucketCors::NoSuchBucket`) and the error
//! document it produces.
//!
//! Configuration cases are parsed (JSON through `from_json` and serde, raw XML through
//! `from_xml`) and checked for S3's exact code and message, or for the GetBucketCors output (and
//! its 404 document for a bucket without configuration).

mod common;

use std::fmt::Debug;

use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::{Layer, ServiceExt};
use tower_s3_cors::source::{BucketAddressing, BucketStore, Lookup, NoSuchCorsConfiguration};
use tower_s3_cors::{
    decide, BucketCors, ConfigError, CorsConfiguration, CorsLayer, CorsOptions, Decision, RequestHead,
    ResourceType,
};

use common::{send, Answer, Stub, HID, RID};

const VECTORS: &str = include_str!("conformance/aws-vectors.json");

/// Collects every mismatch of one case instead of stopping at the first.
struct Check<'a> {
    case: &'a str,
    problems: Vec<String>,
}

impl<'a> Check<'a> {
    fn new(case: &'a str) -> Self {
        Check {
            case,
            problems: Vec::new(),
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.problems
                .push(format!("{}: {what}: got {got:?}, want {want:?}", self.case));
        }
    }

    fn that(&mut self, what: &str, ok: bool) {
        if !ok {
            self.problems.push(format!("{}: {what}", self.case));
        }
    }
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("the vectors are JSON")
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

/// The request of a case. The presigned query is elided in the vectors as `?<...>`, which is
/// not a URI: it is dropped (the query plays no part in CORS).
fn build_request(case: &Value) -> Request<String> {
    let request = &case["request"];
    let path = text(&request["path"]);
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let headers: Vec<(&str, &[u8])> = request["headers"]
        .as_object()
        .expect("headers object")
        .iter()
        .map(|(name, value)| (name.as_str(), text(value).as_bytes()))
        .collect();
    common::request(text(&request["method"]), path, &headers)
}

/// `body_contains` substrings, each found after the previous one.
fn check_body_in_order(check: &mut Check<'_>, body: &str, expect: &Value) {
    let mut from = 0;
    for needle in expect["body_contains"].as_array().into_iter().flatten() {
        let needle = text(needle);
        match body.get(from..).and_then(|rest| rest.find(needle)) {
            Some(at) => from += at + needle.len(),
            None => check.problems.push(format!(
                "{}: body lacks {needle:?} (in order) in {body:?}",
                check.case
            )),
        }
    }
}

/// The text of `<element>` in an XML body.
fn element<'b>(body: &'b str, element: &str) -> Option<&'b str> {
    let open = format!("<{element}>");
    let close = format!("</{element}>");
    let start = body.find(&open)? + open.len();
    let end = start + body.get(start..)?.find(&close)?;
    body.get(start..end)
}

/// A case on a configured bucket, through the real layer (default id generator, so the ids in
/// the body must be the ones in the headers).
async fn run_through_layer(check: &mut Check<'_>, case: &Value) {
    let config_json = serde_json::to_string(&case["config"]).unwrap();
    let config = CorsConfiguration::from_json(&config_json).unwrap_or_else(|e| panic!("{}: {e}", check.case));
    let layer = CorsLayer::new(config);
    let stub = Stub::new();
    let is_options = text(&case["request"]["method"]) == "OPTIONS";
    let answer = send(&layer, &stub, build_request(case)).await;
    check_answer(check, case, &answer);
    // Preflights never reach the inner service; actual requests always do.
    check.eq(
        "inner service calls",
        stub.calls(),
        if is_options { 0 } else { 1 },
    );
}

/// A case whose bucket has no configuration or does not exist, through a real layer whose
/// source gives that outcome.
async fn run_through_source(check: &mut Check<'_>, case: &Value, lookup: Lookup) {
    let layer = CorsLayer::from_source(move |_: &RequestHead<'_>| lookup.clone());
    let stub = Stub::new();
    let is_options = text(&case["request"]["method"]) == "OPTIONS";
    let response = layer
        .layer(stub.clone())
        .oneshot(build_request(case))
        .await
        .expect("answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let answer = Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    check_answer(check, case, &answer);
    check.eq(
        "inner service calls",
        stub.calls(),
        if is_options { 0 } else { 1 },
    );
}

fn check_answer(check: &mut Check<'_>, case: &Value, answer: &Answer) {
    let expect = &case["expect"];
    if let Some(status) = expect["status"].as_u64() {
        check.eq("status", u64::from(answer.status.as_u16()), status);
    }
    for (name, want) in expect["headers"].as_object().expect("headers") {
        let got: Vec<&[u8]> = answer
            .headers
            .get_all(name.as_str())
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        check.eq(&format!("header {name}"), got, vec![text(want).as_bytes()]);
    }
    for name in expect["absent_headers"].as_array().expect("absent_headers") {
        let name = text(name);
        check.that(&format!("header {name} must be absent"), !answer.has(name));
    }
    let body = String::from_utf8_lossy(&answer.body);
    check_body_in_order(check, &body, expect);
    if expect["body_empty"].as_bool() == Some(true) {
        check.eq("body", &*body, "");
    }
    if body.contains("<Error>") {
        check.eq(
            "<RequestId> = x-amz-request-id",
            element(&body, "RequestId"),
            answer
                .headers
                .get("x-amz-request-id")
                .and_then(|v| v.to_str().ok()),
        );
        check.eq(
            "<HostId> = x-amz-id-2",
            element(&body, "HostId"),
            answer.headers.get("x-amz-id-2").and_then(|v| v.to_str().ok()),
        );
        check.eq(
            "Content-Type of an error",
            answer.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/xml"),
        );
    }
}

/// A case whose bucket has no configuration or does not exist, on the pure decision.
fn run_on_decision(check: &mut Check<'_>, case: &Value, bucket: BucketCors<'_>) {
    let expect = &case["expect"];
    let request = build_request(case);
    let head = RequestHead::from(&request);
    check.eq(
        "expect.headers (the layer's own headers cannot be checked on a decision)",
        expect["headers"].as_object().map(|h| h.len()),
        Some(0),
    );
    match decide(head, bucket, &CorsOptions::new()) {
        Decision::Refuse(refusal) => {
            if let Some(status) = expect["status"].as_u64() {
                check.eq("status", u64::from(refusal.status().as_u16()), status);
            }
            let body = refusal.to_xml(RID, HID);
            check_body_in_order(check, &body, expect);
            check.eq("<Code>", element(&body, "Code"), Some(refusal.code()));
            check.eq(
                "<Message>",
                element(&body, "Message").map(str::to_owned),
                Some(refusal.message().into_owned()),
            );
            check.eq(
                "<Method>",
                element(&body, "Method").map(str::to_owned),
                refusal.method().map(|m| m.into_owned()),
            );
            check.eq(
                "<ResourceType>",
                element(&body, "ResourceType"),
                refusal.resource_type().map(ResourceType::as_str),
            );
            check.eq("<RequestId>", element(&body, "RequestId"), Some(RID));
            check.eq("<HostId>", element(&body, "HostId"), Some(HID));
            check.that(
                "a refusal carries no CORS headers",
                expect["body_empty"].is_null(),
            );
        }
        Decision::PassThrough(pass) => {
            // Served by the inner service, whose response is returned unchanged.
            check.that("no cache-safe Vary by default", !pass.adds_vary());
            if let Some(status) = expect["status"].as_u64() {
                check.eq("status (the inner service's)", status, 200);
            }
            check.that(
                "no body expected from the layer",
                expect["body_contains"].as_array().is_none_or(Vec::is_empty),
            );
        }
        other => check
            .problems
            .push(format!("{}: unexpected decision {other:?}", check.case)),
    }
}

fn run_config_case(check: &mut Check<'_>, case: &Value) -> bool {
    if let Some(operation) = case["operation"].as_str() {
        check.eq(
            "the one operation case is GetBucketCors",
            operation,
            "GetBucketCors",
        );
        check.that(
            "GetBucketCors case has no configuration",
            case["config"].is_null(),
        );
        // BucketStore answers "no configuration" for an existing bucket; the server turns that
        // into S3's 404 document.
        let store = BucketStore::new(BucketAddressing::PathStyle);
        store.create_bucket("bucket");
        check.eq("bucket without configuration", store.get_cors("bucket"), Ok(None));
        let error = NoSuchCorsConfiguration::new("bucket");
        check.eq(
            "status",
            u64::from(error.status().as_u16()),
            case["expect_status"].as_u64().expect("status"),
        );
        check.eq("code", Some(error.code()), case["expect_error_code"].as_str());
        check.eq("message", Some(error.message()), case["expect_message"].as_str());
        let xml = error.to_xml("RID", "HID");
        check.that(
            "document carries BucketName",
            xml.contains("</Message><BucketName>bucket</BucketName><RequestId>RID</RequestId>"),
        );
        return true;
    }
    let parsed: Result<CorsConfiguration, ConfigError> = match &case["config"] {
        Value::String(xml) => CorsConfiguration::from_xml(xml),
        json => {
            let text = serde_json::to_string(json).unwrap();
            let parsed = CorsConfiguration::from_json(&text);
            // serde (any format) agrees with the JSON parser.
            let via_serde = serde_json::from_value::<CorsConfiguration>(json.clone());
            check.eq("serde and from_json agree", via_serde.ok(), parsed.clone().ok());
            parsed
        }
    };
    let status = case["expect_status"].as_u64().expect("expect_status");
    match parsed {
        Err(err) => {
            check.eq("status", u64::from(err.status().as_u16()), status);
            check.eq(
                "code",
                Some(err.code().as_str()),
                case["expect_error_code"].as_str(),
            );
            check.eq("message", Some(err.message()), case["expect_message"].as_str());
            let document = err.to_s3_xml(RID, HID);
            check.eq("<RequestId>", element(&document, "RequestId"), Some(RID));
            check.eq("<HostId>", element(&document, "HostId"), Some(HID));
            if let Some(raw) = case["raw_response"].as_str() {
                let ids_of = |doc: &str| {
                    (
                        element(doc, "RequestId").map(str::to_owned),
                        element(doc, "HostId").map(str::to_owned),
                    )
                };
                let (rid, hid) = ids_of(raw);
                let ours = err.to_s3_xml(rid.as_deref().unwrap(), hid.as_deref().unwrap());
                check.eq("the error document, byte for byte", ours.as_str(), raw);
            }
            if let Some(xml) = case["wire_xml"].as_str() {
                let wire = CorsConfiguration::from_xml(xml);
                check.eq(
                    "the wire XML gives the same S3 error",
                    wire.as_ref().err().map(|e| (e.code(), e.message().to_owned())),
                    Some((err.code(), err.message().to_owned())),
                );
            }
        }
        Ok(config) => {
            check.eq("status", 200, status);
            let want = &case["expect_get_bucket_cors"];
            check.eq(
                "GetBucketCors rules (serde)",
                &serde_json::to_value(config.rules()).unwrap(),
                want,
            );
            let cli: Value = serde_json::from_str(&config.to_json()).unwrap();
            check.eq("GetBucketCors rules (to_json)", &cli["CORSRules"], want);
            // The XML GetBucketCors document reads back as the same configuration.
            let again = CorsConfiguration::from_xml(&config.to_xml());
            check.eq("to_xml round trip", again.ok().as_ref(), Some(&config));
        }
    }
    true
}

#[tokio::test]
async fn every_aws_vector_holds() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().expect("cases");
    let config_cases = vectors["config_cases"].as_array().expect("config_cases");
    let mut problems = Vec::new();
    let (mut through_layer, mut on_decision, mut config_checked, mut not_modelled) = (0, 0, 0, 0);

    for case in cases {
        let mut check = Check::new(text(&case["name"]));
        let exists = case["context"]["bucket_exists"].as_bool().expect("bucket_exists");
        match (exists, case["config"].is_null()) {
            (false, _) => {
                run_on_decision(&mut check, case, BucketCors::NoSuchBucket);
                run_through_source(&mut check, case, Lookup::NoSuchBucket).await;
                on_decision += 1;
            }
            (true, true) => {
                run_on_decision(&mut check, case, BucketCors::NotConfigured);
                run_through_source(&mut check, case, Lookup::NotConfigured).await;
                on_decision += 1;
            }
            (true, false) => {
                run_through_layer(&mut check, case).await;
                through_layer += 1;
            }
        }
        problems.append(&mut check.problems);
    }
    for case in config_cases {
        let mut check = Check::new(text(&case["name"]));
        if run_config_case(&mut check, case) {
            config_checked += 1;
        } else {
            not_modelled += 1;
        }
        problems.append(&mut check.problems);
    }

    println!(
        "conformance: {} request cases ({through_layer} through the layer, {on_decision} on the decision and through a layer whose source has no configuration or no bucket), \
         {} configuration cases ({config_checked} checked, {not_modelled} not modelled)",
        cases.len(),
        config_cases.len()
    );
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Every vector ran; none was skipped.
    assert_eq!(cases.len(), 22);
    assert_eq!(through_layer + on_decision, 22);
    assert_eq!(config_cases.len(), 7);
    assert_eq!((config_checked, not_modelled), (7, 0));
}

/// The copy keeps the provenance of every vector.
#[test]
fn vectors_keep_their_provenance() {
    let vectors = vectors();
    for key in ["localstack", "localstack_legacy", "ceph", "scality", "versitygw"] {
        assert!(vectors["sources"][key].is_string(), "source {key}");
    }
    for case in vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .chain(vectors["config_cases"].as_array().unwrap())
    {
        assert!(case["provenance"].is_string(), "{}", case["name"]);
        assert!(case["tier"].is_string(), "{}", case["name"]);
    }
}
