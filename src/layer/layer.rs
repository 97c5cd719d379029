//! [`CorsLayer`]: where the rules come from and how the layer behaves, set once.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::Cors;
use super::step::Shared;
use crate::config::CorsConfiguration;
use crate::hook::DecisionEvent;
use crate::options::CorsOptions;
use crate::policy::CorsPolicy;
use crate::request::RequestHead;
use crate::s3_error::RequestIds;
use crate::source::{AsyncCorsSource, AsyncSource, CorsSource, SingleBucket};

/// A [`Layer`] that applies S3's CORS rules to a service.
///
/// The rules come from a source: one configuration ([`CorsLayer::new`]), any
/// [`CorsSource`] (a closure, [`ReloadableRules`](crate::source::ReloadableRules),
/// [`BucketStore`](crate::source::BucketStore)) with [`CorsLayer::from_source`], or an
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
    pub(crate) shared: Arc<Shared<Src>>,
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

    /// The compiled rules of the one bucket this layer stands for.
    pub fn policy(&self) -> &CorsPolicy {
        self.shared.source.policy()
    }
}

impl<Src> CorsLayer<Src> {
    /// A layer whose rules come from `source`, looked up for every request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_s3_cors::source::Lookup;
    /// use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsPolicy, RequestHead, ResourceType};
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
            shared: Arc::new(Shared::new(source)),
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
        self.update(|shared| shared.ids = Some(Arc::new(hook)))
    }

    /// Calls `hook` once per request with what the layer decided and why: the request, the
    /// bucket's lookup, the decision (the matched rule's index and ID, or S3's error code),
    /// and the error of a failed asynchronous lookup. It runs on the request path, before the
    /// answer is sent: keep it short (count, log, sample). Without a hook the layer pays one
    /// branch per request. With one, the layer decides every request: it does not answer a
    /// repeated preflight from the answer it kept (as it does without a hook, or a `tracing`
    /// subscriber that records its decisions), so the hook sees every decision.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tower_s3_cors::{CorsConfiguration, CorsLayer};
    ///
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&refused);
    /// let config = CorsConfiguration::from_json(
    ///     r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    /// )?;
    /// let layer = CorsLayer::new(config).on_decision(move |event| {
    ///     if event.outcome() == "refused" {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///         eprintln!("CORS refused {:?}: {}", event.origin(), event.reason());
    ///     }
    /// });
    /// # drop(layer);
    /// # Ok::<(), tower_s3_cors::ConfigError>(())
    /// ```
    pub fn on_decision<F>(self, hook: F) -> Self
    where
        F: Fn(&DecisionEvent<'_>) + Send + Sync + 'static,
    {
        self.update(|shared| shared.hook = Some(Arc::new(hook)))
    }

    /// The source of rules.
    pub fn source(&self) -> &Src {
        &self.shared.source
    }

    /// The options in effect (see [`options`](Self::options)).
    pub fn current_options(&self) -> CorsOptions {
        self.shared.options
    }

    /// Applies a builder call to this layer only: when clones share the settings, they are
    /// copied first (copy on write), so the call is never lost.
    fn update(mut self, change: impl FnOnce(&mut Shared<Src>)) -> Self {
        change(Arc::make_mut(&mut self.shared));
        self
    }
}

impl<A: AsyncCorsSource> CorsLayer<AsyncSource<A>> {
    /// A layer whose rules come from an asynchronous lookup, polled inside the response
    /// future. The inner service must be `Clone` (the request is forwarded after the lookup).
    pub fn from_async_source(source: A) -> Self {
        CorsLayer {
            shared: Arc::new(Shared::new(AsyncSource(source))),
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

impl<S, Src> Cors<S, Src> {
    /// Wraps `inner` with the rules of `layer`.
    pub fn new(inner: S, layer: &CorsLayer<Src>) -> Self {
        layer.layer(inner)
    }
}
