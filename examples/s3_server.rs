//! A small in-memory S3-compatible object server (path-style) whose CORS is `tower-s3-cors`,
//! with one CORS configuration per bucket.
//!
//! ```text
//! cargo run --example s3_server                          # http://127.0.0.1:9000
//! cargo run --example s3_server -- --listen 127.0.0.1:0  # any free port
//! ```
//!
//! The first line on stdout is `listening on http://HOST:PORT`. At start the server creates the
//! bucket `demo` with the CORS rules of `examples/default-cors.xml` and an object
//! `demo/hello.txt`, then prints `curl` lines to try.
//!
//! Operations, as S3 answers them (XML error documents with `Code`, `Message`, `RequestId`):
//!
//! | request | operation |
//! |---|---|
//! | `GET /` | ListBuckets |
//! | `PUT /{bucket}`, `HEAD /{bucket}`, `DELETE /{bucket}` | CreateBucket, HeadBucket, DeleteBucket |
//! | `GET /{bucket}` | ListObjects (V1, or V2 with `list-type=2`) |
//! | `PUT /{bucket}?cors`, `GET /{bucket}?cors`, `DELETE /{bucket}?cors` | PutBucketCors, GetBucketCors, DeleteBucketCors |
//! | `PUT`, `GET`, `HEAD`, `DELETE /{bucket}/{key}` | PutObject, GetObject (one `Range`), HeadObject, DeleteObject |
//!
//! Every request first goes through [`CorsLayer::from_source`] with the server's
//! [`BucketStore`], so browsers get exactly what S3 would send them: preflights are answered
//! from the bucket's rules (403 for a missing bucket or a bucket without CORS), and every
//! response to a matching cross-origin request, errors included, carries the CORS headers.
//!
//! Signatures are not checked (any credentials work). `Content-MD5` is verified;
//! `x-amz-checksum-*` headers are accepted without verification; `aws-chunked` bodies (SDK
//! streaming uploads) are decoded. Objects are limited to 64 MiB, CORS documents to 64 KiB.
//! Anything else S3 offers (ACLs, versioning, multipart uploads, copies) answers 501
//! `NotImplemented` rather than being silently ignored.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, EXPIRES, LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_s3_cors::header::{X_AMZ_ID_2, X_AMZ_REQUEST_ID};
use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{ConfigError, CorsConfiguration, CorsLayer, RequestIds};

/// The demo bucket's CORS rules.
const DEMO_RULES: &str = include_str!("default-cors.xml");
const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;
/// Longest key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;
const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut listen: SocketAddr = "127.0.0.1:9000".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs ADDR")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (use --listen ADDR)").into()),
        }
    }

    let server = Arc::new(Server::new());
    server.create_bucket("demo");
    server
        .cors
        .put_cors("demo", CorsConfiguration::from_xml(DEMO_RULES)?)?;
    server.put_object(
        "demo",
        "hello.txt",
        Object::new(Bytes::from_static(b"hello from tower-s3-cors\n")),
    );

    // The CORS layer reads each request's bucket from the same store PutBucketCors writes.
    let cors = CorsLayer::from_source(Arc::clone(&server.cors));

    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    print_try_lines(addr);

    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: keep serving the connections we have.
                eprintln!("accept error: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let server = Arc::clone(&server);
        let service = ServiceBuilder::new()
            .layer(cors.clone())
            .service_fn(move |request| handle(Arc::clone(&server), request));
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(err) = connection.await {
                eprintln!("connection error: {err}");
            }
        });
    }
}

fn print_try_lines(addr: SocketAddr) {
    let url = format!("http://{addr}");
    println!("bucket `demo` has the CORS rules of examples/default-cors.xml; try:");
    println!("  # an allowed preflight (200, Access-Control-Allow-* headers):");
    println!(
        "  curl -i -X OPTIONS {url}/demo/hello.txt -H 'Origin: http://localhost:8080' \
         -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type, x-amz-meta-owner'"
    );
    println!("  # a refused preflight (403 AccessForbidden):");
    println!(
        "  curl -i -X OPTIONS {url}/demo/hello.txt -H 'Origin: https://evil.example' \
         -H 'Access-Control-Request-Method: PUT'"
    );
    println!("  # an actual GET from an allowed origin (200 with Access-Control-Allow-Origin):");
    println!("  curl -i {url}/demo/hello.txt -H 'Origin: https://app.example.com'");
    println!("  # the bucket's rules, and new ones:");
    println!("  curl -s '{url}/demo?cors'");
    println!("  curl -i -X PUT '{url}/demo?cors' --data-binary @examples/default-cors.xml");
    println!("  # any S3 client works (path-style, any credentials):");
    println!("  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --endpoint-url {url} --region us-east-1 s3 ls s3://demo");
}

