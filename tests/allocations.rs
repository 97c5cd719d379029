//! Heap allocations per request, counted by a global allocator (deterministic, unlike time).
//!
//! The goals: an actual request costs no allocation beyond inserting the CORS headers into the
//! inner service's response, a preflight at most one beyond the response's own header
//! storage (the echoed `Access-Control-Allow-Headers` value), and a refused preflight at most
//! three (its S3 error document and the response's header storage).
//!
//! What "inserting headers into the response" costs is measured, not assumed: the same
//! headers are inserted by hand into the same stub response and counted. A `HeaderMap` that
//! holds one field has room for six (an 8-slot index table, three quarters usable); a
//! seventh field makes it grow, which is one new index table and one reallocation of the
//! entries. A map made for `n` fields (`HeaderMap::with_capacity`) costs two allocations.
//!
//! `cargo test --test allocations -- --nocapture` prints the table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use tower_layer::Layer;
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsRule};
use tower_service::Service;

/// Counts allocator calls made by the current thread (tests run on several threads).
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (alloc, alloc_zeroed and realloc calls) made while `f` runs, and its result.
fn counted<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCS.with(Cell::get);
    let out = f();
    (ALLOCS.with(Cell::get) - before, out)
}

/// The inner service: answers at once with an empty body and one header (two with `vary`).
///
/// Not the shared `common::Stub`: this file counts every allocation made during a request, and
/// the baseline it subtracts is exactly this stub's (`stub_response`, no body type to collect,
/// no runtime). `common::Stub` clones its `HeaderMap` per call and needs an async runtime to
/// collect its body, which would blur what the layer itself costs.
#[derive(Clone, Copy)]
struct Stub {
    vary: Option<&'static str>,
}

const STUB: Stub = Stub { vary: None };

impl Service<Request<()>> for Stub {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        ready(Ok(stub_response(self.vary)))
    }
}

fn stub_response(vary: Option<&'static str>) -> Response<()> {
    let mut response = Response::new(());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if let Some(vary) = vary {
        response
            .headers_mut()
            .insert(http::header::VARY, HeaderValue::from_static(vary));
    }
    response
}

/// `poll_ready`, `call` and one poll with a no-op waker: the whole request, no runtime.
fn drive<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Pending => panic!("the stub answers at once"),
    }
}

/// A request whose header values are shared `Bytes`, as hyper hands them over (slices of its
/// read buffer): cloning one is a reference-count increment, as in a real server.
fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = http::Uri::from_static("/photos/cat.jpg");
    for (name, value) in headers {
        let bytes = bytes::Bytes::copy_from_slice(value.as_bytes());
        let value = HeaderValue::from_maybe_shared(bytes.slice(..)).unwrap();
        request
            .headers_mut()
            .append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
    }
    request
}

const APP: &str = "https://app.example.com";

/// The benchmark's rule: three methods, two allowed headers, two exposed, max-age.
fn full_rule(origin: &str, headers: &[&str]) -> CorsRule {
    CorsRule::builder()
        .allowed_origin(origin)
        .allowed_methods(["GET", "PUT", "POST"])
        .allowed_headers(headers.iter().copied())
        .expose_headers(["ETag", "x-amz-request-id"])
        .max_age_seconds(3000)
        .build()
}

/// A rule with nothing optional: Allow-Origin, -Credentials, -Methods and Vary only.
fn minimal_rule(origin: &str) -> CorsRule {
    CorsRule::builder()
        .allowed_origin(origin)
        .allowed_method("GET")
        .build()
}

fn layer(rules: Vec<CorsRule>) -> CorsLayer {
    CorsLayer::new(CorsConfiguration::new(rules).unwrap())
}

