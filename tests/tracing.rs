//! The `tracing` feature: one debug event per decision, saying why.
#![cfg(feature = "tracing")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};
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

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!(
            "{} {} ",
            event.metadata().target(),
            event.metadata().level()
        ));
        event.record(&mut fields);
        self.0.lock().expect("lock").push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn events_for(requests: Vec<Request<Full<Bytes>>>) -> Vec<String> {
    let capture = Capture::default();
    let config = CorsConfiguration::from_json(
        r#"[{"ID": "first", "AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"ID": "second", "AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]}]"#,
    )
    .expect("valid");
    let layer = CorsLayer::new(config);
    tracing::subscriber::with_default(capture.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
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
    assert!(
        events[0].contains("outcome=cors-headers-added")
            && events[0].contains("rule_index=0")
            && events[0].contains("rule_id=first"),
        "{}",
        events[0]
    );
    assert!(
        events[1].contains("outcome=preflight-allowed")
            && events[1].contains("rule_index=1")
            && events[1].contains("rule_id=second"),
        "{}",
        events[1]
    );
    assert!(
        events[2].contains("outcome=refused")
            && events[2].contains("status=403")
            && events[2].contains("code=AccessForbidden")
            && events[2].contains("This CORS request is not allowed"),
        "{}",
        events[2]
    );
    assert!(
        events[3].contains("outcome=pass-through") && events[3].contains("reason=no rule matches"),
        "{}",
        events[3]
    );
}

#[test]
fn a_failed_lookup_is_a_warning_with_its_error() {
    let capture = Capture::default();
    let layer = CorsLayer::from_async_source(|_: &tower_s3_cors::RequestHead<'_>| async {
        Err::<tower_s3_cors::source::Lookup, tower_s3_cors::source::BoxError>(
            "metadata store unreachable".into(),
        )
    });
    tracing::subscriber::with_default(capture.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
        runtime
            .block_on(service.oneshot(get("https://a.example", "GET")))
            .expect("answers");
    });
    let events = capture.0.lock().expect("lock").clone();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        events[0].starts_with("tower_s3_cors WARN ")
            && events[0].contains("outcome=lookup failed")
            && events[0].contains("error=metadata store unreachable")
            && events[0].contains("answer=pass-through"),
        "{}",
        events[0]
    );
}
