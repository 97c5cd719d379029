//! An S3 server on disk, built on [s3s](https://docs.rs/s3s) and s3s-fs, whose CORS is
//! `tower-s3-cors`, one configuration per bucket.
//!
//! ```text
//! cargo run --example s3_server                          # http://127.0.0.1:9000
//! cargo run --example s3_server -- --listen 127.0.0.1:0  # any free port
//! cargo run --example s3_server -- --data ./s3-data      # objects and CORS rules kept
//! ```
//!
//! Options: `--listen ADDR` (default `127.0.0.1:9000`), `--data DIR` (default: a temporary
//! directory removed at exit; a given DIR keeps objects in `DIR/objects` and each bucket's
//! settings, its CORS configuration included, in `DIR/settings`), `--access-key KEY` and
//! `--secret-key SECRET` (the one key pair requests are signed with; defaults printed at start),
//! `--domain NAME` (virtual-hosted requests `bucket.NAME`, as s3s parses them: with a port
//! other than 80, NAME includes it, e.g. `localhost:9000`), `--rules-db URL` (bucket CORS in
//! PostgreSQL, e.g. `postgres://user@127.0.0.1:5432/db`, shared by every instance started with
//! the same URL and `--data DIR`: see `fleet.rs`).
//!
//! The first line on stdout is `listening on http://HOST:PORT`. Then the server has a bucket
//! `demo`, created `public-read`, with the CORS rules of `examples/default-cors.xml` and an
//! object `hello.txt`, and prints lines to paste.
//!
//! How a request flows:
//!
//! 1. [`CorsLayer`] first. It answers every `OPTIONS` as S3 does (browsers never sign
//!    preflights, so this is before authentication) from the rules of the bucket s3s will
//!    resolve, and adds the matching rule's headers to every other response, s3s's own errors
//!    (403 `AccessDenied`, 404 `NoSuchKey`) included.
//! 2. s3s: SigV4 (headers and presigned URLs) and SigV2 checked against the key pair; anonymous
//!    requests refused with 403 `AccessDenied` except reads of a `public-read` bucket.
//! 3. The operations: s3s-fs for objects, and the additions in `storage.rs`: PutBucketCors,
//!    GetBucketCors and DeleteBucketCors validated by this crate (`cors_dto.rs`, the part to
//!    copy into another s3s server), CreateBucket with a canned ACL, ListObjectVersions for
//!    unversioned buckets, BucketNotEmpty.

mod buckets;
mod cors_dto;
mod fleet;
mod rules_db;
mod storage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use s3s::host::{S3Host, SingleDomain};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_s3_cors::header::{X_AMZ_ID_2, X_AMZ_REQUEST_ID};
use tower_s3_cors::{CorsConfiguration, CorsLayer, RequestIds};

use crate::buckets::{Access, Buckets, OneKey};
use crate::fleet::{Fleet, Rules};
use crate::storage::Storage;

/// The demo bucket's CORS rules.
const DEMO_RULES: &str = include_str!("../default-cors.xml");
/// The key pair of AWS's documentation, recognisable as an example.
const DEFAULT_ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const DEFAULT_SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    listen: SocketAddr,
    data: Option<PathBuf>,
    access_key: String,
    secret_key: String,
    domain: Option<String>,
    rules_db: Option<String>,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        listen: "127.0.0.1:9000".parse()?,
        data: None,
        access_key: DEFAULT_ACCESS_KEY.to_owned(),
        secret_key: DEFAULT_SECRET_KEY.to_owned(),
        domain: None,
        rules_db: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => options.listen = value()?.parse()?,
            "--data" => options.data = Some(value()?.into()),
            "--access-key" => options.access_key = value()?,
            "--secret-key" => options.secret_key = value()?,
            "--domain" => options.domain = Some(value()?),
            "--rules-db" => options.rules_db = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --listen ADDR, --data DIR, --access-key KEY, \
                     --secret-key SECRET, --domain NAME, --rules-db URL)"
                )
                .into())
            }
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let options = options()?;
    // A temporary directory lives until `main` returns (Ctrl-C or SIGTERM).
    let (temporary, data) = match &options.data {
        Some(dir) => (None, dir.clone()),
        None => {
            let dir = tempfile::Builder::new().prefix("tower-s3-cors-").tempdir()?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let objects = data.join("objects");
    std::fs::create_dir_all(&objects)?;
    let host =
        |domain: &String| -> Result<Box<dyn S3Host>, Error> { Ok(Box::new(SingleDomain::new(domain)?)) };
    let mut buckets = Buckets::load(
        &objects,
        data.join("settings"),
        options.domain.as_ref().map(host).transpose()?,
    )?;
    let fleet = match &options.rules_db {
        Some(url) => {
            buckets = buckets.shared(&objects);
            Some(Fleet::start(url, objects.clone()).await?)
        }
        None => None,
    };
    let buckets = Arc::new(buckets);
    if create_demo_bucket(&objects, &buckets)? {
        if let Some(fleet) = &fleet {
            fleet
                .put_cors("demo", &CorsConfiguration::from_xml(DEMO_RULES)?)
                .await?;
        }
    }

    let mut s3 = S3ServiceBuilder::new(Storage {
        fs: s3s_fs::FileSystem::new(&objects).map_err(|e| format!("{}: {e:?}", objects.display()))?,
        buckets: Arc::clone(&buckets),
        fleet: fleet.clone(),
    });
    s3.set_auth(OneKey {
        access_key: options.access_key.clone(),
        secret_key: options.secret_key.clone(),
    });
    s3.set_access(Access(Arc::clone(&buckets)));
    if let Some(domain) = &options.domain {
        s3.set_host(SingleDomain::new(domain)?);
    }
    // The layer goes outside s3s: preflights are answered before s3s asks for a signature, and
    // s3s's own error responses get the CORS headers.
    let service = ServiceBuilder::new()
        .layer(CorsLayer::from_cached_source(Rules {
            buckets: Arc::clone(&buckets),
            fleet,
        }))
        .map_response(with_request_ids)
        .service(s3.build());

    let listener = TcpListener::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    print_try_lines(addr, &options, &data, temporary.is_some());

    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the connections we have.
                    eprintln!("accept error: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                eprintln!("connection error: {err}");
            }
        });
    }
    drop(temporary);
    Ok(())
}

