//! Per-bucket rules kept in memory in front of a shared store (feature `cache`): a
//! [`RulesCache`] over any asynchronous [`RulesLoader`] (a database, a configuration service).
//!
//! A request whose bucket is cached is decided at once, lock-free for the store and with
//! nothing more in its response future than a synchronous source puts there; only a request
//! whose bucket is missing or expired waits, and concurrent requests for one bucket share one
//! load. The entries live in [`quick_cache`](https://docs.rs/quick_cache)'s concurrent cache
//! (bounded, evicting by its CLOCK-Pro policy), which also coalesces the loads.
//!
//! # Freshness and outages
//!
//! - A loaded configuration is used for [`time_to_live`](CacheOptions::time_to_live) (60 s by
//!   default); "no such bucket" and "no configuration" for
//!   [`negative_time_to_live`](CacheOptions::negative_time_to_live) (10 s). A store that tells
//!   its readers about changes (PostgreSQL's `NOTIFY`, a message bus) calls
//!   [`invalidate`](RulesCache::invalidate) and [`invalidate_all`](RulesCache::invalidate_all),
//!   so the time to live only bounds how long a lost notification can go unnoticed.
//! - When a reload fails, the last rules loaded keep serving for
//!   [`stale_if_error`](CacheOptions::stale_if_error) (5 min by default) past their time to
//!   live, so a store restart or failover does not change any answer; the store is asked again
//!   every [`retry_after_error`](CacheOptions::retry_after_error) (1 s).
//! - With nothing to serve (the first load of a bucket fails, or its stale window is over),
//!   the request's lookup fails: a preflight gets S3's 500 `InternalError` document and an
//!   actual request is served without CORS headers, as S3 does when it cannot read a bucket's
//!   rules. That failure is remembered for `retry_after_error`, so a dead store is not asked
//!   once per request. Never an allow-all.
//! - Every failed load is reported with `tracing` (feature `tracing`, `warn` level) with the
//!   bucket and the store's error.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coarsetime::Instant;

use quick_cache::sync::{Cache, EntryAction, EntryResult};

use crate::cached::{Cached, CachedCorsSource};
use crate::config::CorsConfiguration;
use crate::intern::PolicyInterner;
use crate::policy::CorsPolicy;
use crate::request::{RequestHead, ResourceType};
use crate::source::{BoxError, BucketAddressing, BucketCors, Lookup};

/// What a store holds for a bucket.
#[derive(Clone, Debug)]
pub enum StoredCors {
    /// The bucket does not exist.
    NoSuchBucket,
    /// The bucket exists and has no CORS configuration.
    NotConfigured,
    /// The bucket's configuration.
    Configured(CorsConfiguration),
}

/// Loads one bucket's rules from a store, for [`RulesCache`].
///
/// Implemented for closures `Fn(&str) -> impl Future<Output = Result<StoredCors, BoxError>>`
/// whose future owns what it needs.
pub trait RulesLoader: Send + Sync + 'static {
    /// Reads the bucket's rules. An error means the store could not answer (not that the
    /// bucket has no rules).
    fn load(&self, bucket: &str) -> impl Future<Output = Result<StoredCors, BoxError>> + Send;
}

impl<F, Fut> RulesLoader for F
where
    F: Fn(&str) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<StoredCors, BoxError>> + Send,
{
    fn load(&self, bucket: &str) -> impl Future<Output = Result<StoredCors, BoxError>> + Send {
        self(bucket)
    }
}

/// How a [`RulesCache`] keeps and refreshes entries. The defaults suit a store that notifies
/// its readers of changes. Lifetimes are measured with a clock of a few milliseconds'
/// resolution and cut to a year at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    capacity: usize,
    time_to_live: Duration,
    negative_time_to_live: Duration,
    stale_if_error: Duration,
    retry_after_error: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions::new()
    }
}

impl CacheOptions {
    /// The defaults: 10,000 buckets, 60 s time to live, 10 s for "no such bucket" and "no
    /// configuration", 5 min stale-if-error, 1 s between retries of a failing store.
    pub const fn new() -> Self {
        CacheOptions {
            // A compiled configuration is a few KiB at most; 10,000 of them fit in tens of MiB.
            capacity: 10_000,
            // Changes arrive by invalidation; the time to live only bounds a lost notification.
            time_to_live: Duration::from_secs(60),
            // Shorter: a bucket created or configured where no notification reaches shows up
            // soon, and unknown names (scanners) do not stay long.
            negative_time_to_live: Duration::from_secs(10),
            // Long enough to ride out a database restart or failover.
            stale_if_error: Duration::from_secs(300),
            // A failing store is asked at most once a second per bucket.
            retry_after_error: Duration::from_secs(1),
        }
    }

