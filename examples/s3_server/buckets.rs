//! What the server knows of each bucket beyond its objects: its CORS rules and whether it was
//! created `public-read`. The CORS layer reads it (as a `CorsSource`), the access check reads
//! it, and the S3 operations change it; with `--data DIR` it is kept in `DIR/settings/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::S3Host;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde::{Deserialize, Serialize};
use tower_s3_cors::source::CorsSource;
use tower_s3_cors::{BucketCors, CorsConfiguration, CorsPolicy, RequestHead, ResourceType};

/// One bucket's settings, as persisted (`settings/BUCKET.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Settings {
    /// Created with canned ACL `public-read`: anyone may read.
    #[serde(default)]
    public_read: bool,
    /// PutBucketCors's configuration (validated again when read back).
    #[serde(default)]
    cors: Option<CorsConfiguration>,
}

#[derive(Debug)]
struct Bucket {
    settings: Settings,
    /// The compiled rules of `settings.cors`.
    policy: Option<Arc<CorsPolicy>>,
}

impl Bucket {
    fn new(settings: Settings) -> Self {
        let policy = settings.cors.clone().map(|c| Arc::new(CorsPolicy::new(c)));
        Bucket { settings, policy }
    }
}

/// Every bucket's settings, and how requests name buckets (s3s's own parsing, so the layer and
/// s3s always agree on the bucket).
pub struct Buckets {
    map: RwLock<HashMap<String, Bucket>>,
    settings_dir: PathBuf,
    /// `--domain`: virtual-hosted requests, parsed as s3s parses them.
    host: Option<Box<dyn S3Host>>,
    /// With `--rules-db`: the objects directory other instances share, where they create and
    /// delete buckets.
    shared_objects: Option<PathBuf>,
}

/// A bucket's settings file, or the defaults if there is none.
fn read_settings(path: &Path) -> std::io::Result<Settings> {
    match std::fs::read(path) {
        // A configuration S3 would refuse is an error here too, naming the file.
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(e),
    }
}

impl Buckets {
    /// Loads the buckets found in `objects_dir` (s3s-fs's root) and their settings.
    pub fn load(
        objects_dir: &Path,
        settings_dir: PathBuf,
        host: Option<Box<dyn S3Host>>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&settings_dir)?;
        let mut map = HashMap::new();
        for entry in std::fs::read_dir(objects_dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !entry.file_type()?.is_dir() || !s3s::path::check_bucket_name(&name) {
                continue;
            }
            let path = settings_dir.join(format!("{name}.json"));
            map.insert(name, Bucket::new(read_settings(&path)?));
        }
        Ok(Buckets {
            map: RwLock::new(map),
            settings_dir,
            host,
            shared_objects: None,
        })
    }

    /// Other instances share `objects_dir` (`--rules-db`): a bucket is looked for on disk
    /// whenever its existence or access is asked.
    pub fn shared(mut self, objects_dir: &Path) -> Self {
        self.shared_objects = Some(objects_dir.to_path_buf());
        self
    }

    /// Learns of a bucket another instance created, forgets one it deleted.
    fn sync_from_disk(&self, bucket: &str) {
        let Some(objects) = &self.shared_objects else {
            return;
        };
        let on_disk = s3s::path::check_bucket_name(bucket) && objects.join(bucket).is_dir();
        let known = self.read().contains_key(bucket);
        if on_disk && !known {
            let settings = read_settings(&self.settings_path(bucket)).unwrap_or_default();
            self.write()
                .entry(bucket.to_owned())
                .or_insert_with(|| Bucket::new(settings));
        } else if !on_disk && known {
            self.write().remove(bucket);
        }
    }

    /// Registers a new bucket (s3s-fs has created its directory).
    pub fn create(&self, bucket: &str, public_read: bool) -> S3Result<()> {
        self.update(bucket, true, |settings| settings.public_read = public_read)
    }

    /// Forgets a deleted bucket and its settings.
    pub fn remove(&self, bucket: &str) -> S3Result<()> {
        self.write().remove(bucket);
        match std::fs::remove_file(self.settings_path(bucket)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(S3Error::internal_error(e)),
            _ => Ok(()),
        }
    }

    /// PutBucketCors (`Some`) and DeleteBucketCors (`None`).
    pub fn set_cors(&self, bucket: &str, cors: Option<CorsConfiguration>) -> S3Result<()> {
        self.update(bucket, false, |settings| settings.cors = cors)
    }

    /// GetBucketCors: `Err(NoSuchBucket)`, or the configuration if there is one.
    pub fn cors(&self, bucket: &str) -> S3Result<Option<CorsConfiguration>> {
        let map = self.read();
        let found = map.get(bucket).ok_or_else(no_such_bucket)?;
        Ok(found.settings.cors.clone())
    }

    /// Whether the bucket exists.
    pub fn exists(&self, bucket: &str) -> bool {
        self.sync_from_disk(bucket);
        self.read().contains_key(bucket)
    }

    fn is_public_read(&self, bucket: &str) -> bool {
        self.sync_from_disk(bucket);
        self.read().get(bucket).is_some_and(|b| b.settings.public_read)
    }

    /// Changes a bucket's settings and writes them to disk before they take effect.
    fn update(&self, bucket: &str, create: bool, change: impl FnOnce(&mut Settings)) -> S3Result<()> {
        let mut map = self.write();
        let mut settings = match map.get(bucket) {
            Some(existing) => existing.settings.clone(),
            None if create => Settings::default(),
            None => return Err(no_such_bucket()),
        };
        change(&mut settings);
        let json = serde_json::to_vec_pretty(&settings).map_err(S3Error::internal_error)?;
        std::fs::write(self.settings_path(bucket), json).map_err(S3Error::internal_error)?;
        map.insert(bucket.to_owned(), Bucket::new(settings));
        Ok(())
    }

    fn settings_path(&self, bucket: &str) -> PathBuf {
        self.settings_dir.join(format!("{bucket}.json"))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Bucket>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Bucket>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bucket and key a request names, exactly as s3s resolves them: virtual-hosted when
    /// `--domain` is set and `Host` is a name (not an IP address), path-style otherwise.
    pub fn resolve(&self, head: &RequestHead<'_>) -> Option<S3Path> {
        let path = urlencoding::decode(head.uri.path()).ok()?;
        let host = head.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
        match (&self.host, host) {
            (Some(parser), Some(host)) if !is_ip_address(host) => {
                let vhost = parser.parse_host_header(host).ok()?;
                s3s::path::parse_virtual_hosted_style(vhost.bucket(), &path).ok()
            }
            _ => s3s::path::parse_path_style(&path).ok(),
        }
    }
}

