"""Drives the example S3 server with boto3, a real S3 SDK.

Usage: python3 tests/sdk/boto3_s3.py http://127.0.0.1:PORT ACCESS_KEY SECRET_KEY

Run by tests/s3_sdk.rs. Prints one line per checked operation and exits non-zero on the first
difference from what S3 answers.
"""

import base64
import hashlib
import sys
import urllib.error
import urllib.request

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key = sys.argv[1:4]


def client(key=access_key, secret=secret_key, **config):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


# Every request is signed (SigV4) with the server's key pair.
s3 = client()
anonymous = client(signature_version=UNSIGNED)


def check(what, got, expected):
    if got != expected:
        sys.exit(f"FAIL {what}:\n  got      {got!r}\n  expected {expected!r}")
    print(f"ok   {what}")


def client_error(what, call, code, message):
    try:
        call()
    except ClientError as e:
        error = e.response["Error"]
        check(f"{what}: error code", error.get("Code"), code)
        if message is not None:
            check(f"{what}: error message", error.get("Message"), message)
        return e.response
    sys.exit(f"FAIL {what}: no error, expected {code}")


bucket = "sdk-bucket"
s3.create_bucket(Bucket=bucket)
check("CreateBucket, ListBuckets", bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]], True)

# PutBucketCors / GetBucketCors: the rules come back verbatim, in order.
rules = [
    {
        "ID": "Uploads from the app",
        "AllowedOrigins": ["https://app.example.com", "http://*.Example.test:8080"],
        "AllowedMethods": ["PUT", "POST", "GET"],
        "AllowedHeaders": ["Content-Type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 3000,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]
response = s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
check("PutBucketCors status", response["ResponseMetadata"]["HTTPStatusCode"], 200)
check("GetBucketCors rules verbatim", s3.get_bucket_cors(Bucket=bucket)["CORSRules"], rules)

# An invalid configuration: the SDK reports S3's code and message.
client_error(
    "PutBucketCors lowercase method",
    lambda: s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}]},
    ),
    "InvalidRequest",
    "Found unsupported HTTP method in CORS config. Unsupported method is get",
)
client_error(
    "PutBucketCors two wildcards",
    lambda: s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*example*.com"], "AllowedMethods": ["GET"]}]},
    ),
    "InvalidRequest",
    'AllowedOrigin "*example*.com" can not have more than one wildcard.',
)
client_error(
    "PutBucketCors wildcard ExposeHeader",
    lambda: s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-amz-meta-*"]}
            ]
        },
    ),
    "InvalidRequest",
    'ExposeHeader "x-amz-meta-*" contains wildcard. We currently do not support wildcard for ExposeHeader.',
)
check("invalid configurations changed nothing", s3.get_bucket_cors(Bucket=bucket)["CORSRules"], rules)

