//! Side-by-side cost of a CORS layer: no middleware, tower-http's `CorsLayer` configured
//! equivalently, and this crate, around the same stub service.
//!
//! ```text
//! cargo bench --bench cors            # every case, then a table of ratios
//! cargo bench --bench cors -- actual  # a filter, as for any criterion bench
//! ```
//!
//! Each iteration is what a server pays per request: `poll_ready`, `call`, polling the future
//! to completion (with a no-op waker, no runtime) and dropping the response. Building the
//! request is setup and not timed. The stub's response already carries one header, as any
//! real response does. The table at the end reads criterion's medians of this run from
//! `target/criterion/*/new/estimates.json`.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion};
use http::header::{CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsRule};
use tower_service::Service;

/// The inner service: answers at once with an empty body and one header.
#[derive(Clone, Copy)]
struct Stub;

impl Service<Request<()>> for Stub {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        drop(request);
        let mut response = Response::new(());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        ready(Ok(response))
    }
}

/// The limit for any CORS layer: the headers this crate sends for a request, prebuilt and
/// inserted with no decision at all (into the stub's response, or into a preflight answer
/// made for them).
struct InsertOnly {
    preflight: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl InsertOnly {
    /// What `cors` adds to the stub's response for `request`.
    fn of<S, B>(cors: &mut S, request: Request<()>) -> InsertOnly
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        let preflight = request.method() == Method::OPTIONS;
        let response = respond(cors, request);
        let stub = respond(&mut Stub, Request::new(()));
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| preflight || !stub.headers().contains_key(*name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        InsertOnly { preflight, headers }
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
        let mut response = if self.preflight {
            drop(request);
            let mut response = Response::new(());
            *response.headers_mut() = HeaderMap::with_capacity(self.headers.len());
            response
        } else {
            respond(&mut Stub, request)
        };
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        ready(Ok(response))
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

/// A request template, cloned in the untimed setup of each iteration. Header values are
/// shared `Bytes`, as hyper hands them over (slices of its read buffer).
#[derive(Clone)]
struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Template {
    fn new(method: Method, headers: &[(&str, &str)]) -> Template {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                shared(value.as_bytes()),
            );
        }
        Template {
            method,
            uri: Uri::from_static("/photos/cat.jpg"),
            headers: map,
        }
    }

    fn request(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
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

const METHODS: [&str; 3] = ["GET", "PUT", "POST"];
const EXPOSE: [&str; 2] = ["ETag", "x-amz-request-id"];
const MAX_AGE: i32 = 3000;

/// A rule as S3 users write them: methods, two allowed headers, two exposed, max-age.
fn rule(origin: &str, headers: &[&str]) -> CorsRule {
    CorsRule::builder()
        .allowed_origin(origin)
        .allowed_methods(METHODS)
        .allowed_headers(headers.iter().copied())
        .expose_headers(EXPOSE)
        .max_age_seconds(MAX_AGE)
        .build()
}

fn s3_layer(rules: Vec<CorsRule>) -> CorsLayer {
    CorsLayer::new(CorsConfiguration::new(rules).expect("valid configuration"))
}

/// tower-http's layer with the same methods, headers, exposed headers and max-age. tower-http
/// has no header patterns: a rule listing `x-amz-*` is mirrored.
fn tower_layer(origin: tower_http::cors::AllowOrigin, headers: &[&str]) -> tower_http::cors::CorsLayer {
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
}

/// `(prefix, suffix)` of an origin pattern with one `*`, for tower-http's predicate.
fn split_wildcards(patterns: &[String]) -> Vec<(String, String)> {
    patterns
        .iter()
        .map(|p| {
            let (prefix, suffix) = p.split_once('*').expect("one *");
            (prefix.to_owned(), suffix.to_owned())
        })
        .collect()
}

fn wildcard_predicate(patterns: &[String]) -> tower_http::cors::AllowOrigin {
    let pairs = split_wildcards(patterns);
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

/// The three contenders, each around its own copy of the stub.
struct Contenders {
    s3: tower_s3_cors::Cors<Stub>,
    tower: tower_http::cors::Cors<Stub>,
}

impl Contenders {
    fn new(s3: CorsLayer, tower: tower_http::cors::CorsLayer) -> Self {
        Contenders {
            s3: s3.layer(Stub),
            tower: tower.layer(Stub),
        }
    }
}

/// Benchmarks one request template against the chosen contenders under `group/name`.
fn compare(
    c: &mut Criterion,
    group: &str,
    param: Option<usize>,
    contenders: &mut Contenders,
    template: &Template,
    with_none: bool,
) {
    let mut g = c.benchmark_group(group);
    let id = |name: &str| match param {
        Some(p) => BenchmarkId::new(name, p),
        None => BenchmarkId::from_parameter(name),
    };
    if with_none {
        let mut stub = Stub;
        g.bench_function(id("none"), |b| {
            b.iter_batched(
                || template.request(),
                |r| drive(&mut stub, r),
                BatchSize::SmallInput,
            )
        });
        let mut floor = InsertOnly::of(&mut contenders.s3, template.request());
        g.bench_function(id("insert_only"), |b| {
            b.iter_batched(
                || template.request(),
                |r| drive(&mut floor, r),
                BatchSize::SmallInput,
            )
        });
    }
    g.bench_function(id("tower_http"), |b| {
        b.iter_batched(
            || template.request(),
            |r| drive(&mut contenders.tower, r),
            BatchSize::SmallInput,
        )
    });
    g.bench_function(id("s3_cors"), |b| {
        b.iter_batched(
            || template.request(),
            |r| drive(&mut contenders.s3, r),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

const APP: &str = "https://app.example.com";
const HEADERS: [&str; 2] = ["Content-Type", "x-amz-date"];

fn basic(c: &mut Criterion) {
    let origins = [APP.to_owned()];
    let mut contenders = Contenders::new(
        s3_layer(vec![rule(APP, &HEADERS)]),
        tower_layer(exact_list(&origins), &HEADERS),
    );
    let cases: [(&str, Template); 4] = [
        ("actual_allowed", Template::new(Method::GET, &[("origin", APP)])),
        (
            "actual_not_matching",
            Template::new(Method::GET, &[("origin", "https://evil.example")]),
        ),
        (
            "preflight_allowed",
            Template::new(
                Method::OPTIONS,
                &[
                    ("origin", APP),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "content-type,x-amz-date"),
                ],
            ),
        ),
        (
            "preflight_refused",
            Template::new(
                Method::OPTIONS,
                &[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "PUT"),
                ],
            ),
        ),
    ];
    for (name, template) in &cases {
        compare(c, name, None, &mut contenders, template, true);
    }
}

/// A rule with nothing optional (no ExposeHeader, no MaxAgeSeconds, no AllowedHeader): four
/// headers added, which fit in the stub response's map without growing it.
fn minimal(c: &mut Criterion) {
    let rule = CorsRule::builder()
        .allowed_origin(APP)
        .allowed_method("GET")
        .build();
    let tower = tower_http::cors::CorsLayer::new()
        .allow_origin(exact_list(&[APP.to_owned()]))
        .allow_methods([Method::GET])
        .allow_credentials(true);
    let mut contenders = Contenders::new(s3_layer(vec![rule]), tower);
    let template = Template::new(Method::GET, &[("origin", APP)]);
    compare(
        c,
        "actual_allowed_minimal",
        None,
        &mut contenders,
        &template,
        true,
    );
}

/// `count` rules, the request's origin matching only the last one.
fn many_rules(c: &mut Criterion) {
    for count in [1, 10, 100] {
        let exact: Vec<String> = (0..count)
            .map(|i| format!("https://app{i}.example.com"))
            .collect();
        let rules = exact.iter().map(|o| rule(o, &HEADERS)).collect();
        let mut contenders = Contenders::new(s3_layer(rules), tower_layer(exact_list(&exact), &HEADERS));
        let last = exact.last().expect("one rule").clone();
        let template = Template::new(Method::GET, &[("origin", &last)]);
        compare(
            c,
            "rules_exact",
            Some(count),
            &mut contenders,
            &template,
            count == 1,
        );

        let wildcard: Vec<String> = (0..count).map(|i| format!("https://*.site{i}.example")).collect();
        let rules = wildcard.iter().map(|o| rule(o, &HEADERS)).collect();
        let mut contenders = Contenders::new(
            s3_layer(rules),
            tower_layer(wildcard_predicate(&wildcard), &HEADERS),
        );
        let origin = format!("https://app.site{}.example", count - 1);
        let template = Template::new(Method::GET, &[("origin", &origin)]);
        compare(
            c,
            "rules_wildcard",
            Some(count),
            &mut contenders,
            &template,
            count == 1,
        );
    }
}

/// A rule with `x-amz-*`, a preflight listing two names it covers.
fn header_wildcards(c: &mut Criterion) {
    let headers = ["x-amz-*"];
    let mut contenders = Contenders::new(
        s3_layer(vec![rule(APP, &headers)]),
        tower_layer(exact_list(&[APP.to_owned()]), &headers),
    );
    let template = Template::new(
        Method::OPTIONS,
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-amz-date,x-amz-meta-owner"),
        ],
    );
    compare(
        c,
        "preflight_header_wildcard",
        None,
        &mut contenders,
        &template,
        true,
    );
}

/// Hostile `Access-Control-Request-Headers` on a preflight, at three sizes each to show the
/// cost is linear.
fn hostile(c: &mut Criterion) {
    let headers = ["Content-Type", "x-amz-*"];
    let mut contenders = Contenders::new(
        s3_layer(vec![rule(APP, &headers)]),
        tower_layer(exact_list(&[APP.to_owned()]), &headers),
    );
    let preflight = |acrh: &[String]| {
        let mut fields = vec![("origin", APP), ("access-control-request-method", "PUT")];
        fields.extend(
            acrh.iter()
                .map(|v| ("access-control-request-headers", v.as_str())),
        );
        Template::new(Method::OPTIONS, &fields)
    };
    for kib in [16, 32, 64] {
        let template = preflight(&[",".repeat(kib * 1024)]);
        compare(
            c,
            "hostile_commas_kib",
            Some(kib),
            &mut contenders,
            &template,
            kib == 64,
        );
    }
    for names in [2_500, 5_000, 10_000] {
        let list: Vec<String> = (0..names).map(|i| format!("x-amz-meta-{i:05}")).collect();
        let template = preflight(&[list.join(", ")]);
        compare(
            c,
            "hostile_names",
            Some(names),
            &mut contenders,
            &template,
            names == 10_000,
        );
    }
    // 64 KiB of names ("x-amz-meta-00000, ..."): the 64 KiB budget spent on names rather
    // than on empty items.
    let mut names = String::new();
    for i in 0.. {
        let next = format!("{}x-amz-meta-{i:05}", if i == 0 { "" } else { ", " });
        if names.len() + next.len() > 64 * 1024 {
            break;
        }
        names.push_str(&next);
    }
    compare(
        c,
        "hostile_names_64kib",
        None,
        &mut contenders,
        &preflight(&[names]),
        true,
    );
    for fields in [250, 500, 1_000] {
        let template = preflight(&vec!["x-amz-date".to_owned(); fields]);
        compare(
            c,
            "hostile_fields",
            Some(fields),
            &mut contenders,
            &template,
            fields == 1_000,
        );
    }
}

/// The decision hook: none set (what every layer above pays), a hook that does nothing, and
/// one that counts refusals (an atomic add). "none" must cost what the plain layer costs.
fn on_decision(c: &mut Criterion) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let refused = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&refused);
    let layers = [
        ("unset", s3_layer(vec![rule(APP, &HEADERS)])),
        (
            "no_op",
            s3_layer(vec![rule(APP, &HEADERS)]).on_decision(|event| {
                black_box(event);
            }),
        ),
        (
            "counting",
            s3_layer(vec![rule(APP, &HEADERS)]).on_decision(move |event| {
                if event.outcome() == "refused" {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }),
        ),
    ];
    let cases = [
        ("actual_allowed", Template::new(Method::GET, &[("origin", APP)])),
        (
            "preflight_refused",
            Template::new(
                Method::OPTIONS,
                &[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "PUT"),
                ],
            ),
        ),
    ];
    let mut g = c.benchmark_group("on_decision");
    for (case, template) in &cases {
        for (hook, layer) in &layers {
            let mut service = layer.layer(Stub);
            g.bench_function(BenchmarkId::new(*case, hook), |b| {
                b.iter_batched(
                    || template.request(),
                    |request| drive(&mut service, request),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
    black_box(refused.load(Ordering::Relaxed));
}

fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .configure_from_args()
}

fn main() {
    let mut c = criterion();
    basic(&mut c);
    minimal(&mut c);
    many_rules(&mut c);
    header_wildcards(&mut c);
    hostile(&mut c);
    on_decision(&mut c);
    c.final_summary();
    summary();
}

// ---- the table of ratios ----------------------------------------------------------------

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion's median for `id` (a path such as `actual_allowed/s3_cors`), in nanoseconds.
fn median(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn summary() {
    println!("\n== ratios (criterion medians of this run, ns) ==");
    println!(
        "{:<28} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "case", "none", "insert", "tower-http", "s3-cors", "s3/tower", "ovh s3/tw", "s3-insert"
    );
    for case in [
        "actual_allowed",
        "actual_allowed_minimal",
        "actual_not_matching",
        "preflight_allowed",
        "preflight_refused",
        "preflight_header_wildcard",
    ] {
        row(case, case, None);
    }
    for kind in ["rules_exact", "rules_wildcard"] {
        for n in [1, 10, 100] {
            row(&format!("{kind}/{n}"), kind, Some((n, 1)));
        }
        if let (Some(one), Some(hundred)) = (
            median(&format!("{kind}/s3_cors/1")),
            median(&format!("{kind}/s3_cors/100")),
        ) {
            println!("{kind}: s3-cors 100 rules / 1 rule = {:.2}", hundred / one);
        }
    }
    for (kind, sizes, unit) in [
        ("hostile_commas_kib", [16, 32, 64], "KiB"),
        ("hostile_names", [2_500, 5_000, 10_000], "name"),
        ("hostile_fields", [250, 500, 1_000], "field"),
    ] {
        row(&format!("{kind}/{}", sizes[2]), kind, Some((sizes[2], sizes[2])));
        let per: Vec<String> = sizes
            .iter()
            .filter_map(|&n| {
                Some(format!(
                    "{:.1}",
                    median(&format!("{kind}/s3_cors/{n}"))? / n as f64
                ))
            })
            .collect();
        println!("{kind}: s3-cors ns per {unit} at {sizes:?}: {}", per.join(" / "));
    }
    row("hostile_names_64kib", "hostile_names_64kib", None);
    for case in ["actual_allowed", "preflight_refused"] {
        let at = |hook: &str| median(&format!("on_decision/{case}/{hook}"));
        if let (Some(unset), Some(no_op), Some(counting)) = (at("unset"), at("no_op"), at("counting")) {
            println!(
                "on_decision/{case}: unset {unset:.1}, no-op hook {no_op:.1}, counting hook {counting:.1} ns"
            );
        }
    }
}

/// One line: `group/{none,insert_only,tower_http,s3_cors}[/param]`; the baselines of a
/// parameterised group were measured at `baseline_param`.
fn row(label: &str, group: &str, param: Option<(usize, usize)>) {
    let id = |name: &str, p: Option<usize>| match p {
        Some(p) => format!("{group}/{name}/{p}"),
        None => format!("{group}/{name}"),
    };
    let (this, base) = match param {
        Some((n, b)) => (Some(n), Some(b)),
        None => (None, None),
    };
    let (Some(none), Some(tower), Some(s3)) = (
        median(&id("none", base)),
        median(&id("tower_http", this)),
        median(&id("s3_cors", this)),
    ) else {
        return;
    };
    let insert = median(&id("insert_only", base));
    let dash = || "-".to_owned();
    println!(
        "{label:<28} {none:>9.1} {:>9} {tower:>10.1} {s3:>9.1} {:>9.2} {:>9.2} {:>9}",
        insert.map_or_else(dash, |i| format!("{i:.1}")),
        s3 / tower,
        (s3 - none) / (tower - none),
        match (insert, param) {
            (Some(i), None) => format!("{:.1}", s3 - i),
            _ => dash(),
        },
    );
}
