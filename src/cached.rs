//! Sources that answer from memory when they can and wait only when they must: a cache in
//! front of a database. A hit costs what a synchronous [`CorsSource`](crate::source::CorsSource)
//! costs (the rules are lent to the decision, the response future is the synchronous one); a
//! miss returns a future that loads the rules, and only that request waits.

use std::future::Future;

use crate::request::RequestHead;
use crate::source::{BoxError, BucketCors, Lookup};

/// What a [`CachedCorsSource`] did with a request: decided at once with rules it held, or
/// needs to load them first.
#[derive(Debug)]
#[non_exhaustive]
pub enum Cached<R, F> {
    /// The rules were at hand: `decide` ran and this is what it returned.
    Hit(R),
    /// The rules must be loaded: the future gives them (or the error that stopped the load).
    /// `decide` was not called.
    Miss(F),
    /// The source holds a recent failure to load these rules and nothing to serve instead
    /// (a cache waiting before it asks its store again): the request is answered at once as
    /// a failed lookup, as if a [`Miss`](Self::Miss) had returned this error. `decide` was
    /// not called.
    Failed(BoxError),
}

/// A source of rules that answers synchronously when it holds them and asynchronously when it
/// does not. Use it with [`CorsLayer::from_cached_source`](crate::CorsLayer::from_cached_source).
///
/// The layer calls [`with_cached_rules`](Self::with_cached_rules) once per request. On
/// [`Cached::Hit`] the request goes on exactly as with a synchronous source; on
/// [`Cached::Miss`] the response future polls the returned future first, then decides with
/// what it gives. A miss that fails, or a [`Cached::Failed`], answers a preflight with S3's
/// 500 `InternalError` document and serves an actual request without CORS headers (or
/// refuses it with that document in enforce mode), as
/// [`AsyncCorsSource`](crate::source::AsyncCorsSource) does.
///
/// `cache::RulesCache` (feature `cache`) implements it over any
/// asynchronous loader.
pub trait CachedCorsSource: Send + Sync + 'static {
    /// The load a miss waits for. It must not borrow the request.
    type Miss: Future<Output = Result<Lookup, BoxError>>;

    /// Calls `decide` with the request's rules if they are at hand, or returns the load that
    /// gets them.
    fn with_cached_rules<R>(
        &self,
        head: &RequestHead<'_>,
        decide: impl FnOnce(BucketCors<'_>) -> R,
    ) -> Cached<R, Self::Miss>;
}

impl<T: CachedCorsSource> CachedCorsSource for std::sync::Arc<T> {
    type Miss = T::Miss;

    fn with_cached_rules<R>(
        &self,
        head: &RequestHead<'_>,
        decide: impl FnOnce(BucketCors<'_>) -> R,
    ) -> Cached<R, Self::Miss> {
        (**self).with_cached_rules(head, decide)
    }
}

/// Marks a source as cached for [`CorsLayer`](crate::CorsLayer); made by
/// [`CorsLayer::from_cached_source`](crate::CorsLayer::from_cached_source).
#[derive(Clone, Debug)]
pub struct CachedSource<C>(pub C);
