//! The examples, run as their users run them: each binary is started on a free loopback port
//! and answers real HTTP requests (the S3 server's contract, signed with AWS's SigV4 signer;
//! the axum API, the plain hyper server, the tonic gRPC-web service, the protected internal
//! API).

#![cfg(all(feature = "xml", feature = "json"))]

mod common;

use common::process::{get, preflight, request, Running};
use common::s3::{element, presign, signed, signed_as, ACCESS_KEY, SECRET_KEY};

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the \
    evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers \
    are not whitelisted by the resource's CORS spec.";

// ---------------------------------------------------------------------------------------------
// s3_server (s3s + s3s-fs, SigV4 with the printed key pair)

/// The status line of `curl -i` output, or the whole output of `curl -s`.
fn run_shell(line: &str) -> String {
    let output = std::process::Command::new("sh")
        .args(["-c", line])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Only what the line sets: no profile, config or instance metadata of this machine.
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run sh");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn command_exists(name: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn s3_server_prints_credentials_data_dir_and_lines_that_work_as_printed() {
    let mut server = Running::start("s3_server");
    let printed = server.printed();
    assert!(
        printed.contains(&format!(
            "credentials (--access-key, --secret-key): {ACCESS_KEY} {SECRET_KEY}"
        )),
        "{printed}"
    );
    let data = printed
        .lines()
        .find_map(|l| l.strip_prefix("data in "))
        .and_then(|l| l.split_once(" (temporary"))
        .map(|(dir, _)| std::path::PathBuf::from(dir))
        .unwrap_or_else(|| panic!("no temporary data line in:\n{printed}"));
    assert!(data.join("objects/demo/hello.txt").is_file());

    let curl_lines: Vec<&str> = printed
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(curl_lines.len(), 7, "{printed}");
    assert!(curl_lines.iter().all(|l| l.contains(&server.url())));
    let aws = printed
        .lines()
        .map(str::trim_start)
        .find(|l| l.contains(" aws --endpoint-url "))
        .expect("an aws line");
    assert!(aws.contains(&format!("--endpoint-url {} ", server.url())));

    if command_exists("curl") {
        // In printed order: allowed preflight, refused preflight, anonymous GET, anonymous PUT,
        // signed PUT, signed GetBucketCors (`-s`: the document), signed PutBucketCors.
        let expected = ["200", "403", "200", "403", "200", "<CORSConfiguration", "200"];
        for (line, want) in curl_lines.iter().zip(expected) {
            let out = run_shell(line);
            let got = if line.contains("curl -s ") {
                out.contains(want)
            } else {
                out.lines()
                    .next()
                    .is_some_and(|status| status.split(' ').nth(1) == Some(want))
            };
            assert!(got, "{line}\nexpected {want}, printed:\n{out}");
        }
        let signed_upload = get(server.addr, "/demo/signed.txt", &[]);
        assert_eq!(signed_upload.text(), "signed upload");
    } else {
        common::process::missing_tool("s3_server printed curl lines", "curl is not installed");
    }
    if command_exists("aws") {
        let listing = run_shell(aws);
        assert!(listing.contains(" 25 hello.txt"), "{aws}\n{listing}");
    } else {
        common::process::missing_tool("s3_server printed aws line", "the AWS CLI (aws) is not installed");
    }

    // The temporary directory goes with the server (Ctrl-C or SIGTERM).
    server.stop();
    assert!(!data.exists(), "{} was left behind", data.display());
}

#[test]
fn s3_server_printed_preflights_and_get_answer_as_s3() {
    let server = Running::start("s3_server");
    let allowed = preflight(
        server.addr,
        "/demo/hello.txt",
        "http://localhost:8080",
        "PUT",
        "content-type, x-amz-meta-owner",
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        allowed.header("access-control-allow-methods"),
        Some("GET, PUT, POST")
    );
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("content-type, x-amz-meta-owner")
    );
    assert_eq!(allowed.header("access-control-max-age"), Some("3000"));
    assert_eq!(allowed.header("vary"), Some(VARY));
    assert!(allowed.body.is_empty());

    let refused = preflight(server.addr, "/demo/hello.txt", "https://evil.example", "PUT", "");
    assert_eq!(refused.status, 403);
    assert!(!refused.has_cors_headers());
    let xml = refused.text();
    assert_eq!(element(&xml, "Code"), Some("AccessForbidden"));
    assert_eq!(element(&xml, "Message"), Some(NOT_ALLOWED));
    assert_eq!(element(&xml, "Method"), Some("PUT"));
    assert_eq!(element(&xml, "ResourceType"), Some("OBJECT"));
    assert_eq!(element(&xml, "RequestId"), refused.header("x-amz-request-id"));

    // `demo` is public-read: an anonymous GET is served, with the rule's headers.
    let actual = get(
        server.addr,
        "/demo/hello.txt",
        &[("Origin", "https://app.example.com")],
    );
    assert_eq!(actual.status, 200);
    assert_eq!(actual.text(), "hello from tower-s3-cors\n");
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        actual.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert!(actual.header("x-amz-request-id").is_some());
    // The public-read rule: any origin may GET, and gets `*`.
    let public = get(
        server.addr,
        "/demo/hello.txt",
        &[("Origin", "https://anyone.example")],
    );
    assert_eq!(public.header("access-control-allow-origin"), Some("*"));
    assert_eq!(public.header("access-control-allow-credentials"), None);
}