// ---------------------------------------------------------------------------------------------
// State

/// One stored object.
#[derive(Clone, Debug)]
struct Object {
    data: Bytes,
    /// Quoted MD5 hex, as S3 sends it for a single-part upload.
    etag: String,
    last_modified: SystemTime,
    /// `Content-Type` and the other representation headers, and `x-amz-meta-*`.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Object {
    fn new(data: Bytes) -> Self {
        Object {
            etag: format!("\"{}\"", hex(&md5(&data))),
            data,
            last_modified: SystemTime::now(),
            headers: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    created: SystemTime,
    objects: BTreeMap<String, Object>,
}

/// The object store, and the per-bucket CORS configurations the layer reads.
///
/// Both are changed under the `buckets` write lock, so a bucket exists for the CORS layer
/// exactly when it exists here.
struct Server {
    cors: Arc<BucketStore>,
    buckets: RwLock<HashMap<String, Bucket>>,
}

impl Server {
    fn new() -> Self {
        Server {
            cors: Arc::new(BucketStore::new(BucketAddressing::PathStyle)),
            buckets: RwLock::new(HashMap::new()),
        }
    }

    fn create_bucket(&self, name: &str) {
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        buckets.entry(name.to_owned()).or_insert_with(|| Bucket {
            created: SystemTime::now(),
            objects: BTreeMap::new(),
        });
        self.cors.create_bucket(name);
    }

    fn put_object(&self, bucket: &str, key: &str, object: Object) -> bool {
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        match buckets.get_mut(bucket) {
            Some(b) => {
                b.objects.insert(key.to_owned(), object);
                true
            }
            None => false,
        }
    }

    fn read<R>(&self, read: impl FnOnce(&HashMap<String, Bucket>) -> R) -> R {
        read(&self.buckets.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<R>(&self, write: impl FnOnce(&mut HashMap<String, Bucket>) -> R) -> R {
        write(&mut self.buckets.write().unwrap_or_else(PoisonError::into_inner))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An S3 error answer.
#[derive(Debug)]
enum S3Error {
    /// A generic S3 error: status, code, message, and an extra element such as `<Key>`.
    Plain {
        status: StatusCode,
        code: &'static str,
        message: Cow<'static, str>,
        extra: Option<(&'static str, String)>,
    },
    /// PutBucketCors refused the configuration: S3's code and message, verbatim.
    Cors(ConfigError),
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error::Plain {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    fn with(self, element: &'static str, value: impl Into<String>) -> Self {
        match self {
            S3Error::Plain {
                status,
                code,
                message,
                ..
            } => S3Error::Plain {
                status,
                code,
                message,
                extra: Some((element, value.into())),
            },
            cors => cors,
        }
    }

    fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    fn no_such_key(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        )
    }

    fn method_not_allowed(method: &Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method.as_str())
    }

    fn into_response(self, ids: &RequestIds, head_request: bool) -> Response<Full<Bytes>> {
        let rid = String::from_utf8_lossy(ids.request_id.as_bytes()).into_owned();
        let hid = String::from_utf8_lossy(ids.host_id.as_bytes()).into_owned();
        let (status, body) = match self {
            S3Error::Cors(error) => (error.status(), error.to_s3_xml(&rid, &hid)),
            S3Error::Plain {
                status,
                code,
                message,
                extra,
            } => {
                let mut xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>",
                    escape(&message)
                );
                if let Some((element, value)) = extra {
                    xml.push_str(&format!("<{element}>{}</{element}>", escape(&value)));
                }
                xml.push_str(&format!(
                    "<RequestId>{}</RequestId><HostId>{}</HostId></Error>",
                    escape(&rid),
                    escape(&hid)
                ));
                (status, xml)
            }
        };
        // S3 answers a failed HEAD with the status alone.
        let body = if head_request { String::new() } else { body };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if !head_request {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        }
        response
    }
}

type S3Result = Result<Response<Full<Bytes>>, S3Error>;

// ---------------------------------------------------------------------------------------------
// Routing

/// Every request the CORS layer lets through (all but preflights).
async fn handle(
    server: Arc<Server>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let ids = RequestIds::generate();
    let head_request = request.method() == Method::HEAD;
    let mut response = match route(&server, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(&ids, head_request),
    };
    // S3 identifies every answer.
    let headers = response.headers_mut();
    headers.insert(X_AMZ_REQUEST_ID, ids.request_id);
    headers.insert(X_AMZ_ID_2, ids.host_id);
    headers.insert("server", HeaderValue::from_static("tower-s3-cors-example"));
    Ok(response)
}

/// Query parameters this server understands; any other (`?acl`, `?versioning`, `?uploads`,
/// ...) names an S3 feature it does not have, answered 501 rather than ignored.
const KNOWN_PARAMS: &[&str] = &[
    "cors",
    "location",
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "start-after",
    "continuation-token",
    "encoding-type",
    "fetch-owner",
    "x-id",
];

async fn route(server: &Server, request: Request<Incoming>) -> S3Result {
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    if query
        .iter()
        .any(|(name, _)| !KNOWN_PARAMS.contains(&name.as_str()) && !name.starts_with("response-"))
    {
        return Err(S3Error::not_implemented());
    }
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    let path = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let bucket = percent_decode(bucket).ok_or_else(invalid_uri)?;
    let key = percent_decode(key).ok_or_else(invalid_uri)?;
    let method = request.method().clone();

    if bucket.is_empty() {
        return match method {
            Method::GET => list_buckets(server),
            _ => Err(S3Error::method_not_allowed(&method)),
        };
    }
    if !key.is_empty() {
        // Bucket subresources on an object URL: not an object operation.
        if has("cors") || has("location") {
            return Err(S3Error::not_implemented());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "KeyTooLongError",
                "Your key is too long",
            ));
        }
        return match method {
            Method::PUT => put_object(server, &bucket, &key, request).await,
            Method::GET | Method::HEAD => {
                get_object(server, &bucket, &key, request.headers(), method == Method::HEAD)
            }
            Method::DELETE => delete_object(server, &bucket, &key),
            _ => Err(S3Error::method_not_allowed(&method)),
        };
    }
    if has("cors") {
        return match method {
            Method::PUT => put_bucket_cors(server, &bucket, request).await,
            Method::GET => get_bucket_cors(server, &bucket),
            Method::DELETE => delete_bucket_cors(server, &bucket),
            _ => Err(S3Error::method_not_allowed(&method)),
        };
    }
    match method {
        Method::PUT => create_bucket(server, &bucket, request).await,
        Method::HEAD => head_bucket(server, &bucket),
        Method::DELETE => delete_bucket(server, &bucket),
        Method::GET if has("location") => get_bucket_location(server, &bucket),
        Method::GET => list_objects(server, &bucket, &query),
        _ => Err(S3Error::method_not_allowed(&method)),
    }
}

fn invalid_uri() -> S3Error {
    S3Error::new(
        StatusCode::BAD_REQUEST,
        "InvalidURI",
        "Couldn't parse the specified URI.",
    )
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn xml(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// Reads a request body of at most `limit` bytes; `None` when it is longer.
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Option<Bytes>, S3Error> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refuse before reading (and before hyper sends `100 Continue`).
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Ok(None),
        Err(_) => Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Buckets

fn list_buckets(server: &Server) -> S3Result {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{S3_XMLNS}\">\
         <Owner><ID>tower-s3-cors</ID><DisplayName>tower-s3-cors</DisplayName></Owner><Buckets>"
    );
    server.read(|buckets| {
        let mut names: Vec<(&String, &Bucket)> = buckets.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (name, bucket) in names {
            body.push_str(&format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                escape(name),
                iso8601(bucket.created)
            ));
        }
    });
    body.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml(body))
}

/// S3's bucket naming rules: 3 to 63 characters, lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit.
fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge(bytes.first())
        && edge(bytes.last())
}

async fn create_bucket(server: &Server, bucket: &str, request: Request<Incoming>) -> S3Result {
    if !valid_bucket_name(bucket) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
        .with("BucketName", bucket));
    }
    // A `CreateBucketConfiguration` (region) may come along; this server has one region.
    read_body(request, CorsConfiguration::MAX_DOCUMENT_BYTES).await?;
    // As in us-east-1, creating a bucket you already own succeeds.
    server.create_bucket(bucket);
    let mut response = empty(StatusCode::OK);
    if let Ok(location) = HeaderValue::from_str(&format!("/{bucket}")) {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

fn head_bucket(server: &Server, bucket: &str) -> S3Result {
    if server.read(|buckets| buckets.contains_key(bucket)) {
        Ok(empty(StatusCode::OK))
    } else {
        Err(S3Error::no_such_bucket(bucket))
    }
}

fn delete_bucket(server: &Server, bucket: &str) -> S3Result {
    server.write(|buckets| match buckets.get(bucket) {
        None => Err(S3Error::no_such_bucket(bucket)),
        Some(b) if !b.objects.is_empty() => Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        )
        .with("BucketName", bucket)),
        Some(_) => {
            buckets.remove(bucket);
            server.cors.delete_bucket(bucket);
            Ok(empty(StatusCode::NO_CONTENT))
        }
    })
}

