//! A plain hyper 1 server (no framework) whose responses go through `CorsLayer`.
//!
//! ```text
//! cargo run --example hyper                       # listens on 127.0.0.1:3000
//! cargo run --example hyper -- --listen 127.0.0.1:0
//! cargo run --example hyper -- --no-cors          # the same server without the layer
//! cargo run --example hyper -- --headers-in-handler
//! ```
//!
//! The CORS rules are embedded from `examples/default-cors.xml`. `--no-cors` serves the same
//! handler without `CorsLayer`, and `--headers-in-handler` without the layer but with the
//! handler writing, for every request, the six headers the layer sends to an allowed origin:
//! the baselines of `benches/e2e.sh`.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, Service, ServiceBuilder};
use tower_s3_cors::{CorsConfiguration, CorsLayer};

const RULES: &str = include_str!("default-cors.xml");

/// What serves the requests.
enum Mode {
    /// `hello` behind `CorsLayer`.
    Layer,
    /// `hello` alone.
    NoCors,
    /// `hello_with_headers` alone.
    HeadersInHandler,
}

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("{} {}\n", request.method(), request.uri().path());
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .header("etag", "\"0123456789abcdef\"")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default())
}

/// [`hello`], and the headers S3 sends to an origin the first rule allows, written by the
/// handler itself with no decision (what the layer's answer costs to send, without the layer).
async fn hello_with_headers(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let mut response = hello(request).await?;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert("access-control-allow-origin", origin);
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, PUT, POST"),
        );
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("ETag, x-amz-request-id"),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("3000"));
        headers.insert(
            "vary",
            HeaderValue::from_static("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
        );
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut mode = Mode::Layer;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            "--no-cors" => mode = Mode::NoCors,
            "--headers-in-handler" => mode = Mode::HeadersInHandler,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --listen ADDR, --no-cors, --headers-in-handler)"
                )
                .into())
            }
        }
    }
    let config = CorsConfiguration::from_xml(RULES)?;
    let layer = CorsLayer::new(config);
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("try:");
    println!(
        "  curl -i -X OPTIONS http://{addr}/photo.jpg -H 'Origin: http://localhost:8080' \
         -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: x-amz-meta-owner'"
    );
    println!("  curl -i http://{addr}/photo.jpg -H 'Origin: https://evil.example'");
    match mode {
        Mode::Layer => serve(listener, ServiceBuilder::new().layer(layer).service_fn(hello)).await,
        Mode::NoCors => serve(listener, service_fn(hello)).await,
        Mode::HeadersInHandler => serve(listener, service_fn(hello_with_headers)).await,
    }
}

/// Serves every connection with a clone of `service`.
async fn serve<S, B>(listener: TcpListener, service: S) -> Result<(), Box<dyn Error + Send + Sync>>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            if let Err(err) = http1::Builder::new()
                .serve_connection(io, TowerToHyperService::new(service))
                .await
            {
                eprintln!("connection error: {err}");
            }
        });
    }
}
