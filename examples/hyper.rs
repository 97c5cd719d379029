//! A plain hyper 1 server (no framework) whose responses go through `CorsLayer`.
//!
//! ```text
//! cargo run --example hyper                       # listens on 127.0.0.1:3000
//! cargo run --example hyper -- --listen 127.0.0.1:0
//! cargo run --example hyper -- --no-cors          # the same server without the layer
//! ```
//!
//! The CORS rules are embedded from `examples/default-cors.xml`. `--no-cors` serves the same
//! handler without `CorsLayer`, as the baseline of `benches/e2e.sh`.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, Service, ServiceBuilder};
use tower_s3_cors::{CorsConfiguration, CorsLayer};

const RULES: &str = include_str!("default-cors.xml");

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("{} {}\n", request.method(), request.uri().path());
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .header("etag", "\"0123456789abcdef\"")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut cors = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            "--no-cors" => cors = false,
            other => return Err(format!("unknown argument {other:?} (use --listen ADDR, --no-cors)").into()),
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
    if cors {
        serve(listener, ServiceBuilder::new().layer(layer).service_fn(hello)).await
    } else {
        serve(listener, service_fn(hello)).await
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