fn get_bucket_location(server: &Server, bucket: &str) -> S3Result {
    head_bucket(server, bucket)?;
    // us-east-1 is written as an empty constraint.
    Ok(xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_XMLNS}\"/>"
    )))
}

// ---------------------------------------------------------------------------------------------
// CORS configuration

async fn put_bucket_cors(server: &Server, bucket: &str, request: Request<Incoming>) -> S3Result {
    head_bucket(server, bucket)?;
    let content_md5 = request.headers().get("content-md5").cloned();
    let Some(body) = read_body(request, CorsConfiguration::MAX_DOCUMENT_BYTES).await? else {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "MaxMessageLengthExceeded",
            "Your request was too big.",
        ));
    };
    check_content_md5(content_md5.as_ref(), &body)?;
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    };
    // The configuration's own validation gives S3's exact code and message.
    let config = CorsConfiguration::from_xml(text).map_err(S3Error::Cors)?;
    server
        .cors
        .put_cors(bucket, config)
        .map_err(|_| S3Error::no_such_bucket(bucket))?;
    Ok(empty(StatusCode::OK))
}

fn get_bucket_cors(server: &Server, bucket: &str) -> S3Result {
    match server.cors.get_cors(bucket) {
        Err(_) => Err(S3Error::no_such_bucket(bucket)),
        Ok(None) => Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist",
        )
        .with("BucketName", bucket)),
        Ok(Some(config)) => Ok(xml(config.to_xml())),
    }
}