    /// How many buckets are kept (at least 1); beyond, the least used are evicted.
    pub const fn capacity(mut self, buckets: usize) -> Self {
        self.capacity = if buckets == 0 { 1 } else { buckets };
        self
    }

    /// How long a loaded configuration is used before it is loaded again.
    pub const fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = ttl;
        self
    }

    /// How long "no such bucket" and "no configuration" are used before they are loaded again.
    pub const fn negative_time_to_live(mut self, ttl: Duration) -> Self {
        self.negative_time_to_live = ttl;
        self
    }

    /// How long past its time to live an entry still serves while the store fails.
    pub const fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// How long a failed load is remembered (the stale rules, or the failure itself) before
    /// the store is asked again.
    pub const fn retry_after_error(mut self, wait: Duration) -> Self {
        self.retry_after_error = wait;
        self
    }
}

/// The cache's clock: the kernel's coarse monotonic clock (a few milliseconds' resolution, a
/// fraction of the cost of a precise read), enough for lifetimes of seconds. Read on every hit.
fn now() -> Instant {
    Instant::now_without_cache_update()
}

/// The longest lifetime an option takes (longer ones are cut to it), so that adding it to the
/// clock cannot overflow.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

fn ticks(duration: Duration) -> coarsetime::Duration {
    coarsetime::Duration::from(if duration > LONGEST { LONGEST } else { duration })
}

/// A bucket's entry: what the store said, until when it is used, and until when it may still
/// serve if reloading fails.
#[derive(Debug)]
struct Entry {
    rules: Rules,
    fresh_until: Instant,
    stale_until: Instant,
}

#[derive(Clone, Debug)]
enum Rules {
    NoSuchBucket,
    NotConfigured,
    Configured(Arc<CorsPolicy>),
    /// The store failed and there was nothing to serve instead.
    Failed(Arc<str>),
}

impl Rules {
    /// The rules, borrowed for a decision; a failed load's error when there are none.
    fn bucket_cors(&self, resource: ResourceType) -> Result<BucketCors<'_>, BoxError> {
        match self {
            Rules::NoSuchBucket => Ok(BucketCors::NoSuchBucket),
            Rules::NotConfigured => Ok(BucketCors::NotConfigured),
            Rules::Configured(policy) => Ok(BucketCors::Configured { policy, resource }),
            Rules::Failed(message) => Err(LoadFailed::error(message)),
        }
    }

    /// The rules, owned (what a miss's future gives); a failed load's error when there are none.
    fn lookup(&self, resource: ResourceType) -> Result<Lookup, BoxError> {
        match self {
            Rules::NoSuchBucket => Ok(Lookup::NoSuchBucket),
            Rules::NotConfigured => Ok(Lookup::NotConfigured),
            Rules::Configured(policy) => Ok(Lookup::Configured {
                policy: Arc::clone(policy),
                resource,
            }),
            Rules::Failed(message) => Err(LoadFailed::error(message)),
        }
    }
}

/// The store could not give a bucket's rules and no earlier ones could serve.
#[derive(Debug)]
struct LoadFailed(Arc<str>);

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadFailed {}

impl LoadFailed {
    fn error(message: &Arc<str>) -> BoxError {
        Box::new(LoadFailed(Arc::clone(message)))
    }
}

/// Invalidation counters, one per slot of bucket names: a load that an invalidation of its
/// bucket overtook is done again, so a notification is never undone by a load that read the
/// store just before the change.
const GENERATION_SLOTS: usize = 64;

struct Inner<L> {
    loader: L,
    /// Buckets with the same rules share one compiled policy.
    policies: PolicyInterner,
    entries: Cache<String, Arc<Entry>>,
    options: CacheOptions,
    generations: [AtomicU64; GENERATION_SLOTS],
    loads: AtomicU64,
}

