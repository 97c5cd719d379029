//! What Fetch Metadata resource isolation costs per decision: the same requests decided with
//! the option off and on (the pure decision, no service around it).
//!
//! ```text
//! cargo bench --bench fetch_metadata
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use http::Request;
use tower_s3_cors::fetch_metadata::FetchMetadata;
use tower_s3_cors::{CorsConfiguration, CorsOptions, CorsPolicy};

fn policy() -> CorsPolicy {
    let config = CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "POST"],
             "AllowedHeaders": ["content-type"]}]"#,
    );
    match config {
        Ok(config) => CorsPolicy::new(config),
        Err(error) => panic!("bench rules: {error}"),
    }
}

fn request(method: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder().method(method).uri("/api/counter");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match builder.body(()) {
        Ok(request) => request,
        Err(error) => panic!("bench request: {error}"),
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .configure_from_args();
    let policy = policy();
    let off = CorsOptions::new().enforce(true);
    let on = off.fetch_metadata(FetchMetadata::new());
    let cases = [
        // The web app's fetch: a rule allows it.
        (
            "allowed_origin",
            request(
                "POST",
                &[
                    ("origin", "https://app.example.com"),
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "cors"),
                ],
            ),
        ),
        // The API's own page.
        (
            "same_origin",
            request(
                "GET",
                &[("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "cors")],
            ),
        ),
        // Another site's <img>: refused with the option on.
        (
            "cross_site_image",
            request(
                "GET",
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "no-cors"),
                    ("sec-fetch-dest", "image"),
                ],
            ),
        ),
        // curl.
        ("no_fetch_metadata", request("POST", &[])),
    ];
    let mut group = c.benchmark_group("fetch_metadata");
    for (name, request) in &cases {
        group.bench_function(format!("{name}/off"), |b| {
            b.iter(|| black_box(policy.evaluate_with(black_box(request), &off)))
        });
        group.bench_function(format!("{name}/on"), |b| {
            b.iter(|| black_box(policy.evaluate_with(black_box(request), &on)))
        });
    }
    group.finish();
    c.final_summary();
}