fn delete_bucket_cors(server: &Server, bucket: &str) -> S3Result {
    // 204 whether or not the bucket had a configuration.
    server
        .cors
        .delete_cors(bucket)
        .map_err(|_| S3Error::no_such_bucket(bucket))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

// ---------------------------------------------------------------------------------------------
// Objects

/// Request headers stored with an object and sent back on GET and HEAD.
fn stored_header(name: &HeaderName) -> bool {
    [
        CONTENT_TYPE,
        CACHE_CONTROL,
        CONTENT_DISPOSITION,
        CONTENT_ENCODING,
        CONTENT_LANGUAGE,
        EXPIRES,
    ]
    .contains(name)
        || name.as_str().starts_with("x-amz-meta-")
}

async fn put_object(server: &Server, bucket: &str, key: &str, request: Request<Incoming>) -> S3Result {
    head_bucket(server, bucket)?;
    if request.headers().contains_key("x-amz-copy-source") {
        return Err(S3Error::not_implemented());
    }
    let headers = request.headers().clone();
    let Some(body) = read_body(request, MAX_OBJECT_BYTES).await? else {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        ));
    };
    let body = if is_aws_chunked(&headers) {
        decode_aws_chunked(&body).ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body is not valid aws-chunked encoding",
            )
        })?
    } else {
        body
    };
    check_content_md5(headers.get("content-md5"), &body)?;

    let mut object = Object::new(body);
    for (name, value) in &headers {
        if name == CONTENT_ENCODING {
            // `aws-chunked` describes the upload, not the object.
            let kept: Vec<&str> = value
                .to_str()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && *c != "aws-chunked")
                .collect();
            if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
                if !kept.is_empty() {
                    object.headers.push((name.clone(), value));
                }
            }
        } else if stored_header(name) {
            object.headers.push((name.clone(), value.clone()));
        }
    }
    let etag = object.etag.clone();
    if !server.put_object(bucket, key, object) {
        return Err(S3Error::no_such_bucket(bucket));
    }
    let mut response = empty(StatusCode::OK);
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(ETAG, etag);
    }
    Ok(response)
}

