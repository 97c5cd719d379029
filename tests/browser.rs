//! Real browsers against the example S3 server: Chromium, Firefox and WebKit each load a page
//! from another loopback origin whose `fetch()` calls exercise the buckets' CORS rules (uploads
//! and downloads through presigned URLs, a public-read bucket read anonymously, S3's 403 and 404
//! answers read by the page), and the test asserts every engine's verdicts (allowed or blocked,
//! which headers the page could read).
//! Then the internal API example: pages on other sites (other loopback addresses) send it form
//! `POST`s, `no-cors` requests and an `<img>`; its counter shows whether the handler ran, with
//! the protection and without it, in every engine. The other examples and the preflight cache
//! are in `browser_examples.rs`.
//!
//! The engines are Debian's `chromium`, `firefox-esr` and WebKitGTK's `MiniBrowser` under
//! `Xvfb`, installed by `.ci/run` (see `browsers/mod.rs`). Without one the test fails in CI
//! (`CI` set) and runs in the other engines locally, with a message naming the missing one.

#![cfg(all(feature = "xml", feature = "json"))]

mod browsers;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use browsers::{Browser, PageServer};
use support::s3::{presign, signed};
use support::{get, request, Running};

/// The page: one `fetch()` per case, each line `case: allowed <what the page read>` or
/// `case: blocked <error name>`, then `DONE`. `urls` are the presigned URLs, by name.
fn page(s3: &str, urls: &[(&str, String)]) -> String {
    let urls: String = urls
        .iter()
        .map(|(name, path)| format!("const {name} = S3 + {path:?};\n"))
        .collect();
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>tower-s3-cors in a browser</title></head>
<body><pre id="out"></pre>
<script>
const S3 = "{s3}";
{urls}
const out = document.getElementById("out");
const log = (line) => {{ out.textContent += line + "\n"; }};
const code = async (r) => ((await r.text()).match(/<Code>(.*?)<\/Code>/) || [])[1];
async function run(name, call) {{
  try {{ log(name + ": allowed " + await call()); }}
  catch (e) {{ log(name + ": blocked " + e.name); }}
}}
async function main() {{
  // A presigned PUT with application/json: not CORS-safelisted, so the browser preflights.
  // ETag is exposed, x-amz-request-id is not.
  await run("presigned_put_json", async () => {{
    const r = await fetch(PUT_URL, {{
      method: "PUT",
      headers: {{ "Content-Type": "application/json" }},
      body: JSON.stringify({{ from: "the page" }}),
    }});
    return "status=" + r.status + " etag=" + r.headers.get("ETag") + " request-id=" + r.headers.get("x-amz-request-id");
  }});
  await run("presigned_get", async () => {{
    const r = await fetch(GET_URL);
    return "status=" + r.status + " type=" + r.headers.get("Content-Type") + " body=" + await r.text();
  }});
  await run("public_read_anonymous", async () => {{
    const r = await fetch(S3 + "/public/readme.txt");
    return "status=" + r.status + " body=" + await r.text();
  }});
  await run("public_read_with_credentials", async () => {{
    const r = await fetch(S3 + "/public/readme.txt", {{ credentials: "include" }});
    return "status=" + r.status;
  }});
  await run("public_missing_key_404_readable", async () => {{
    const r = await fetch(S3 + "/public/missing.txt");
    return "status=" + r.status + " code=" + await code(r);
  }});
  await run("private_anonymous_read_403_readable", async () => {{
    const r = await fetch(S3 + "/browser/seed.txt");
    return "status=" + r.status + " code=" + await code(r);
  }});
  await run("anonymous_write_403_readable", async () => {{
    const r = await fetch(S3 + "/browser/anonymous.txt", {{ method: "PUT", body: "x" }});
    return "status=" + r.status + " code=" + await code(r);
  }});
  await run("refused_header", async () => {{
    const r = await fetch(REFUSED_URL, {{ method: "PUT", headers: {{ "x-custom-token": "secret" }}, body: "x" }});
    return "status=" + r.status;
  }});
  await run("refused_method", async () => {{
    const r = await fetch(DELETE_URL, {{ method: "DELETE" }});
    return "status=" + r.status;
  }});
  await run("bucket_without_cors", async () => {{
    const r = await fetch(S3 + "/plain/readme.txt");
    return "status=" + r.status;
  }});
  log("DONE");
}}
main();
</script></body></html>
"#
    )
}

