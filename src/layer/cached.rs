//! The layer over a [`CachedCorsSource`]: a hit goes the synchronous way (the same
//! [`ResponseFuture`] as a synchronous source, nothing more in it); a miss waits for the load
//! first, with the request parked on the heap so the hit's future stays small.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::future::{after_lookup, polled_after_completion, Parked, ResponseFuture};
use super::layer::CorsLayer;
use super::service::Cors;
use super::step::{Shared, Step};
use crate::body::CorsBody;
use crate::cached::{Cached, CachedCorsSource, CachedSource};
use crate::request::RequestHead;

impl<C: CachedCorsSource> CorsLayer<CachedSource<C>> {
    /// A layer whose rules come from a source that answers from memory when it can (the
    /// request then costs what it costs with a synchronous source) and loads them otherwise
    /// (only that request waits). The inner service must be `Clone`: on a miss the request is
    /// forwarded after the load.
    pub fn from_cached_source(source: C) -> Self {
        CorsLayer {
            shared: Arc::new(Shared::new(CachedSource(source))),
        }
    }
}

pin_project! {
    /// The future of [`Cors`] with a [`CachedCorsSource`]: on a hit, the synchronous path's
    /// [`ResponseFuture`]; on a miss, the load, then that future.
    pub struct CachedResponseFuture<S, C, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
        C: CachedCorsSource,
    {
        #[pin]
        state: CachedState<S, C, ReqBody, B>,
    }
}

pin_project! {
    #[project = CachedStateProj]
    enum CachedState<S, C, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
        C: CachedCorsSource,
    {
        Answer {
            #[pin]
            future: ResponseFuture<S::Future, B>,
        },
        Load {
            #[pin]
            load: C::Miss,
            // Boxed: a miss pays one allocation so that a hit's future is no larger than the
            // synchronous path's.
            parked: Option<Box<Parked<S, CachedSource<C>, ReqBody>>>,
        },
    }
}

impl<S, C, ReqBody, B> fmt::Debug for CachedResponseFuture<S, C, ReqBody, B>
where
    S: Service<Request<ReqBody>>,
    C: CachedCorsSource,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedResponseFuture").finish_non_exhaustive()
    }
}

impl<S, C, ReqBody, B> Future for CachedResponseFuture<S, C, ReqBody, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    C: CachedCorsSource,
{
    type Output = Result<Response<CorsBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                CachedStateProj::Answer { future } => return future.poll(cx),
                CachedStateProj::Load { load, parked } => {
                    let looked_up = ready!(load.poll(cx));
                    let future = match parked.take() {
                        Some(parked) => parked.resume(looked_up),
                        // The load's state is left as soon as `parked` is taken.
                        None => polled_after_completion(),
                    };
                    this.state.set(CachedState::Answer { future });
                }
            }
        }
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S, CachedSource<C>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: CachedCorsSource,
{
    type Response = Response<CorsBody<ResBody>>;
    type Error = S::Error;
    type Future = CachedResponseFuture<S, C, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        let head = RequestHead::from(&request);
        let state = match shared
            .source
            .0
            .with_cached_rules(&head, |bucket| shared.step(&head, bucket))
        {
            // The synchronous path, as in `Cors<S, impl CorsSource>`.
            Cached::Hit(Step::Call(action)) => CachedState::Answer {
                future: ResponseFuture::inner(self.inner.call(request), action),
            },
            Cached::Hit(Step::Respond(response)) => CachedState::Answer {
                future: ResponseFuture::ready(response),
            },
            // A failure the source already holds: answered now, with no load to wait for.
            Cached::Failed(error) => CachedState::Answer {
                future: after_lookup(Err(error), request, &mut self.inner, shared),
            },
            Cached::Miss(load) => {
                let inner = self.take_ready_inner();
                CachedState::Load {
                    load,
                    parked: Some(Box::new(Parked {
                        request,
                        inner,
                        shared: Arc::clone(&self.shared),
                    })),
                }
            }
        };
        CachedResponseFuture { state }
    }
}
