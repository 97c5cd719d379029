//! Where rules come from (spec §3, §4 P2/P3): every outcome of a source, the ready-made
//! bucket store and addressing, asynchronous sources, live reload under concurrent requests,
//! and the request-id hook.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Stub, STUB_BODY};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_s3_cors::fetch_metadata::FetchMetadata;
use tower_s3_cors::source::{
    AsyncCorsSource, BoxError, BucketAddressing, BucketStore, Lookup, ReloadableRules,
};
use tower_s3_cors::{
    CorsConfiguration, CorsLayer, CorsOptions, CorsPolicy, RequestHead, RequestIds, ResourceType,
};

const RID: &str = "4442587FB7D0A2F9";
const HID: &str = "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=";

fn ids(_: &RequestHead<'_>) -> RequestIds {
    RequestIds {
        request_id: HeaderValue::from_static(RID),
        host_id: HeaderValue::from_static(HID),
    }
}

fn config(json: &str) -> CorsConfiguration {
    CorsConfiguration::from_json(json).expect("valid configuration")
}

fn photos_rules() -> CorsConfiguration {
    config(
        r#"[{"ID": "app", "AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"],
             "AllowedHeaders": ["x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]"#,
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send<S, B>(service: S, request: Request<Full<Bytes>>) -> Answer
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.expect("service answers");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).expect("valid request")
}

fn preflight(uri: &str, origin: &str, method: &str) -> Request<Full<Bytes>> {
    request(
        "OPTIONS",
        uri,
        &[("origin", origin), ("access-control-request-method", method)],
    )
}

fn no_cors_headers(headers: &HeaderMap) -> bool {
    !headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-") || name == "vary")
}

fn forbidden(message: &str, method: &str, resource: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>{message}</Message><Method>{method}</Method><ResourceType>{resource}</ResourceType><RequestId>{RID}</RequestId><HostId>{HID}</HostId></Error>"
    )
}

fn store() -> Arc<BucketStore> {
    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    store.create_bucket("photos");
    store.create_bucket("plain");
    store.put_cors("photos", photos_rules()).expect("bucket exists");
    store
}

