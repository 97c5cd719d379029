//! Soak: configurations are swapped (per bucket, in a `BucketStore`) while many tasks send
//! preflights and actual requests; every answer must be exactly what one of the
//! configurations gives, never a mix. Bounded in requests and in time.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{CorsConfiguration, CorsLayer, RequestHead, RequestIds};

const TASKS: usize = 16;
const REQUESTS_PER_TASK: usize = 300;
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Three configurations that answer the probe requests differently in every header.
fn configurations() -> Vec<CorsConfiguration> {
    [
        r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 10}]"#,
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["X-Two"], "MaxAgeSeconds": 20}]"#,
        r#"[{"AllowedOrigins": ["https://other.example"], "AllowedMethods": ["PUT"]},
            {"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["PUT", "GET", "HEAD"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 30}]"#,
    ]
    .iter()
    .map(|json| CorsConfiguration::from_json(json).expect("valid"))
    .collect()
}

fn probes() -> Vec<Request<Full<Bytes>>> {
    let build = |method: &str, uri: &str, headers: &[(&str, &str)]| {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Full::new(Bytes::new())).expect("valid")
    };
    vec![
        build("GET", "/media/cat.jpg", &[("origin", "https://app.example")]),
        build(
            "OPTIONS",
            "/media/cat.jpg",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "X-Amz-Date, x-amz-meta-a"),
            ],
        ),
        build(
            "OPTIONS",
            "/media",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
        ),
        build("PUT", "/media/k", &[("origin", "https://app.example")]),
    ]
}

/// Everything observable about an answer.
type Observed = (u16, Vec<(String, Vec<u8>)>, Bytes);

async fn observe<Src: tower_s3_cors::source::CorsSource>(
    layer: &CorsLayer<Src>,
    request: Request<Full<Bytes>>,
) -> Observed {
    let inner = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"object"))))
    });
    let response = layer.layer(inner).oneshot(request).await.expect("answers");
    let (parts, body) = response.into_parts();
    let mut headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    headers.sort();
    (
        parts.status.as_u16(),
        headers,
        body.collect().await.expect("body").to_bytes(),
    )
}

fn fixed_ids(_: &RequestHead<'_>) -> RequestIds {
    RequestIds {
        request_id: http::HeaderValue::from_static("SOAK"),
        host_id: http::HeaderValue::from_static("SOAKHOST"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_configurations_under_load_gives_consistent_answers() {
    let configs = configurations();
    let probes_len = probes().len();

    // What each configuration answers to each probe, computed with a store that never changes.
    let mut expected: Vec<HashMap<usize, Observed>> = vec![HashMap::new(); probes_len];
    for (c, config) in configs.iter().enumerate() {
        let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
        store.create_bucket("media");
        store.put_cors("media", config.clone()).expect("exists");
        let layer = CorsLayer::from_source(store).request_ids(fixed_ids);
        for (p, probe) in probes().into_iter().enumerate() {
            expected[p].insert(c, observe(&layer, probe).await);
        }
    }
    // The configurations really differ on every probe.
    for answers in &expected {
        let distinct: std::collections::HashSet<&Observed> = answers.values().collect();
        assert_eq!(distinct.len(), configs.len());
    }
    let expected = Arc::new(expected);

    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    store.create_bucket("media");
    store.put_cors("media", configs[0].clone()).expect("exists");
    let layer = CorsLayer::from_source(Arc::clone(&store)).request_ids(fixed_ids);

    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (store, done, configs) = (Arc::clone(&store), Arc::clone(&done), configs.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut swaps = 0usize;
            while !done.load(Ordering::SeqCst) && started.elapsed() < TIME_LIMIT && swaps < 100_000 {
                // Other buckets change too, which copies the whole map.
                store.create_bucket(&format!("other-{}", swaps % 8));
                store
                    .put_cors("media", configs[swaps % configs.len()].clone())
                    .expect("exists");
                swaps += 1;
                std::thread::sleep(Duration::from_micros(10));
            }
            swaps
        })
    };

    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (layer, expected) = (layer.clone(), Arc::clone(&expected));
        tasks.push(tokio::spawn(async move {
            let mut seen = vec![0usize; 3];
            for i in 0..REQUESTS_PER_TASK {
                if started.elapsed() > TIME_LIMIT {
                    break;
                }
                let p = (task + i) % probes_len;
                let Some(probe) = probes().into_iter().nth(p) else {
                    break;
                };
                let got = observe(&layer, probe).await;
                match expected[p].iter().find(|(_, want)| **want == got) {
                    Some((c, _)) => seen[*c] += 1,
                    None => panic!("probe {p}: an answer no single configuration gives: {got:?}"),
                }
            }
            seen
        }));
    }
    let mut seen = vec![0usize; 3];
    for task in tasks {
        for (total, n) in seen.iter_mut().zip(task.await.expect("task")) {
            *total += n;
        }
    }
    done.store(true, Ordering::SeqCst);
    let swaps = swapper.join().expect("swapper");
    assert!(seen.iter().sum::<usize>() > 0);
    assert!(swaps > 1, "configurations were swapped while serving");
    println!("soak: {seen:?} answers per configuration over {swaps} swaps");
    // The store's rules at the end are one of the three, whole.
    let last = store.get_cors("media").ok().flatten().expect("configured");
    assert!(configs.contains(&last));
}
