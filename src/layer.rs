//! The tower glue: [`CorsLayer`] and [`Cors`] carry out a [`Decision`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::CorsBody;
use crate::config::CorsConfiguration;
use crate::decision::{
    decide, BucketCors, CorsFields, CorsHeaders, CorsOptions, Decision, PreflightTemplate, RequestHead,
};
use crate::matcher::CorsPolicy;
use crate::s3_error::{Refusal, RequestIds};
use crate::source::{AsyncCorsSource, AsyncSource, CorsSource, SingleBucket};

/// `x-amz-request-id`.
pub const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
/// `x-amz-id-2`.
pub const X_AMZ_ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");

type IdHook = dyn Fn(&RequestHead<'_>) -> RequestIds + Send + Sync;

/// What every request of a layer shares: where rules come from, the options, the id hook.
struct Shared<Src> {
    source: Src,
    options: CorsOptions,
    ids: Option<Box<IdHook>>,
}

impl<Src> Shared<Src> {
    fn request_ids(&self, head: &RequestHead<'_>) -> RequestIds {
        match &self.ids {
            Some(hook) => hook(head),
            None => RequestIds::generate(),
        }
    }
}

/// A [`Layer`] that applies S3's CORS rules to a service.
///
/// The rules come from a source: one configuration ([`CorsLayer::new`]), any
/// [`CorsSource`] (a closure, [`ReloadableRules`](crate::ReloadableRules),
/// [`BucketStore`](crate::BucketStore)) with [`CorsLayer::from_source`], or an
/// [`AsyncCorsSource`] with [`CorsLayer::from_async_source`]. Cheap to clone: everything is
/// shared behind one `Arc`.
///
/// ```
/// use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsOptions};
///
/// let config = CorsConfiguration::from_json(
///     r#"{"CORSRules": [{"AllowedOrigins": ["https://app.example.com"],
///                        "AllowedMethods": ["GET", "PUT"],
///                        "AllowedHeaders": ["*"],
///                        "ExposeHeaders": ["ETag"]}]}"#,
/// )?;
/// let layer = CorsLayer::new(config).options(CorsOptions::new().cache_safe_vary(true));
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[must_use]
pub struct CorsLayer<Src = SingleBucket> {
    shared: Arc<Shared<Src>>,
}

impl<Src> Clone for CorsLayer<Src> {
    fn clone(&self) -> Self {
        CorsLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Src: fmt::Debug> fmt::Debug for CorsLayer<Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsLayer")
            .field("source", &self.shared.source)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl CorsLayer<SingleBucket> {
    /// A layer that behaves as one configured S3 bucket: the URL path `/` is the bucket, any
    /// other path an object. Infallible: the configuration is already valid.
    pub fn new(config: CorsConfiguration) -> Self {
        Self::from_source(SingleBucket::new(config))
    }

    /// [`new`](Self::new) with rules already compiled.
    pub fn from_policy(policy: CorsPolicy) -> Self {
        Self::from_source(SingleBucket::from_policy(policy))
    }

    /// The compiled rules.
    pub fn policy(&self) -> &CorsPolicy {
        self.shared.source.policy()
    }
}

impl<Src> CorsLayer<Src> {
    /// A layer whose rules come from `source`, looked up for every request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsPolicy, Lookup, RequestHead, ResourceType};
    ///
    /// let api = Arc::new(CorsPolicy::new(CorsConfiguration::from_json(
    ///     r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "POST"]}]"#,
    /// )?));
    /// // Only /api/ has CORS; everything else is served as if no bucket were named.
    /// let layer = CorsLayer::from_source(move |head: &RequestHead<'_>| {
    ///     if head.uri.path().starts_with("/api/") {
    ///         Lookup::Configured { policy: Arc::clone(&api), resource: ResourceType::Object }
    ///     } else {
    ///         Lookup::NoBucket
    ///     }
    /// });
    /// # drop(layer);
    /// # Ok::<(), tower_s3_cors::ConfigError>(())
    /// ```
    pub fn from_source(source: Src) -> Self
    where
        Src: CorsSource,
    {
        CorsLayer {
            shared: Arc::new(Shared {
                source,
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
    /// the error documents the layer writes, e.g. from the application's own request id (a
    /// header, or an extension set by an earlier middleware: see
    /// [`RequestHead::extensions`]). By default [`RequestIds::generate`] makes fresh ones.
    pub fn request_ids<F>(self, hook: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> RequestIds + Send + Sync + 'static,
    {
        self.update(|shared| shared.ids = Some(Box::new(hook)))
    }

    /// The source of rules.
    pub fn source(&self) -> &Src {
        &self.shared.source
    }

    /// The options.
    pub fn current_options(&self) -> CorsOptions {
        self.shared.options
    }

    fn update(self, change: impl FnOnce(&mut Shared<Src>)) -> Self {
        let mut shared = self.shared;
        match Arc::get_mut(&mut shared) {
            Some(inner) => change(inner),
            // A clone of this layer exists; builders are meant to run before layering.
            None => {
                debug_assert!(false, "configure the CorsLayer before cloning it");
            }
        }
        CorsLayer { shared }
    }
}

impl<A: AsyncCorsSource> CorsLayer<AsyncSource<A>> {
    /// A layer whose rules come from an asynchronous lookup, polled inside the response
    /// future. The inner service must be `Clone` (the request is forwarded after the lookup).
    pub fn from_async_source(source: A) -> Self {
        CorsLayer {
            shared: Arc::new(Shared {
                source: AsyncSource(source),
                options: CorsOptions::default(),
                ids: None,
            }),
        }
    }
}

impl<S, Src> Layer<S> for CorsLayer<Src> {
    type Service = Cors<S, Src>;

    fn layer(&self, inner: S) -> Cors<S, Src> {
        Cors {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The middleware made by [`CorsLayer`]: answers preflights itself and adds CORS headers to
/// the inner service's responses.
pub struct Cors<S, Src = SingleBucket> {
    inner: S,
    shared: Arc<Shared<Src>>,
}

impl<S: Clone, Src> Clone for Cors<S, Src> {
    fn clone(&self) -> Self {
        Cors {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, Src> fmt::Debug for Cors<S, Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cors")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Src> Cors<S, Src> {
    /// Wraps `inner` with the rules of `layer`.
    pub fn new(inner: S, layer: &CorsLayer<Src>) -> Self {
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

/// Records one decision (feature `tracing`): the outcome and the rule or the S3 error.
#[cfg(feature = "tracing")]
fn trace(decision: &Decision, bucket: &BucketCors<'_>) {
    let rule_id = |index: usize| match bucket {
        BucketCors::Configured { policy, .. } => policy.rule(index).and_then(|r| r.id()).unwrap_or(""),
        _ => "",
    };
    match decision {
        Decision::Preflight(allowed) | Decision::Actual(allowed) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = if matches!(decision, Decision::Preflight(_)) {
                "preflight allowed"
            } else {
                "actual allowed"
            },
            rule_index = allowed.rule_index(),
            rule_id = rule_id(allowed.rule_index()),
            "CORS decision"
        ),
        Decision::Refuse(refusal) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "refused",
            status = refusal.status().as_u16(),
            code = refusal.code(),
            message = %refusal.message(),
            "CORS decision"
        ),
        Decision::PassThrough(pass) => tracing::debug!(
            target: "tower_s3_cors",
            outcome = "pass through",
            reason = ?pass.reason(),
            fetch_metadata = ?pass.fetch_metadata(),
            "CORS decision"
        ),
    }
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn trace(_decision: &Decision, _bucket: &BucketCors<'_>) {}

fn decide_and_trace(head: RequestHead<'_>, bucket: BucketCors<'_>, options: &CorsOptions) -> Decision {
    let decision = decide(head, bucket, options);
    trace(&decision, &bucket);
    decision
}

impl<S, Src, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S, Src>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    Src: CorsSource,
{
    type Response = Response<CorsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        let head = RequestHead::from(&request);
        let step = shared.source.with_rules(&head, |bucket| {
            let decision = decide_and_trace(head, bucket, &shared.options);
            Step::from_decision(decision, shared, &head, &bucket)
        });
        match step {
            Step::Call(action) => ResponseFuture::inner(self.inner.call(request), action),
            Step::Respond(response) => ResponseFuture::ready(response),
        }
    }
}

/// What the service does next with a decision.
enum Step<B> {
    Call(Action),
    Respond(Response<CorsBody<B>>),
}

impl<B> Step<B> {
    /// `bucket` is what `decision` was made with: a preflight answer starts from the matched
    /// rule's prebuilt headers.
    fn from_decision<Src>(
        decision: Decision,
        shared: &Shared<Src>,
        head: &RequestHead<'_>,
        bucket: &BucketCors<'_>,
    ) -> Self {
        match decision {
            Decision::Actual(allowed) => Step::Call(Action::Cors(allowed.into_headers())),
            Decision::PassThrough(pass) => Step::Call(match pass.vary() {
                Some(vary) => Action::Vary(vary),
                None => Action::Nothing,
            }),
            Decision::Preflight(allowed) => {
                let template = match bucket {
                    BucketCors::Configured { policy, .. } => policy.preflight_template(allowed.rule_index()),
                    _ => None,
                };
                Step::Respond(preflight_response(allowed.into_headers(), template).map(CorsBody::own))
            }
            Decision::Refuse(refusal) => {
                Step::Respond(error_response(&refusal, shared.request_ids(head)).map(CorsBody::own))
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
            Decision::Preflight(allowed) => Some(preflight_response(allowed.headers().clone(), None)),
            Decision::Refuse(refusal) => Some(error_response(refusal, ids.clone())),
            Decision::PassThrough(_) | Decision::Actual(_) => None,
        }
    }
}

/// A 200 preflight answer: empty body, `Content-Length: 0`, no `Content-Type`.
pub(crate) fn preflight_response(
    headers: CorsHeaders,
    template: Option<&PreflightTemplate>,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.headers_mut() = headers.preflight_map(template);
    response
}

/// An S3 error document: `Content-Type: application/xml`, ids in headers and body alike.
pub(crate) fn error_response(refusal: &Refusal, ids: RequestIds) -> Response<Bytes> {
    let request_id = String::from_utf8_lossy(ids.request_id.as_bytes());
    let host_id = String::from_utf8_lossy(ids.host_id.as_bytes());
    let body = refusal.to_xml(&request_id, &host_id);
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = refusal.status();
    let map = response.headers_mut();
    // Moved, not cloned: a first clone of a freshly made value would allocate.
    map.insert(X_AMZ_REQUEST_ID, ids.request_id);
    map.insert(X_AMZ_ID_2, ids.host_id);
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// What to do to the inner service's response.
// Boxing the headers would cost an allocation per request; the future is moved rarely.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Action {
    Nothing,
    /// `Vary` only (cache-safe `Vary`, the Fetch Metadata headers a decision read).
    Vary(HeaderValue),
    Cors(CorsHeaders),
}

impl Action {
    fn apply<B>(self, response: Response<B>) -> Response<CorsBody<B>> {
        let (mut parts, body) = response.into_parts();
        match self {
            Action::Cors(headers) => headers.apply_to(&mut parts.headers),
            Action::Vary(vary) => crate::vary::merge(&mut parts.headers, vary),
            Action::Nothing => {}
        }
        Response::from_parts(parts, CorsBody::inner(body))
    }
}

/// An empty 500, for a future polled again after it completed (instead of a panic).
fn polled_after_completion<B>() -> Response<CorsBody<B>> {
    let mut response = Response::new(CorsBody::empty());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

pin_project! {
    /// The future of [`Cors`] with a synchronous source: the inner service's future (headers
    /// added when it completes), or the layer's own answer, ready at once. Never boxed.
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
                Poll::Ready(Ok(match action.take() {
                    Some(action) => action.apply(response),
                    None => polled_after_completion(),
                }))
            }
            StateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(polled_after_completion)))
            }
        }
    }
}

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S, AsyncSource<A>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    A: AsyncCorsSource,
{
    type Response = Response<CorsBody<ResBody>>;
    type Error = S::Error;
    type Future = AsyncResponseFuture<S, A, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let lookup = self.shared.source.0.lookup(&RequestHead::from(&request));
        // The service that was made ready goes with the request; a clone stays for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        AsyncResponseFuture {
            state: AsyncState::Lookup {
                lookup,
                pending: Some(Pending {
                    request,
                    inner,
                    shared: Arc::clone(&self.shared),
                }),
            },
        }
    }
}

struct Pending<S, A, ReqBody> {
    request: Request<ReqBody>,
    inner: S,
    shared: Arc<Shared<AsyncSource<A>>>,
}

pin_project! {
    /// The future of [`Cors`] with an asynchronous source: the lookup, then the inner
    /// service's future or the layer's own answer.
    pub struct AsyncResponseFuture<S, A, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
        A: AsyncCorsSource,
    {
        #[pin]
        state: AsyncState<S, A, ReqBody, B>,
    }
}

pin_project! {
    #[project = AsyncStateProj]
    enum AsyncState<S, A, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
        A: AsyncCorsSource,
    {
        Lookup {
            #[pin]
            lookup: A::Future,
            pending: Option<Pending<S, A, ReqBody>>,
        },
        Inner {
            #[pin]
            future: ResponseFuture<S::Future, B>,
        },
    }
}

impl<S, A, ReqBody, B> fmt::Debug for AsyncResponseFuture<S, A, ReqBody, B>
where
    S: Service<Request<ReqBody>>,
    A: AsyncCorsSource,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResponseFuture").finish_non_exhaustive()
    }
}

impl<S, A, ReqBody, B> Future for AsyncResponseFuture<S, A, ReqBody, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    A: AsyncCorsSource,
{
    type Output = Result<Response<CorsBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                AsyncStateProj::Lookup { lookup, pending } => {
                    let looked_up = ready!(lookup.poll(cx));
                    let Some(Pending {
                        request,
                        mut inner,
                        shared,
                    }) = pending.take()
                    else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    let head = RequestHead::from(&request);
                    let decision = match &looked_up {
                        Ok(found) => decide_and_trace(head, found.as_bucket_cors(), &shared.options),
                        Err(_error) => lookup_failed(&head, &shared.options),
                    };
                    let bucket = match &looked_up {
                        Ok(found) => found.as_bucket_cors(),
                        Err(_) => BucketCors::NoBucket,
                    };
                    let future = match Step::from_decision(decision, &shared, &head, &bucket) {
                        Step::Call(action) => ResponseFuture::inner(inner.call(request), action),
                        Step::Respond(response) => ResponseFuture::ready(response),
                    };
                    this.state.set(AsyncState::Inner { future });
                }
                AsyncStateProj::Inner { future } => return future.poll(cx),
            }
        }
    }
}

/// A failed lookup: a preflight (or, in enforce mode, any cross-origin request) gets S3's 500
/// `InternalError`; otherwise the request is served without CORS headers, as S3 serves an
/// actual request it cannot match.
fn lookup_failed(head: &RequestHead<'_>, options: &CorsOptions) -> Decision {
    let fields = CorsFields::of(head);
    // Fetch Metadata: whether a rule would allow a cross-site request cannot be known either.
    let cross_site = options
        .fetch_metadata
        .is_some_and(|policy| !policy.judge(*head).passes());
    let decision = if fields.is_preflight(options) || (options.enforce && fields.has_origin()) || cross_site {
        Decision::Refuse(Refusal::lookup_failed())
    } else {
        decide(*head, BucketCors::NoBucket, options)
    };
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "tower_s3_cors", outcome = "lookup failed", "CORS decision");
    decision
}
