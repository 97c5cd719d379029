//! The cached source (feature `cache`): a hit answers as the in-memory store does, with no
//! allocation beyond it; concurrent misses share one load; time to live, negative entries,
//! invalidation, eviction; and what requests get while the store fails.
#![cfg(feature = "cache")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode};
use tower::{Layer, Service};
use tower_s3_cors::cache::{CacheOptions, RulesCache, RulesLoader, StoredCors};
use tower_s3_cors::source::{BoxError, BucketAddressing, BucketStore};
use tower_s3_cors::CorsConfiguration;

/// Counts allocator calls made by the current thread.
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "common/service.rs"]
mod service;

use service::{clone_request, get, preflight, runtime, send, Stub, APP};

fn rules(origin: &str) -> CorsConfiguration {
    CorsConfiguration::from_json(&format!(
        r#"[{{"AllowedOrigins": ["{origin}"], "AllowedMethods": ["GET", "PUT"],
              "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}}]"#
    ))
    .expect("valid")
}

/// A store in memory that counts its loads, can be made to fail, and can hold each load for
/// a while (to let concurrent requests pile up).
#[derive(Clone, Default)]
struct Store {
    state: Arc<StoreState>,
}

#[derive(Default)]
struct StoreState {
    buckets: Mutex<Vec<(String, Option<CorsConfiguration>)>>,
    loads: AtomicUsize,
    failing: AtomicBool,
    delay_ms: AtomicUsize,
}

impl Store {
    fn put(&self, bucket: &str, config: Option<CorsConfiguration>) {
        let mut buckets = self.state.buckets.lock().expect("lock");
        buckets.retain(|(name, _)| name != bucket);
        buckets.push((bucket.to_owned(), config));
    }

    fn loads(&self) -> usize {
        self.state.loads.load(Ordering::SeqCst)
    }

    fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }
}

impl RulesLoader for Store {
    fn load(&self, bucket: &str) -> impl Future<Output = Result<StoredCors, BoxError>> + Send {
        let state = Arc::clone(&self.state);
        let bucket = bucket.to_owned();
        async move {
            state.loads.fetch_add(1, Ordering::SeqCst);
            let delay = state.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            if state.failing.load(Ordering::SeqCst) {
                return Err("connection refused".into());
            }
            let buckets = state.buckets.lock().expect("lock");
            Ok(match buckets.iter().find(|(name, _)| *name == bucket) {
                None => StoredCors::NoSuchBucket,
                Some((_, None)) => StoredCors::NotConfigured,
                Some((_, Some(config))) => StoredCors::Configured(config.clone()),
            })
        }
    }
}

fn cache(store: &Store, options: CacheOptions) -> RulesCache<Store> {
    RulesCache::new(store.clone(), BucketAddressing::PathStyle, options)
}

#[test]
fn answers_equal_the_bucket_store_s_for_configured_unconfigured_and_missing_buckets() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    store.put("plain", None);
    let memory = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    memory.create_bucket("media");
    memory.put_cors("media", rules(APP)).expect("exists");
    memory.create_bucket("plain");
    let cached = tower_s3_cors::CorsLayer::from_cached_source(cache(&store, CacheOptions::new())).layer(Stub);
    let reference = tower_s3_cors::CorsLayer::from_source(memory).layer(Stub);
    runtime().block_on(async {
        for round in ["miss", "hit"] {
            for bucket in ["media", "plain", "nobucket"] {
                for origin in [APP, "https://evil.example"] {
                    for request in [preflight(bucket, origin), get(bucket, origin)] {
                        let described = format!("{round} {} {bucket} {origin}", request.method());
                        let expected = send(&reference, clone_request(&request)).await;
                        assert_eq!(send(&cached, request).await, expected, "{described}");
                    }
                }
            }
        }
    });
    assert_eq!(store.loads(), 3, "one load per bucket, the second round all hits");
}

/// `poll_ready`, `call` and one poll with a no-op waker.
fn drive<S, B>(service: &mut S, request: Request<()>) -> Option<Response<B>>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let _ = service.poll_ready(&mut cx);
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => Some(response),
        Poll::Pending => None,
    }
}

/// [`drive`], and how many allocations the request's journey made (the future must be ready
/// at the first poll).
fn drive_counted<S, B>(service: &mut S, request: Request<()>, what: &str) -> (Response<B>, usize)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let before = ALLOCS.with(Cell::get);
    let response = drive(service, request).expect(what);
    (response, ALLOCS.with(Cell::get) - before)
}

