//! The middleware: [`Cors`] decides, then answers itself or calls the inner service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{AsyncResponseFuture, Parked, ResponseFuture};
use super::step::{Shared, Step};
use crate::body::CorsBody;
use crate::request::RequestHead;
use crate::source::{AsyncCorsSource, AsyncSource, CorsSource, SingleBucket};

/// The middleware made by [`CorsLayer`](crate::CorsLayer): answers preflights itself and adds CORS headers to
/// the inner service's responses.
pub struct Cors<S, Src = SingleBucket> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<Src>>,
}

impl<S: Clone, Src> Clone for Cors<S, Src> {
    fn clone(&self) -> Self {
        Cors {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Clone, Src> Cors<S, Src> {
    /// The service that was made ready, to go with a request whose answer waits on a lookup;
    /// a clone stays for the next request (tower's usual way for a service called later).
    pub(crate) fn take_ready_inner(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
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
        let step = shared
            .source
            .with_rules(&head, |bucket| shared.step(&head, bucket));
        match step {
            Step::Call(action) => ResponseFuture::inner(self.inner.call(request), action),
            Step::Respond(response) => ResponseFuture::ready(response),
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
        let inner = self.take_ready_inner();
        AsyncResponseFuture::new(
            lookup,
            Parked {
                request,
                inner,
                shared: Arc::clone(&self.shared),
            },
        )
    }
}