# DeleteBucketCors: 204, then GetBucketCors is NoSuchCORSConfiguration.
response = s3.delete_bucket_cors(Bucket=bucket)
check("DeleteBucketCors status", response["ResponseMetadata"]["HTTPStatusCode"], 204)
error = client_error(
    "GetBucketCors after delete",
    lambda: s3.get_bucket_cors(Bucket=bucket),
    "NoSuchCORSConfiguration",
    "The CORS configuration does not exist",
)
check("GetBucketCors after delete: status", error["ResponseMetadata"]["HTTPStatusCode"], 404)
check("DeleteBucketCors again", s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"], 204)

# PutObject (boto3 adds x-amz-checksum-crc32) and GetObject.
data = b"bytes from boto3 \x00\xff" * 1000
md5_hex = hashlib.md5(data).hexdigest()
response = s3.put_object(
    Bucket=bucket, Key="dir/file name.bin", Body=data, ContentType="application/x-test", Metadata={"owner": "sdk"}
)
check("PutObject ETag", response["ETag"], f'"{md5_hex}"')
response = s3.get_object(Bucket=bucket, Key="dir/file name.bin")
check("GetObject body", response["Body"].read(), data)
check("GetObject ETag", response["ETag"], f'"{md5_hex}"')
check("GetObject ContentType", response["ContentType"], "application/x-test")
check("GetObject Metadata", response["Metadata"], {"owner": "sdk"})
check("HeadObject ContentLength", s3.head_object(Bucket=bucket, Key="dir/file name.bin")["ContentLength"], len(data))
check("GetObject Range", s3.get_object(Bucket=bucket, Key="dir/file name.bin", Range="bytes=0-4")["Body"].read(), data[:5])

# A wrong key pair is refused.
client_error(
    "wrong secret key",
    lambda: client(secret="not-the-secret").list_buckets(),
    "SignatureDoesNotMatch",
    None,
)
client_error(
    "unknown access key",
    lambda: client(key="AKIANOTTHEKEY").list_buckets(),
    "InvalidAccessKeyId",
    "The AWS Access Key Id you provided does not exist in our records.",
)
client_error(
    "anonymous GetObject of a private bucket",
    lambda: anonymous.get_object(Bucket=bucket, Key="dir/file name.bin"),
    "AccessDenied",
    "Access Denied",
)

# Content-MD5, as older SDKs and tools send it.
content_md5 = base64.b64encode(hashlib.md5(b"md5").digest()).decode()
response = s3.put_object(Bucket=bucket, Key="md5", Body=b"md5", ContentMD5=content_md5)
check("PutObject with Content-MD5", response["ETag"], f'"{hashlib.md5(b"md5").hexdigest()}"')
client_error(
    "PutObject with a wrong Content-MD5",
    lambda: s3.put_object(Bucket=bucket, Key="md5", Body=b"other", ContentMD5=content_md5),
    "BadDigest",
    "The Content-MD5 you specified did not match what we received.",
)

listing = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
check("ListObjectsV2", [o["Key"] for o in listing["Contents"]], ["dir/file name.bin"])
listing = s3.list_objects(Bucket=bucket, Delimiter="/")
check("ListObjects with delimiter", [p["Prefix"] for p in listing.get("CommonPrefixes", [])], ["dir/"])

client_error(
    "GetObject missing key",
    lambda: s3.get_object(Bucket=bucket, Key="missing"),
    "NoSuchKey",
    "The specified key does not exist.",
)
client_error(
    "GetBucketCors missing bucket",
    lambda: s3.get_bucket_cors(Bucket="no-such-bucket"),
    "NoSuchBucket",
    "The specified bucket does not exist",
)

s3.delete_object(Bucket=bucket, Key="dir/file name.bin")
s3.delete_object(Bucket=bucket, Key="md5")
check("DeleteObject", s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0)
check("DeleteBucket", s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"], 204)

# What conformance suites (Ceph's s3-tests) do around CORS: a bucket created public-read, read
# anonymously; anonymous writes refused; cleanup with ListObjectVersions and DeleteObjects.
public = "sdk-public"
s3.create_bucket(Bucket=public, ACL="public-read")
s3.put_bucket_cors(Bucket=public, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
for key in ["a.txt", "b/c.txt"]:
    s3.put_object(Bucket=public, Key=key, Body=key.encode())
check("anonymous GetObject of a public-read bucket", anonymous.get_object(Bucket=public, Key="a.txt")["Body"].read(), b"a.txt")
check("anonymous ListObjectsV2 of a public-read bucket", [o["Key"] for o in anonymous.list_objects_v2(Bucket=public)["Contents"]], ["a.txt", "b/c.txt"])
client_error(
    "anonymous PutObject to a public-read bucket",
    lambda: anonymous.put_object(Bucket=public, Key="x", Body=b"x"),
    "AccessDenied",
    "Access Denied",
)
versions = s3.list_object_versions(Bucket=public)["Versions"]
check("ListObjectVersions", [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions], [("a.txt", "null", True), ("b/c.txt", "null", True)])
response = s3.delete_objects(
    Bucket=public, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]}
)
check("DeleteObjects", sorted(d["Key"] for d in response["Deleted"]), ["a.txt", "b/c.txt"])
check("DeleteBucket after DeleteObjects", s3.delete_bucket(Bucket=public)["ResponseMetadata"]["HTTPStatusCode"], 204)
# Presigned URLs as boto3 makes them, SigV2 (its default for S3) and SigV4, on a private bucket.
private = "sdk-presigned"
s3.create_bucket(Bucket=private)
for version, name in [("s3", "SigV2"), ("s3v4", "SigV4")]:
    presigner = client(signature_version=version)
    key = f"{name}.txt"
    # The Content-Type is signed (SigV2 always signs it), so the upload sends exactly that one.
    params = {"Bucket": private, "Key": key, "ContentType": "text/plain"}
    put_url = presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=600)
    upload = urllib.request.Request(put_url, data=name.encode(), method="PUT", headers={"Content-Type": "text/plain"})
    check(f"presigned PUT ({name})", urllib.request.urlopen(upload).status, 200)
    get_url = presigner.generate_presigned_url("get_object", Params={"Bucket": private, "Key": key}, ExpiresIn=600)
    check(f"presigned GET ({name})", urllib.request.urlopen(get_url).read(), name.encode())
try:
    urllib.request.urlopen(f"{endpoint}/{private}/SigV4.txt")
    sys.exit("FAIL unsigned GET of a private object was served")
except urllib.error.HTTPError as e:
    check("unsigned GET of a private object", e.code, 403)
for key in ["SigV2.txt", "SigV4.txt"]:
    s3.delete_object(Bucket=private, Key=key)
s3.delete_bucket(Bucket=private)
print("DONE")