#[test]
fn a_hit_is_ready_at_once_and_allocates_what_the_bucket_store_allocates() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    let memory = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    memory.create_bucket("media");
    memory.put_cors("media", rules(APP)).expect("exists");
    let rules_cache = cache(&store, CacheOptions::new());
    let mut cached = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    let mut reference = tower_s3_cors::CorsLayer::from_source(memory).layer(Stub);
    // The first request misses and waits for the load; a first round through the reference
    // builds what the process builds once (the shared preflight templates).
    runtime().block_on(async {
        let answer = send(&cached, get("media", APP)).await;
        assert_eq!(answer.status, StatusCode::OK);
        // Both see the preflight once before, so that each keeps its answer alike below.
        send(&cached, preflight("media", APP)).await;
        for request in [get("media", APP), preflight("media", APP)] {
            send(&reference, request).await;
        }
    });
    for request in [
        get("media", APP),
        preflight("media", APP),
        get("media", "https://evil.example"),
    ] {
        // Built outside the counted part: only the request's journey counts.
        let twin = clone_request(&request);
        let (response, cached_allocs) =
            drive_counted(&mut cached, request, "a hit is ready at the first poll");
        let (expected, reference_allocs) = drive_counted(&mut reference, twin, "ready");
        assert_eq!(cached_allocs, reference_allocs, "{:?}", response.headers());
        assert_eq!(headers_of(response.headers()), headers_of(expected.headers()));
    }
    assert_eq!(rules_cache.loads(), 1);
}

fn headers_of(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("x-amz-"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect()
}

#[test]
fn a_thousand_concurrent_first_requests_for_one_bucket_make_one_load() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    store.state.delay_ms.store(100, Ordering::SeqCst);
    let rules_cache = cache(&store, CacheOptions::new());
    let service = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    let answers = runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..1000 {
            let service = service.clone();
            let request = if i % 2 == 0 {
                preflight("media", APP)
            } else {
                get("media", APP)
            };
            tasks.spawn(async move { send(&service, request).await });
        }
        tasks.join_all().await
    });
    assert_eq!(store.loads(), 1, "the store was asked once");
    assert_eq!(rules_cache.loads(), 1);
    assert_eq!(answers.len(), 1000);
    assert!(answers.iter().all(|a| a.status == StatusCode::OK
        && a.headers
            .iter()
            .any(|(n, v)| n == "access-control-allow-origin" && v == APP)));
}

#[test]
fn entries_expire_after_their_time_to_live_negative_ones_after_theirs() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    let options = CacheOptions::new()
        .time_to_live(Duration::from_secs(30))
        .negative_time_to_live(Duration::from_millis(50));
    let service = tower_s3_cors::CorsLayer::from_cached_source(cache(&store, options)).layer(Stub);
    runtime().block_on(async {
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::OK
        );
        let missing = send(&service, preflight("later", APP)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        assert!(
            missing.body.contains("CORSResponse: Bucket not found"),
            "{}",
            missing.body
        );
        assert_eq!(store.loads(), 2);
        // The bucket appears in the store; the negative entry still answers for a while.
        store.put("later", Some(rules(APP)));
        assert_eq!(send(&service, preflight("later", APP)).await, missing);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            send(&service, preflight("later", APP)).await.status,
            StatusCode::OK
        );
        // The positive entry has not expired.
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::OK
        );
        assert_eq!(store.loads(), 3);
    });

    let short = CacheOptions::new().time_to_live(Duration::from_millis(50));
    let service = tower_s3_cors::CorsLayer::from_cached_source(cache(&store, short)).layer(Stub);
    runtime().block_on(async {
        let before = store.loads();
        send(&service, preflight("media", APP)).await;
        store.put("media", Some(rules("https://other.example")));
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(store.loads() - before, 2);
    });
}