fn get_object(server: &Server, bucket: &str, key: &str, request: &HeaderMap, head: bool) -> S3Result {
    let object = server.read(|buckets| {
        let bucket_objects = buckets
            .get(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        bucket_objects
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| S3Error::no_such_key(key))
    })?;
    let total = object.data.len();
    let range = match request.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => parse_range(spec, total).map(Some).ok_or_else(|| {
            S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with("ActualObjectSize", total.to_string())
        })?,
        None => None,
    };
    let (status, data) = match range {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, object.data.slice(first..last + 1)),
        None => (StatusCode::OK, object.data.clone()),
    };
    let length = data.len();
    let mut response = Response::new(Full::new(if head { Bytes::new() } else { data }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("binary/octet-stream"));
    for (name, value) in &object.headers {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("accept-ranges", HeaderValue::from_static("bytes"));
    if let Some((first, last)) = range {
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {first}-{last}/{total}")) {
            headers.insert(CONTENT_RANGE, value);
        }
    }
    if let Ok(etag) = HeaderValue::from_str(&object.etag) {
        headers.insert(ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&http_date(object.last_modified)) {
        headers.insert(LAST_MODIFIED, date);
    }
    Ok(response)
}

fn delete_object(server: &Server, bucket: &str, key: &str) -> S3Result {
    server.write(|buckets| {
        let bucket_objects = buckets
            .get_mut(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        // 204 whether or not the key existed.
        bucket_objects.objects.remove(key);
        Ok(empty(StatusCode::NO_CONTENT))
    })
}

/// One `bytes=` range as inclusive offsets; `None` when not satisfiable or not understood.
fn parse_range(spec: &str, total: usize) -> Option<(usize, usize)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let (first, last) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().ok()?;
            (total.checked_sub(n.min(total))?, total.checked_sub(1)?)
        }
        (first, "") => (first.parse().ok()?, total.checked_sub(1)?),
        (first, last) => {
            let last: usize = last.parse().ok()?;
            (first.parse().ok()?, last.min(total.checked_sub(1)?))
        }
    };
    (first <= last && first < total && (total > 0)).then_some((first, last))
}

fn list_objects(server: &Server, bucket: &str, query: &[(String, String)]) -> S3Result {
    let param = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let v2 = param("list-type") == Some("2");
    let prefix = param("prefix").unwrap_or("");
    let delimiter = param("delimiter").filter(|d| !d.is_empty());
    let max_keys: usize = param("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let url_encode = param("encoding-type") == Some("url");
    let after = if v2 {
        param("continuation-token").or(param("start-after"))
    } else {
        param("marker")
    }
    .unwrap_or("");
    let enc = |s: &str| {
        if url_encode {
            percent_encode(s)
        } else {
            escape(s)
        }
    };

    let mut contents = String::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut count = 0;
    let mut last = None;
    let mut truncated = false;
    server.read(|buckets| {
        let b = buckets
            .get(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        let start = std::ops::Bound::Excluded(after.to_owned());
        for (key, object) in b.objects.range((start, std::ops::Bound::Unbounded)) {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            // Resuming after a rolled-up prefix skips the keys under it.
            if delimiter.is_some_and(|d| after.ends_with(d)) && key.starts_with(after) {
                continue;
            }
            // Keys under one delimited prefix are rolled up into a CommonPrefix.
            let common =
                delimiter.and_then(|d| rest.find(d).map(|i| format!("{prefix}{}", &rest[..i + d.len()])));
            if let Some(common) = &common {
                if prefixes.last() == Some(common) {
                    continue;
                }
            }
            if count == max_keys {
                truncated = true;
                break;
            }
            count += 1;
            match common {
                Some(common) => {
                    last = Some(common.clone());
                    prefixes.push(common);
                }
                None => {
                    last = Some(key.clone());
                    contents.push_str(&format!(
                        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag>\
                         <Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                        enc(key),
                        iso8601(object.last_modified),
                        escape(&object.etag),
                        object.data.len()
                    ));
                }
            }
        }
        Ok(())
    })?;
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{S3_XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>\
         <MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        escape(bucket),
        enc(prefix)
    );
    if let Some(d) = delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
    }
    if url_encode {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    if v2 {
        body.push_str(&format!("<KeyCount>{count}</KeyCount>"));
        if let Some(token) = param("continuation-token") {
            body.push_str(&format!(
                "<ContinuationToken>{}</ContinuationToken>",
                escape(token)
            ));
        }
        if let Some(start_after) = param("start-after") {
            body.push_str(&format!("<StartAfter>{}</StartAfter>", enc(start_after)));
        }
        if let (true, Some(next)) = (truncated, &last) {
            body.push_str(&format!(
                "<NextContinuationToken>{}</NextContinuationToken>",
                escape(next)
            ));
        }
    } else {
        body.push_str(&format!("<Marker>{}</Marker>", enc(after)));
        if let (true, Some(next)) = (truncated, &last) {
            body.push_str(&format!("<NextMarker>{}</NextMarker>", enc(next)));
        }
    }
    body.push_str(&contents);
    for common in prefixes {
        body.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc(&common)
        ));
    }
    body.push_str("</ListBucketResult>");
    Ok(xml(body))
}