fn put(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) {
    let reply = signed(addr, "PUT", path, headers, body.as_bytes());
    assert_eq!(reply.status, 200, "PUT {path}: {}", reply.text());
}

#[test]
fn s3_server_verdicts_in_every_engine() {
    let s3 = Running::start("s3_server");
    let host = s3.addr.to_string();
    // The page's origin is known before the page: start its server first.
    let page_server = PageServer::loopback();
    let page_origin = page_server.origin().to_owned();

    // `browser` (private): the page's origin may GET and PUT with Content-Type; only ETag is
    // exposed.
    put(s3.addr, "/browser", &[], "");
    put(
        s3.addr,
        "/browser?cors",
        &[],
        &format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>{page_origin}</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
             <AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
             </CORSRule></CORSConfiguration>"
        ),
    );
    put(s3.addr, "/browser/seed.txt", &[], "seed");
    // `public` (public-read): any origin may GET (Access-Control-Allow-Origin: *).
    put(s3.addr, "/public", &[("x-amz-acl", "public-read")], "");
    put(
        s3.addr,
        "/public?cors",
        &[],
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    put(s3.addr, "/public/readme.txt", &[], "public readme");
    // `plain` (public-read): no CORS configuration.
    put(s3.addr, "/plain", &[("x-amz-acl", "public-read")], "");
    put(s3.addr, "/plain/readme.txt", &[], "plain readme");

    let valid = Duration::from_secs(600);
    let urls = [
        ("PUT_URL", presign(&host, "PUT", "/browser/upload.json", valid)),
        ("GET_URL", presign(&host, "GET", "/browser/upload.json", valid)),
        (
            "REFUSED_URL",
            presign(&host, "PUT", "/browser/refused.txt", valid),
        ),
        ("DELETE_URL", presign(&host, "DELETE", "/browser/seed.txt", valid)),
    ];
    page_server.set_log_page(&page(&s3.url(), &urls));

    browsers::for_each_engine("s3_server", |browser| {
        let results = browser
            .load_log(&page_server, &page_server.url())
            .unwrap_or_else(|e| panic!("{e}"));
        let verdict = |case: &str| -> String {
            results
                .lines()
                .find_map(|line| line.strip_prefix(case).and_then(|rest| rest.strip_prefix(": ")))
                .unwrap_or_else(|| panic!("no result for {case} in:\n{results}"))
                .to_owned()
        };

        // What the server stored, to compare with what the page read.
        let uploaded = signed(s3.addr, "GET", "/browser/upload.json", &[], b"");
        assert_eq!(uploaded.status, 200, "the browser's PUT reached the server");
        assert_eq!(uploaded.text(), r#"{"from":"the page"}"#);
        assert_eq!(uploaded.header("content-type"), Some("application/json"));
        let etag = uploaded.header("etag").expect("ETag").to_owned();

        let expected = [
            // Preflight allowed; the exposed ETag is readable, the unexposed x-amz-request-id is not.
            (
                "presigned_put_json",
                format!("allowed status=200 etag={etag} request-id=null"),
            ),
            (
                "presigned_get",
                r#"allowed status=200 type=application/json body={"from":"the page"}"#.to_owned(),
            ),
            // A `*` rule answers `Access-Control-Allow-Origin: *`: fine without credentials...
            (
                "public_read_anonymous",
                "allowed status=200 body=public readme".to_owned(),
            ),
            // ...and refused by the browser with them.
            ("public_read_with_credentials", "blocked TypeError".to_owned()),
            // S3 adds CORS headers to error responses too: the page reads the error's code.
            (
                "public_missing_key_404_readable",
                "allowed status=404 code=NoSuchKey".to_owned(),
            ),
            (
                "private_anonymous_read_403_readable",
                "allowed status=403 code=AccessDenied".to_owned(),
            ),
            (
                "anonymous_write_403_readable",
                "allowed status=403 code=AccessDenied".to_owned(),
            ),
            // x-custom-token matches no AllowedHeader: the preflight gets 403, the PUT is never sent.
            ("refused_header", "blocked TypeError".to_owned()),
            // DELETE is not an AllowedMethod: same, although the URL is validly signed.
            ("refused_method", "blocked TypeError".to_owned()),
            // No configuration: the response has no CORS headers, the page cannot read it.
            ("bucket_without_cors", "blocked TypeError".to_owned()),
        ];
        for (case, want) in &expected {
            assert_eq!(&verdict(case), want, "case {case}; all results:\n{results}");
        }
        // The refused requests never reached the server.
        assert_eq!(signed(s3.addr, "GET", "/browser/seed.txt", &[], b"").status, 200);
        assert_eq!(
            signed(s3.addr, "GET", "/browser/refused.txt", &[], b"").status,
            404
        );
        assert_eq!(
            signed(s3.addr, "GET", "/browser/anonymous.txt", &[], b"").status,
            404
        );
        Vec::new()
    });
}

// --- Protecting an internal API (examples/internal_api.rs) ---

/// Another site's page: a form `POST` into a hidden frame, then a `no-cors` `fetch()` POST, to
/// the API named by `?api=`. Neither can read the answer; only the counter tells whether the
/// handler ran.
const FOREIGN_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>another site</title></head>
<body><pre id="out"></pre>
<iframe name="sink" id="sink"></iframe>
<form id="csrf" method="POST" target="sink" enctype="text/plain"><input name="x" value="1"></form>
<script>
const API = new URLSearchParams(location.search).get("api");
const out = document.getElementById("out");
const log = (line) => { out.textContent += line + "\n"; };
async function main() {
  const form = document.getElementById("csrf");
  form.action = API + "/api/counter/increment";
  await new Promise((done) => {
    document.getElementById("sink").onload = done;
    setTimeout(done, 5000);
    form.submit();
  });
  log("form_post: submitted");
  // An <img>: cross-site, no Origin at all.
  await new Promise((done) => {
    const img = new Image();
    img.onload = img.onerror = done;
    img.src = API + "/api/counter";
  });
  log("image: loaded");
  try {
    const r = await fetch(API + "/api/counter/increment", { method: "POST", mode: "no-cors", body: "x" });
    log("no_cors_post: sent type=" + r.type);
  } catch (e) { log("no_cors_post: blocked " + e.name); }
  log("DONE");
}
main();
</script></body></html>
"#;

/// Another site's page that submits a form `POST` to the API as a top-level navigation.
const FOREIGN_TOP_LEVEL_FORM: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>another site</title></head>
<body>
<form id="csrf" method="POST" enctype="application/x-www-form-urlencoded"><input name="x" value="1"></form>
<script>
const form = document.getElementById("csrf");
form.action = new URLSearchParams(location.search).get("api") + "/api/counter/increment";
form.submit();
</script></body></html>
"#;

/// The web app's page on an allowed origin: a preflighted JSON `POST`, reading the answer.
const ALLOWED_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>the web app</title></head>
<body><pre id="out"></pre>
<script>
const API = new URLSearchParams(location.search).get("api");
const out = document.getElementById("out");
const log = (line) => { out.textContent += line + "\n"; };
async function main() {
  try {
    const r = await fetch(API + "/api/counter/increment", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    });
    log("allowed_post: status=" + r.status + " body=" + await r.text());
  } catch (e) { log("allowed_post: blocked " + e.name); }
  log("DONE");
}
main();
</script></body></html>
"#;