#[test]
fn invalidating_a_bucket_or_all_makes_the_next_request_load() {
    let store = Store::default();
    store.put("a", Some(rules(APP)));
    store.put("b", Some(rules(APP)));
    let rules_cache = cache(&store, CacheOptions::new());
    let service = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    runtime().block_on(async {
        send(&service, preflight("a", APP)).await;
        send(&service, preflight("b", APP)).await;
        store.put("a", Some(rules("https://other.example")));
        store.put("b", None);
        // Cached: the old answers.
        assert_eq!(send(&service, preflight("a", APP)).await.status, StatusCode::OK);
        assert_eq!(send(&service, preflight("b", APP)).await.status, StatusCode::OK);
        rules_cache.invalidate("a");
        assert_eq!(
            send(&service, preflight("a", APP)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(send(&service, preflight("b", APP)).await.status, StatusCode::OK);
        assert_eq!(store.loads(), 3);
        rules_cache.invalidate_all();
        assert!(rules_cache.is_empty());
        let unconfigured = send(&service, preflight("b", APP)).await;
        assert_eq!(unconfigured.status, StatusCode::FORBIDDEN);
        assert!(unconfigured
            .body
            .contains("CORSResponse: CORS is not enabled for this bucket."));
        assert_eq!(store.loads(), 4);
    });
}

#[test]
fn an_invalidation_during_a_load_makes_the_load_read_again() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    store.state.delay_ms.store(100, Ordering::SeqCst);
    let rules_cache = cache(&store, CacheOptions::new());
    let service = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    runtime().block_on(async {
        let first = tokio::spawn({
            let service = service.clone();
            async move { send(&service, preflight("media", APP)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The change lands while the load is reading: its notification must not be lost.
        store.put("media", Some(rules("https://other.example")));
        rules_cache.invalidate("media");
        first.await.expect("task");
        store.state.delay_ms.store(0, Ordering::SeqCst);
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&service, preflight("media", "https://other.example"))
                .await
                .status,
            StatusCode::OK
        );
    });
}

#[test]
fn capacity_bounds_the_entries() {
    let store = Store::default();
    for i in 0..200 {
        store.put(&format!("b{i}"), Some(rules(APP)));
    }
    let rules_cache = cache(&store, CacheOptions::new().capacity(20));
    let service = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    runtime().block_on(async {
        for i in 0..200 {
            assert_eq!(
                send(&service, preflight(&format!("b{i}"), APP)).await.status,
                StatusCode::OK
            );
        }
    });
    assert!(rules_cache.len() <= 20, "{} entries", rules_cache.len());
    assert_eq!(store.loads(), 200);
}

const INTERNAL_ERROR: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";

#[test]
fn while_the_store_fails_the_last_rules_serve_within_the_stale_window_then_internal_error() {
    let store = Store::default();
    store.put("media", Some(rules(APP)));
    let options = CacheOptions::new()
        .time_to_live(Duration::from_millis(40))
        .stale_if_error(Duration::from_millis(400))
        .retry_after_error(Duration::from_millis(100));
    let service = tower_s3_cors::CorsLayer::from_cached_source(cache(&store, options)).layer(Stub);
    runtime().block_on(async {
        let good = send(&service, preflight("media", APP)).await;
        assert_eq!(good.status, StatusCode::OK);
        let good_get = send(&service, get("media", APP)).await;
        store.fail(true);
        tokio::time::sleep(Duration::from_millis(60)).await;
        // Expired, the store fails: the same answers as before, byte for byte.
        assert_eq!(send(&service, preflight("media", APP)).await, good);
        assert_eq!(send(&service, get("media", APP)).await, good_get);
        let loads = store.loads();
        // Within the retry interval the store is not asked again.
        for _ in 0..20 {
            assert_eq!(send(&service, preflight("media", APP)).await, good);
        }
        assert_eq!(store.loads(), loads);
        // Past the stale window: nothing to serve.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let failed = send(&service, preflight("media", APP)).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failed.body, INTERNAL_ERROR);
        let served = send(&service, get("media", APP)).await;
        assert_eq!(served.status, StatusCode::OK);
        assert_eq!(served.body, "from the service");
        assert!(
            !served
                .headers
                .iter()
                .any(|(n, _)| n.starts_with("access-control-")),
            "{served:?}"
        );
        // The store is back: the rules are loaded again.
        store.fail(false);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(send(&service, preflight("media", APP)).await, good);
    });
}

/// A store that has bucket `media` with a `*` rule, and fails every load.
fn failing_store() -> Store {
    let store = Store::default();
    store.put("media", Some(rules("*")));
    store.fail(true);
    store
}

#[test]
fn with_nothing_loaded_a_failing_store_gives_internal_error_to_preflights_and_no_cors_to_actual_requests() {
    let store = failing_store();
    let options = CacheOptions::new().retry_after_error(Duration::from_millis(50));
    let service = tower_s3_cors::CorsLayer::from_cached_source(cache(&store, options)).layer(Stub);
    runtime().block_on(async {
        let failed = send(&service, preflight("media", APP)).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failed.body, INTERNAL_ERROR);
        assert!(failed
            .headers
            .contains(&("content-type".to_owned(), "application/xml".to_owned())));
        assert!(!failed
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")));
        let served = send(&service, get("media", APP)).await;
        assert_eq!(
            (served.status, served.body.as_str()),
            (StatusCode::OK, "from the service")
        );
        assert!(!served
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")));
        // The failure is remembered for the retry interval: one load so far.
        assert_eq!(store.loads(), 1);
        store.fail(false);
        tokio::time::sleep(Duration::from_millis(70)).await;
        assert_eq!(
            send(&service, preflight("media", APP)).await.status,
            StatusCode::OK
        );
    });
}

#[test]
fn a_remembered_failure_is_answered_at_once_without_a_load_or_a_parked_request() {
    let store = failing_store();
    let options = CacheOptions::new().retry_after_error(Duration::from_secs(60));
    let rules_cache = cache(&store, options);
    let mut cached = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    // The reference: a refused preflight of the in-memory store (its S3 document).
    let memory = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    let mut reference = tower_s3_cors::CorsLayer::from_source(memory).layer(Stub);
    runtime().block_on(async {
        // The first request loads and fails; the failure is kept for the retry interval.
        let failed = send(&cached, preflight("media", APP)).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        send(&reference, preflight("media", APP)).await;
    });
    for _ in 0..3 {
        let request = preflight("media", APP);
        let twin = clone_request(&request);
        let (response, cached_allocs) = drive_counted(&mut cached, request, "answered at the first poll");
        let (refused, reference_allocs) = drive_counted(&mut reference, twin, "ready");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // The error document as the store's refusal, plus the boxed error itself: no bucket
        // name copied, no load future, no request parked on the heap.
        assert!(
            cached_allocs <= reference_allocs + 1,
            "{cached_allocs} allocations, a refusal takes {reference_allocs}"
        );
        let served = drive(&mut cached, get("media", APP)).expect("answered at the first poll");
        assert_eq!(served.status(), StatusCode::OK);
        assert!(!served
            .headers()
            .keys()
            .any(|n| n.as_str().starts_with("access-control-")));
    }
    assert_eq!(store.loads(), 1);
    assert_eq!(rules_cache.loads(), 1);
}

#[test]
fn a_hit_s_future_is_the_synchronous_path_s_future() {
    type Synchronous = tower_s3_cors::future::ResponseFuture<
        std::future::Ready<Result<Response<String>, Infallible>>,
        String,
    >;
    type Hybrid = tower_s3_cors::future::CachedResponseFuture<Stub, RulesCache<Store>, (), String>;
    let (synchronous, hybrid) = (std::mem::size_of::<Synchronous>(), std::mem::size_of::<Hybrid>());
    println!("response future: synchronous source {synchronous} bytes, cached source {hybrid} bytes");
    // The miss's state is two pointers (the load, the parked request) and the variant tag fits
    // in the synchronous future's own niche: a hit carries nothing more.
    assert_eq!(hybrid, synchronous);
}

#[test]
fn buckets_with_the_same_rules_share_one_compiled_policy() {
    use tower_s3_cors::source::Cached;
    use tower_s3_cors::{BucketCors, ResourceType};

    let store = Store::default();
    store.put("a", Some(rules(APP)));
    store.put("b", Some(rules(APP)));
    store.put("c", Some(rules("https://other.example")));
    let rules_cache = cache(&store, CacheOptions::new());
    let service = tower_s3_cors::CorsLayer::from_cached_source(rules_cache.clone()).layer(Stub);
    runtime().block_on(async {
        for bucket in ["a", "b", "c"] {
            assert_ne!(
                send(&service, preflight(bucket, APP)).await.status,
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
    });
    let policy_of =
        |bucket: &str| match rules_cache.with_bucket(bucket, ResourceType::Object, |found| match found {
            BucketCors::Configured { policy, .. } => {
                Some(policy as *const tower_s3_cors::CorsPolicy as usize)
            }
            _ => None,
        }) {
            Cached::Hit(Some(address)) => address,
            _ => panic!("{bucket} is cached and configured"),
        };
    assert_eq!(policy_of("a"), policy_of("b"));
    assert_ne!(policy_of("a"), policy_of("c"));
}
