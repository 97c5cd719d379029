"""Drives the example S3 server with boto3, a real S3 SDK.

Usage: python3 tests/sdk/boto3_s3.py http://127.0.0.1:PORT

Run by tests/s3_sdk.rs. Prints one line per checked operation and exits non-zero on the first
difference from what S3 answers.
"""

import base64
import hashlib
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    # Signatures are not checked: any credentials work.
    aws_access_key_id="example",
    aws_secret_access_key="example",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)


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
print("DONE")
