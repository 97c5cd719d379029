//! What a request costs with each kind of rule source: one configuration, a closure, a
//! reloadable configuration, the per-bucket store, and an asynchronous source whose lookup is
//! ready at once, and (feature `cache`) a cached source's hit. Same stub service, same allowed
//! actual request; the no-middleware baseline is measured in the same run.
//!
//! `cargo bench --bench sources` (`--features cache` for the cached source)

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderValue, Request, Response};
use tower::Layer;
use tower_s3_cors::source::{
    AsyncCorsSource, BoxError, BucketAddressing, BucketStore, Lookup, ReloadableRules,
};
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsPolicy, RequestHead, ResourceType};
use tower_service::Service;

/// Answers at once with a response that already carries one header.
#[derive(Clone)]
struct Stub;

impl Service<Request<()>> for Stub {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let mut response = Response::new(String::new());
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/plain"));
        std::future::ready(Ok(response))
    }
}

fn run<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("every service here answers at once"),
    }
}

fn request() -> Request<()> {
    Request::get("/photos/cat.jpg")
        .header("origin", "https://app.example.com")
        .body(())
        .expect("valid")
}

fn config() -> CorsConfiguration {
    CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
             "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]"#,
    )
    .expect("valid")
}

struct ReadyStore(Arc<CorsPolicy>);

impl AsyncCorsSource for ReadyStore {
    type Future = std::future::Ready<Result<Lookup, BoxError>>;

    fn lookup(&self, _: &RequestHead<'_>) -> Self::Future {
        std::future::ready(Ok(Lookup::Configured {
            policy: Arc::clone(&self.0),
            resource: ResourceType::Object,
        }))
    }
}

fn sources(c: &mut Criterion) {
    let mut group = c.benchmark_group("source");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(2));

    let mut none = Stub;
    group.bench_function("no middleware", |b| {
        b.iter(|| black_box(run(&mut none, request())))
    });

    let mut single = CorsLayer::new(config()).layer(Stub);
    group.bench_function("single configuration", |b| {
        b.iter(|| black_box(run(&mut single, request())))
    });

    let policy = Arc::new(CorsPolicy::new(config()));
    let closure_policy = Arc::clone(&policy);
    let mut closure = CorsLayer::from_source(move |_: &RequestHead<'_>| Lookup::Configured {
        policy: Arc::clone(&closure_policy),
        resource: ResourceType::Object,
    })
    .layer(Stub);
    group.bench_function("closure", |b| b.iter(|| black_box(run(&mut closure, request()))));

    let mut reloadable = CorsLayer::from_source(Arc::new(ReloadableRules::new(config()))).layer(Stub);
    group.bench_function("reloadable", |b| {
        b.iter(|| black_box(run(&mut reloadable, request())))
    });

    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    for i in 0..1000 {
        store.create_bucket(&format!("bucket-{i}"));
    }
    store.create_bucket("photos");
    store.put_cors("photos", config()).expect("exists");
    let mut per_bucket = CorsLayer::from_source(store).layer(Stub);
    group.bench_function("bucket store (1001 buckets)", |b| {
        b.iter(|| black_box(run(&mut per_bucket, request())))
    });

    #[cfg(feature = "cache")]
    {
        // The same 1001 buckets behind the cache, every one loaded: the hit path.
        let loader = |bucket: &str| {
            let stored = if bucket == "photos" {
                tower_s3_cors::cache::StoredCors::Configured(config())
            } else {
                tower_s3_cors::cache::StoredCors::NotConfigured
            };
            std::future::ready(Ok::<_, BoxError>(stored))
        };
        let cache = tower_s3_cors::cache::RulesCache::new(
            loader,
            BucketAddressing::PathStyle,
            tower_s3_cors::cache::CacheOptions::new(),
        );
        let mut cached = CorsLayer::from_cached_source(cache).layer(Stub);
        for i in 0..1000 {
            let warm = Request::get(format!("/bucket-{i}/k")).body(()).expect("valid");
            let _ = run(&mut cached, warm);
        }
        let _ = run(&mut cached, request());
        group.bench_function("cached, hit (1001 buckets)", |b| {
            b.iter(|| black_box(run(&mut cached, request())))
        });
    }

    let mut asynchronous = CorsLayer::from_async_source(ReadyStore(policy)).layer(Stub);
    group.bench_function("async (ready)", |b| {
        b.iter(|| black_box(run(&mut asynchronous, request())))
    });
    group.finish();
}

criterion_group!(benches, sources);
criterion_main!(benches);
