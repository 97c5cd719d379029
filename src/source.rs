//! Where the rules of a request come from: one configuration ([`SingleBucket`]), a closure,
//! rules replaced while serving ([`ReloadableRules`]), an in-memory per-bucket store with
//! S3's bucket operations ([`BucketStore`]), or an asynchronous lookup ([`AsyncCorsSource`]).
//!
//! A source answers with the request's bucket and its rules: [`BucketCors`] (borrowed, what
//! the decision reads) or [`Lookup`] (owned, what closures and asynchronous sources return).

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::HOST;

pub use crate::cached::{Cached, CachedCorsSource, CachedSource};
use crate::config::CorsConfiguration;
pub use crate::intern::PolicyInterner;
use crate::policy::CorsPolicy;
use crate::request::{RequestHead, ResourceType};
pub use crate::s3_error::NoSuchCorsConfiguration;

/// The error an asynchronous source may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What looking up the request's bucket gave, borrowed for the decision: S3 answers a
/// preflight differently for a missing bucket, a bucket without CORS configuration and a
/// configured one.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum BucketCors<'a> {
    /// The request names no bucket (the service endpoint).
    NoBucket,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The bucket exists and has no CORS configuration.
    NotConfigured,
    /// The bucket's compiled rules, and whether the URL names the bucket or an object.
    Configured {
        /// The bucket's rules.
        policy: &'a CorsPolicy,
        /// Bucket URL or object URL.
        resource: ResourceType,
    },
}

impl<'a> BucketCors<'a> {
    /// The `ID` of rule `index` of the configured rules, if it has one.
    pub(crate) fn rule_id(&self, index: usize) -> Option<&'a str> {
        match self {
            BucketCors::Configured { policy, .. } => policy.rule_id(index),
            _ => None,
        }
    }
}

/// The outcome of looking up a request's rules, owned (what closures and asynchronous sources
/// return). [`BucketCors`] is the borrowed form the decision reads.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// The request names no bucket (service endpoint): actual requests pass through untouched.
    NoBucket,
    /// The bucket does not exist: a preflight gets S3's 403 "Bucket not found".
    NoSuchBucket,
    /// The bucket has no CORS configuration: a preflight gets S3's 403 "CORS is not
    /// enabled for this bucket".
    NotConfigured,
    /// The bucket's rules, and whether the URL names the bucket or an object.
    Configured {
        /// The compiled rules.
        policy: Arc<CorsPolicy>,
        /// Bucket URL or object URL.
        resource: ResourceType,
    },
}

impl Lookup {
    /// The borrowed form the decision reads.
    pub fn as_bucket_cors(&self) -> BucketCors<'_> {
        match self {
            Lookup::NoBucket => BucketCors::NoBucket,
            Lookup::NoSuchBucket => BucketCors::NoSuchBucket,
            Lookup::NotConfigured => BucketCors::NotConfigured,
            Lookup::Configured { policy, resource } => BucketCors::Configured {
                policy,
                resource: *resource,
            },
        }
    }
}

/// A synchronous source of rules: given the request, hands the bucket's rules to `decide`.
///
/// The continuation style lets a source lend rules it holds (a configuration, an `arc-swap`
/// guard) without cloning an `Arc` per request. Implemented for:
/// - [`SingleBucket`] (what [`CorsLayer::new`](crate::CorsLayer::new) uses),
/// - [`ReloadableRules`] (one configuration replaced while serving),
/// - [`BucketStore`] (an in-memory per-bucket store),
/// - any `Fn(&RequestHead) -> Lookup` closure,
/// - `Arc<T>` of any of these, so the application keeps a handle to change them.
pub trait CorsSource: Send + Sync + 'static {
    /// Looks up the request's rules and calls `decide` with them.
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R;
}

impl<F> CorsSource for F
where
    F: Fn(&RequestHead<'_>) -> Lookup + Send + Sync + 'static,
{
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        let lookup = self(head);
        decide(lookup.as_bucket_cors())
    }
}