/// Per-bucket rules cached in front of a [`RulesLoader`]; see the [module](crate::cache)
/// for freshness and outage behaviour. Cheap to clone (one shared cache): keep a clone where
/// changes are heard, to call [`invalidate`](Self::invalidate).
///
/// ```
/// use std::sync::Arc;
/// use tower_s3_cors::cache::{CacheOptions, RulesCache, StoredCors};
/// use tower_s3_cors::source::{BoxError, BucketAddressing};
/// use tower_s3_cors::{CorsConfiguration, CorsLayer};
///
/// // A store: here a constant; in practice a database query.
/// let loader = |bucket: &str| {
///     let bucket = bucket.to_owned();
///     async move {
///         Ok::<_, BoxError>(match bucket.as_str() {
///             "media" => StoredCors::Configured(CorsConfiguration::from_json(
///                 r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
///             )?),
///             _ => StoredCors::NoSuchBucket,
///         })
///     }
/// };
/// let cache = RulesCache::new(loader, BucketAddressing::PathStyle, CacheOptions::new());
/// let layer = CorsLayer::from_cached_source(cache.clone());
/// // When the store says the bucket changed:
/// cache.invalidate("media");
/// # drop(layer);
/// ```
pub struct RulesCache<L> {
    inner: Arc<Inner<L>>,
    addressing: Arc<BucketAddressing>,
}

impl<L> Clone for RulesCache<L> {
    fn clone(&self) -> Self {
        RulesCache {
            inner: Arc::clone(&self.inner),
            addressing: Arc::clone(&self.addressing),
        }
    }
}

impl<L> fmt::Debug for RulesCache<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RulesCache")
            .field("addressing", &self.addressing)
            .field("options", &self.inner.options)
            .field("entries", &self.inner.entries.len())
            .field("loads", &self.loads())
            .finish_non_exhaustive()
    }
}

/// The load a [`RulesCache`] miss waits for.
pub type CacheMiss = Pin<Box<dyn Future<Output = Result<Lookup, BoxError>> + Send>>;

impl<L: RulesLoader> RulesCache<L> {
    /// An empty cache over `loader`, resolving buckets with `addressing`.
    pub fn new(loader: L, addressing: BucketAddressing, options: CacheOptions) -> Self {
        RulesCache {
            inner: Arc::new(Inner {
                loader,
                policies: PolicyInterner::new(),
                entries: Cache::new(options.capacity),
                options,
                generations: std::array::from_fn(|_| AtomicU64::new(0)),
                loads: AtomicU64::new(0),
            }),
            addressing: Arc::new(addressing),
        }
    }

    /// Decides with `bucket`'s rules if they are cached and fresh, or returns the load. For
    /// sources that resolve the bucket themselves (as [`CachedCorsSource`] implementations
    /// over this cache).
    pub fn with_bucket<R>(
        &self,
        bucket: &str,
        resource: ResourceType,
        decide: impl FnOnce(BucketCors<'_>) -> R,
    ) -> Cached<R, CacheMiss> {
        if let Some(entry) = self.inner.entries.get(bucket) {
            if now() < entry.fresh_until {
                return match entry.rules.bucket_cors(resource) {
                    Ok(found) => Cached::Hit(decide(found)),
                    // A failed load with nothing to serve, until it is retried: answered at
                    // once, not as a miss that would find this entry again.
                    Err(error) => Cached::Failed(error),
                };
            }
        }
        let inner = Arc::clone(&self.inner);
        let bucket = bucket.to_owned();
        Cached::Miss(Box::pin(async move {
            inner.get_or_load(&bucket).await.rules.lookup(resource)
        }))
    }

    /// The bucket's rules changed in the store: the next request for it loads them again.
    pub fn invalidate(&self, bucket: &str) {
        self.inner.generation(bucket).fetch_add(1, Ordering::AcqRel);
        self.inner.entries.remove(bucket);
        self.inner.policies.released();
    }

    /// Any rules may have changed (notifications were lost): every bucket is loaded again.
    pub fn invalidate_all(&self) {
        for generation in &self.inner.generations {
            generation.fetch_add(1, Ordering::AcqRel);
        }
        self.inner.entries.clear();
        self.inner.policies.released();
    }
}

impl<L> RulesCache<L> {
    /// How many times the loader was called: one per miss that was not shared with a
    /// concurrent one (plus a reload when an invalidation overtook a load).
    pub fn loads(&self) -> u64 {
        self.inner.loads.load(Ordering::Relaxed)
    }

    /// How many buckets are cached.
    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    /// Whether no bucket is cached.
    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }

    /// The options.
    pub fn options(&self) -> CacheOptions {
        self.inner.options
    }
}

