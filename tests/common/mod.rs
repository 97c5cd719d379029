//! The helpers of the in-process integration tests: S3's fixed texts (`VARY`, `NOT_ALLOWED`,
//! the error documents), the stub inner service that counts its calls, request builders that
//! accept raw header bytes, and one `send` through the real layer. (`tests/support` starts the
//! example binaries and talks HTTP to them.)

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};
use tower_s3_cors::{CorsConfiguration, CorsLayer, RequestIds};

/// The body the stub service answers with.
pub const STUB_BODY: &str = "inner body";

/// The ids the tests' `request_ids` hook gives every error document.
pub const RID: &str = "TESTREQUESTID000";
pub const HID: &str = "test/host+id==";

/// An inner service that answers every request with a fixed status and headers, and counts how
/// often it was called.
#[derive(Clone)]
pub struct Stub {
    calls: Arc<AtomicUsize>,
    status: StatusCode,
    headers: HeaderMap,
}

impl Stub {
    pub fn new() -> Self {
        Stub {
            calls: Arc::new(AtomicUsize::new(0)),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
        }
    }

    /// Answers with this status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header (repeatable: several fields of one name are kept) to every answer.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    /// How many requests reached the stub.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<B> Service<Request<B>> for Stub {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(Full::new(Bytes::from_static(STUB_BODY.as_bytes())));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        ready(Ok(response))
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The single value of `name`, as a string; panics when absent or repeated.
    pub fn header(&self, name: &str) -> &str {
        let mut values = self.headers.get_all(name).iter();
        let first = values
            .next()
            .unwrap_or_else(|| panic!("header {name} missing in {:?}", self.headers));
        assert!(
            values.next().is_none(),
            "header {name} repeated in {:?}",
            self.headers
        );
        first.to_str().unwrap()
    }

    /// The single value of `name`, as bytes.
    pub fn header_bytes(&self, name: &str) -> &[u8] {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next().unwrap_or_else(|| panic!("header {name} missing"));
        assert!(values.next().is_none(), "header {name} repeated");
        first.as_bytes()
    }

    pub fn has(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    /// No `Access-Control-*` header and no `Vary`.
    pub fn assert_no_cors(&self) {
        for name in self.headers.keys() {
            assert!(
                !name.as_str().starts_with("access-control-") && name != http::header::VARY,
                "unexpected {name} in {:?}",
                self.headers
            );
        }
    }
}

/// A request with raw header bytes (values may be non-UTF-8; repeated names become several
/// fields).
pub fn request(method: &str, uri: &str, headers: &[(&str, &[u8])]) -> Request<String> {
    let mut request = Request::new(String::new());
    *request.method_mut() = Method::from_bytes(method.as_bytes()).unwrap();
    *request.uri_mut() = uri.parse().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    request
}

/// A configuration from JSON (CLI or console form); panics when invalid.
pub fn config(json: &str) -> CorsConfiguration {
    CorsConfiguration::from_json(json).unwrap_or_else(|e| panic!("{e}"))
}

/// The layer for `config`, with fixed request ids.
pub fn layer(config: CorsConfiguration) -> CorsLayer {
    CorsLayer::new(config).request_ids(|_| RequestIds {
        request_id: HeaderValue::from_static(RID),
        host_id: HeaderValue::from_static(HID),
    })
}

/// Sends `request` through `layer` wrapping `stub`; returns the answer.
pub async fn send(layer: &CorsLayer, stub: &Stub, request: Request<String>) -> Answer {
    let response = layer.layer(stub.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Sends `request` through a layer built from `json`, wrapping a plain 200 stub.
pub async fn send_json(json: &str, request: Request<String>) -> Answer {
    send(&layer(config(json)), &Stub::new(), request).await
}

/// S3's `Vary` value.
pub const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// The exact AccessForbidden document with the test ids.
pub fn forbidden_xml(message: &str, method: &str, resource: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>{message}</Message><Method>{method}</Method><ResourceType>{resource}</ResourceType><RequestId>{RID}</RequestId><HostId>{HID}</HostId></Error>"
    )
}

/// The exact BadRequest document with the test ids.
pub fn bad_request_xml(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadRequest</Code><Message>{message}</Message><RequestId>{RID}</RequestId><HostId>{HID}</HostId></Error>"
    )
}

pub const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
pub const NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
pub const NO_BUCKET: &str = "CORSResponse: Bucket not found";
pub const NO_ORIGIN: &str = "Insufficient information. Origin request header needed.";