impl<T: CorsSource> CorsSource for Arc<T> {
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        (**self).with_rules(head, decide)
    }
}

/// An asynchronous source of rules, for lookups that await (a database, a cache, another
/// service). Use it with [`CorsLayer::from_async_source`](crate::CorsLayer::from_async_source).
///
/// The returned future must not borrow the request: take what the lookup needs (the bucket
/// name) from `head` before returning it. A lookup that fails answers a preflight with S3's
/// 500 `InternalError` document; an actual request is then served without CORS headers (or
/// refused with that document in enforce mode). The error is not lost: it is logged (feature
/// `tracing`, at `warn`) and handed to the decision hook ([`CorsLayer::on_decision`]).
///
/// Implemented for closures `Fn(&RequestHead) -> impl Future<Output = Result<Lookup,
/// BoxError>>`, as tower-http's `async_predicate`:
///
/// ```
/// use std::sync::Arc;
/// use tower_s3_cors::source::{BucketAddressing, BucketStore, Lookup};
/// use tower_s3_cors::CorsLayer;
///
/// let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
/// let layer = CorsLayer::from_async_source(move |head: &tower_s3_cors::RequestHead<'_>| {
///     // Read what the lookup needs now; the future must not borrow the request.
///     let found = store.lookup(head);
///     async move {
///         // ... await a database or a cache here ...
///         Ok::<_, tower_s3_cors::source::BoxError>(found)
///     }
/// });
/// # drop(layer);
/// ```
///
/// [`CorsLayer::on_decision`]: crate::CorsLayer::on_decision
pub trait AsyncCorsSource: Send + Sync + 'static {
    /// The lookup's future.
    type Future: Future<Output = Result<Lookup, BoxError>>;

    /// Starts looking up the request's rules.
    fn lookup(&self, head: &RequestHead<'_>) -> Self::Future;
}

impl<F, Fut> AsyncCorsSource for F
where
    F: Fn(&RequestHead<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Lookup, BoxError>>,
{
    type Future = Fut;

    fn lookup(&self, head: &RequestHead<'_>) -> Fut {
        self(head)
    }
}

impl<T: AsyncCorsSource> AsyncCorsSource for Arc<T> {
    type Future = T::Future;

    fn lookup(&self, head: &RequestHead<'_>) -> Self::Future {
        (**self).lookup(head)
    }
}

/// Marks a source as asynchronous for [`CorsLayer`](crate::CorsLayer); made by
/// [`CorsLayer::from_async_source`](crate::CorsLayer::from_async_source).
#[derive(Clone, Debug)]
pub struct AsyncSource<A>(pub(crate) A);

impl<A> AsyncSource<A> {
    /// The asynchronous source.
    pub fn get_ref(&self) -> &A {
        &self.0
    }
}

/// One configuration for every request, as one virtual-hosted bucket that exists and is
/// configured: the path `/` is the bucket, any other path an object.
#[derive(Clone, Debug)]
pub struct SingleBucket {
    policy: CorsPolicy,
}

impl SingleBucket {
    /// One bucket with `config`, compiled now.
    pub fn new(config: CorsConfiguration) -> Self {
        SingleBucket {
            policy: CorsPolicy::new(config),
        }
    }

    /// From rules already compiled.
    pub fn from_policy(policy: CorsPolicy) -> Self {
        SingleBucket { policy }
    }

    /// The compiled rules every request is decided with.
    pub fn policy(&self) -> &CorsPolicy {
        &self.policy
    }
}

impl CorsSource for SingleBucket {
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        let resource = ResourceType::from_path(head.uri.path());
        decide(BucketCors::Configured {
            policy: &self.policy,
            resource,
        })
    }
}