impl<L: RulesLoader> CachedCorsSource for RulesCache<L> {
    type Miss = CacheMiss;

    fn with_cached_rules<R>(
        &self,
        head: &RequestHead<'_>,
        decide: impl FnOnce(BucketCors<'_>) -> R,
    ) -> Cached<R, CacheMiss> {
        match self.addressing.bucket(head) {
            Some((bucket, resource)) => self.with_bucket(bucket, resource, decide),
            None => Cached::Hit(decide(BucketCors::NoBucket)),
        }
    }
}

impl<L: RulesLoader> Inner<L> {
    fn generation(&self, bucket: &str) -> &AtomicU64 {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(bucket);
        // The remainder is below GENERATION_SLOTS, so the index is in bounds.
        &self.generations[(hash % GENERATION_SLOTS as u64) as usize]
    }

    /// The bucket's fresh entry, loading it if there is none. Concurrent callers for one
    /// bucket wait for the first one's load.
    async fn get_or_load(&self, bucket: &str) -> Arc<Entry> {
        let now = now();
        let found = self
            .entries
            .entry_async(bucket, |_, entry| {
                if now < entry.fresh_until {
                    EntryAction::Retain(Arc::clone(entry))
                } else {
                    EntryAction::ReplaceWithGuard
                }
            })
            .await;
        let (guard, previous) = match found {
            EntryResult::Retained(entry) => return entry,
            EntryResult::Replaced(guard, previous) => (Some(guard), Some(previous)),
            EntryResult::Vacant(guard) => (Some(guard), None),
            // Neither is asked for (no removal, no timeout); load without caching.
            EntryResult::Removed(..) | EntryResult::Timeout => (None, None),
        };
        let entry = Arc::new(self.fetch(bucket, previous.as_deref()).await);
        if let Some(guard) = guard {
            // Fails only if the bucket was invalidated meanwhile; the waiters then load again.
            let _ = guard.insert(Arc::clone(&entry));
        }
        entry
    }

    /// Loads the bucket from the store; on failure falls back to `previous` within its stale
    /// window.
    async fn fetch(&self, bucket: &str, previous: Option<&Entry>) -> Entry {
        // An invalidation during the load means the store changed after (or while) it was
        // read: read again, a few times at most.
        let generation = self.generation(bucket);
        let mut attempts = 0;
        let (result, overtaken) = loop {
            let seen = generation.load(Ordering::Acquire);
            self.loads.fetch_add(1, Ordering::Relaxed);
            let result = self.loader.load(bucket).await;
            attempts += 1;
            let overtaken = generation.load(Ordering::Acquire) != seen;
            if !overtaken || attempts == 3 {
                break (result, overtaken);
            }
        };
        let now = now();
        let options = &self.options;
        match result {
            Ok(stored) => {
                let (rules, ttl) = match stored {
                    StoredCors::NoSuchBucket => (Rules::NoSuchBucket, options.negative_time_to_live),
                    StoredCors::NotConfigured => (Rules::NotConfigured, options.negative_time_to_live),
                    StoredCors::Configured(config) => (
                        Rules::Configured(self.policies.intern(config)),
                        options.time_to_live,
                    ),
                };
                // Still overtaken after the retries: serve this load's waiters, then reload.
                let fresh_until = if overtaken { now } else { now + ticks(ttl) };
                Entry {
                    rules,
                    fresh_until,
                    stale_until: fresh_until + ticks(options.stale_if_error),
                }
            }
            Err(error) => match previous.filter(|p| now < p.stale_until) {
                Some(previous) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        target: "tower_s3_cors",
                        bucket,
                        error = %error,
                        stale_for_ms = (previous.stale_until - now).as_millis(),
                        "loading CORS rules failed; serving the last rules loaded"
                    );
                    drop(error);
                    Entry {
                        rules: previous.rules.clone(),
                        fresh_until: (now + ticks(options.retry_after_error)).min(previous.stale_until),
                        stale_until: previous.stale_until,
                    }
                }
                None => {
                    let message = format!("loading the CORS rules of bucket {bucket} failed: {error}");
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        target: "tower_s3_cors",
                        bucket,
                        error = %error,
                        "loading CORS rules failed; no rules to serve"
                    );
                    Entry {
                        rules: Rules::Failed(message.into()),
                        fresh_until: now + ticks(options.retry_after_error),
                        stale_until: now,
                    }
                }
            },
        }
    }
}
