//! The `tracing` feature: one debug event per decision, saying why; one warning per security
//! finding whenever rules are compiled for use.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Once};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::source::{BucketAddressing, BucketStore, ReloadableRules};
use tower_s3_cors::{CorsConfiguration, CorsLayer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event as `name=value` pairs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl Capture {
    fn push(&self, event: &Event<'_>) {
        let mut fields = Fields(format!(
            "{} {} ",
            event.metadata().target(),
            event.metadata().level()
        ));
        event.record(&mut fields);
        self.0.lock().expect("lock").push(fields.0);
    }
}

thread_local! {
    /// Where this thread's events go while a test captures them.
    static CAPTURING: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The one subscriber of this test binary, set once as the global default: it hands each event
/// to the capture of the thread that emitted it. Scoped subscribers (`with_default`) on parallel
/// test threads race in tracing's per-callsite interest cache: a callsite first reached by a
/// thread without a subscriber, while another thread is installing one, can stay disabled for
/// every thread (seen once: the security warnings of a layer built under `with_default` never
/// arrived). With a single global subscriber that is always interested there is nothing to race.
struct Router;

impl Subscriber for Router {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        CAPTURING.with(|capture| {
            if let Some(capture) = &*capture.borrow() {
                capture.push(event);
            }
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `f` with this thread's events going to `capture`.
fn capturing<R>(capture: &Capture, f: impl FnOnce() -> R) -> R {
    static ROUTER: Once = Once::new();
    ROUTER.call_once(|| tracing::subscriber::set_global_default(Router).expect("the only subscriber"));
    CAPTURING.with(|slot| *slot.borrow_mut() = Some(capture.clone()));
    let result = f();
    CAPTURING.with(|slot| *slot.borrow_mut() = None);
    result
}

fn events_for(requests: Vec<Request<Full<Bytes>>>) -> Vec<String> {
    let capture = Capture::default();
    let config = CorsConfiguration::from_json(
        r#"[{"ID": "first", "AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"ID": "second", "AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]}]"#,
    )
    .expect("valid");
    let layer = CorsLayer::new(config);
    capturing(&capture, || {
        let runtime = runtime();
        for request in requests {
            let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }));
            runtime.block_on(service.oneshot(request)).expect("answers");
        }
    });
    let events = capture.0.lock().expect("lock").clone();
    events
}

/// Asserts that a captured `event` has every one of `parts`.
#[track_caller]
fn assert_has(event: &str, parts: &[&str]) {
    for part in parts {
        assert!(event.contains(part), "{part:?} missing from {event}");
    }
}

/// [`assert_has`] for a warning of the crate.
#[track_caller]
fn assert_warning(event: &str, parts: &[&str]) {
    assert!(event.starts_with("tower_s3_cors WARN "), "{event}");
    assert_has(event, parts);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn get(origin: &str, method: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri("/k")
        .header("origin", origin)
        .body(Full::new(Bytes::new()))
        .expect("valid")
}

#[test]
fn one_debug_event_per_decision_with_rule_or_error() {
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/k")
        .header("origin", "https://b.example")
        .header("access-control-request-method", "PUT")
        .body(Full::new(Bytes::new()))
        .expect("valid");
    let refused = Request::builder()
        .method("OPTIONS")
        .uri("/k")
        .header("origin", "https://b.example")
        .header("access-control-request-method", "GET")
        .body(Full::new(Bytes::new()))
        .expect("valid");
    let events = events_for(vec![
        get("https://a.example", "GET"),
        preflight,
        refused,
        get("https://b.example", "GET"),
    ]);
    assert_eq!(events.len(), 4, "{events:#?}");
    assert!(
        events.iter().all(|e| e.starts_with("tower_s3_cors DEBUG ")),
        "{events:#?}"
    );
    assert_has(
        &events[0],
        &["outcome=cors-headers-added", "rule_index=0", "rule_id=first"],
    );
    assert_has(
        &events[1],
        &["outcome=preflight-allowed", "rule_index=1", "rule_id=second"],
    );
    assert_has(
        &events[2],
        &[
            "outcome=refused",
            "status=403",
            "code=AccessForbidden",
            "This CORS request is not allowed",
        ],
    );
    assert_has(&events[3], &["outcome=pass-through", "reason=no rule matches"]);
}

#[test]
fn a_repeated_preflight_is_decided_and_logged_every_time() {
    // Without a subscriber the layer would answer it from the answer kept the second time.
    let preflight = || {
        Request::builder()
            .method("OPTIONS")
            .uri("/k")
            .header("origin", "https://b.example")
            .header("access-control-request-method", "PUT")
            .body(Full::new(Bytes::new()))
            .expect("valid")
    };
    let events = events_for((0..5).map(|_| preflight()).collect());
    assert_eq!(events.len(), 5, "{events:#?}");
    for event in &events {
        assert_has(event, &["outcome=preflight-allowed", "rule_index=1"]);
    }
}

#[test]
fn a_failed_lookup_is_a_warning_with_its_error() {
    let capture = Capture::default();
    let layer = CorsLayer::from_async_source(|_: &tower_s3_cors::RequestHead<'_>| async {
        Err::<tower_s3_cors::source::Lookup, tower_s3_cors::source::BoxError>(
            "metadata store unreachable".into(),
        )
    });
    capturing(&capture, || {
        let runtime = runtime();
        let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
        runtime
            .block_on(service.oneshot(get("https://a.example", "GET")))
            .expect("answers");
    });
    let events = capture.0.lock().expect("lock").clone();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_warning(
        &events[0],
        &[
            "outcome=lookup failed",
            "error=metadata store unreachable",
            "answer=pass-through",
        ],
    );
}

/// Every origin of this rule lets other sites in.
const LOOSE: &str = r#"[{"ID": "loose", "AllowedOrigins": ["https://app.example.com*", "https://*example.com",
    "http://*.example.com", "https://*.com", "null"], "AllowedMethods": ["GET"]}]"#;