/// One configuration that can be replaced atomically while requests are in flight: each
/// request sees the old rules or the new ones entirely, never a mix, and reading takes no
/// lock. Keep an `Arc` of it to call [`replace`](Self::replace).
///
/// ```
/// use std::sync::Arc;
/// use tower_s3_cors::source::ReloadableRules;
/// use tower_s3_cors::{CorsConfiguration, CorsLayer};
///
/// let first = CorsConfiguration::from_json(r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#)?;
/// let rules = Arc::new(ReloadableRules::new(first));
/// let layer = CorsLayer::from_source(Arc::clone(&rules));
///
/// // Later, while serving:
/// let second = CorsConfiguration::from_json(r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]}]"#)?;
/// rules.replace(second);
/// # drop(layer);
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct ReloadableRules {
    current: ArcSwap<CorsPolicy>,
}

impl ReloadableRules {
    /// Starts with `config`, compiled now.
    pub fn new(config: CorsConfiguration) -> Self {
        ReloadableRules {
            current: ArcSwap::from_pointee(CorsPolicy::new(config)),
        }
    }

    /// Replaces the rules; requests already evaluating keep the ones they started with.
    pub fn replace(&self, config: CorsConfiguration) {
        self.current.store(Arc::new(CorsPolicy::new(config)));
    }

    /// The rules new requests are decided with now.
    pub fn current(&self) -> Arc<CorsPolicy> {
        self.current.load_full()
    }
}

impl CorsSource for ReloadableRules {
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        let policy = self.current.load();
        let resource = ResourceType::from_path(head.uri.path());
        decide(BucketCors::Configured {
            policy: &policy,
            resource,
        })
    }
}

/// How requests name their bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketAddressing {
    /// `/bucket/key`: the first path segment is the bucket; `/` is the service endpoint.
    PathStyle,
    /// `bucket.BASE/key` (the `Host` header or the URI's authority, port ignored); a request to
    /// `BASE` itself (or any other host) falls back to path-style.
    VirtualHost {
        /// The endpoint's domain, e.g. `s3.example.com`.
        base_domain: String,
    },
}

impl BucketAddressing {
    /// The bucket the request names and whether the URL names the bucket or an object;
    /// `None` for the service endpoint.
    ///
    /// ```
    /// use tower_s3_cors::source::BucketAddressing;
    /// use tower_s3_cors::{RequestHead, ResourceType};
    ///
    /// let vhost = BucketAddressing::VirtualHost { base_domain: "s3.example.com".into() };
    /// let request = http::Request::get("/photos/cat.jpg")
    ///     .header("host", "media.s3.example.com:9000")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(vhost.bucket(&RequestHead::from(&request)), Some(("media", ResourceType::Object)));
    ///
    /// let request = http::Request::get("/media/").body(()).unwrap();
    /// let path = BucketAddressing::PathStyle;
    /// assert_eq!(path.bucket(&RequestHead::from(&request)), Some(("media", ResourceType::Bucket)));
    /// ```
    pub fn bucket<'a>(&self, head: &RequestHead<'a>) -> Option<(&'a str, ResourceType)> {
        if let BucketAddressing::VirtualHost { base_domain } = self {
            let host = head
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| head.uri.host())
                .unwrap_or_default();
            let host = host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    host
                }
            });
            if let Some(bucket) = host
                .len()
                .checked_sub(base_domain.len() + 1)
                .filter(|&cut| {
                    host.get(cut + 1..)
                        .is_some_and(|d| d.eq_ignore_ascii_case(base_domain))
                        && host.as_bytes().get(cut) == Some(&b'.')
                })
                .and_then(|cut| host.get(..cut))
                .filter(|b| !b.is_empty())
            {
                return Some((bucket, ResourceType::from_path(head.uri.path())));
            }
        }
        let path = head.uri.path().strip_prefix('/').unwrap_or(head.uri.path());
        let (bucket, rest) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return None;
        }
        let resource = if rest.is_empty() {
            ResourceType::Bucket
        } else {
            ResourceType::Object
        };
        Some((bucket, resource))
    }
}