// ---------------------------------------------------------------------------------------------
// Uploads: Content-MD5 and aws-chunked

/// Verifies `Content-MD5` (base64 of the body's MD5) when the client sent one.
fn check_content_md5(header: Option<&HeaderValue>, body: &[u8]) -> Result<(), S3Error> {
    let Some(expected) = header else {
        return Ok(());
    };
    let expected = expected.to_str().unwrap_or("").trim();
    if expected.len() != 24 {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        ));
    }
    if base64(&md5(body)) != expected {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}

/// SDK streaming uploads frame the body in `aws-chunked` encoding.
fn is_aws_chunked(headers: &HeaderMap) -> bool {
    let sha = headers.get("x-amz-content-sha256").map(HeaderValue::as_bytes);
    sha.is_some_and(|s| s.starts_with(b"STREAMING-"))
        || headers
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|c| c.trim() == "aws-chunked"))
}

/// `hex-size[;chunk-signature=..]\r\n data \r\n` ... `0[;..]\r\n` then optional trailers.
fn decode_aws_chunked(mut input: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(input.len());
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(input.get(..line_end)?).ok()?;
        let size_hex = line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        input = input.get(line_end + 2..)?;
        if size == 0 {
            // Trailers (`x-amz-checksum-crc32:...`) follow; they are accepted as they are.
            return Some(Bytes::from(out));
        }
        out.extend_from_slice(input.get(..size)?);
        input = input.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers: XML escaping, URL coding, dates, MD5, base64

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " ")).unwrap_or_else(|| s.to_owned());
            (decode(name), decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes; `None` for a bad escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `encoding-type=url`: everything but unreserved characters and `/` escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the epoch split into (year, month, day, hour, minute, second, weekday).
fn civil(time: SystemTime) -> (i64, u32, u32, u64, u64, u64, usize) {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday.
    let weekday = ((days + 4).rem_euclid(7)) as usize;
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60, weekday)
}

/// `2024-05-01T12:00:00.000Z`, as S3 writes dates in XML.
fn iso8601(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}

/// `Wed, 01 May 2024 12:00:00 GMT`, as HTTP headers write dates.
fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(time);
    let month = MONTHS.get(mo.saturating_sub(1) as usize).unwrap_or(&"Jan");
    let day = DAYS.get(wd).unwrap_or(&"Sun");
    format!("{day}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// MD5 (RFC 1321): what S3 puts in the `ETag` of a single-part upload and in `Content-MD5`.
fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15,
        21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // K[i] = floor(abs(sin(i + 1)) * 2^32)
    let k: [u32; 64] = std::array::from_fn(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32);
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in message.chunks_exact(64) {
        let m: [u32; 16] = std::array::from_fn(|i| {
            u32::from_le_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]])
        });
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut digest = [0u8; 16];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    digest
}
