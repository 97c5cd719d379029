//! An in-process CORS service for tests of rule sources: a stub inner service, the requests,
//! and answers compared whole (status, headers and body, request ids left out).

#![allow(dead_code)]

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt};

pub const APP: &str = "https://app.example.com";

/// A runtime with two worker threads and timers, for the tests' async parts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Answers every request with 200 and a body, at once.
#[derive(Clone)]
pub struct Stub;

impl Service<Request<()>> for Stub {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new("from the service".to_owned())))
    }
}

pub fn preflight(bucket: &str, origin: &str) -> Request<()> {
    Request::options(format!("/{bucket}/photo.jpg"))
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .body(())
        .expect("valid")
}

pub fn get(bucket: &str, origin: &str) -> Request<()> {
    Request::get(format!("/{bucket}/photo.jpg"))
        .header("origin", origin)
        .body(())
        .expect("valid")
}

/// Status, headers without the request ids, and the body without them either.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn answer_of(response: Response<()>, body: String) -> Answer {
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("x-amz-"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").to_owned()))
        .collect();
    let body = match (body.find("<RequestId>"), body.find("</Error>")) {
        (Some(start), Some(end)) => format!("{}{}", &body[..start], &body[end..]),
        _ => body,
    };
    Answer {
        status: response.status(),
        headers,
        body,
    }
}

pub async fn send<S, B>(service: &S, request: Request<()>) -> Answer
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let response = service.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    answer_of(Response::from_parts(parts, ()), body)
}

/// A copy of a body-less request.
pub fn clone_request(request: &Request<()>) -> Request<()> {
    let mut copy = Request::new(());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}
