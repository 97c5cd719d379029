//! The examples, run as their users run them: each binary is started on a free loopback port
//! and answers real HTTP requests (the S3 server's contract, the axum API, the plain hyper
//! server, the tonic gRPC-web service).

#![cfg(all(feature = "xml", feature = "json"))]

mod common;

use common::examples::{get, preflight, request, Running};
use common::{NOT_ALLOWED, VARY};

/// The text of one XML element, e.g. `<Code>`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

// ---------------------------------------------------------------------------------------------
// s3_server

#[test]
fn s3_server_starts_with_demo_bucket_and_prints_curl_lines() {
    let server = Running::start("s3_server");
    let printed = server.printed();
    let curl_lines: Vec<&str> = printed
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert!(curl_lines.len() >= 3, "curl lines expected, got:\n{printed}");
    assert!(curl_lines.iter().all(|l| l.contains(&server.url())));

    let buckets = get(server.addr, "/", &[]);
    assert_eq!(buckets.status, 200);
    assert_eq!(element(&buckets.text(), "Name"), Some("demo"));
    // The service endpoint is not a bucket: no CORS headers even with an Origin.
    let buckets = get(server.addr, "/", &[("Origin", "http://localhost:8080")]);
    assert!(!buckets.has_cors_headers());
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
fn s3_server_bucket_and_object_operations() {
    let server = Running::start("s3_server");
    let a = server.addr;
    assert_eq!(request(a, "PUT", "/photos", &[], b"").status, 200);
    assert_eq!(request(a, "HEAD", "/photos", &[], b"").status, 200);
    assert_eq!(request(a, "HEAD", "/nothing-here", &[], b"").status, 404);
    let bad_name = request(a, "PUT", "/Bad_Name", &[], b"");
    assert_eq!(
        (bad_name.status, element(&bad_name.text(), "Code")),
        (400, Some("InvalidBucketName"))
    );

    // ETag: the quoted MD5 hex of the object, as S3 sends it.
    let put = request(
        a,
        "PUT",
        "/photos/a%20cat.txt",
        &[("Content-Type", "text/plain")],
        b"meow",
    );
    assert_eq!(put.status, 200);
    assert_eq!(put.header("etag"), Some("\"4a4be40c96ac6314e91d93f38043a634\""));
    let got = get(a, "/photos/a%20cat.txt", &[]);
    assert_eq!((got.status, got.text()), (200, "meow".to_owned()));
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("etag"), put.header("etag"));
    assert!(got.header("x-amz-request-id").is_some());
    let head = request(a, "HEAD", "/photos/a%20cat.txt", &[], b"");
    assert_eq!((head.status, head.header("content-length")), (200, Some("4")));
    let range = get(a, "/photos/a%20cat.txt", &[("Range", "bytes=1-2")]);
    assert_eq!((range.status, range.text()), (206, "eo".to_owned()));

    // Content-MD5 is checked.
    let md5_ok = request(
        a,
        "PUT",
        "/photos/b",
        &[("Content-MD5", "SkvkDJasYxTpHZPzgEOmNA==")],
        b"meow",
    );
    assert_eq!(md5_ok.status, 200);
    let md5_bad = request(
        a,
        "PUT",
        "/photos/b",
        &[("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")],
        b"meow",
    );
    assert_eq!(
        (md5_bad.status, element(&md5_bad.text(), "Code")),
        (400, Some("BadDigest"))
    );

    let listing = get(a, "/photos?list-type=2", &[]).text();
    assert_eq!(element(&listing, "KeyCount"), Some("2"));
    assert_eq!(element(&listing, "Key"), Some("a cat.txt"));

    let missing_key = get(a, "/photos/nope", &[]);
    assert_eq!(missing_key.status, 404);
    assert_eq!(missing_key.header("content-type"), Some("application/xml"));
    let xml = missing_key.text();
    assert_eq!(element(&xml, "Code"), Some("NoSuchKey"));
    assert_eq!(
        element(&xml, "Message"),
        Some("The specified key does not exist.")
    );
    assert_eq!(element(&xml, "RequestId"), missing_key.header("x-amz-request-id"));
    let missing_bucket = get(a, "/nothing-here/key", &[]);
    assert_eq!(missing_bucket.status, 404);
    assert_eq!(element(&missing_bucket.text(), "Code"), Some("NoSuchBucket"));
    assert_eq!(
        element(&missing_bucket.text(), "Message"),
        Some("The specified bucket does not exist")
    );

    let not_empty = request(a, "DELETE", "/photos", &[], b"");
    assert_eq!(
        (not_empty.status, element(&not_empty.text(), "Code")),
        (409, Some("BucketNotEmpty"))
    );
    assert_eq!(request(a, "DELETE", "/photos/a%20cat.txt", &[], b"").status, 204);
    assert_eq!(request(a, "DELETE", "/photos/b", &[], b"").status, 204);
    assert_eq!(get(a, "/photos/a%20cat.txt", &[]).status, 404);
    assert_eq!(request(a, "DELETE", "/photos", &[], b"").status, 204);
    assert_eq!(request(a, "HEAD", "/photos", &[], b"").status, 404);

    // Features it does not have are refused, not ignored.
    let acl = request(a, "PUT", "/demo/hello.txt?acl", &[], b"<AccessControlPolicy/>");
    assert_eq!(
        (acl.status, element(&acl.text(), "Code")),
        (501, Some("NotImplemented"))
    );
    assert_eq!(
        get(a, "/demo/hello.txt", &[]).text(),
        "hello from tower-s3-cors\n"
    );
}

