//! The S3 operations: s3s-fs for objects, plus what it lacks that S3 clients and conformance
//! suites need around CORS (bucket CORS, a canned ACL on CreateBucket, ListObjectVersions of an
//! unversioned bucket, S3's BucketNotEmpty).

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

use crate::buckets::{no_such_bucket, Buckets};
use crate::cors_dto;
use crate::fleet::Fleet;

/// s3s-fs with the bucket settings the CORS layer and the access check read.
pub struct Storage {
    pub fs: FileSystem,
    pub buckets: Arc<Buckets>,
    /// `--rules-db`: bucket CORS in the shared database instead of `buckets`.
    pub fleet: Option<Arc<Fleet>>,
}

impl Storage {
    /// s3s-fs answers NoSuchKey for an object of a bucket that does not exist; S3 names the bucket.
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.buckets.exists(bucket) {
            Ok(())
        } else {
            Err(no_such_bucket())
        }
    }
}

/// s3s-fs's errors carry S3's code but no message or one of its own; S3 sends a fixed one.
fn with_message(mut error: S3Error) -> S3Error {
    let message = match error.code() {
            S3ErrorCode::BadDigest => "The Content-MD5 you specified did not match what we received.",
            S3ErrorCode::NoSuchKey => "The specified key does not exist.",
            S3ErrorCode::NoSuchBucket => "The specified bucket does not exist",
            S3ErrorCode::NoSuchUpload => "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            S3ErrorCode::BucketAlreadyExists => "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            S3ErrorCode::InvalidRange => "The requested range is not satisfiable",
        _ => return error,
    };
    error.set_message(message);
    error
}

/// s3s-fs stores an object at `DIR/bucket/key`, so a key with a `..` segment would read or write
/// another bucket's objects. S3 itself stores such keys; this file-backed server refuses them.
pub fn check_key(key: &str) -> S3Result<()> {
    if key.split('/').any(|segment| segment == "..") {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Object keys with a \"..\" path segment are not stored by this server.",
        ));
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for Storage {
    // ---- bucket CORS, validated by tower-s3-cors ----

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        if !self.buckets.exists(&input.bucket) {
            return Err(no_such_bucket());
        }
        let config = cors_dto::from_dto(input.cors_configuration)?;
        match &self.fleet {
            Some(fleet) => fleet.put_cors(&input.bucket, &config).await?,
            None => self.buckets.set_cors(&input.bucket, Some(config))?,
        }
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let found = match &self.fleet {
            Some(fleet) => {
                self.require_bucket(&req.input.bucket)?;
                fleet.get_cors(&req.input.bucket).await?
            }
            None => self.buckets.cors(&req.input.bucket)?,
        };
        match found {
            Some(config) => Ok(S3Response::new(GetBucketCorsOutput {
                cors_rules: Some(cors_dto::to_dto(&config)),
            })),
            None => Err(S3Error::with_message(
                S3ErrorCode::NoSuchCORSConfiguration,
                "The CORS configuration does not exist",
            )),
        }
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        match &self.fleet {
            Some(fleet) => {
                self.require_bucket(&req.input.bucket)?;
                fleet.delete_cors(&req.input.bucket).await?;
            }
            None => self.buckets.set_cors(&req.input.bucket, None)?,
        }
        let mut response = S3Response::new(DeleteBucketCorsOutput::default());
        response.status = Some(http::StatusCode::NO_CONTENT);
        Ok(response)
    }

    // ---- buckets: s3s-fs, plus the ACL and S3's BucketNotEmpty ----

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket.clone();
        let public_read = match req.input.acl.as_ref().map(BucketCannedACL::as_str) {
            None | Some(BucketCannedACL::PRIVATE) => false,
            Some(BucketCannedACL::PUBLIC_READ) => true,
            // Refused rather than ignored: this server grants anonymous reads only.
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "Only the canned ACLs private and public-read are implemented",
                ))
            }
        };
        let response = self.fs.create_bucket(req).await.map_err(with_message)?;
        self.buckets.create(&bucket, public_read)?;
        if let Some(fleet) = &self.fleet {
            fleet.bucket_changed(&bucket).await;
        }
        Ok(response)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket.clone();
        // s3s-fs would delete a bucket with its objects; S3 refuses.
        let probe = req.clone().map_input(|input| ListObjectsV2Input {
            bucket: input.bucket,
            max_keys: Some(1),
            ..Default::default()
        });
        if self
            .fs
            .list_objects_v2(probe)
            .await
            .map_err(with_message)?
            .output
            .key_count
            .unwrap_or(0)
            > 0
        {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ));
        }
        let mut response = self.fs.delete_bucket(req).await.map_err(with_message)?;
        self.buckets.remove(&bucket)?;
        if let Some(fleet) = &self.fleet {
            fleet.bucket_changed(&bucket).await;
        }
        response.status = Some(http::StatusCode::NO_CONTENT);
        Ok(response)
    }

    /// An unversioned bucket's objects, each as its one version `null`.
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input.clone();
        let v2 = ListObjectsV2Input {
            bucket: input.bucket.clone(),
            delimiter: input.delimiter.clone(),
            encoding_type: input.encoding_type.clone(),
            max_keys: input.max_keys,
            prefix: input.prefix.clone(),
            start_after: input.key_marker.clone(),
            ..Default::default()
        };
        let listed = self
            .fs
            .list_objects_v2(req.map_input(|_| v2))
            .await
            .map_err(with_message)?
            .output;
        let versions = listed
            .contents
            .unwrap_or_default()
            .into_iter()
            .map(|object| ObjectVersion {
                e_tag: object.e_tag,
                is_latest: Some(true),
                key: object.key,
                last_modified: object.last_modified,
                size: object.size,
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some("null".to_owned()),
                ..Default::default()
            });
        let versions: Vec<ObjectVersion> = versions.collect();
        let next_key_marker = listed
            .is_truncated
            .filter(|t| *t)
            .and_then(|_| versions.last().and_then(|v| v.key.clone()));
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            key_marker: input.key_marker,
            max_keys: listed.max_keys,
            is_truncated: listed.is_truncated,
            next_key_marker,
            common_prefixes: listed.common_prefixes,
            versions: Some(versions),
            ..Default::default()
        }))
    }

    // ---- everything else: s3s-fs as it is ----

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await.map_err(with_message)
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await.map_err(with_message)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await.map_err(with_message)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await.map_err(with_message)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await.map_err(with_message)
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.put_object(req).await.map_err(with_message)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.get_object(req).await.map_err(with_message)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.head_object(req).await.map_err(with_message)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await.map_err(with_message)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.delete_object(req).await.map_err(with_message)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        for object in &req.input.delete.objects {
            check_key(&object.key)?;
        }
        self.fs.delete_objects(req).await.map_err(with_message)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await.map_err(with_message)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await.map_err(with_message)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await.map_err(with_message)
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await.map_err(with_message)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await.map_err(with_message)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await.map_err(with_message)
    }
}
