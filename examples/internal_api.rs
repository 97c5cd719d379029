//! An internal API protected from other sites: enforce mode, Fetch-mode `OPTIONS` and Fetch
//! Metadata resource isolation, with rules that allow only the API's own web app.
//!
//! ```text
//! cargo run --example internal_api                  # listens on 127.0.0.1:3000
//! cargo run --example internal_api -- --listen 127.0.0.1:0 --allow-origin https://app.example.com
//! cargo run --example internal_api -- --unprotected # plain S3 CORS, for comparison
//! ```
//!
//! - `GET /api/counter` answers `{"count":N}`.
//! - `POST /api/counter/increment` adds one and answers the new count; it takes any body with
//!   any content type, so an HTML form can send it, which is what makes it worth protecting.
//! - `GET /` is the API's own page (same origin): it shows the counter and adds one with a
//!   button, or on load when opened as `/#increment`.
//!
//! CORS alone only stops another site from *reading* answers: a form `POST` or a `no-cors`
//! `fetch()` from any page still reaches the handler. Here the layer refuses them before the
//! handler runs: enforce refuses a request whose `Origin` no rule allows, and Fetch Metadata
//! refuses a cross-site request that no rule allows (also those without `Origin`, such as an
//! `<img>` or a `<script>`). Requests without `Origin` and without Fetch Metadata (curl,
//! server-to-server calls) and the API's own page pass. `--unprotected` turns both off: the
//! same form `POST` then changes the counter.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_s3_cors::fetch_metadata::FetchMetadata;
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsOptions, CorsRule};

/// The web app's origin when none is given (Vite's development server).
const DEFAULT_ORIGIN: &str = "http://localhost:5173";

#[derive(Serialize)]
struct Count {
    count: u64,
}

async fn counter(State(count): State<Arc<AtomicU64>>) -> Json<Count> {
    Json(Count {
        count: count.load(Ordering::SeqCst),
    })
}

/// No extractor: any body, any content type.
async fn increment(State(count): State<Arc<AtomicU64>>) -> Json<Count> {
    Json(Count {
        count: count.fetch_add(1, Ordering::SeqCst) + 1,
    })
}

/// The API's own page: same origin, so it needs no rule.
async fn page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>internal API</title></head>
<body>
<p>count: <span id="count">?</span> <button id="add">Add one</button></p>
<pre id="out"></pre>
<script>
const show = (data) => { document.getElementById("count").textContent = data.count; };
async function add() {
  const r = await fetch("/api/counter/increment", { method: "POST" });
  document.getElementById("out").textContent += "same_origin: status=" + r.status + "\n";
  if (r.ok) show(await r.json());
}
document.getElementById("add").onclick = add;
(async () => {
  if (location.hash === "#increment") await add();
  show(await (await fetch("/api/counter")).json());
  document.getElementById("out").textContent += "DONE\n";
})();
</script>
</body></html>
"##,
    )
}

/// The rules: the web app's origins may read the counter and add to it, sending JSON.
fn rules(origins: &[String]) -> Result<CorsConfiguration, tower_s3_cors::ConfigError> {
    CorsConfiguration::new([CorsRule::builder()
        .id("web app")
        .allowed_origins(origins)
        .allowed_methods(["GET", "POST"])
        .allowed_header("content-type")
        .max_age_seconds(600)
        .build()])
}

/// Enforce, Fetch-mode `OPTIONS` and Fetch Metadata; or none of them (plain S3 CORS).
fn options(protected: bool) -> CorsOptions {
    if protected {
        CorsOptions::new()
            .enforce(true)
            .fetch_mode(true)
            .fetch_metadata(FetchMetadata::new())
    } else {
        CorsOptions::new()
    }
}

fn app(config: CorsConfiguration, protected: bool) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/counter", get(counter))
        .route("/api/counter/increment", post(increment))
        .with_state(Arc::new(AtomicU64::new(0)))
        // On the whole router: unknown paths and unrouted methods are judged too.
        .layer(CorsLayer::new(config).options(options(protected)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut origins = Vec::new();
    let mut protected = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            "--allow-origin" => origins.push(args.next().ok_or("--allow-origin needs ORIGIN")?),
            "--unprotected" => protected = false,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --listen ADDR, --allow-origin ORIGIN, --unprotected)"
                )
                .into())
            }
        }
    }
    if origins.is_empty() {
        origins.push(DEFAULT_ORIGIN.to_owned());
    }
    let config = rules(&origins)?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    if protected {
        println!(
            "protected (enforce, Fetch Metadata); allowed origins: {}",
            origins.join(" ")
        );
    } else {
        println!(
            "unprotected (plain S3 CORS); allowed origins: {}",
            origins.join(" ")
        );
    }
    let origin = origins.first().map_or(DEFAULT_ORIGIN, String::as_str);
    println!("try:");
    println!("  curl -i http://{addr}/api/counter/increment -X POST    # no Origin: served");
    println!(
        "  curl -i http://{addr}/api/counter/increment -X POST -H 'Origin: {origin}'    # allowed origin"
    );
    println!(
        "  curl -i http://{addr}/api/counter/increment -X POST -H 'Origin: https://evil.example'    # refused when protected"
    );
    println!(
        "  curl -i http://{addr}/api/counter -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: no-cors'    # refused when protected"
    );
    axum::serve(listener, app(config, protected)).await?;
    Ok(())
}