/// The counter, read as curl would (no `Origin`, no Fetch Metadata).
fn count(api: &Running) -> u64 {
    let reply = get(api.addr, "/api/counter", &[]);
    assert_eq!(reply.status, 200, "GET /api/counter: {}", reply.text());
    let text = reply.text();
    text.strip_prefix("{\"count\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected counter answer {text:?}"))
}

/// What the handler saw of another site's attacks: the counter after the framed form `POST`
/// and `no-cors` `fetch()`, then after a top-level form `POST`. `runs`: whether the handler is
/// expected to run (the top-level POST is then awaited on the counter; otherwise the counter
/// is watched for 3 s after the page was served, as the layer's refusal leaves no trace).
fn attack(browser: &Browser, api: &Running, runs: bool) -> (u64, u64) {
    let foreign = PageServer::on("127.0.0.2");
    foreign.set_log_page(FOREIGN_PAGE);
    let results = browser
        .load_log(&foreign, &format!("{}?api={}", foreign.url(), api.url()))
        .unwrap_or_else(|e| panic!("another site's page: {e}"));
    println!("another site's page:\n{results}");
    let after_page = count(api);
    let top_level = PageServer::on("127.0.0.2");
    top_level.set_page(FOREIGN_TOP_LEVEL_FORM.to_owned());
    // The form navigates away at once and reports nothing: the counter is the verdict.
    let session = browser
        .open(&format!("{}?api={}", top_level.url(), api.url()))
        .unwrap_or_else(|e| panic!("the top-level form: {e}"));
    if runs {
        session
            .wait_for("the top-level form POST", || count(api) > after_page)
            .unwrap_or_else(|e| panic!("{e}"));
    } else {
        session
            .wait_for("the top-level form page", || top_level.pages_served() > 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let moved = session.happens_within(Duration::from_secs(3), || count(api) != after_page);
        assert!(!moved, "the top-level form POST ran the handler");
    }
    drop(session);
    (after_page, count(api))
}

#[test]
fn internal_api_refuses_other_sites_before_the_handler_runs() {
    // The web app's page, on an origin the API allows (its own site: 127.0.0.3).
    let app = PageServer::on("127.0.0.3");
    app.set_log_page(ALLOWED_PAGE);
    let app_origin = app.origin().to_owned();
    browsers::for_each_engine("internal_api_protected", |browser| {
        let api = Running::start_with("internal_api", &["--allow-origin", &app_origin]);

        // Another site's form POST and no-cors fetch: refused by the layer, the counter unchanged.
        let (after_page, after_top_level) = attack(browser, &api, false);
        println!("protected: counter after the framed form and no-cors POST: {after_page}, after the top-level form POST: {after_top_level}");
        assert_eq!((after_page, after_top_level), (0, 0), "the handler never ran");

        // The allowed origin's preflighted fetch works and reads the answer.
        let results = browser
            .load_log(&app, &format!("{}?api={}", app.url(), api.url()))
            .unwrap_or_else(|e| panic!("the allowed origin's page: {e}"));
        assert!(
            results.contains("allowed_post: status=200 body={\"count\":1}"),
            "{results}"
        );

        // The API's own page (same origin) works: its POST carries an Origin no rule lists, and
        // Sec-Fetch-Site: same-origin. It reports nothing to us: the counter is the verdict.
        let own = browser
            .open(&format!("{}/#increment", api.url()))
            .unwrap_or_else(|e| panic!("the same-origin page: {e}"));
        own.wait_for("the same-origin POST", || count(&api) == 2)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(own);

        // A client without Origin or Fetch Metadata (curl, another server).
        let reply = request(api.addr, "POST", "/api/counter/increment", &[], b"");
        assert_eq!((reply.status, reply.text()), (200, "{\"count\":3}".to_owned()));
        Vec::new()
    });
}

#[test]
fn internal_api_unprotected_lets_other_sites_change_state() {
    browsers::for_each_engine("internal_api_unprotected", |browser| {
        // The control run: plain S3 CORS. The browser sends the simple requests and the handler
        // runs; CORS only keeps the page from reading the answers.
        let api = Running::start_with("internal_api", &["--unprotected"]);
        let (after_page, after_top_level) = attack(browser, &api, true);
        println!("unprotected: counter after the framed form and no-cors POST: {after_page}, after the top-level form POST: {after_top_level}");
        assert_eq!(
            (after_page, after_top_level),
            (2, 3),
            "every attack ran the handler"
        );
        Vec::new()
    });
}

/// A request as the browser sent it: method, path, header fields in order.
#[derive(Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

/// A loopback server standing in for the API that records every request's head and answers
/// `200 {"count":0}`, so the Fetch Metadata and Origin the browser really sends can be judged.
fn record_requests(host: &str) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind((host, 0)).expect("bind recorder");
    let addr = listener.local_addr().expect("recorder address");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&mut stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut parts = request_line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
                line.clear();
            }
            // Read the body, so closing the connection does not reset it.
            let length = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(1 << 16);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if let Ok(mut log) = seen.lock() {
                log.push(Recorded {
                    method,
                    path,
                    headers,
                });
            }
            let body = "{\"count\":0}";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, log)
}