/// S3 identifies every answer (s3s leaves that to the server).
fn with_request_ids(mut response: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
    let ids = RequestIds::generate();
    let headers = response.headers_mut();
    headers.insert(X_AMZ_REQUEST_ID, ids.request_id);
    headers.insert(X_AMZ_ID_2, ids.host_id);
    response
}

/// Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Bucket `demo` (public-read, default rules, `hello.txt`) unless it is already there from an
/// earlier run with the same `--data`; whether it was created.
fn create_demo_bucket(objects: &Path, buckets: &Buckets) -> Result<bool, Error> {
    if buckets.exists("demo") {
        return Ok(false);
    }
    // s3s-fs keeps a bucket as a directory and an object as a file in it.
    std::fs::create_dir_all(objects.join("demo"))?;
    std::fs::write(objects.join("demo/hello.txt"), "hello from tower-s3-cors\n")?;
    buckets.create("demo", true)?;
    buckets.set_cors("demo", Some(CorsConfiguration::from_xml(DEMO_RULES)?))?;
    Ok(true)
}

fn print_try_lines(addr: SocketAddr, options: &Options, data: &Path, temporary: bool) {
    let url = format!("http://{addr}");
    let (key, secret) = (&options.access_key, &options.secret_key);
    // curl signs but sends no x-amz-content-sha256, which S3 requires; and it signs `?cors` right
    // only when written `?cors=`.
    let sign = format!(
        "--aws-sigv4 aws:amz:us-east-1:s3 --user '{key}:{secret}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'"
    );
    if temporary {
        println!(
            "data in {} (temporary: removed at exit; keep it with --data DIR)",
            data.display()
        );
    } else {
        println!("data in {} (kept: objects/ and settings/)", data.display());
    }
    println!("credentials (--access-key, --secret-key): {key} {secret}");
    println!("bucket `demo` (public-read) has the CORS rules of examples/default-cors.xml; try:");
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
    println!("  # an anonymous GET of the public-read bucket (200 with Access-Control-Allow-Origin):");
    println!("  curl -i {url}/demo/hello.txt -H 'Origin: https://app.example.com'");
    println!("  # an anonymous PUT (403 AccessDenied, still with the rule's CORS headers):");
    println!(
        "  curl -i -X PUT {url}/demo/anonymous.txt -H 'Origin: http://localhost:8080' --data-binary 'hi'"
    );
    println!("  # signed (SigV4): an upload, the bucket's rules, and new ones:");
    println!("  curl -i -X PUT {sign} {url}/demo/signed.txt --data-binary 'signed upload'");
    println!("  curl -s {sign} '{url}/demo?cors='");
    println!("  curl -i -X PUT {sign} '{url}/demo?cors=' --data-binary @examples/default-cors.xml");
    println!("  # any S3 client:");
    println!(
        "  AWS_ACCESS_KEY_ID='{key}' AWS_SECRET_ACCESS_KEY='{secret}' aws --endpoint-url {url} --region us-east-1 s3 ls s3://demo"
    );
}