/// An in-memory per-bucket store: which buckets exist and each one's CORS configuration, with
/// S3's operations (PutBucketCors, GetBucketCors, DeleteBucketCors).
///
/// Built for many buckets: the buckets live in a concurrent hash map (`papaya`), so a request
/// looks its bucket up without a lock or an allocation, and a change costs the same with a
/// thousand buckets or a million (one entry is replaced, nothing is copied). Each change is
/// atomic: a request sees a bucket's old rules or its new ones, never a mix. Buckets with equal
/// configurations share one compiled [`CorsPolicy`] (see [`PolicyInterner`]), freed when the
/// last of them changes or deletes its configuration.
///
/// ```
/// use std::sync::Arc;
/// use tower_s3_cors::source::{BucketAddressing, BucketStore};
/// use tower_s3_cors::{CorsConfiguration, CorsLayer};
///
/// let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
/// store.create_bucket("media");
/// store.put_cors("media", CorsConfiguration::from_json(
///     r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
/// )?)?;
/// let layer = CorsLayer::from_source(Arc::clone(&store));
/// assert!(store.get_cors("media")?.is_some());
/// # drop(layer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BucketStore {
    addressing: BucketAddressing,
    /// Bucket name to its rules (`None`: the bucket exists without a configuration).
    buckets: papaya::HashMap<BucketName, Option<Arc<CorsPolicy>>>,
    policies: PolicyInterner,
}

/// A bucket name as the store keeps it: in the map entry itself up to [`BucketName::INLINE`]
/// bytes (S3's names are 3 to 63 bytes, most far shorter), so that finding a bucket reads its
/// name from the cache line that holds its rules, not from one more allocation.
#[derive(Clone, Debug)]
enum BucketName {
    Inline {
        len: u8,
        bytes: [u8; BucketName::INLINE],
    },
    Heap(Box<[u8]>),
}

impl BucketName {
    const INLINE: usize = 46;

    fn new(name: &str) -> Self {
        let mut bytes = [0; Self::INLINE];
        match bytes.get_mut(..name.len()) {
            Some(inline) => {
                inline.copy_from_slice(name.as_bytes());
                BucketName::Inline {
                    len: name.len() as u8,
                    bytes,
                }
            }
            None => BucketName::Heap(name.as_bytes().into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            BucketName::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            BucketName::Heap(bytes) => bytes,
        }
    }
}

// Looked up by `&[u8]`: equality and hash are those of the name's bytes.
impl std::borrow::Borrow<[u8]> for BucketName {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for BucketName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for BucketName {}

impl std::hash::Hash for BucketName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// The bucket named in a [`BucketStore`] operation does not exist (S3's 404 `NoSuchBucket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSuchBucket {
    bucket: String,
}

impl NoSuchBucket {
    /// The bucket that does not exist.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl std::fmt::Display for NoSuchBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NoSuchBucket: The specified bucket does not exist ({})",
            self.bucket
        )
    }
}

impl std::error::Error for NoSuchBucket {}

impl BucketStore {
    /// A store with no bucket; requests name buckets as `addressing` says.
    pub fn new(addressing: BucketAddressing) -> Self {
        BucketStore {
            addressing,
            // A write that grows the table moves every entry at once (amortized constant, as
            // in any hash map; readers are never blocked). Incremental moving spreads that out
            // but kept superseded entries, and the policies they hold, alive long after
            // DeleteBucketCors (measured: a third of the memory of the deleted policies).
            buckets: papaya::HashMap::builder()
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            policies: PolicyInterner::new(),
        }
    }

    /// How requests name buckets.
    pub fn addressing(&self) -> &BucketAddressing {
        &self.addressing
    }

    /// Creates a bucket without CORS configuration; returns `false` if it already existed
    /// (its configuration is then left as it was).
    pub fn create_bucket(&self, bucket: &str) -> bool {
        self.buckets
            .pin()
            .try_insert(BucketName::new(bucket), None)
            .is_ok()
    }

    /// Deletes a bucket; returns `false` if it did not exist.
    pub fn delete_bucket(&self, bucket: &str) -> bool {
        let existed = self.buckets.pin().remove(bucket.as_bytes()).is_some();
        self.policies.released();
        existed
    }