/// s3s takes a `Host` that is an IP address (with or without port) as path-style.
fn is_ip_address(host: &str) -> bool {
    host.parse::<std::net::SocketAddr>().is_ok() || host.parse::<std::net::IpAddr>().is_ok()
}

pub fn no_such_bucket() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, "The specified bucket does not exist")
}

/// The CORS layer's rules for a request: the bucket s3s will serve it from.
impl CorsSource for Buckets {
    fn with_rules<R>(&self, head: &RequestHead<'_>, decide: impl FnOnce(BucketCors<'_>) -> R) -> R {
        let (bucket, resource) = match self.resolve(head) {
            Some(S3Path::Root) => return decide(BucketCors::NoBucket),
            Some(S3Path::Bucket { bucket }) => (bucket, ResourceType::Bucket),
            Some(S3Path::Object { bucket, .. }) => (bucket, ResourceType::Object),
            // A path s3s refuses (bad bucket name, bad escape) names no bucket that exists.
            None => return decide(BucketCors::NoSuchBucket),
        };
        let map = self.read();
        match map.get(&*bucket) {
            None => decide(BucketCors::NoSuchBucket),
            Some(Bucket { policy: None, .. }) => decide(BucketCors::NotConfigured),
            Some(Bucket {
                policy: Some(policy), ..
            }) => decide(BucketCors::Configured { policy, resource }),
        }
    }
}

/// The one key pair requests are signed with. (s3s's `SimpleAuth` answers an unknown key with
/// `NotSignedUp`; S3 answers `InvalidAccessKeyId`.)
pub struct OneKey {
    pub access_key: String,
    pub secret_key: String,
}

#[async_trait::async_trait]
impl S3Auth for OneKey {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(SecretKey::from(self.secret_key.as_str()))
        } else {
            Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            ))
        }
    }
}

/// Who may do what: a signed request anything; an anonymous one only reads a `public-read`
/// bucket. Everything else gets S3's 403 `AccessDenied`.
pub struct Access(pub Arc<Buckets>);

/// The operations a `public-read` bucket grants to anyone.
const PUBLIC_READS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "HeadBucket",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
];

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let allowed = cx.credentials().is_some()
            || (PUBLIC_READS.contains(&cx.s3_op().name())
                && cx
                    .s3_path()
                    .get_bucket_name()
                    .is_some_and(|b| self.0.is_public_read(b)));
        if !allowed {
            return Err(S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"));
        }
        if let S3Path::Object { key, .. } = cx.s3_path() {
            crate::storage::check_key(key)?;
        }
        if let Some(source) = cx.headers().get("x-amz-copy-source") {
            let source = source.to_str().unwrap_or_default();
            let decoded = urlencoding::decode(source).unwrap_or_default();
            crate::storage::check_key(&decoded)?;
        }
        // S3 refuses a CORS document over 64 KiB from its length, before parsing it.
        let too_big = cx.s3_op().name() == "PutBucketCors"
            && cx
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
                .is_some_and(|length| length > CorsConfiguration::MAX_DOCUMENT_BYTES);
        if too_big {
            let mut error = S3Error::with_message(
                S3ErrorCode::Custom("MaxMessageLengthExceeded".into()),
                "Your request was too big.",
            );
            error.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(error);
        }
        Ok(())
    }
}
