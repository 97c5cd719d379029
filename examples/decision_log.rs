//! Saying why a request was refused: `CorsLayer::on_decision` counts refusals per bucket and
//! origin and logs the first refusal of each origin, in the words of `tower-s3-cors explain`.
//!
//! ```text
//! cargo run --example decision_log
//! ```
//!
//! The example sends a few requests through the layer in-process (no network) and prints what
//! the hook logged, then the counts.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{CorsConfiguration, CorsLayer, DecisionEvent};

/// Refusals per (bucket, origin), and the origins already logged once.
#[derive(Default)]
struct RefusalLog {
    counts: BTreeMap<(String, String), u64>,
    logged: HashSet<String>,
}

impl RefusalLog {
    /// Called by the layer once per request, on the request path: short and non-blocking.
    fn record(&mut self, addressing: &BucketAddressing, event: &DecisionEvent<'_>) {
        if event.outcome() != "refused" {
            return;
        }
        let bucket = addressing
            .bucket(event.head())
            .map_or("-", |(bucket, _)| bucket)
            .to_owned();
        let origin = event
            .origin()
            .and_then(|o| o.to_str().ok())
            .unwrap_or("(no origin)")
            .to_owned();
        // The first refusal of an origin is logged with its reason; later ones are counted.
        if self.logged.insert(origin.clone()) {
            println!(
                "refused: bucket {bucket}, origin {origin}, {} {}: {} ({})",
                event.head().method,
                event.head().uri,
                event.reason(),
                event.error_code().unwrap_or("-"),
            );
        }
        *self.counts.entry((bucket, origin)).or_default() += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    store.create_bucket("photos");
    store.create_bucket("logs");
    store.put_cors(
        "photos",
        CorsConfiguration::from_json(
            r#"[{"ID": "app", "AllowedOrigins": ["https://app.example.com"],
                 "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type"]}]"#,
        )?,
    )?;

    let log = Arc::new(Mutex::new(RefusalLog::default()));
    let sink = Arc::clone(&log);
    let addressing = store.addressing().clone();
    let layer = CorsLayer::from_source(Arc::clone(&store)).on_decision(move |event| {
        if let Ok(mut log) = sink.lock() {
            log.record(&addressing, event);
        }
    });
    let service = layer.layer(service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("object")))
    }));

    let preflight = |path: &str, origin: &str, method: &str, headers: &str| {
        let mut request = Request::options(path)
            .header("origin", origin)
            .header("access-control-request-method", method);
        if !headers.is_empty() {
            request = request.header("access-control-request-headers", headers);
        }
        request.body(String::new())
    };
    let requests = [
        preflight(
            "/photos/cat.jpg",
            "https://app.example.com",
            "PUT",
            "content-type",
        )?,
        preflight("/photos/cat.jpg", "https://evil.example", "PUT", "")?,
        preflight("/photos/cat.jpg", "https://evil.example", "GET", "")?,
        preflight("/photos/cat.jpg", "https://app.example.com", "DELETE", "")?,
        preflight("/photos/cat.jpg", "https://app.example.com", "PUT", "x-amz-acl")?,
        preflight("/logs/today.txt", "https://app.example.com", "GET", "")?,
        preflight("/missing/x", "https://evil.example", "GET", "")?,
    ];
    for request in requests {
        let response = service.clone().oneshot(request).await?;
        drop(response);
    }

    println!("refusals per bucket and origin:");
    let log = log.lock().map_err(|_| "the log's lock was poisoned")?;
    for ((bucket, origin), count) in &log.counts {
        println!("  {bucket:<8} {origin:<26} {count}");
    }
    Ok(())
}