#[test]
fn s3_server_decodes_aws_chunked_uploads() {
    let server = Running::start("s3_server");
    let signed = request(
        server.addr,
        "PUT",
        "/demo/signed",
        &[
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "5"),
        ],
        b"5;chunk-signature=0123abcd\r\nhello\r\n0;chunk-signature=4567ef\r\n\r\n",
    );
    assert_eq!(signed.status, 200);
    assert_eq!(
        signed.header("etag"),
        Some("\"5d41402abc4b2a76b9719d911017c592\"")
    );
    let trailer = request(
        server.addr,
        "PUT",
        "/demo/trailer",
        &[
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        b"3\r\nhel\r\n2\r\nlo\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n",
    );
    assert_eq!(trailer.status, 200);
    for key in ["/demo/signed", "/demo/trailer"] {
        let got = get(server.addr, key, &[]);
        assert_eq!(got.text(), "hello");
        // `aws-chunked` described the upload, not the object.
        assert_eq!(got.header("content-encoding"), None);
    }
}

#[test]
fn s3_server_cors_configuration_operations() {
    let server = Running::start("s3_server");
    let a = server.addr;
    assert_eq!(request(a, "PUT", "/site", &[], b"").status, 200);

    let none = get(a, "/site?cors", &[]);
    assert_eq!(none.status, 404);
    assert_eq!(element(&none.text(), "Code"), Some("NoSuchCORSConfiguration"));
    assert_eq!(
        element(&none.text(), "Message"),
        Some("The CORS configuration does not exist")
    );
    // P3: a bucket without CORS refuses every preflight, even for an object URL.
    let p3 = preflight(a, "/site/index.html", "https://site.example", "GET", "");
    assert_eq!(p3.status, 403);
    assert_eq!(
        element(&p3.text(), "Message"),
        Some("CORSResponse: CORS is not enabled for this bucket.")
    );
    assert_eq!(element(&p3.text(), "ResourceType"), Some("BUCKET"));
    // P2: a bucket that does not exist.
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
    assert_eq!(request(a, "PUT", "/site?cors", &[], rules.as_bytes()).status, 200);
    let stored = get(a, "/site?cors", &[]);
    assert_eq!(stored.status, 200);
    assert_eq!(stored.header("content-type"), Some("application/xml"));
    let xml = stored.text();
    assert_eq!(element(&xml, "ID"), Some("Site &amp; app"));
    assert_eq!(element(&xml, "AllowedOrigin"), Some("https://*.site.example"));
    assert_eq!(element(&xml, "AllowedHeader"), Some("X-Amz-*"));
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

    // An invalid configuration gets S3's code and message, and changes nothing.
    let invalid = "<CORSConfiguration><CORSRule><AllowedOrigin>*example*.com</AllowedOrigin>\
        <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let refused = request(a, "PUT", "/site?cors", &[], invalid.as_bytes());
    assert_eq!(refused.status, 400);
    assert_eq!(element(&refused.text(), "Code"), Some("InvalidRequest"));
    assert_eq!(
        element(&refused.text(), "Message"),
        Some("AllowedOrigin \"*example*.com\" can not have more than one wildcard.")
    );
    assert_eq!(
        element(&refused.text(), "RequestId"),
        refused.header("x-amz-request-id")
    );
    let malformed = request(a, "PUT", "/site?cors", &[], b"<CORSConfiguration>");
    assert_eq!(element(&malformed.text(), "Code"), Some("MalformedXML"));
    let method = request(
        a,
        "PUT",
        "/site?cors",
        &[],
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    assert_eq!(
        element(&method.text(), "Message"),
        Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
    );
    let too_big = vec![b' '; 64 * 1024 + 1];
    let too_big = request(a, "PUT", "/site?cors", &[], &too_big);
    assert_eq!(too_big.status, 400);
    assert_eq!(element(&too_big.text(), "Code"), Some("MaxMessageLengthExceeded"));
    assert_eq!(
        element(&too_big.text(), "Message"),
        Some("Your request was too big.")
    );
    assert_eq!(
        element(&get(a, "/site?cors", &[]).text(), "ID"),
        Some("Site &amp; app")
    );

    // DeleteBucketCors: 204, also when there is nothing to delete.
    assert_eq!(request(a, "DELETE", "/site?cors", &[], b"").status, 204);
    assert_eq!(request(a, "DELETE", "/site?cors", &[], b"").status, 204);
    assert_eq!(get(a, "/site?cors", &[]).status, 404);
    let missing = request(a, "PUT", "/nothing-here?cors", &[], rules.as_bytes());
    assert_eq!(element(&missing.text(), "Code"), Some("NoSuchBucket"));
}

#[test]
fn s3_server_errors_to_an_allowed_origin_carry_cors_headers() {
    let server = Running::start("s3_server");
    let missing = get(
        server.addr,
        "/demo/missing.txt",
        &[("Origin", "https://app.example.com")],
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    // A bucket without configuration: the answer is unchanged, no CORS headers.
    assert_eq!(request(server.addr, "PUT", "/plain", &[], b"").status, 200);
    let plain = get(server.addr, "/plain/x", &[("Origin", "https://app.example.com")]);
    assert_eq!(plain.status, 404);
    assert!(!plain.has_cors_headers());
}

#[test]
fn s3_server_serves_connections_concurrently_and_bounds_bodies() {
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

    // An object over 64 MiB is refused from its Content-Length, before any body is read.
    let huge = request(
        server.addr,
        "PUT",
        "/demo/huge",
        &[("Content-Length", "67108865"), ("Connection", "close")],
        b"",
    );
    assert_eq!(huge.status, 400);
    assert_eq!(element(&huge.text(), "Code"), Some("EntityTooLarge"));
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

fn grpc_web_call(addr: std::net::SocketAddr, origin: &str, name: &str) -> common::examples::Reply {
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
    let output = std::process::Command::new(common::examples::example("decision_log"))
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