/// Allocations of inserting, by hand, the headers `response` has beyond the stub's into a
/// fresh stub response: the cost of "inserting headers into the response".
fn insertion_cost(response: &HeaderMap, vary: Option<&'static str>) -> usize {
    let stub = stub_response(vary);
    let added: Vec<(HeaderName, HeaderValue)> = response
        .iter()
        .filter(|(name, _)| !stub.headers().contains_key(*name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let mut stub = stub;
    counted(move || {
        for (name, value) in added {
            stub.headers_mut().insert(name, value);
        }
        stub
    })
    .0
}

/// Allocations of a map made for exactly the headers of `response` (the preflight's own
/// response storage).
fn storage_cost(response: &HeaderMap) -> usize {
    let fields: Vec<(HeaderName, HeaderValue)> =
        response.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    counted(move || {
        let mut map = HeaderMap::with_capacity(fields.len());
        for (name, value) in fields {
            map.append(name, value);
        }
        map
    })
    .0
}

struct Row {
    case: &'static str,
    /// Allocations of the request (for an actual request, minus the stub's own).
    total: usize,
    /// What inserting the headers (actual) or storing them (preflight) costs by itself.
    reference: usize,
    /// `total - reference`: what the layer adds.
    extra: usize,
    /// Values the layer has to make from the request: the echoed
    /// `Access-Control-Allow-Headers`, a `Vary` merged with the inner service's.
    made: usize,
    /// A preflight's allocations once it came twice (answered with a clone of its answer).
    repeat: Option<usize>,
}

impl Row {
    /// Nothing beyond the reference, but one allocation for each value made.
    fn check(&self) {
        assert!(
            self.extra <= self.made,
            "{}: {} allocations beyond the headers' own ({} values made)",
            self.case,
            self.extra,
            self.made
        );
    }
}

fn print(rows: &[Row], reference: &str) {
    println!(
        "{:<46} {:>6} {:>10} {:>6} {:>5} {:>7}",
        "case", "allocs", reference, "extra", "made", "repeat"
    );
    for r in rows {
        let repeat = r.repeat.map_or_else(|| "-".to_owned(), |n| n.to_string());
        println!(
            "{:<46} {:>6} {:>10} {:>6} {:>5} {:>7}",
            r.case, r.total, r.reference, r.extra, r.made, repeat
        );
    }
}

fn echoes(headers: &HeaderMap) -> bool {
    headers.contains_key("access-control-allow-headers")
}

fn echoes_in(cors: &mut tower_s3_cors::Cors<Stub>, fields: &[(String, String)]) -> bool {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    echoes(drive(cors, request(Method::OPTIONS, &fields)).headers())
}

/// Measures an actual request: the layer's allocations minus the stub's alone, next to the
/// cost of inserting the same headers by hand.
fn actual(case: &'static str, cors: &mut tower_s3_cors::Cors<Stub>, headers: &[(&str, &str)]) -> Row {
    let mut stub = *cors.get_ref();
    let req = request(Method::GET, headers);
    let (baseline, _) = counted(|| drive(&mut stub, req));
    // Warm up once: the first clone of a prebuilt value may make it shared.
    drive(cors, request(Method::GET, headers));
    let req = request(Method::GET, headers);
    let (total, response) = counted(|| drive(cors, req));
    let insertion = insertion_cost(response.headers(), stub.vary);
    let merged_vary = stub
        .vary
        .is_some_and(|v| response.headers()[http::header::VARY] != v);
    Row {
        case,
        total: total - baseline,
        reference: insertion,
        extra: (total - baseline).saturating_sub(insertion),
        made: usize::from(echoes(response.headers())) + usize::from(merged_vary),
        repeat: None,
    }
}

/// Measures a preflight the layer has not seen (it decides it), and the same preflight once
/// it came twice (it is then answered with a clone of the answer it kept: the map's own
/// storage and nothing else, unless it is too long to keep). `make` makes a layer with a
/// policy of its own, so that this thread has seen none of its preflights.
fn preflight(
    case: &'static str,
    make: impl Fn() -> tower_s3_cors::Cors<Stub>,
    headers: &[(&str, &str)],
) -> Row {
    // Warm up another layer with the same rules: the first use of each prebuilt value.
    let mut warm = make();
    for _ in 0..3 {
        drive(&mut warm, request(Method::OPTIONS, headers));
    }
    let mut cors = make();
    let req = request(Method::OPTIONS, headers);
    let (total, response) = counted(|| drive(&mut cors, req));
    assert_eq!(response.status(), http::StatusCode::OK, "{case}");
    let storage = storage_cost(response.headers());
    // The second time it is kept; from the third, a clone of what was kept.
    drive(&mut cors, request(Method::OPTIONS, headers));
    let req = request(Method::OPTIONS, headers);
    let (repeat, again) = counted(|| drive(&mut cors, req));
    assert_eq!(again.headers(), response.headers(), "{case}: repeated");
    assert!(
        repeat <= total,
        "{case}: repeated, {repeat} allocations, first {total}"
    );
    Row {
        case,
        total,
        reference: storage,
        extra: total.saturating_sub(storage),
        made: usize::from(echoes(response.headers())),
        repeat: Some(repeat),
    }
}

#[test]
fn actual_requests_allocate_nothing_beyond_header_insertion() {
    let mut full = layer(vec![full_rule(APP, &["Content-Type", "x-amz-*"])]).layer(STUB);
    let mut minimal = layer(vec![minimal_rule(APP)]).layer(STUB);
    let many: Vec<CorsRule> = (0..100)
        .map(|i| full_rule(&format!("https://*.site{i}.example"), &["*"]))
        .collect();
    let mut many = layer(many).layer(STUB);
    let mut with_vary = layer(vec![full_rule(APP, &["Content-Type", "x-amz-*"])]).layer(Stub {
        vary: Some("Accept-Encoding"),
    });
    let mut with_our_vary = layer(vec![full_rule(APP, &["Content-Type", "x-amz-*"])]).layer(Stub {
        vary: Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
    });
    let rows = [
        actual("actual allowed (expose, max-age)", &mut full, &[("origin", APP)]),
        actual("actual allowed (minimal rule)", &mut minimal, &[("origin", APP)]),
        actual(
            "actual not matching",
            &mut full,
            &[("origin", "https://evil.example")],
        ),
        actual("actual without Origin", &mut full, &[]),
        actual(
            "actual with ACRM and ACRH",
            &mut full,
            &[
                ("origin", APP),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type, x-amz-date"),
            ],
        ),
        actual(
            "actual, 100 wildcard rules, last matches",
            &mut many,
            &[("origin", "https://a.site99.example")],
        ),
        actual(
            "actual, inner Vary: Accept-Encoding (merged)",
            &mut with_vary,
            &[("origin", APP)],
        ),
        actual(
            "actual, inner Vary already the layer's",
            &mut with_our_vary,
            &[("origin", APP)],
        ),
    ];
    print(&rows, "insertion");
    rows.iter().for_each(Row::check);
    // Only the request that lists headers echoes them, only the inner Accept-Encoding is merged.
    assert_eq!(
        rows.iter().map(|r| r.made).collect::<Vec<_>>(),
        [0, 0, 0, 0, 1, 0, 1, 0]
    );
}

#[test]
fn preflights_allocate_at_most_the_echoed_allow_headers() {
    let make = || layer(vec![full_rule(APP, &["Content-Type", "x-amz-*"])]).layer(STUB);
    let preflight_with = |acrh: &[String]| -> Vec<(String, String)> {
        let mut fields = vec![
            ("origin".to_owned(), APP.to_owned()),
            ("access-control-request-method".to_owned(), "PUT".to_owned()),
        ];
        fields.extend(
            acrh.iter()
                .map(|v| ("access-control-request-headers".to_owned(), v.clone())),
        );
        fields
    };
    let cases: [(&'static str, Vec<(String, String)>); 6] = [
        ("preflight, no requested headers", preflight_with(&[])),
        (
            "preflight, one lowercase requested header",
            preflight_with(&["content-type".into()]),
        ),
        (
            "preflight, two requested headers",
            preflight_with(&["content-type,x-amz-date".into()]),
        ),
        (
            "hostile: 64 KiB of commas",
            preflight_with(&[",".repeat(64 * 1024)]),
        ),
        (
            "hostile: 10 000 names",
            preflight_with(&[(0..10_000)
                .map(|i| format!("x-amz-meta-{i:05}"))
                .collect::<Vec<_>>()
                .join(", ")]),
        ),
        (
            "hostile: 1 000 repeated fields",
            preflight_with(&vec!["x-amz-date".to_owned(); 1_000]),
        ),
    ];
    let mut rows = Vec::new();
    for (case, fields) in &cases {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        rows.push(preflight(case, make, &fields));
    }
    print(&rows, "storage");
    rows.iter().for_each(Row::check);
    // A single lowercase name is echoed as the request's own value: no allocation at all.
    assert_eq!(rows[1].extra, 0);
    assert!(echoes_in(&mut make(), &cases[1].1));
    // A repeat costs the answer's own storage, nothing made; the hostile ones are too long
    // to keep and are decided each time.
    for row in &rows[..3] {
        assert_eq!(row.repeat, Some(row.reference), "{}: repeated", row.case);
    }
    for row in &rows[3..] {
        assert_eq!(row.repeat, Some(row.total), "{}: repeated", row.case);
    }
}

#[test]
fn refused_preflights_allocate_the_document_once() {
    let mut cors = layer(vec![full_rule(APP, &["Content-Type"])]).layer(STUB);
    let headers = [
        ("origin", "https://evil.example"),
        ("access-control-request-method", "PUT"),
    ];
    drive(&mut cors, request(Method::OPTIONS, &headers));
    let req = request(Method::OPTIONS, &headers);
    let (total, response) = counted(|| drive(&mut cors, req));
    assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
    // The document with fresh ids is written into one buffer that the body and both id
    // headers share (one allocation), and the response's header map costs its usual two.
    println!("refused preflight (403 document): {total} allocations");
    assert!(total <= 3, "refused preflight: {total} allocations");
    assert!(response.headers().contains_key("x-amz-request-id"));
}

/// A request whose path names `bucket` (path-style), with the shared header values of
/// [`request`].
fn bucket_request(method: Method, bucket: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut request = request(method, headers);
    *request.uri_mut() = format!("/{bucket}/photos/cat.jpg").parse().unwrap();
    request
}

#[test]
fn a_bucket_store_lookup_allocates_nothing() {
    use std::sync::Arc;
    use tower_s3_cors::source::{BucketAddressing, BucketStore};

    // Many buckets, every tenth with its own configuration and the rest sharing one.
    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    for i in 0..2_000 {
        let bucket = format!("bucket-{i}");
        store.create_bucket(&bucket);
        let origin = if i % 10 == 0 {
            format!("https://t{i}.example.com")
        } else {
            APP.to_owned()
        };
        let config = CorsConfiguration::new([full_rule(&origin, &["Content-Type", "x-amz-*"])]).unwrap();
        store.put_cors(&bucket, config).unwrap();
    }
    let mut from_store = CorsLayer::from_source(Arc::clone(&store)).layer(STUB);
    let mut single = layer(vec![full_rule(APP, &["Content-Type", "x-amz-*"])]).layer(STUB);
    let preflight_fields = [
        ("origin", APP),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type"),
    ];
    // Warm up: the first use of each prebuilt value (and this thread's first pin of the map).
    let warm_up: [(Method, &[(&str, &str)]); 2] = [
        (Method::GET, &[("origin", APP)]),
        (Method::OPTIONS, &preflight_fields),
    ];
    for (method, fields) in warm_up {
        drive(&mut single, bucket_request(method.clone(), "bucket-1", fields));
        drive(&mut from_store, bucket_request(method, "bucket-1", fields));
    }
    let get = bucket_request(Method::GET, "bucket-1", &[("origin", APP)]);
    let (single_actual, _) = counted(|| drive(&mut single, get));
    // A preflight this thread has not seen (each below names other headers, so that none is
    // a repeat answered from what was kept: see `preflight`).
    let mut fresh_fields = preflight_fields;
    fresh_fields[2].1 = "x-amz-meta-single";
    let options = bucket_request(Method::OPTIONS, "bucket-1", &fresh_fields);
    let (single_preflight, _) = counted(|| drive(&mut single, options));
    // Buckets all over the store, shared and own configurations, none used before: the lookup
    // adds nothing to what one configuration costs.
    for i in (1..2_000).step_by(37) {
        let bucket = format!("bucket-{i}");
        let origin = if i % 10 == 0 {
            format!("https://t{i}.example.com")
        } else {
            APP.to_owned()
        };
        let get = bucket_request(Method::GET, &bucket, &[("origin", &origin)]);
        let (n, response) = counted(|| drive(&mut from_store, get));
        assert_eq!(response.headers()["access-control-allow-origin"], origin.as_str());
        assert_eq!(n, single_actual, "actual request to {bucket}");
        let requested = format!("x-amz-meta-{i}");
        let mut preflight_fields = preflight_fields;
        preflight_fields[0].1 = &origin;
        preflight_fields[2].1 = &requested;
        let options = bucket_request(Method::OPTIONS, &bucket, &preflight_fields);
        let (n, response) = counted(|| drive(&mut from_store, options));
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(n, single_preflight, "preflight to {bucket}");
    }
    // The store's own lookup, without the layer: no allocation at all.
    for i in [0, 1, 999, 1_999, 5_000] {
        let bucket = format!("bucket-{i}");
        let req = bucket_request(Method::GET, &bucket, &[("origin", APP)]);
        let head = tower_s3_cors::RequestHead::from(&req);
        let (n, found) = counted(|| {
            tower_s3_cors::source::CorsSource::with_rules(&*store, &head, |b| {
                matches!(b, tower_s3_cors::BucketCors::Configured { .. })
            })
        });
        assert_eq!((n, found), (0, i < 2_000), "{bucket}");
    }
}