#[test]
fn s3_server_refuses_anonymous_writes_and_wrong_keys_with_cors_headers() {
    let server = Running::start("s3_server");
    let a = server.addr;
    let origin = [("Origin", "http://localhost:8080")];

    // An anonymous write: S3's 403 AccessDenied, carrying the matching rule's headers.
    let write = request(a, "PUT", "/demo/anonymous.txt", &origin, b"x");
    assert_eq!(write.status, 403);
    assert_eq!(element(&write.text(), "Code"), Some("AccessDenied"));
    assert_eq!(element(&write.text(), "Message"), Some("Access Denied"));
    assert_eq!(
        write.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(write.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        write.header("access-control-allow-methods"),
        Some("GET, PUT, POST")
    );
    assert_eq!(
        write.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(write.header("vary"), Some(VARY));
    assert_eq!(signed(a, "GET", "/demo/anonymous.txt", &[], b"").status, 404);
    for (method, path) in [
        ("DELETE", "/demo/hello.txt"),
        ("PUT", "/demo?cors"),
        ("GET", "/demo?cors"),
        ("PUT", "/anonymous-bucket"),
    ] {
        let refused = request(a, method, path, &origin, b"");
        assert_eq!(
            (refused.status, element(&refused.text(), "Code")),
            (403, Some("AccessDenied")),
            "{method} {path}"
        );
    }
    // A missing key of the public bucket: 404 with the rule's headers.
    let missing = get(a, "/demo/missing.txt", &origin);
    assert_eq!(missing.status, 404);
    assert_eq!(element(&missing.text(), "Code"), Some("NoSuchKey"));
    assert_eq!(
        element(&missing.text(), "Message"),
        Some("The specified key does not exist.")
    );
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    // The service endpoint is not a bucket: refused, and no CORS headers.
    let buckets = get(a, "/", &origin);
    assert_eq!(
        (buckets.status, element(&buckets.text(), "Code")),
        (403, Some("AccessDenied"))
    );
    assert!(!buckets.has_cors_headers());

    // Wrong keys.
    let wrong_secret = signed_as(
        a,
        &a.to_string(),
        (ACCESS_KEY, "not-the-secret"),
        "GET",
        "/demo/hello.txt",
        &origin,
        b"",
    );
    assert_eq!(
        (wrong_secret.status, element(&wrong_secret.text(), "Code")),
        (403, Some("SignatureDoesNotMatch"))
    );
    assert_eq!(
        wrong_secret.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let unknown_key = signed_as(
        a,
        &a.to_string(),
        ("AKIANOTTHEKEY", SECRET_KEY),
        "PUT",
        "/demo/x",
        &[],
        b"x",
    );
    assert_eq!(
        (unknown_key.status, element(&unknown_key.text(), "Code")),
        (403, Some("InvalidAccessKeyId"))
    );

    // A private bucket: an anonymous read is refused, and the page can read why.
    assert_eq!(signed(a, "PUT", "/private", &[], b"").status, 200);
    let any_get = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_eq!(signed(a, "PUT", "/private?cors", &[], any_get).status, 200);
    assert_eq!(
        signed(a, "PUT", "/private/secret.txt", &[], b"secret").status,
        200
    );
    let private = get(a, "/private/secret.txt", &[("Origin", "https://anyone.example")]);
    assert_eq!(
        (private.status, element(&private.text(), "Code")),
        (403, Some("AccessDenied"))
    );
    assert_eq!(private.header("access-control-allow-origin"), Some("*"));
    assert_eq!(signed(a, "GET", "/private/secret.txt", &[], b"").text(), "secret");

    // `x-amz-acl: public-read` on CreateBucket: anyone may read and list, not write.
    let created = signed(a, "PUT", "/assets", &[("x-amz-acl", "public-read")], b"");
    assert_eq!(created.status, 200);
    assert_eq!(
        signed(
            a,
            "PUT",
            "/assets/app.js",
            &[("Content-Type", "text/javascript")],
            b"run()"
        )
        .status,
        200
    );
    let read = get(a, "/assets/app.js", &[]);
    assert_eq!((read.status, read.text().as_str()), (200, "run()"));
    assert_eq!(read.header("content-type"), Some("text/javascript"));
    assert_eq!(request(a, "HEAD", "/assets/app.js", &[], b"").status, 200);
    let listing = get(a, "/assets?list-type=2", &[]);
    assert_eq!(element(&listing.text(), "Key"), Some("app.js"));
    // A `..` key segment would reach another bucket's files on disk (here: the private
    // bucket's object, read anonymously through the public one); it is refused.
    let escape = get(a, "/assets/..%2Fprivate%2Fsecret.txt", &[]);
    assert_eq!(
        (escape.status, element(&escape.text(), "Code")),
        (400, Some("InvalidArgument"))
    );
    assert_eq!(signed(a, "GET", "/private/secret.txt", &[], b"").text(), "secret");
    assert_eq!(request(a, "DELETE", "/assets/app.js", &[], b"").status, 403);
    assert_eq!(request(a, "PUT", "/assets/other.js", &[], b"x").status, 403);
    // Other canned ACLs are refused rather than ignored.
    let write_acl = signed(a, "PUT", "/open", &[("x-amz-acl", "public-read-write")], b"");
    assert_eq!(
        (write_acl.status, element(&write_acl.text(), "Code")),
        (501, Some("NotImplemented"))
    );
    assert_eq!(signed(a, "HEAD", "/open", &[], b"").status, 404);
}

#[test]
fn s3_server_presigned_urls_upload_and_download() {
    let server = Running::start("s3_server");
    let a = server.addr;
    let host = a.to_string();
    let ten_minutes = std::time::Duration::from_secs(600);
    let put_url = presign(&host, "PUT", "/demo/presigned.json", ten_minutes);
    assert!(put_url.contains("X-Amz-Signature="), "{put_url}");
    let put = request(
        a,
        "PUT",
        &put_url,
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://localhost:8080"),
        ],
        b"{\"from\": \"a presigned URL\"}",
    );
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.header("etag"), Some("\"320c3c44ff26bee0f06f310c47cfd8a7\""));
    assert_eq!(
        put.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let get_url = presign(&host, "GET", "/demo/presigned.json", ten_minutes);
    let got = get(a, &get_url, &[]);
    assert_eq!(
        (got.status, got.text().as_str()),
        (200, "{\"from\": \"a presigned URL\"}")
    );
    assert_eq!(got.header("content-type"), Some("application/json"));

    // The URL signs its method and path: another method or a changed signature is refused.
    let wrong_method = request(a, "PUT", &get_url, &[], b"x");
    assert_eq!(
        (wrong_method.status, element(&wrong_method.text(), "Code")),
        (403, Some("SignatureDoesNotMatch"))
    );
    let at = get_url.find("X-Amz-Signature=").expect("signature") + "X-Amz-Signature=".len();
    let flipped = if get_url.as_bytes()[at] == b'0' { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &get_url[..at], &get_url[at + 1..]);
    let refused = get(a, &tampered, &[]);
    assert_eq!(
        (refused.status, element(&refused.text(), "Code")),
        (403, Some("SignatureDoesNotMatch"))
    );
}

#[test]
fn s3_server_bucket_and_object_operations() {
    let server = Running::start("s3_server");
    let a = server.addr;
    assert_eq!(signed(a, "PUT", "/photos", &[], b"").status, 200);
    assert_eq!(signed(a, "HEAD", "/photos", &[], b"").status, 200);
    assert_eq!(signed(a, "HEAD", "/nothing-here", &[], b"").status, 404);
    let listing = signed(a, "GET", "/", &[], b"").text();
    assert!(
        listing.contains("<Name>demo</Name>") && listing.contains("<Name>photos</Name>"),
        "{listing}"
    );

    // ETag: the quoted MD5 hex of the object, as S3 sends it.
    let put = signed(
        a,
        "PUT",
        "/photos/a%20cat.txt",
        &[("Content-Type", "text/plain")],
        b"meow",
    );
    assert_eq!(put.status, 200);
    assert_eq!(put.header("etag"), Some("\"4a4be40c96ac6314e91d93f38043a634\""));
    let got = signed(a, "GET", "/photos/a%20cat.txt", &[], b"");
    assert_eq!((got.status, got.text()), (200, "meow".to_owned()));
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("etag"), put.header("etag"));
    let head = signed(a, "HEAD", "/photos/a%20cat.txt", &[], b"");
    assert_eq!((head.status, head.header("content-length")), (200, Some("4")));
    let range = signed(a, "GET", "/photos/a%20cat.txt", &[("Range", "bytes=1-2")], b"");
    assert_eq!((range.status, range.text()), (206, "eo".to_owned()));
    assert_eq!(signed(a, "PUT", "/photos/b", &[], b"woof").status, 200);

    let listing = signed(a, "GET", "/photos?list-type=2", &[], b"").text();
    assert_eq!(element(&listing, "KeyCount"), Some("2"));
    assert_eq!(element(&listing, "Key"), Some("a cat.txt"));
    // ListObjectVersions of an unversioned bucket: each object is its one version `null`.
    let versions = signed(a, "GET", "/photos?versions", &[], b"");
    assert_eq!(versions.status, 200, "{}", versions.text());
    let versions = versions.text();
    assert_eq!(versions.matches("<Version>").count(), 2, "{versions}");
    assert_eq!(element(&versions, "VersionId"), Some("null"));
    assert_eq!(element(&versions, "IsLatest"), Some("true"));

    let missing_key = signed(a, "GET", "/photos/nope", &[], b"");
    assert_eq!(missing_key.status, 404);
    assert_eq!(missing_key.header("content-type"), Some("application/xml"));
    assert_eq!(element(&missing_key.text(), "Code"), Some("NoSuchKey"));
    assert_eq!(
        element(&missing_key.text(), "Message"),
        Some("The specified key does not exist.")
    );
    let missing_bucket = signed(a, "GET", "/nothing-here/key", &[], b"");
    assert_eq!(missing_bucket.status, 404);
    assert_eq!(element(&missing_bucket.text(), "Code"), Some("NoSuchBucket"));
    assert_eq!(
        element(&missing_bucket.text(), "Message"),
        Some("The specified bucket does not exist")
    );

    let not_empty = signed(a, "DELETE", "/photos", &[], b"");
    assert_eq!(
        (not_empty.status, element(&not_empty.text(), "Code")),
        (409, Some("BucketNotEmpty"))
    );
    assert_eq!(signed(a, "DELETE", "/photos/a%20cat.txt", &[], b"").status, 204);
    assert_eq!(signed(a, "DELETE", "/photos/b", &[], b"").status, 204);
    assert_eq!(signed(a, "GET", "/photos/a%20cat.txt", &[], b"").status, 404);
    assert_eq!(signed(a, "DELETE", "/photos", &[], b"").status, 204);
    assert_eq!(signed(a, "HEAD", "/photos", &[], b"").status, 404);
    // A deleted bucket is gone for the CORS layer too.
    let gone = preflight(a, "/photos/x", "https://app.example.com", "GET", "");
    assert_eq!(
        element(&gone.text(), "Message"),
        Some("CORSResponse: Bucket not found")
    );
}

#[test]
fn s3_server_cors_configuration_operations() {
    let server = Running::start("s3_server");
    let a = server.addr;
    assert_eq!(signed(a, "PUT", "/site", &[], b"").status, 200);

    let none = signed(a, "GET", "/site?cors", &[], b"");
    assert_eq!(none.status, 404);
    assert_eq!(element(&none.text(), "Code"), Some("NoSuchCORSConfiguration"));
    assert_eq!(
        element(&none.text(), "Message"),
        Some("The CORS configuration does not exist")
    );
    // A bucket without CORS refuses every preflight, even for an object URL.
    let not_enabled = preflight(a, "/site/index.html", "https://site.example", "GET", "");
    assert_eq!(not_enabled.status, 403);
    assert_eq!(
        element(&not_enabled.text(), "Message"),
        Some("CORSResponse: CORS is not enabled for this bucket.")
    );
    assert_eq!(element(&not_enabled.text(), "ResourceType"), Some("BUCKET"));
    let p2 = preflight(a, "/nothing-here/x", "https://site.example", "GET", "");
    assert_eq!(p2.status, 403);
    assert_eq!(
        element(&p2.text(), "Message"),
        Some("CORSResponse: Bucket not found")
    );

    let rules = "<CORSConfiguration><CORSRule><ID>Site &amp; app</ID>\
        <AllowedOrigin>https://*.site.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
        <AllowedHeader>X-Amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
        <MaxAgeSeconds>60</MaxAgeSeconds></CORSRule></CORSConfiguration>";
    assert_eq!(signed(a, "PUT", "/site?cors", &[], rules.as_bytes()).status, 200);
    let stored = signed(a, "GET", "/site?cors", &[], b"");
    assert_eq!(stored.status, 200);
    assert_eq!(stored.header("content-type"), Some("application/xml"));
    let xml = stored.text();
    assert_eq!(element(&xml, "ID"), Some("Site &amp; app"));
    assert_eq!(element(&xml, "AllowedOrigin"), Some("https://*.site.example"));
    assert_eq!(element(&xml, "AllowedHeader"), Some("X-Amz-*"));
    assert_eq!(element(&xml, "ExposeHeader"), Some("ETag"));
    assert_eq!(element(&xml, "MaxAgeSeconds"), Some("60"));
    // The new rules take effect at once.
    let now_allowed = preflight(
        a,
        "/site/index.html",
        "https://www.site.example",
        "GET",
        "x-amz-date",
    );
    assert_eq!(now_allowed.status, 200);
    assert_eq!(
        now_allowed.header("access-control-allow-headers"),
        Some("x-amz-date")
    );

    // Invalid configurations: S3's code and message, and nothing changes.
    let refused = |body: &[u8]| {
        let reply = signed(a, "PUT", "/site?cors", &[], body);
        let xml = reply.text();
        (
            reply.status,
            element(&xml, "Code").map(str::to_owned),
            // The text, as an XML parser (the SDK's) reads it: s3s escapes `"` as `&quot;`.
            element(&xml, "Message").map(|m| m.replace("&quot;", "\"")),
        )
    };
    let invalid = b"<CORSConfiguration><CORSRule><AllowedOrigin>*example*.com</AllowedOrigin>\
        <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_eq!(
        refused(invalid),
        (
            400,
            Some("InvalidRequest".into()),
            Some("AllowedOrigin \"*example*.com\" can not have more than one wildcard.".into())
        )
    );
    let method = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_eq!(
        refused(method),
        (
            400,
            Some("InvalidRequest".into()),
            Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH".into())
        )
    );
    let expose = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>x-amz-*</ExposeHeader></CORSRule></CORSConfiguration>";
    assert_eq!(
        refused(expose),
        (400, Some("InvalidRequest".into()), Some("ExposeHeader \"x-amz-*\" contains wildcard. We currently do not support wildcard for ExposeHeader.".into()))
    );
    let too_many =
        "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>".repeat(101);
    let too_many = refused(format!("<CORSConfiguration>{too_many}</CORSConfiguration>").as_bytes());
    assert_eq!((too_many.0, too_many.1.as_deref()), (400, Some("InvalidRequest")));
    // Documents s3s cannot read as a CORSConfiguration: s3s's MalformedXML (it sends no Message).
    assert_eq!(refused(b"<CORSConfiguration>").1.as_deref(), Some("MalformedXML"));
    assert_eq!(
        refused(b"<CORSConfiguration/>").1.as_deref(),
        Some("MalformedXML")
    );
    let too_big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        refused(&too_big),
        (
            400,
            Some("MaxMessageLengthExceeded".into()),
            Some("Your request was too big.".into())
        )
    );
    assert_eq!(
        element(&signed(a, "GET", "/site?cors", &[], b"").text(), "ID"),
        Some("Site &amp; app")
    );

    // DeleteBucketCors: 204, also when there is nothing to delete.
    assert_eq!(signed(a, "DELETE", "/site?cors", &[], b"").status, 204);
    assert_eq!(signed(a, "DELETE", "/site?cors", &[], b"").status, 204);
    assert_eq!(signed(a, "GET", "/site?cors", &[], b"").status, 404);
    let not_enabled_again = preflight(a, "/site/index.html", "https://www.site.example", "GET", "");
    assert_eq!(not_enabled_again.status, 403);
    let missing = signed(a, "PUT", "/nothing-here?cors", &[], rules.as_bytes());
    assert_eq!(element(&missing.text(), "Code"), Some("NoSuchBucket"));
}

