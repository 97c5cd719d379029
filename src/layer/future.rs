//! The response futures of [`Cors`](crate::Cors): never boxed, one variant per path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::step::{decide_and_trace, Action, Shared, Step};
use crate::body::CorsBody;
use crate::decision::lookup_failed;
use crate::request::RequestHead;
use crate::source::{AsyncCorsSource, AsyncSource, BoxError, Lookup};

/// An empty 500, for a future polled again after it completed (instead of a panic).
pub(crate) fn polled_after_completion<B>() -> Response<CorsBody<B>> {
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
    pub(crate) fn inner(future: F, action: Action) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                action: Some(action),
            },
        }
    }

    pub(crate) fn ready(response: Response<CorsBody<B>>) -> Self {
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

pub(crate) struct Pending<S, A, ReqBody> {
    pub(crate) request: Request<ReqBody>,
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<AsyncSource<A>>>,
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

impl<S, A, ReqBody, B> AsyncResponseFuture<S, A, ReqBody, B>
where
    S: Service<Request<ReqBody>>,
    A: AsyncCorsSource,
{
    pub(crate) fn new(lookup: A::Future, pending: Pending<S, A, ReqBody>) -> Self {
        AsyncResponseFuture {
            state: AsyncState::Lookup {
                lookup,
                pending: Some(pending),
            },
        }
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
                        inner,
                        shared,
                    }) = pending.take()
                    else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    let future = after_lookup(looked_up, request, inner, &shared);
                    this.state.set(AsyncState::Inner { future });
                }
                AsyncStateProj::Inner { future } => return future.poll(cx),
            }
        }
    }
}

/// What follows an asynchronous lookup (an [`AsyncCorsSource`], or a cached source's miss):
/// decide with what it found, then call the inner service or answer. A failed lookup is
/// decided by `lookup_failed` and its error recorded.
pub(crate) fn after_lookup<S, Src, ReqBody, B>(
    looked_up: Result<Lookup, BoxError>,
    request: Request<ReqBody>,
    mut inner: S,
    shared: &Shared<Src>,
) -> ResponseFuture<S::Future, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    let head = RequestHead::from(&request);
    let decision = match &looked_up {
        Ok(found) => decide_and_trace(head, found.as_bucket_cors(), &shared.options),
        Err(_error) => {
            let decision = lookup_failed(&head, &shared.options);
            #[cfg(feature = "tracing")]
            tracing::debug!(target: "tower_s3_cors", outcome = "lookup failed", error = %_error, "CORS decision");
            decision
        }
    };
    match Step::from_decision(decision, shared, &head) {
        Step::Call(action) => ResponseFuture::inner(inner.call(request), action),
        Step::Respond(response) => ResponseFuture::ready(response),
    }
}
