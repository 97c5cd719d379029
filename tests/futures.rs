//! The response futures keep `Future`'s contract as tower's own do: polled again after they
//! returned `Ready`, they panic with "polled after completion" instead of answering twice.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, Service};
use tower_s3_cors::source::Lookup;
use tower_s3_cors::{CorsConfiguration, CorsLayer};

/// An inner future that answers every time it is polled, as a careless one might: the
/// layer's future must not lean on it to notice a second poll.
struct AlwaysReady;

impl Future for AlwaysReady {
    type Output = Result<Response<String>, Infallible>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(Response::new(String::from("inner"))))
    }
}

fn config() -> CorsConfiguration {
    CorsConfiguration::from_json(r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]}]"#)
        .expect("valid")
}

fn get() -> Request<String> {
    Request::get("/k")
        .header("origin", "https://a.example")
        .body(String::new())
        .expect("request")
}

fn preflight() -> Request<String> {
    Request::options("/k")
        .header("origin", "https://a.example")
        .header("access-control-request-method", "GET")
        .body(String::new())
        .expect("request")
}

/// Polls `future` once (it must be ready), returns the status, then polls it again and
/// returns the panic message of the second poll.
fn twice<F, B>(future: F) -> (StatusCode, String)
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    let status = match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the first poll is ready"),
    };
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = future.as_mut().poll(&mut cx);
    }))
    .expect_err("a second poll panics");
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    (status, message)
}

#[test]
fn inner_service_future_polled_after_completion_panics() {
    let mut service = CorsLayer::new(config()).layer(service_fn(|_: Request<String>| AlwaysReady));
    let (status, message) = twice(service.call(get()));
    assert_eq!(status, StatusCode::OK);
    assert!(message.contains("polled after completion"), "{message}");
}

#[test]
fn layer_answer_polled_after_completion_panics() {
    let mut service = CorsLayer::new(config()).layer(service_fn(|_: Request<String>| AlwaysReady));
    let (status, message) = twice(service.call(preflight()));
    assert_eq!(status, StatusCode::OK);
    assert!(message.contains("polled after completion"), "{message}");
}

#[test]
fn async_source_future_polled_after_completion_panics() {
    let policy = std::sync::Arc::new(tower_s3_cors::CorsPolicy::new(config()));
    let layer = CorsLayer::from_async_source(move |_: &tower_s3_cors::RequestHead<'_>| {
        let policy = std::sync::Arc::clone(&policy);
        async move {
            Ok(Lookup::Configured {
                policy,
                resource: tower_s3_cors::ResourceType::Object,
            })
        }
    });
    let mut service = layer.layer(service_fn(|_: Request<String>| AlwaysReady));
    let (status, message) = twice(service.call(get()));
    assert_eq!(status, StatusCode::OK);
    assert!(message.contains("polled after completion"), "{message}");
}