    /// Whether the bucket exists.
    pub fn bucket_exists(&self, bucket: &str) -> bool {
        self.buckets.pin().contains_key(bucket.as_bytes())
    }

    /// How many buckets exist.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket exists.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The names of the buckets, sorted.
    pub fn buckets(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .buckets
            .pin()
            .keys()
            // Every name was a `&str`: the conversion never replaces anything.
            .map(|name| String::from_utf8_lossy(name.as_bytes()).into_owned())
            .collect();
        names.sort();
        names
    }

    /// PutBucketCors: sets (replaces) the bucket's configuration. A configuration equal to one
    /// another bucket uses shares that bucket's compiled policy.
    pub fn put_cors(&self, bucket: &str, config: CorsConfiguration) -> Result<(), NoSuchBucket> {
        // Checked first so that a missing bucket costs no compilation; a bucket deleted
        // between the check and the update is still reported by the update.
        if !self.bucket_exists(bucket) {
            return Err(NoSuchBucket {
                bucket: bucket.to_owned(),
            });
        }
        self.set_cors(bucket, Some(self.policies.intern(config)))
    }

    /// GetBucketCors: the bucket's configuration; `Ok(None)` when it has none (S3 answers
    /// 404 [`NoSuchCorsConfiguration`]).
    pub fn get_cors(&self, bucket: &str) -> Result<Option<CorsConfiguration>, NoSuchBucket> {
        Ok(self.policy(bucket)?.map(|p| p.configuration_owned()))
    }

    /// The bucket's compiled rules, shared (no compilation): `Ok(None)` when it has no
    /// configuration.
    pub fn policy(&self, bucket: &str) -> Result<Option<Arc<CorsPolicy>>, NoSuchBucket> {
        match self.buckets.pin().get(bucket.as_bytes()) {
            Some(slot) => Ok(slot.clone()),
            None => Err(NoSuchBucket {
                bucket: bucket.to_owned(),
            }),
        }
    }

    /// What the store holds for the request's bucket, owned: what an [`AsyncCorsSource`] that
    /// consults the store returns (the rules are shared, not compiled again). The layer, with
    /// the store as a [`CorsSource`], borrows them instead.
    pub fn lookup(&self, head: &RequestHead<'_>) -> Lookup {
        let Some((bucket, resource)) = self.addressing.bucket(head) else {
            return Lookup::NoBucket;
        };
        match self.buckets.pin().get(bucket.as_bytes()) {
            None => Lookup::NoSuchBucket,
            Some(None) => Lookup::NotConfigured,
            Some(Some(policy)) => Lookup::Configured {
                policy: Arc::clone(policy),
                resource,
            },
        }
    }

    /// DeleteBucketCors: removes the configuration (S3 answers 204 either way).
    pub fn delete_cors(&self, bucket: &str) -> Result<(), NoSuchBucket> {
        let deleted = self.set_cors(bucket, None);
        self.policies.released();
        deleted
    }

    /// Replaces the bucket's entry in one atomic step, if the bucket exists.
    fn set_cors(&self, bucket: &str, policy: Option<Arc<CorsPolicy>>) -> Result<(), NoSuchBucket> {
        match self
            .buckets
            .pin()
            .update(BucketName::new(bucket), |_| policy.clone())
        {
            Some(_) => Ok(()),
            None => Err(NoSuchBucket {
                bucket: bucket.to_owned(),
            }),
        }
    }
}

impl CorsSource for BucketStore {
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        let Some((bucket, resource)) = self.addressing.bucket(head) else {
            return decide(BucketCors::NoBucket);
        };
        // Pinned for the decision: the entry it borrows is not reclaimed before it returns.
        let buckets = self.buckets.pin();
        match buckets.get(bucket.as_bytes()) {
            None => decide(BucketCors::NoSuchBucket),
            Some(None) => decide(BucketCors::NotConfigured),
            Some(Some(policy)) => decide(BucketCors::Configured { policy, resource }),
        }
    }
}
