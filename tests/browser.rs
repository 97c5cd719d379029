//! Real browsers against the example S3 server: Chromium, Firefox and WebKit each load a page
//! from another loopback origin whose `fetch()` calls exercise the buckets' CORS rules, and the
//! test asserts every engine's verdicts (allowed or blocked, which headers and statuses the
//! page could read). One case list, run in all three engines by `browsers::run_cases`; the
//! other examples and the preflight cache are in `browser_examples.rs`.
//!
//! The engines are Debian's `chromium`, `firefox-esr` and WebKitGTK's `MiniBrowser` under
//! `Xvfb`, installed by `.ci/run`. Without one the test fails in CI (`CI` set) and runs in the
//! other engines locally, with a message naming the missing one.

#![cfg(all(feature = "xml", feature = "json"))]

mod browsers;
mod support;

use std::net::SocketAddr;

use browsers::{run_cases, Case, PageServer};
use support::{get, request, Running};

fn put(addr: SocketAddr, path: &str, body: &str) {
    let reply = request(addr, "PUT", path, &[], body.as_bytes());
    assert_eq!(reply.status, 200, "PUT {path}: {}", reply.text());
}

// ---------------------------------------------------------------------------------------------
// s3_server

#[test]
fn s3_server_verdicts_in_every_engine() {
    let s3 = Running::start("s3_server");
    let page = PageServer::loopback();
    let page_origin = page.origin().to_owned();

    // `browser`: the page's origin may GET and PUT with x-amz-* headers; only ETag is exposed.
    put(s3.addr, "/browser", "");
    put(
        s3.addr,
        "/browser?cors",
        &format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>{page_origin}</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
             <AllowedHeader>content-type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader>\
             <ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>"
        ),
    );
    put(s3.addr, "/browser/seed.txt", "seed");
    // The object each engine's page uploads, stored once beforehand for its ETag (the same
    // bytes give the same ETag).
    put(s3.addr, "/browser/upload.txt", "uploaded from the page");
    let etag = get(s3.addr, "/browser/upload.txt", &[])
        .header("etag")
        .expect("ETag")
        .to_owned();
    // `public`: any origin may GET (Access-Control-Allow-Origin: *).
    put(s3.addr, "/public", "");
    put(
        s3.addr,
        "/public?cors",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    put(s3.addr, "/public/readme.txt", "public readme");
    // `private`: no CORS configuration.
    put(s3.addr, "/private", "");
    put(s3.addr, "/private/secret.txt", "secret");

    let prelude = format!("const S3 = {:?};", s3.url());
    let cases = [
        // Preflighted: x-amz-* headers are not CORS-safelisted. ETag is exposed, x-amz-request-id
        // is not.
        Case::new(
            "put_with_amz_headers",
            r#"const r = await fetch(S3 + "/browser/upload.txt", {
      method: "PUT",
      headers: { "Content-Type": "text/plain", "x-amz-meta-owner": "page", "x-amz-date": "20240101T000000Z" },
      body: "uploaded from the page",
    });
    return "status=" + r.status + " etag=" + r.headers.get("ETag") + " request-id=" + r.headers.get("x-amz-request-id");"#,
            format!("allowed status=200 etag={etag} request-id=null"),
        ),
        // The rule names the origin: it is echoed with Allow-Credentials, so credentials work.
        Case::new(
            "get_credentialed",
            r#"const r = await fetch(S3 + "/browser/upload.txt", { credentials: "include" });
    return "status=" + r.status + " body=" + await r.text();"#,
            "allowed status=200 body=uploaded from the page",
        ),
        // x-custom-token matches no AllowedHeader: the preflight gets 403, the PUT is never sent.
        Case::new(
            "refused_header",
            r#"const r = await fetch(S3 + "/browser/refused.txt", { method: "PUT", headers: { "x-custom-token": "secret" }, body: "x" });
    return "status=" + r.status;"#,
            "blocked TypeError",
        ),
        // DELETE is not an AllowedMethod: same.
        Case::new(
            "refused_method",
            r#"const r = await fetch(S3 + "/browser/seed.txt", { method: "DELETE" });
    return "status=" + r.status;"#,
            "blocked TypeError",
        ),
        // A `*` rule answers `Access-Control-Allow-Origin: *`: fine without credentials...
        Case::new(
            "star_without_credentials",
            r#"const r = await fetch(S3 + "/public/readme.txt");
    return "status=" + r.status + " body=" + await r.text();"#,
            "allowed status=200 body=public readme",
        ),
        // ...and refused by the browser with them.
        Case::new(
            "star_with_credentials",
            r#"const r = await fetch(S3 + "/public/readme.txt", { credentials: "include" });
    return "status=" + r.status;"#,
            "blocked TypeError",
        ),
        // No configuration: the response has no CORS headers, the page cannot read it.
        Case::new(
            "bucket_without_cors",
            r#"const r = await fetch(S3 + "/private/secret.txt");
    return "status=" + r.status;"#,
            "blocked TypeError",
        ),
        // ...but a `no-cors` request still goes out and gives the page an opaque response:
        // status 0, nothing readable. CORS protects reading, not sending.
        Case::new(
            "bucket_without_cors_no_cors_mode",
            r#"const r = await fetch(S3 + "/private/secret.txt", { mode: "no-cors" });
    return "type=" + r.type + " status=" + r.status + " body=" + JSON.stringify(await r.text());"#,
            r#"allowed type=opaque status=0 body="""#,
        ),
        // S3 adds CORS headers to error responses too: the page reads the 404 and its code.
        Case::new(
            "missing_key_404_readable",
            r#"const r = await fetch(S3 + "/browser/missing.txt");
    const code = ((await r.text()).match(/<Code>(.*?)<\/Code>/) || [])[1];
    return "status=" + r.status + " code=" + code;"#,
            "allowed status=404 code=NoSuchKey",
        ),
        Case::new(
            "missing_bucket",
            r#"const r = await fetch(S3 + "/no-such-bucket/key");
    return "status=" + r.status;"#,
            "blocked TypeError",
        ),
    ];

    run_cases("s3_server", &page, &prelude, &cases, |_| {
        // What the server stored, to compare with what the page read.
        let uploaded = get(s3.addr, "/browser/upload.txt", &[]);
        let mut failures = Vec::new();
        if uploaded.status != 200 || uploaded.header("x-amz-meta-owner") != Some("page") {
            failures.push(format!(
                "the page's PUT did not store x-amz-meta-owner: {:?}",
                uploaded.headers
            ));
        }
        // The refused requests never reached the server.
        if get(s3.addr, "/browser/seed.txt", &[]).status != 200 {
            failures.push("the refused DELETE deleted seed.txt".to_owned());
        }
        if get(s3.addr, "/browser/refused.txt", &[]).status != 404 {
            failures.push("the refused PUT stored refused.txt".to_owned());
        }
        // Each engine starts from an object without the page's metadata.
        put(s3.addr, "/browser/upload.txt", "uploaded from the page");
        failures
    });
}
