//! The tower glue: [`CorsLayer`] and [`Cors`] carry out a [`Decision`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::CorsBody;
use crate::config::CorsConfiguration;
use crate::decision::{CorsHeaders, CorsOptions, Decision, RequestHead, VARY_VALUE};
use crate::matcher::CorsPolicy;
use crate::s3_error::{Refusal, RequestIds};

/// `x-amz-request-id`.
pub const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
/// `x-amz-id-2`.
pub const X_AMZ_ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");

type IdHook = dyn Fn(&RequestHead<'_>) -> RequestIds + Send + Sync;

struct Shared {
    policy: CorsPolicy,
    options: CorsOptions,
    ids: Option<Arc<IdHook>>,
}

/// A [`Layer`] that applies S3's CORS rules to a service.
///
/// Cheap to clone: the compiled rules are shared.
///
/// ```
/// use tower_s3_cors::{CorsConfiguration, CorsLayer};
///
/// let config = CorsConfiguration::from_json(
///     r#"{"CORSRules": [{"AllowedOrigins": ["https://app.example.com"],
///                        "AllowedMethods": ["GET", "PUT"],
///                        "AllowedHeaders": ["*"],
///                        "ExposeHeaders": ["ETag"]}]}"#,
/// )?;
/// let layer = CorsLayer::new(config);
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct CorsLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for CorsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsLayer")
            .field("policy", &self.shared.policy)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl CorsLayer {
    /// A layer that behaves as one configured S3 bucket: the URL path `/` is the bucket, any
    /// other path an object. Infallible: the configuration is already valid.
    pub fn new(config: CorsConfiguration) -> Self {
        Self::from_policy(CorsPolicy::new(config))
    }

    /// A layer from rules already compiled.
    pub fn from_policy(policy: CorsPolicy) -> Self {
        CorsLayer {
            shared: Arc::new(Shared {
                policy,
                options: CorsOptions::default(),
                ids: None,
            }),
        }
    }

    /// Turns on options beyond S3 (all off by default).
    pub fn options(self, options: CorsOptions) -> Self {
        self.update(|shared| shared.options = options)
    }

    /// Sets how `x-amz-request-id` / `<RequestId>` and `x-amz-id-2` / `<HostId>` are made for
    /// the error documents the layer writes, e.g. from the application's own request id. By
    /// default [`RequestIds::generate`] makes fresh ones.
    pub fn request_ids<F>(self, hook: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> RequestIds + Send + Sync + 'static,
    {
        self.update(|shared| shared.ids = Some(Arc::new(hook)))
    }

    /// The compiled rules.
    pub fn policy(&self) -> &CorsPolicy {
        &self.shared.policy
    }

    fn update(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            Err(arc) => Shared {
                policy: arc.policy.clone(),
                options: arc.options,
                ids: arc.ids.clone(),
            },
        };
        change(&mut shared);
        CorsLayer {
            shared: Arc::new(shared),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The middleware made by [`CorsLayer`]: answers preflights itself and adds CORS headers to
/// the inner service's responses.
#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Cors<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cors")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Cors<S> {
    /// Wraps `inner` with the rules of `layer`.
    pub fn new(inner: S, layer: &CorsLayer) -> Self {
        layer.layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<CorsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        match shared.policy.evaluate_with(&request, &shared.options) {
            Decision::Actual(allowed) => {
                ResponseFuture::inner(self.inner.call(request), Action::Cors(allowed.into_headers()))
            }
            Decision::PassThrough(pass) => {
                let action = if pass.adds_vary() {
                    Action::Vary
                } else {
                    Action::Nothing
                };
                ResponseFuture::inner(self.inner.call(request), action)
            }
            Decision::Preflight(allowed) => {
                ResponseFuture::ready(preflight_response(allowed.into_headers()).map(CorsBody::own))
            }
            Decision::Refuse(refusal) => {
                let head = RequestHead::from(&request);
                let ids = match &shared.ids {
                    Some(hook) => hook(&head),
                    None => RequestIds::generate(),
                };
                ResponseFuture::ready(error_response(&refusal, &ids).map(CorsBody::own))
            }
        }
    }
}

impl Decision {
    /// The response the layer sends without calling the inner service, built by the same code
    /// as the layer's: the 200 answer to an allowed preflight, or the S3 error document of a
    /// refusal (with `ids` in its headers and body). `None` when the inner service answers:
    /// [`Decision::PassThrough`], and [`Decision::Actual`], whose headers
    /// [`CorsHeaders::apply_to`] adds to the inner response.
    ///
    /// ```
    /// use tower_s3_cors::{CorsConfiguration, CorsPolicy, RequestIds};
    ///
    /// let policy = CorsPolicy::new(CorsConfiguration::from_json(
    ///     r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    /// )?);
    /// let preflight = http::Request::options("/photo.jpg")
    ///     .header("origin", "https://evil.example")
    ///     .header("access-control-request-method", "GET")
    ///     .body(())
    ///     .unwrap();
    /// let ids = RequestIds {
    ///     request_id: http::HeaderValue::from_static("REQ1"),
    ///     host_id: http::HeaderValue::from_static("HOST1"),
    /// };
    /// let response = policy.evaluate(&preflight).to_response(&ids).unwrap();
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(response.headers()["x-amz-request-id"], "REQ1");
    /// assert!(response.body().ends_with(b"<RequestId>REQ1</RequestId><HostId>HOST1</HostId></Error>"));
    /// # Ok::<(), tower_s3_cors::ConfigError>(())
    /// ```
    pub fn to_response(&self, ids: &RequestIds) -> Option<Response<Bytes>> {
        match self {
            Decision::Preflight(allowed) => Some(preflight_response(allowed.headers().clone())),
            Decision::Refuse(refusal) => Some(error_response(refusal, ids)),
            Decision::PassThrough(_) | Decision::Actual(_) => None,
        }
    }
}

/// A 200 preflight answer: empty body, `Content-Length: 0`, no `Content-Type`.
pub(crate) fn preflight_response(headers: CorsHeaders) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let map = response.headers_mut();
    headers.write_to(map);
    map.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// An S3 error document: `Content-Type: application/xml`, ids in headers and body alike.
pub(crate) fn error_response(refusal: &Refusal, ids: &RequestIds) -> Response<Bytes> {
    let request_id = String::from_utf8_lossy(ids.request_id.as_bytes());
    let host_id = String::from_utf8_lossy(ids.host_id.as_bytes());
    let body = refusal.to_xml(&request_id, &host_id);
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = refusal.status();
    let map = response.headers_mut();
    map.insert(X_AMZ_REQUEST_ID, ids.request_id.clone());
    map.insert(X_AMZ_ID_2, ids.host_id.clone());
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// What to do to the inner service's response.
#[derive(Debug)]
enum Action {
    Nothing,
    /// Cache-safe `Vary` only.
    Vary,
    Cors(CorsHeaders),
}

pin_project! {
    /// The future of [`Cors`]: the inner service's future (headers added when it completes),
    /// or the layer's own answer, ready at once. Never boxed.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner {
            #[pin]
            future: F,
            action: Option<Action>,
        },
        Ready {
            response: Option<Response<CorsBody<B>>>,
            _body: PhantomData<B>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F, action: Action) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                action: Some(action),
            },
        }
    }

    fn ready(response: Response<CorsBody<B>>) -> Self {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
                _body: PhantomData,
            },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CorsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future, action } => {
                let response = ready!(future.poll(cx))?;
                let (mut parts, body) = response.into_parts();
                match action.take() {
                    Some(Action::Cors(headers)) => headers.apply_to(&mut parts.headers),
                    Some(Action::Vary) => {
                        crate::vary::merge(&mut parts.headers, HeaderValue::from_static(VARY_VALUE))
                    }
                    Some(Action::Nothing) | None => {}
                }
                Poll::Ready(Ok(Response::from_parts(parts, CorsBody::inner(body))))
            }
            StateProj::Ready { response, .. } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after completion: answer with an empty 500 rather than panic.
                None => {
                    let mut response = Response::new(CorsBody::empty());
                    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    Poll::Ready(Ok(response))
                }
            },
        }
    }
}