#[tokio::test]
async fn store_configured_bucket_answers_preflight_and_actual() {
    let stub = Stub::new();
    let service = CorsLayer::from_source(store())
        .request_ids(ids)
        .layer(stub.clone());

    let answer = send(
        service.clone(),
        preflight("/photos/cat.jpg", "https://app.example", "PUT"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["access-control-allow-methods"], "GET, PUT");
    assert_eq!(answer.headers["access-control-max-age"], "600");
    assert_eq!(answer.body, "");

    let answer = send(
        service,
        request("GET", "/photos/cat.jpg", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(answer.headers["access-control-expose-headers"], "ETag");
    assert_eq!(answer.body, STUB_BODY);
    assert_eq!(
        stub.calls(),
        1,
        "only the actual request reaches the inner service"
    );
}

#[tokio::test]
async fn store_refused_preflight_reports_object_or_bucket_resource() {
    let service = CorsLayer::from_source(store())
        .request_ids(ids)
        .layer(Stub::new());
    let message = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    let answer = send(
        service.clone(),
        preflight("/photos/cat.jpg", "https://evil.example", "PUT"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body, forbidden(message, "PUT", "OBJECT"));
    let answer = send(service, preflight("/photos", "https://evil.example", "GET")).await;
    assert_eq!(answer.body, forbidden(message, "GET", "BUCKET"));
}

#[tokio::test]
async fn missing_bucket_preflight_is_p2_and_actual_passes_through() {
    let stub = Stub::new();
    let service = CorsLayer::from_source(store())
        .request_ids(ids)
        .layer(stub.clone());
    let answer = send(
        service.clone(),
        preflight("/nope/key", "https://app.example", "GET"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.body,
        forbidden("CORSResponse: Bucket not found", "GET", "BUCKET")
    );
    assert_eq!(answer.headers["content-type"], "application/xml");
    assert!(no_cors_headers(&answer.headers));

    let answer = send(
        service,
        request("GET", "/nope/key", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(no_cors_headers(&answer.headers));
    assert_eq!(stub.calls(), 1);
}

#[tokio::test]
async fn unconfigured_bucket_preflight_is_p3_with_bucket_resource_even_for_objects() {
    let service = CorsLayer::from_source(store())
        .request_ids(ids)
        .layer(Stub::new());
    let answer = send(service.clone(), preflight("/plain/some/key", "whatever", "PUT")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.body,
        forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
            "PUT",
            "BUCKET"
        )
    );

    // P3 is checked before the request method: an invalid one is not reported.
    let answer = send(service.clone(), preflight("/plain/key", "whatever", "PATCH")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("<Method>PATCH</Method>"));

    // Without Access-Control-Request-Method the method is reported as OPTIONS.
    let answer = send(
        service.clone(),
        request("OPTIONS", "/plain", &[("origin", "whatever")]),
    )
    .await;
    assert!(answer
        .body
        .contains("<Method>OPTIONS</Method><ResourceType>BUCKET</ResourceType>"));

    let answer = send(service, request("GET", "/plain/key", &[("origin", "whatever")])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(no_cors_headers(&answer.headers));
}

#[tokio::test]
async fn service_endpoint_passes_actual_requests_untouched_and_refuses_preflights() {
    let stub = Stub::new();
    let service = CorsLayer::from_source(store())
        .request_ids(ids)
        .layer(stub.clone());
    let answer = send(
        service.clone(),
        request("GET", "/", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, STUB_BODY);
    assert!(no_cors_headers(&answer.headers));

    let answer = send(service.clone(), preflight("/", "https://app.example", "GET")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(no_cors_headers(&answer.headers));
    assert_eq!(
        answer.body,
        forbidden("CORSResponse: Bucket not found", "GET", "BUCKET")
    );

    // P1 still comes first.
    let answer = send(service, request("OPTIONS", "/", &[])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("<Code>BadRequest</Code>"));
    assert_eq!(stub.calls(), 1);
}

#[tokio::test]
async fn store_operations_follow_s3() {
    let store = store();
    assert_eq!(store.buckets(), ["photos", "plain"]);
    assert!(!store.create_bucket("photos"), "already exists");
    assert_eq!(store.get_cors("photos"), Ok(Some(photos_rules())));
    assert_eq!(store.get_cors("plain"), Ok(None));
    let missing = store.get_cors("nope").unwrap_err();
    assert_eq!(missing.bucket(), "nope");
    assert_eq!(
        missing.to_string(),
        "NoSuchBucket: The specified bucket does not exist (nope)"
    );
    assert!(store.put_cors("nope", photos_rules()).is_err());
    store.delete_cors("photos").expect("exists");
    assert_eq!(store.get_cors("photos"), Ok(None));
    assert!(store.delete_bucket("photos"));
    assert!(!store.bucket_exists("photos"));

    // The layer sees each change at once.
    let service = CorsLayer::from_source(Arc::clone(&store))
        .request_ids(ids)
        .layer(Stub::new());
    let answer = send(
        service.clone(),
        preflight("/plain/k", "https://app.example", "GET"),
    )
    .await;
    assert!(answer.body.contains("CORS is not enabled"));
    store.put_cors("plain", photos_rules()).expect("exists");
    let answer = send(service, preflight("/plain/k", "https://app.example", "GET")).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[test]
fn path_style_addressing() {
    let cases = [
        ("/", None),
        ("/photos", Some(("photos", ResourceType::Bucket))),
        ("/photos/", Some(("photos", ResourceType::Bucket))),
        ("/photos/cat.jpg", Some(("photos", ResourceType::Object))),
        ("/photos/a/b/c", Some(("photos", ResourceType::Object))),
        ("/photos?cors", Some(("photos", ResourceType::Bucket))),
    ];
    for (uri, expected) in cases {
        let request = request("GET", uri, &[]);
        assert_eq!(
            BucketAddressing::PathStyle.bucket(&RequestHead::from(&request)),
            expected,
            "{uri}"
        );
    }
}

#[test]
fn virtual_host_addressing_falls_back_to_path_style() {
    let addressing = BucketAddressing::VirtualHost {
        base_domain: "s3.example.com".into(),
    };
    let cases = [
        ("media.s3.example.com", "/", Some(("media", ResourceType::Bucket))),
        (
            "media.s3.example.com:9000",
            "/cat.jpg",
            Some(("media", ResourceType::Object)),
        ),
        (
            "MEDIA.S3.Example.com",
            "/k",
            Some(("MEDIA", ResourceType::Object)),
        ),
        ("a.b.s3.example.com", "/", Some(("a.b", ResourceType::Bucket))),
        (
            "s3.example.com",
            "/media/cat.jpg",
            Some(("media", ResourceType::Object)),
        ),
        ("s3.example.com", "/", None),
        ("xs3.example.com", "/media", Some(("media", ResourceType::Bucket))),
        (".s3.example.com", "/", None),
    ];
    for (host, path, expected) in cases {
        let request = request("GET", path, &[("host", host)]);
        assert_eq!(
            addressing.bucket(&RequestHead::from(&request)),
            expected,
            "{host}{path}"
        );
    }
}

#[tokio::test]
async fn closure_source_chooses_rules_per_route() {
    let api = Arc::new(CorsPolicy::new(photos_rules()));
    let stub = Stub::new();
    let service = CorsLayer::from_source(move |head: &RequestHead<'_>| {
        if head.uri.path().starts_with("/api/") {
            Lookup::Configured {
                policy: Arc::clone(&api),
                resource: ResourceType::Object,
            }
        } else {
            Lookup::NoBucket
        }
    })
    .layer(stub.clone());
    let answer = send(
        service.clone(),
        request("GET", "/api/x", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let answer = send(
        service,
        request("GET", "/static/x", &[("origin", "https://app.example")]),
    )
    .await;
    assert!(no_cors_headers(&answer.headers));
    assert_eq!(stub.calls(), 2);
}

/// An asynchronous source that yields to the runtime before answering, as a database would.
struct SlowStore {
    store: Arc<BucketStore>,
    lookups: AtomicUsize,
}

impl AsyncCorsSource for SlowStore {
    type Future = Pin<Box<dyn Future<Output = Result<Lookup, BoxError>> + Send>>;

    fn lookup(&self, head: &RequestHead<'_>) -> Self::Future {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found = BucketAddressing::PathStyle
            .bucket(head)
            .map(|(b, r)| (b.to_owned(), r));
        let store = Arc::clone(&self.store);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let Some((bucket, resource)) = found else {
                return Ok(Lookup::NoBucket);
            };
            if bucket == "broken" {
                return Err("metadata store unreachable".into());
            }
            // The store's compiled rules are shared, not compiled again per request.
            Ok(match store.policy(&bucket) {
                Err(_) => Lookup::NoSuchBucket,
                Ok(None) => Lookup::NotConfigured,
                Ok(Some(policy)) => Lookup::Configured { policy, resource },
            })
        })
    }
}

fn slow_layer() -> CorsLayer<tower_s3_cors::source::AsyncSource<SlowStore>> {
    CorsLayer::from_async_source(SlowStore {
        store: store(),
        lookups: AtomicUsize::new(0),
    })
    .request_ids(ids)
}

#[tokio::test]
async fn async_source_gives_every_outcome() {
    let stub = Stub::new();
    let service = slow_layer().layer(stub.clone());

    let answer = send(
        service.clone(),
        preflight("/photos/k", "https://app.example", "PUT"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["access-control-allow-methods"], "GET, PUT");

    let answer = send(
        service.clone(),
        preflight("/nope/k", "https://app.example", "PUT"),
    )
    .await;
    assert_eq!(
        answer.body,
        forbidden("CORSResponse: Bucket not found", "PUT", "BUCKET")
    );

    let answer = send(
        service.clone(),
        preflight("/plain/k", "https://app.example", "PUT"),
    )
    .await;
    assert_eq!(
        answer.body,
        forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
            "PUT",
            "BUCKET"
        )
    );

    let answer = send(
        service.clone(),
        request("GET", "/photos/k", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.headers["access-control-expose-headers"], "ETag");
    assert_eq!(answer.body, STUB_BODY);

    let answer = send(service, request("GET", "/", &[("origin", "https://app.example")])).await;
    assert!(no_cors_headers(&answer.headers));
    assert_eq!(stub.calls(), 2, "preflights never reach the inner service");
}

#[tokio::test]
async fn async_lookup_failure_is_a_500_for_preflights_only() {
    let stub = Stub::new();
    let service = slow_layer().layer(stub.clone());
    let answer = send(
        service.clone(),
        preflight("/broken/k", "https://app.example", "GET"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.headers["content-type"], "application/xml");
    assert_eq!(answer.headers["x-amz-request-id"], RID);
    assert_eq!(
        answer.body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>{RID}</RequestId><HostId>{HID}</HostId></Error>"
        )
    );
    assert_eq!(stub.calls(), 0);

    // An actual request is served, without CORS headers.
    let answer = send(
        service,
        request("GET", "/broken/k", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(no_cors_headers(&answer.headers));
    assert_eq!(stub.calls(), 1);

    // In enforce mode the cross-origin request is refused instead.
    let stub = Stub::new();
    let service = slow_layer()
        .options(CorsOptions::new().enforce(true))
        .layer(stub.clone());
    let answer = send(
        service,
        request("GET", "/broken/k", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(stub.calls(), 0);
}

#[tokio::test]
async fn async_lookup_failure_with_fetch_metadata_refuses_cross_site_requests_only() {
    let stub = Stub::new();
    let service = slow_layer()
        .options(CorsOptions::new().fetch_metadata(FetchMetadata::new()))
        .layer(stub.clone());
    // Whether a rule would allow it cannot be known: refused with the 500.
    let cross_site = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://app.example"),
    ];
    let answer = send(service.clone(), request("POST", "/broken/k", &cross_site)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(stub.calls(), 0);
    // The application's own page and a client without Fetch Metadata are served.
    let same_origin = [("sec-fetch-site", "same-origin")];
    let answer = send(service.clone(), request("POST", "/broken/k", &same_origin)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(service, request("POST", "/broken/k", &[])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(stub.calls(), 2);
}

#[tokio::test]
async fn async_source_works_with_a_real_async_inner_service() {
    let service = slow_layer().layer(service_fn(|_: Request<Full<Bytes>>| async {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"later"))))
    }));
    let answer = send(
        service,
        request("PUT", "/photos/k", &[("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(answer.body, "later");
    assert_eq!(answer.headers["access-control-allow-methods"], "GET, PUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_concurrent_requests_never_mixes_rules() {
    // Two configurations that differ in every header they produce for the same request.
    let a = config(
        r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"], "ExposeHeaders": ["X-A"], "MaxAgeSeconds": 1}]"#,
    );
    let b = config(
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"], "ExposeHeaders": ["X-B"], "MaxAgeSeconds": 2}]"#,
    );
    let rules = Arc::new(ReloadableRules::new(a.clone()));
    let service = CorsLayer::from_source(Arc::clone(&rules)).layer(Stub::new());

    // A thread swaps the rules until the requests are done (at most 20 000 swaps).
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (rules, done) = (Arc::clone(&rules), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut swaps = 0usize;
            while !done.load(Ordering::SeqCst) && swaps < 20_000 {
                rules.replace(if swaps % 2 == 0 { b.clone() } else { a.clone() });
                swaps += 1;
                std::thread::sleep(Duration::from_micros(20));
            }
            swaps
        })
    };
    let from_a = [
        Some("https://app.example"),
        Some("true"),
        Some("GET"),
        Some("X-A"),
        Some("1"),
    ];
    let from_b = [Some("*"), None, Some("GET, PUT"), Some("X-B"), Some("2")];
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = [0usize; 2];
            for _ in 0..250 {
                let answer = send(
                    service.clone(),
                    request("GET", "/k", &[("origin", "https://app.example")]),
                )
                .await;
                let got = [
                    "access-control-allow-origin",
                    "access-control-allow-credentials",
                    "access-control-allow-methods",
                    "access-control-expose-headers",
                    "access-control-max-age",
                ]
                .map(|name| {
                    answer
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap_or("?").to_owned())
                });
                let got: Vec<Option<&str>> = got.iter().map(Option::as_deref).collect();
                if got == from_a {
                    seen[0] += 1;
                } else if got == from_b {
                    seen[1] += 1;
                } else {
                    panic!("a response mixing two configurations: {got:?}");
                }
                tokio::task::yield_now().await;
            }
            seen
        }));
    }
    let mut total = [0usize; 2];
    for task in tasks {
        let seen = task.await.expect("task");
        total[0] += seen[0];
        total[1] += seen[1];
    }
    done.store(true, Ordering::SeqCst);
    let swaps = swapper.join().expect("swapper");
    assert_eq!(total[0] + total[1], 2000);
    assert!(swaps > 1, "the rules were swapped while serving");
    assert!(
        total[0] > 0 && total[1] > 0,
        "both configurations were served: {total:?} over {swaps} swaps"
    );
}

#[derive(Clone)]
struct AppRequestId(&'static str);

#[tokio::test]
async fn request_id_hook_reaches_header_and_body() {
    let layer = CorsLayer::new(photos_rules()).request_ids(|head: &RequestHead<'_>| {
        let id = head
            .extensions
            .and_then(|e| e.get::<AppRequestId>())
            .map_or("none", |id| id.0);
        RequestIds {
            request_id: HeaderValue::from_static(id),
            host_id: HeaderValue::from_static("host-7"),
        }
    });
    let mut refused = preflight("/k", "https://evil.example", "GET");
    refused.extensions_mut().insert(AppRequestId("APP-REQ-42"));
    let answer = send(layer.layer(Stub::new()), refused).await;
    assert_eq!(answer.headers["x-amz-request-id"], "APP-REQ-42");
    assert_eq!(answer.headers["x-amz-id-2"], "host-7");
    assert!(answer
        .body
        .ends_with("<RequestId>APP-REQ-42</RequestId><HostId>host-7</HostId></Error>"));
}

#[tokio::test]
async fn default_request_ids_are_fresh_and_match_the_body() {
    let service = CorsLayer::new(photos_rules()).layer(Stub::new());
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let answer = send(service.clone(), request("OPTIONS", "/k", &[])).await;
        let rid = answer.headers["x-amz-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let hid = answer.headers["x-amz-id-2"].to_str().expect("ascii").to_owned();
        assert!(answer
            .body
            .contains(&format!("<RequestId>{rid}</RequestId><HostId>{hid}</HostId>")));
        assert!(seen.insert(rid), "request ids are unique");
    }
}

// --- the decision hook ---

/// What the hook heard about one request.
#[derive(Debug, PartialEq)]
struct Heard {
    outcome: &'static str,
    rule: Option<(usize, Option<String>)>,
    error_code: Option<&'static str>,
    lookup_error: Option<String>,
    origin: Option<String>,
}

type Log = Arc<std::sync::Mutex<Vec<Heard>>>;

fn listen<Src>(layer: CorsLayer<Src>) -> (CorsLayer<Src>, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let layer = layer.on_decision(move |event| {
        sink.lock().expect("lock").push(Heard {
            outcome: event.outcome(),
            rule: event.rule().map(|(index, id)| (index, id.map(str::to_owned))),
            error_code: event.error_code(),
            lookup_error: event.lookup_error().map(ToString::to_string),
            origin: event.origin().map(|o| o.to_str().expect("ascii").to_owned()),
        })
    });
    (layer, log)
}

fn heard(log: &Log) -> Vec<Heard> {
    std::mem::take(&mut *log.lock().expect("lock"))
}

#[tokio::test]
async fn the_hook_hears_every_request_once_with_its_rule_or_error_code() {
    let (layer, log) = listen(CorsLayer::from_source(store()).request_ids(ids));
    let service = layer.layer(Stub::new());
    let app = Some("https://app.example".to_owned());
    send(
        service.clone(),
        preflight("/photos/k", "https://app.example", "PUT"),
    )
    .await;
    send(
        service.clone(),
        preflight("/photos/k", "https://evil.example", "PUT"),
    )
    .await;
    send(
        service.clone(),
        request("GET", "/photos/k", &[("origin", "https://app.example")]),
    )
    .await;
    send(service.clone(), request("GET", "/photos/k", &[])).await;
    send(service, preflight("/plain/k", "https://app.example", "PUT")).await;
    let app_rule = Some((0, Some("app".to_owned())));
    assert_eq!(
        heard(&log),
        [
            Heard {
                outcome: "preflight-allowed",
                rule: app_rule.clone(),
                error_code: None,
                lookup_error: None,
                origin: app.clone()
            },
            Heard {
                outcome: "refused",
                rule: None,
                error_code: Some("AccessForbidden"),
                lookup_error: None,
                origin: Some("https://evil.example".to_owned()),
            },
            Heard {
                outcome: "cors-headers-added",
                rule: app_rule,
                error_code: None,
                lookup_error: None,
                origin: app.clone()
            },
            Heard {
                outcome: "pass-through",
                rule: None,
                error_code: None,
                lookup_error: None,
                origin: None
            },
            Heard {
                outcome: "refused",
                rule: None,
                error_code: Some("AccessForbidden"),
                lookup_error: None,
                origin: app
            },
        ]
    );
}

#[tokio::test]
async fn a_failed_lookup_reaches_the_hook_with_its_error() {
    let (layer, log) = listen(slow_layer());
    let service = layer.layer(Stub::new());
    send(
        service.clone(),
        preflight("/broken/k", "https://app.example", "GET"),
    )
    .await;
    send(
        service,
        request("GET", "/broken/k", &[("origin", "https://app.example")]),
    )
    .await;
    let error = Some("metadata store unreachable".to_owned());
    let app = Some("https://app.example".to_owned());
    assert_eq!(
        heard(&log),
        [
            Heard {
                outcome: "refused",
                rule: None,
                error_code: Some("InternalError"),
                lookup_error: error.clone(),
                origin: app.clone()
            },
            Heard {
                outcome: "pass-through",
                rule: None,
                error_code: None,
                lookup_error: error,
                origin: app
            },
        ]
    );
}

#[tokio::test]
async fn a_cloned_layer_keeps_its_own_hook() {
    let (first, first_log) = listen(CorsLayer::from_source(store()));
    let (second, second_log) = listen(first.clone());
    send(second.layer(Stub::new()), request("GET", "/photos/k", &[])).await;
    assert!(
        heard(&first_log).is_empty(),
        "the clone's hook replaced nothing on the original"
    );
    assert_eq!(heard(&second_log).len(), 1);
}

#[tokio::test]
async fn an_async_closure_looks_up_the_store_without_compiling_rules() {
    let shared = store();
    let compiled = shared.policy("photos").expect("exists").expect("configured");
    let store = Arc::clone(&shared);
    let layer = CorsLayer::from_async_source(move |head: &RequestHead<'_>| {
        let found = store.lookup(head);
        async move {
            tokio::task::yield_now().await;
            Ok::<_, BoxError>(found)
        }
    });
    let answer = send(
        layer.layer(Stub::new()),
        preflight("/photos/k", "https://app.example", "PUT"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // The store's compiled rules were lent, not compiled again.
    match shared.lookup(&RequestHead::from(&request("GET", "/photos/k", &[]))) {
        Lookup::Configured { policy, resource } => {
            assert!(Arc::ptr_eq(&policy, &compiled));
            assert_eq!(resource, ResourceType::Object);
        }
        other => panic!("{other:?}"),
    }
}