fn security_events(capture: &Capture) -> Vec<String> {
    let events = capture.0.lock().expect("lock").clone();
    events
        .into_iter()
        .filter(|e| e.starts_with("tower_s3_cors WARN "))
        .collect()
}

#[test]
fn security_findings_are_logged_once_whenever_rules_are_compiled() {
    let capture = Capture::default();
    let loose = || CorsConfiguration::from_json(LOOSE).expect("valid");
    capturing(&capture, || {
        let layer = CorsLayer::new(loose());
        let events = security_events(&capture);
        assert_eq!(events.len(), 5, "{events:#?}");
        for (event, (code, witness)) in events.iter().zip([
            (
                "origin-wildcard-crosses-host",
                "https://app.example.com.attacker.net",
            ),
            ("origin-wildcard-crosses-host", "https://evilexample.com"),
            ("origin-insecure-http", "http://app.example.com"),
            ("origin-wildcard-public-suffix", "https://attacker.com"),
            ("origin-null", "null"),
        ]) {
            assert_has(
                event,
                &[
                    &format!("code={code} "),
                    &format!("witness={witness} "),
                    "rule_index=0 ",
                    "rule_id=loose ",
                ],
            );
        }

        // Requests log no more warnings: the check ran once, at construction.
        let runtime = runtime();
        for _ in 0..3 {
            let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }));
            runtime
                .block_on(service.oneshot(get("https://evilexample.com", "GET")))
                .expect("answers");
        }
        assert_eq!(security_events(&capture).len(), 5);

        // Rules set at run time: PutBucketCors, a reload.
        let store = BucketStore::new(BucketAddressing::PathStyle);
        store.create_bucket("photos");
        store.put_cors("photos", loose()).expect("bucket exists");
        assert_eq!(security_events(&capture).len(), 10);
        let rules = ReloadableRules::new(
            CorsConfiguration::from_json(
                r#"[{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]}]"#,
            )
            .expect("valid"),
        );
        assert_eq!(
            security_events(&capture).len(),
            10,
            "a safe configuration is quiet"
        );
        rules.replace(loose());
        assert_eq!(security_events(&capture).len(), 15);
    });
}

/// A store that fails reaches `tracing` and the decision hook: a warning from the cache with the
/// bucket and the store's error, then the decision ("lookup failed") with the same error, which
/// the hook gets too.
#[cfg(feature = "cache")]
#[test]
fn a_failing_store_behind_the_cache_is_reported_with_its_error() {
    use tower_s3_cors::cache::{CacheOptions, RulesCache, StoredCors};
    use tower_s3_cors::source::BoxError;

    let capture = Capture::default();
    let loader = |_: &str| std::future::ready(Err::<StoredCors, BoxError>("connection refused".into()));
    let cache = RulesCache::new(loader, BucketAddressing::PathStyle, CacheOptions::new());
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&hooked);
    let layer = CorsLayer::from_cached_source(cache).on_decision(move |event| {
        seen.lock().expect("lock").push(format!(
            "{} {:?}",
            event.outcome(),
            event.lookup_error().map(|e| e.to_string())
        ));
    });
    capturing(&capture, || {
        let runtime = runtime();
        let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
        let preflight = Request::builder()
            .method("OPTIONS")
            .uri("/media/k")
            .header("origin", "https://a.example")
            .header("access-control-request-method", "GET")
            .body(Full::new(Bytes::new()))
            .expect("valid");
        let response = runtime.block_on(service.oneshot(preflight)).expect("answers");
        assert_eq!(response.status(), 500);
    });
    let events = capture.0.lock().expect("lock").clone();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_warning(
        &events[0],
        &["bucket=media", "error=connection refused", "no rules to serve"],
    );
    assert_warning(
        &events[1],
        &[
            "outcome=lookup failed",
            "error=loading the CORS rules of bucket media failed: connection refused",
            "answer=refused",
        ],
    );
    assert_eq!(
        *hooked.lock().expect("lock"),
        ["refused Some(\"loading the CORS rules of bucket media failed: connection refused\")"]
    );
}