/// Whether the handler would run for `recorded` under `options`, with the example's rules
/// (only `http://localhost:5173` allowed): the pure decision, no server.
fn handler_runs(recorded: &Recorded, options: &tower_s3_cors::CorsOptions) -> bool {
    let mut builder = http::Request::builder()
        .method(recorded.method.as_str())
        .uri(recorded.path.as_str());
    for (name, value) in &recorded.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(()).expect("a request the browser sent");
    let policy = tower_s3_cors::CorsPolicy::new(
        tower_s3_cors::CorsConfiguration::from_json(
            r#"[{"AllowedOrigins": ["http://localhost:5173"], "AllowedMethods": ["GET", "POST"],
                 "AllowedHeaders": ["content-type"]}]"#,
        )
        .expect("valid rules"),
    );
    !matches!(
        policy.evaluate_with(&request, options),
        tower_s3_cors::Decision::Refuse(_)
    )
}

#[test]
fn attacks_judged_by_enforce_and_by_fetch_metadata_each_alone() {
    use tower_s3_cors::fetch_metadata::FetchMetadata;
    use tower_s3_cors::CorsOptions;
    let foreign = PageServer::on("127.0.0.2");
    foreign.set_log_page(FOREIGN_PAGE);
    let top_level = PageServer::on("127.0.0.2");
    top_level.set_page(FOREIGN_TOP_LEVEL_FORM.to_owned());
    browsers::for_each_engine("attacks_judged", |browser| {
        let (recorder, log) = record_requests("127.0.0.1");
        let api = format!("http://{recorder}");
        browser
            .load_log(&foreign, &format!("{}?api={api}", foreign.url()))
            .unwrap_or_else(|e| panic!("another site's page: {e}"));
        let session = browser
            .open(&format!("{}?api={api}", top_level.url()))
            .unwrap_or_else(|e| panic!("the top-level form: {e}"));
        let posts = || {
            log.lock()
                .expect("recorder log")
                .iter()
                .filter(|r| r.method == "POST")
                .count()
        };
        session
            .wait_for("the top-level form POST", || posts() == 3)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(session);

        let log = log.lock().expect("recorder log");
        let header = |r: &Recorded, name: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n == name)
                .map_or("-", |(_, v)| v.as_str())
                .to_owned()
        };
        let enforce = CorsOptions::new().enforce(true);
        let fetch_metadata = CorsOptions::new().fetch_metadata(FetchMetadata::new());
        let mut verdicts = Vec::new();
        for r in log.iter().filter(|r| r.path.starts_with("/api/")) {
            let line = format!(
                "{} {} origin={} site={} mode={} dest={}: S3 {}, enforce {}, Fetch Metadata {}",
                r.method,
                r.path,
                header(r, "origin"),
                header(r, "sec-fetch-site"),
                header(r, "sec-fetch-mode"),
                header(r, "sec-fetch-dest"),
                if handler_runs(r, &CorsOptions::new()) {
                    "runs"
                } else {
                    "refuses"
                },
                if handler_runs(r, &enforce) {
                    "runs"
                } else {
                    "refuses"
                },
                if handler_runs(r, &fetch_metadata) {
                    "runs"
                } else {
                    "refuses"
                },
            );
            verdicts.push(line);
        }
        println!(
            "what {} sent from another site, and who lets the handler run:\n{}",
            browser.engine(),
            verdicts.join("\n")
        );
        let origin = foreign.origin();
        let origin_top = top_level.origin();
        let expected = [
        format!("POST /api/counter/increment origin={origin} site=cross-site mode=navigate dest=iframe: S3 runs, enforce refuses, Fetch Metadata refuses"),
        "GET /api/counter origin=- site=cross-site mode=no-cors dest=image: S3 runs, enforce runs, Fetch Metadata refuses".to_owned(),
        format!("POST /api/counter/increment origin={origin} site=cross-site mode=no-cors dest=empty: S3 runs, enforce refuses, Fetch Metadata refuses"),
        format!("POST /api/counter/increment origin={origin_top} site=cross-site mode=navigate dest=document: S3 runs, enforce refuses, Fetch Metadata refuses"),
    ];
        assert_eq!(verdicts, expected);
        Vec::new()
    });
}
