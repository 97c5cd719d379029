//! The response futures of [`Cors`](crate::Cors): never boxed, one variant per path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::step::{Action, Shared, Step};
use crate::body::CorsBody;
use crate::request::RequestHead;
use crate::source::{AsyncCorsSource, AsyncSource, BoxError, Lookup};

/// A future polled again after it returned `Ready` breaks [`Future`]'s contract (the caller's
/// bug, never a request's). Like tower's own futures, these say so rather than invent an
/// answer: an empty 500 would look like a server error and hide the bug, and polling the
/// finished inner future again would hand the question to a future that may hang or panic
/// less clearly. The crate's one panic (allowed here only; see the lint settings in `lib.rs`).
#[cold]
#[track_caller]
#[allow(clippy::panic)]
pub(crate) fn polled_after_completion() -> ! {
    panic!("tower-s3-cors response future polled after completion")
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
                // The action is taken when the inner future completes: none left means this
                // future already returned `Ready`.
                if action.is_none() {
                    polled_after_completion();
                }
                let result = ready!(future.poll(cx));
                let action = action.take();
                Poll::Ready(result.map(|response| match action {
                    Some(action) => action.apply(response),
                    None => polled_after_completion(),
                }))
            }
            StateProj::Ready { response } => Poll::Ready(Ok(match response.take() {
                Some(response) => response,
                None => polled_after_completion(),
            })),
        }
    }
}

/// The request and the service it goes to, kept while the rules load (an asynchronous
/// source's lookup, a cached source's miss).
pub(crate) struct Parked<S, Src, ReqBody> {
    pub(crate) request: Request<ReqBody>,
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<Src>>,
}

impl<S, Src, ReqBody> Parked<S, Src, ReqBody> {
    /// The load is done: decides with what it gave, then calls the service or answers.
    pub(crate) fn resume<B>(self, looked_up: Result<Lookup, BoxError>) -> ResponseFuture<S::Future, B>
    where
        S: Service<Request<ReqBody>, Response = Response<B>>,
    {
        let Parked {
            request,
            mut inner,
            shared,
        } = self;
        after_lookup(looked_up, request, &mut inner, &shared)
    }
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
            pending: Option<Parked<S, AsyncSource<A>, ReqBody>>,
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
    pub(crate) fn new(lookup: A::Future, pending: Parked<S, AsyncSource<A>, ReqBody>) -> Self {
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
                    let future = match pending.take() {
                        Some(parked) => parked.resume(looked_up),
                        // The lookup's state is left as soon as `pending` is taken.
                        None => polled_after_completion(),
                    };
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
    inner: &mut S,
    shared: &Shared<Src>,
) -> ResponseFuture<S::Future, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    let head = RequestHead::from(&request);
    let step = match &looked_up {
        Ok(found) => shared.step(&head, found.as_bucket_cors()),
        Err(error) => Step::from_decision(shared.decide_lookup_failed(&head, error.as_ref()), shared, &head),
    };
    match step {
        Step::Call(action) => ResponseFuture::inner(inner.call(request), action),
        Step::Respond(response) => ResponseFuture::ready(response),
    }
}