#[test]
fn s3_server_virtual_hosted_buckets_resolve_as_s3s_does() {
    let server = Running::start_with("s3_server", &["--domain", "s3.test"]);
    let a = server.addr;
    let vhost = [("Host", "demo.s3.test")];
    let allowed = request(
        a,
        "OPTIONS",
        "/hello.txt",
        &[
            vhost[0],
            ("Origin", "http://localhost:8080"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        b"",
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let read = get(
        a,
        "/hello.txt",
        &[vhost[0], ("Origin", "https://app.example.com")],
    );
    assert_eq!(
        (read.status, read.text().as_str()),
        (200, "hello from tower-s3-cors\n")
    );
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let put = signed_as(
        a,
        "demo.s3.test",
        (ACCESS_KEY, SECRET_KEY),
        "PUT",
        "/vhost.txt",
        &[("Origin", "http://localhost:8080")],
        b"v",
    );
    assert_eq!(put.status, 200);
    assert_eq!(
        put.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    // The bare domain and an IP address are path-style.
    assert_eq!(get(a, "/demo/vhost.txt", &[("Host", "s3.test")]).text(), "v");
    assert_eq!(get(a, "/demo/vhost.txt", &[]).text(), "v");
    // A bucket that does not exist, and a host s3s takes as a bucket name (CNAME style): both
    // are unknown buckets for the layer, as for s3s (which does not read them path-style).
    for host in ["nothing.s3.test", "cdn.other.test"] {
        let p2 = request(
            a,
            "OPTIONS",
            "/demo/hello.txt",
            &[
                ("Host", host),
                ("Origin", "http://localhost:8080"),
                ("Access-Control-Request-Method", "GET"),
            ],
            b"",
        );
        assert_eq!(
            element(&p2.text(), "Message"),
            Some("CORSResponse: Bucket not found"),
            "{host}"
        );
        let s3s = signed_as(
            a,
            host,
            (ACCESS_KEY, SECRET_KEY),
            "GET",
            "/demo/hello.txt",
            &[],
            b"",
        );
        assert_eq!(element(&s3s.text(), "Code"), Some("NoSuchBucket"), "{host}");
    }
}

#[test]
fn s3_server_data_dir_keeps_objects_and_cors_across_restarts() {
    let data = tempfile::tempdir().expect("temporary directory");
    let data_arg = data.path().to_str().expect("UTF-8 path");
    let rules =
        "<CORSConfiguration><CORSRule><ID>kept</ID><AllowedOrigin>https://kept.example</AllowedOrigin>\
        <AllowedMethod>PUT</AllowedMethod><MaxAgeSeconds>5</MaxAgeSeconds></CORSRule></CORSConfiguration>";
    let stored = {
        let mut server = Running::start_with("s3_server", &["--data", data_arg]);
        assert!(server.printed().contains(&format!("data in {data_arg} (kept")));
        let a = server.addr;
        assert_eq!(
            signed(a, "PUT", "/kept", &[("x-amz-acl", "public-read")], b"").status,
            200
        );
        assert_eq!(signed(a, "PUT", "/kept?cors", &[], rules.as_bytes()).status, 200);
        assert_eq!(signed(a, "PUT", "/kept/file.txt", &[], b"on disk").status, 200);
        // The demo bucket's rules changed: a restart keeps the change.
        assert_eq!(signed(a, "PUT", "/demo?cors", &[], rules.as_bytes()).status, 200);
        let stored = signed(a, "GET", "/kept?cors", &[], b"").text();
        server.stop();
        stored
    };
    assert!(data.path().join("objects/kept/file.txt").is_file());
    let server = Running::start_with("s3_server", &["--data", data_arg]);
    let a = server.addr;
    assert_eq!(signed(a, "GET", "/kept?cors", &[], b"").text(), stored);
    assert_eq!(signed(a, "GET", "/demo?cors", &[], b"").text(), stored);
    let allowed = preflight(a, "/kept/file.txt", "https://kept.example", "PUT", "");
    assert_eq!(
        (allowed.status, allowed.header("access-control-max-age")),
        (200, Some("5"))
    );
    // public-read is kept too.
    assert_eq!(get(a, "/kept/file.txt", &[]).text(), "on disk");
}

/// The README's DTO conversion is `examples/s3_server/cors_dto.rs`, which the server compiles and
/// these tests exercise.
#[test]
fn readme_dto_conversion_is_the_example_file() {
    let readme = include_str!("../README.md");
    let file = include_str!("../examples/s3_server/cors_dto.rs");
    let code: String = file
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .skip_while(|l| l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(&format!("```rust,ignore\n{code}```")),
        "README's DTO conversion differs from examples/s3_server/cors_dto.rs"
    );
}

#[test]
fn s3_server_serves_connections_concurrently() {
    use std::io::Write;
    let server = Running::start("s3_server");
    // A connection stuck in the middle of an upload does not hold up another client.
    let mut stuck = std::net::TcpStream::connect(server.addr).expect("connect");
    write!(
        stuck,
        "PUT /demo/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial"
    )
    .expect("write");
    let other = get(server.addr, "/demo/hello.txt", &[]);
    assert_eq!(other.status, 200);
    drop(stuck);
}

// ---------------------------------------------------------------------------------------------
// axum

#[test]
fn axum_preflights_work_for_every_route_and_unknown_paths() {
    let server = Running::start("axum");
    let a = server.addr;
    let create = preflight(a, "/api/todos", "http://localhost:5173", "POST", "content-type");
    assert_eq!(create.status, 200);
    assert_eq!(
        create.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        create.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(create.header("access-control-max-age"), Some("600"));
    let delete = preflight(a, "/api/todos/1", "http://localhost:5173", "DELETE", "");
    assert_eq!(delete.status, 200);
    // A path without a route still gets the rules' answer (the layer is on the whole Router).
    let unknown = preflight(a, "/not/a/route", "http://localhost:5173", "GET", "");
    assert_eq!(unknown.status, 200);
    assert_eq!(
        unknown.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );

    // The public rule allows only GET and HEAD from other origins.
    let refused = preflight(a, "/api/todos/1", "https://anyone.example", "DELETE", "");
    assert_eq!(refused.status, 403);
    assert_eq!(element(&refused.text(), "Code"), Some("AccessForbidden"));
    let refused_header = preflight(a, "/api/todos", "http://localhost:5173", "POST", "x-secret");
    assert_eq!(refused_header.status, 403);
}

#[test]
fn axum_responses_carry_cors_headers_404_included() {
    let server = Running::start("axum");
    let a = server.addr;
    let created = request(
        a,
        "POST",
        "/api/todos",
        &[
            ("Origin", "http://localhost:5173"),
            ("Content-Type", "application/json"),
        ],
        br#"{"title": "write the README"}"#,
    );
    assert_eq!(created.status, 201);
    assert_eq!(created.header("location"), Some("/api/todos/1"));
    assert_eq!(
        created.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(created.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        created.header("access-control-expose-headers"),
        Some("Location, x-request-id")
    );

    let list = get(a, "/api/todos", &[("Origin", "https://anyone.example")]);
    assert_eq!(list.status, 200);
    assert!(list.text().contains("write the README"));
    assert_eq!(list.header("access-control-allow-origin"), Some("*"));

    let missing = get(a, "/api/todos/99", &[("Origin", "http://localhost:5173")]);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let no_route = get(a, "/nowhere", &[("Origin", "http://localhost:5173")]);
    assert_eq!(no_route.status, 404);
    assert_eq!(
        no_route.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );

    // S3 semantics: a request from an origin no rule allows is served, without CORS headers.
    let other = request(
        a,
        "POST",
        "/api/todos",
        &[
            ("Origin", "https://anyone.example"),
            ("Content-Type", "application/json"),
        ],
        br#"{"title": "x"}"#,
    );
    assert_eq!(other.status, 201);
    assert!(!other.has_cors_headers());
}

// ---------------------------------------------------------------------------------------------
// hyper

#[test]
fn hyper_example_answers_preflight_and_actual_request() {
    let server = Running::start("hyper");
    let allowed = preflight(
        server.addr,
        "/photo.jpg",
        "http://localhost:8080",
        "PUT",
        "x-amz-meta-owner",
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("x-amz-meta-owner")
    );
    let refused = preflight(server.addr, "/photo.jpg", "https://evil.example", "PUT", "");
    assert_eq!(refused.status, 403);
    let actual = get(
        server.addr,
        "/photo.jpg",
        &[("Origin", "https://www.example.com")],
    );
    assert_eq!(actual.status, 200);
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some("https://www.example.com")
    );
    assert_eq!(
        actual.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
}

/// The end-to-end benchmark's floor (`--headers-in-handler`) sends what the layer sends to an
/// allowed origin, so comparing the two compares the same bytes on the wire.
#[test]
fn hyper_example_handler_writes_the_layers_headers() {
    let cors_headers = |reply: &common::process::Reply| -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = reply
            .headers
            .iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                n.starts_with("access-control-") || n == "vary"
            })
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        headers.sort();
        headers
    };
    let origin = [("Origin", "http://localhost:8080")];
    let layer = Running::start("hyper");
    let with_layer = get(layer.addr, "/photo.jpg", &origin);
    let handler = Running::start_with("hyper", &["--headers-in-handler"]);
    let with_handler = get(handler.addr, "/photo.jpg", &origin);
    assert_eq!(cors_headers(&with_layer).len(), 6);
    assert_eq!(cors_headers(&with_handler), cors_headers(&with_layer));
    assert_eq!(with_handler.body, with_layer.body);
}

// ---------------------------------------------------------------------------------------------
// tonic (gRPC-web)

/// A gRPC-web frame: flag byte, big-endian length, message.
fn grpc_web_frame(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut frame = vec![flag];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Splits a gRPC-web body into (flag, payload) frames.
fn grpc_web_frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let end = (5 + len).min(body.len());
        frames.push((body[0], body[5..end].to_vec()));
        body = &body[end..];
    }
    frames
}

fn grpc_web_call(addr: std::net::SocketAddr, origin: &str, name: &str) -> common::process::Reply {
    // HelloRequest { name } in protobuf: field 1, wire type 2 (length-delimited).
    let mut message = vec![0x0a, name.len() as u8];
    message.extend_from_slice(name.as_bytes());
    request(
        addr,
        "POST",
        "/helloworld.Greeter/SayHello",
        &[
            ("Origin", origin),
            ("Content-Type", "application/grpc-web+proto"),
            ("X-Grpc-Web", "1"),
            ("X-User-Agent", "grpc-web-javascript/0.1"),
        ],
        &grpc_web_frame(0, &message),
    )
}

#[test]
fn tonic_grpc_web_preflight_and_call_from_browser_origin() {
    let server = Running::start("tonic");
    let a = server.addr;
    let pre = preflight(
        a,
        "/helloworld.Greeter/SayHello",
        "http://localhost:8080",
        "POST",
        "content-type,x-grpc-web,x-user-agent,grpc-timeout",
    );
    assert_eq!(pre.status, 200);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("content-type, x-grpc-web, x-user-agent, grpc-timeout")
    );

    let call = grpc_web_call(a, "http://localhost:8080", "browser");
    assert_eq!(call.status, 200);
    assert_eq!(call.header("content-type"), Some("application/grpc-web+proto"));
    assert_eq!(
        call.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(
        call.header("access-control-expose-headers"),
        Some("grpc-status, grpc-message, grpc-status-details-bin")
    );
    let frames = grpc_web_frames(&call.body);
    assert_eq!(
        frames.len(),
        2,
        "a message frame and a trailers frame: {frames:?}"
    );
    // HelloReply { message: "Hello, browser!" }
    let mut reply = vec![0x0a, 15];
    reply.extend_from_slice(b"Hello, browser!");
    assert_eq!(frames[0], (0, reply));
    assert_eq!(frames[1].0, 0x80);
    assert!(String::from_utf8_lossy(&frames[1].1).contains("grpc-status:0"));
}

#[test]
fn tonic_grpc_web_error_status_is_readable_and_other_origins_get_no_cors() {
    let server = Running::start("tonic");
    // An empty name fails at once: grpc-status and grpc-message are response headers, exposed.
    let failed = grpc_web_call(server.addr, "https://app.example.com", "");
    assert_eq!(failed.status, 200);
    assert_eq!(failed.header("grpc-status"), Some("3"));
    assert_eq!(
        failed.header("grpc-message"),
        Some("name%20must%20not%20be%20empty")
    );
    assert_eq!(
        failed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    let refused = preflight(
        server.addr,
        "/helloworld.Greeter/SayHello",
        "https://evil.example",
        "POST",
        "content-type,x-grpc-web",
    );
    assert_eq!(refused.status, 403);
    let other = grpc_web_call(server.addr, "https://evil.example", "x");
    assert_eq!(other.status, 200);
    assert!(!other.has_cors_headers());
}

// ---------------------------------------------------------------------------------------------
// decision_log

#[test]
fn decision_log_counts_refusals_and_logs_the_first_of_each_origin() {
    let output = std::process::Command::new(common::process::example("decision_log"))
        .output()
        .expect("decision_log runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let not_allowed = "no rule matches the origin, the method and every requested header (AccessForbidden)";
    assert_eq!(
        stdout,
        format!(
            "refused: bucket photos, origin https://evil.example, OPTIONS /photos/cat.jpg: {not_allowed}\n\
             refused: bucket photos, origin https://app.example.com, OPTIONS /photos/cat.jpg: {not_allowed}\n\
             refusals per bucket and origin:\n\
             \x20 logs     https://app.example.com    1\n\
             \x20 missing  https://evil.example       1\n\
             \x20 photos   https://app.example.com    2\n\
             \x20 photos   https://evil.example       2\n"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// internal_api

/// `POST /api/counter/increment` with `headers`: the status and the body.
fn increment(server: &Running, headers: &[(&str, &str)]) -> (u16, String) {
    let reply = request(server.addr, "POST", "/api/counter/increment", headers, b"x=1");
    (reply.status, reply.text())
}

fn counter(server: &Running) -> String {
    get(server.addr, "/api/counter", &[]).text()
}

#[test]
fn internal_api_refuses_other_origins_and_sites_before_the_handler() {
    let server = Running::start_with("internal_api", &[]);
    assert!(server.printed().contains("protected (enforce, Fetch Metadata)"));
    assert_eq!(counter(&server), r#"{"count":0}"#);
    // No Origin, no Fetch Metadata (curl): served.
    assert_eq!(increment(&server, &[]), (200, r#"{"count":1}"#.to_owned()));
    // The default allowed origin: served with CORS headers.
    let reply = request(
        server.addr,
        "POST",
        "/api/counter/increment",
        &[("Origin", "http://localhost:5173")],
        b"",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    // Another origin, and another site's <img>-like request without Origin: refused.
    let (status, body) = increment(
        &server,
        &[("Origin", "https://evil.example"), ("Content-Type", "text/plain")],
    );
    assert_eq!(status, 403);
    assert_eq!(element(&body, "Message"), Some(NOT_ALLOWED));
    assert_eq!(element(&body, "Method"), Some("POST"));
    let image = get(
        server.addr,
        "/api/counter",
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Sec-Fetch-Dest", "image"),
        ],
    );
    assert_eq!(image.status, 403);
    // The API's own page: same-origin, with an Origin no rule lists.
    let own = [("Origin", "http://127.0.0.1"), ("Sec-Fetch-Site", "same-origin")];
    assert_eq!(increment(&server, &own), (200, r#"{"count":3}"#.to_owned()));
    assert_eq!(counter(&server), r#"{"count":3}"#);
    // Fetch-mode OPTIONS: a non-preflight OPTIONS reaches axum (405 from the router).
    let options = request(server.addr, "OPTIONS", "/api/counter", &[], b"");
    assert_eq!(options.status, 405);
    // The page is served at /.
    assert!(get(server.addr, "/", &[])
        .text()
        .contains("/api/counter/increment"));
}

#[test]
fn internal_api_allow_origin_replaces_the_default_and_unprotected_serves_everyone() {
    let server = Running::start_with(
        "internal_api",
        &[
            "--allow-origin",
            "https://a.example",
            "--allow-origin",
            "https://b.example",
        ],
    );
    for origin in ["https://a.example", "https://b.example"] {
        assert_eq!(increment(&server, &[("Origin", origin)]).0, 200, "{origin}");
    }
    assert_eq!(increment(&server, &[("Origin", "http://localhost:5173")]).0, 403);

    let plain = Running::start_with("internal_api", &["--unprotected"]);
    assert!(plain.printed().contains("unprotected (plain S3 CORS)"));
    let cross_site = [
        ("Origin", "https://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    assert_eq!(increment(&plain, &cross_site), (200, r#"{"count":1}"#.to_owned()));
}
