//! `--rules-db URL`: several instances, one set of bucket CORS rules. Bucket CORS lives in
//! PostgreSQL (`rules_db.rs`); each instance keeps the rules it uses in a
//! [`RulesCache`], dropped bucket by bucket as the database notifies changes. Buckets
//! themselves are directories of the shared `--data DIR`.
//!
//! The layer reads [`Rules`]: without `--rules-db` the bucket settings in memory, as before;
//! with it the cache, which answers from memory and asks the database only on a miss.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};
use tower_s3_cors::cache::{CacheMiss, CacheOptions, RulesCache, RulesLoader, StoredCors};
use tower_s3_cors::source::{BoxError, BucketAddressing, Cached, CachedCorsSource, CorsSource};
use tower_s3_cors::{BucketCors, CorsConfiguration, RequestHead, ResourceType};

use crate::buckets::Buckets;
use crate::rules_db::{self, Change, RulesDb};

/// Reads a bucket's rules: the bucket's directory says whether it exists, the database what
/// its configuration is.
pub struct Loader {
    db: Arc<RulesDb>,
    objects: PathBuf,
}

impl RulesLoader for Loader {
    fn load(&self, bucket: &str) -> impl Future<Output = Result<StoredCors, BoxError>> + Send {
        let db = Arc::clone(&self.db);
        let dir = self.objects.join(bucket);
        let bucket = bucket.to_owned();
        async move {
            if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                return Ok(StoredCors::NoSuchBucket);
            }
            Ok(match db.get(&bucket).await? {
                None => StoredCors::NotConfigured,
                Some(xml) => StoredCors::Configured(CorsConfiguration::from_xml(&xml)?),
            })
        }
    }
}

/// The shared store and this instance's cache of it.
pub struct Fleet {
    db: Arc<RulesDb>,
    cache: RulesCache<Loader>,
}

impl Fleet {
    /// Opens the database (creating the table if missing) and starts listening for changes.
    pub async fn start(url: &str, objects: PathBuf) -> Result<Arc<Fleet>, BoxError> {
        let db = RulesDb::open(url).await?;
        let loader = Loader {
            db: Arc::clone(&db),
            objects,
        };
        // The library's defaults: notifications do the work, the time to live is a backstop.
        let cache = RulesCache::new(loader, BucketAddressing::PathStyle, CacheOptions::new());
        let heard = cache.clone();
        rules_db::listen(url.to_owned(), move |change| match change {
            Change::Bucket(bucket) => heard.invalidate(bucket),
            Change::All => heard.invalidate_all(),
        });
        Ok(Arc::new(Fleet { db, cache }))
    }

    /// PutBucketCors: stored as S3's XML, every instance told.
    pub async fn put_cors(&self, bucket: &str, config: &CorsConfiguration) -> S3Result<()> {
        let xml = config.to_xml();
        let stored = self.db.put(bucket, &xml).await;
        // This instance at once, without waiting for its own notification.
        self.cache.invalidate(bucket);
        stored.map_err(store_error)
    }

    /// DeleteBucketCors.
    pub async fn delete_cors(&self, bucket: &str) -> S3Result<()> {
        let deleted = self.db.delete(bucket).await;
        self.cache.invalidate(bucket);
        deleted.map_err(store_error)
    }

    /// GetBucketCors, from the database (not the cache: what was just written is what is read).
    pub async fn get_cors(&self, bucket: &str) -> S3Result<Option<CorsConfiguration>> {
        let xml = self.db.get(bucket).await.map_err(store_error)?;
        xml.map(|xml| CorsConfiguration::from_xml(&xml).map_err(store_error))
            .transpose()
    }

    /// A bucket was created or deleted here: every instance forgets what it knew of it.
    pub async fn bucket_changed(&self, bucket: &str) {
        self.cache.invalidate(bucket);
        if let Err(err) = self.db.notify(bucket).await {
            // The others see it when their negative entry expires (10 s).
            eprintln!("rules database: could not notify the change of bucket {bucket}: {err}");
        }
    }
}

/// The database failed: S3's 500 `InternalError` to the client, the cause to the log.
fn store_error(err: impl std::fmt::Display) -> S3Error {
    eprintln!("rules database: {err}");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

/// Where the layer reads a request's rules.
pub struct Rules {
    pub buckets: Arc<Buckets>,
    pub fleet: Option<Arc<Fleet>>,
}

impl CachedCorsSource for Rules {
    type Miss = CacheMiss;

    fn with_cached_rules<R>(
        &self,
        head: &RequestHead<'_>,
        decide: impl FnOnce(BucketCors<'_>) -> R,
    ) -> Cached<R, CacheMiss> {
        let Some(fleet) = &self.fleet else {
            return Cached::Hit(self.buckets.with_rules(head, decide));
        };
        match self.buckets.resolve(head) {
            Some(S3Path::Root) => Cached::Hit(decide(BucketCors::NoBucket)),
            Some(S3Path::Bucket { bucket }) => fleet.cache.with_bucket(&bucket, ResourceType::Bucket, decide),
            Some(S3Path::Object { bucket, .. }) => {
                fleet.cache.with_bucket(&bucket, ResourceType::Object, decide)
            }
            None => Cached::Hit(decide(BucketCors::NoSuchBucket)),
        }
    }
}
