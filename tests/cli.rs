//! The `tower-s3-cors` command line: exit statuses, `--help`, `--json`, `explain` against the
//! real layer, and `convert` round trips. Needs `--features cli`.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::{CorsConfiguration, CorsLayer, RequestIds};

const BIN: &str = env!("CARGO_BIN_EXE_tower-s3-cors");

const CLEAN: &str = r#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <ID>uploads</ID>
    <AllowedOrigin>https://app.example.com</AllowedOrigin>
    <AllowedOrigin>https://*.example.org</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>Content-Type</AllowedHeader>
    <AllowedHeader>x-amz-*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>600</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <ID>public-read</ID>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
  </CORSRule>
</CORSConfiguration>
"#;

const WARNINGS: &str = r#"{"CORSRules": [
  {"ID": "web", "AllowedOrigins": ["https://app.example.com/"], "AllowedMethods": ["GET"]},
  {"ID": "web", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
  {"AllowedOrigins": ["https://admin.example.com"], "AllowedMethods": ["GET"]}
]}"#;

const INVALID: &str = "<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>*</AllowedOrigin>\n    \
                       <AllowedMethod>get</AllowedMethod>\n  </CORSRule>\n</CORSConfiguration>\n";

/// Writes `content` to a file of its own for this test.
fn file(name: &str, content: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    std::fs::write(&path, content).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}: {}", stdout(output)))
}

// ---- exit statuses and --help ----

#[test]
fn lint_exits_0_when_clean() {
    let path = file("clean.xml", CLEAN);
    let output = run(&["lint", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).ends_with("no problems found\n"));
}

#[test]
fn lint_exits_1_with_warnings_each_with_code_rule_and_fix() {
    let path = file("warnings.json", WARNINGS);
    let output = run(&["lint", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains(
        "warning[origin-trailing-slash]: rule 0 (ID \"web\"), AllowedOrigin \"https://app.example.com/\"\n"
    ));
    assert!(text.contains("  fix: write \"https://app.example.com\"\n"));
    assert!(text.contains("warning[duplicate-id]: rule 1 (ID \"web\")"));
    assert!(text.contains("warning[rule-shadowed]: rule 2\n"));
    assert!(text.ends_with(": 3 warnings\n"), "{text}");
}

#[test]
fn lint_exits_2_with_s3s_code_message_and_place() {
    let path = file("invalid.xml", INVALID);
    let output = run(&["lint", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "error[InvalidRequest]: Found unsupported HTTP method in CORS config. Unsupported method is get\n"
        ),
        "{text}"
    );
    assert!(text.contains(":2:3, rule 0, AllowedMethod \"get\""), "{text}");
}

#[test]
fn lint_reports_malformed_documents_with_line_and_column() {
    let output = run_stdin(
        &["lint", "--json", "-"],
        "{\"CORSRules\": [\n  {\"AllowedOrigins\": [}\n]}",
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let value = json(&output);
    assert_eq!(value["valid"], false);
    assert_eq!(value["format"], "json");
    assert_eq!(value["error"]["code"], "MalformedXML");
    assert_eq!(
        value["error"]["message"],
        "The XML you provided was not well-formed or did not validate against our published schema"
    );
    assert_eq!(value["error"]["line"], 2);
}

#[test]
fn lint_exits_3_when_the_file_cannot_be_read() {
    let output = run(&["lint", "/nonexistent/cors.xml"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/cors.xml"));
}

#[test]
fn bad_arguments_exit_3() {
    let path = file("args.xml", CLEAN);
    // Neither --method nor --preflight.
    let output = run(&["explain", path.to_str().unwrap(), "--origin", "https://a.example"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    // Both.
    let output = run(&[
        "explain",
        path.to_str().unwrap(),
        "--method",
        "GET",
        "--preflight",
    ]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let output = run(&["convert", path.to_str().unwrap(), "--to", "yaml"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["lint", "--help"],
        &["explain", "--help"],
        &["convert", "--help"],
        &["help", "lint"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage: tower-s3-cors"), "{args:?}");
    }
    let lint_help = stdout(&run(&["lint", "--help"]));
    for code in tower_s3_cors::lint::LintCode::ALL {
        assert!(lint_help.contains(code.as_str()), "lint --help lacks {code}");
    }
}

#[test]
fn lint_json_lists_warnings_for_programs() {
    let path = file("warnings-json.json", WARNINGS);
    let output = run(&["lint", "--json", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(value["valid"], true);
    let warnings = value["warnings"].as_array().unwrap();
    let codes: Vec<&str> = warnings.iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["origin-trailing-slash", "duplicate-id", "rule-shadowed"]);
    assert_eq!(warnings[0]["rule_index"], 0);
    assert_eq!(warnings[0]["rule_id"], "web");
    assert_eq!(warnings[0]["field"], "AllowedOrigin");
    assert_eq!(warnings[0]["value"], "https://app.example.com/");
    assert!(warnings[0]["fix"]
        .as_str()
        .unwrap()
        .contains("https://app.example.com\""));
    assert_eq!(warnings[2]["related_rules"], serde_json::json!([1]));
}

// ---- convert ----

#[test]
fn convert_round_trips_xml_through_json() {
    let path = file("round.xml", CLEAN);
    let output = run(&["convert", path.to_str().unwrap(), "--to", "json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json_text = stdout(&output);
    let original = CorsConfiguration::from_xml(CLEAN).unwrap();
    assert_eq!(CorsConfiguration::from_json(&json_text).unwrap(), original);

    let back = run_stdin(&["convert", "-", "--to", "xml"], &json_text);
    assert_eq!(back.status.code(), Some(0), "{back:?}");
    assert_eq!(stdout(&back), format!("{}\n", original.to_xml()));
    assert_eq!(
        CorsConfiguration::from_xml(stdout(&back).trim_end()).unwrap(),
        original
    );
}

#[test]
fn a_closed_standard_output_ends_the_command_without_a_panic() {
    // `tower-s3-cors lint x | head` closes the pipe early; `println!` would panic there.
    let path = file("closed-pipe.xml", CLEAN);
    for args in [
        vec!["convert", path.to_str().unwrap(), "--to", "json"],
        vec!["lint", path.to_str().unwrap()],
        vec!["lint", "--json", path.to_str().unwrap()],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(BIN)
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.is_empty(),
            "{args:?}: a closed pipe is not an error to report: {stderr}"
        );
    }
}

#[test]
fn convert_round_trips_json_through_xml() {
    let original = CorsConfiguration::from_json(WARNINGS).unwrap();
    let xml = run_stdin(&["convert", "-", "--to", "xml"], WARNINGS);
    assert_eq!(xml.status.code(), Some(0), "{xml:?}");
    let json_again = run_stdin(&["convert", "-", "--to", "json"], &stdout(&xml));
    assert_eq!(stdout(&json_again), format!("{}\n", original.to_json()));
}

#[test]
fn convert_refuses_an_invalid_configuration() {
    let output = run_stdin(&["convert", "-", "--to", "json"], INVALID);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error[InvalidRequest]: "));
}

// ---- explain == the layer ----

/// One request, as `explain` arguments and as an `http::Request`.
struct Case {
    name: &'static str,
    /// `None`: a preflight (`OPTIONS`).
    method: Option<&'static str>,
    origin: Option<&'static str>,
    request_method: Option<&'static str>,
    request_headers: Option<&'static str>,
    path: &'static str,
    outcome: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "preflight allowed with headers",
        method: None,
        origin: Some("https://app.example.com"),
        request_method: Some("PUT"),
        request_headers: Some("Content-Type, X-Amz-Meta-Owner"),
        path: "/photo.jpg",
        outcome: "preflight-allowed",
    },
    Case {
        name: "preflight allowed by the wildcard rule",
        method: None,
        origin: Some("https://elsewhere.example"),
        request_method: Some("HEAD"),
        request_headers: None,
        path: "/",
        outcome: "preflight-allowed",
    },
    Case {
        name: "preflight refused on an object",
        method: None,
        origin: Some("https://app.example.com/"),
        request_method: Some("PUT"),
        request_headers: None,
        path: "/photo.jpg",
        outcome: "refused",
    },
    Case {
        name: "preflight refused on the bucket",
        method: None,
        origin: Some("https://app.example.com"),
        request_method: Some("DELETE"),
        request_headers: None,
        path: "/",
        outcome: "refused",
    },
    Case {
        name: "preflight refused for a header",
        method: None,
        origin: Some("https://app.example.com"),
        request_method: Some("GET"),
        request_headers: Some("authorization"),
        path: "/k",
        outcome: "refused",
    },
    Case {
        name: "preflight without Origin",
        method: None,
        origin: None,
        request_method: Some("GET"),
        request_headers: None,
        path: "/",
        outcome: "refused",
    },
    Case {
        name: "preflight without Access-Control-Request-Method",
        method: None,
        origin: Some("https://app.example.com"),
        request_method: None,
        request_headers: None,
        path: "/",
        outcome: "refused",
    },
    Case {
        name: "preflight with a lowercase method",
        method: None,
        origin: Some("https://app.example.com"),
        request_method: Some("get"),
        request_headers: None,
        path: "/",
        outcome: "refused",
    },
    Case {
        name: "actual request matched",
        method: Some("GET"),
        origin: Some("https://a.b.example.org"),
        request_method: None,
        request_headers: None,
        path: "/photo.jpg",
        outcome: "cors-headers-added",
    },
    Case {
        name: "actual request matched on Access-Control-Request-Method",
        method: Some("POST"),
        origin: Some("https://app.example.com"),
        request_method: Some("PUT"),
        request_headers: Some("x-amz-date"),
        path: "/photo.jpg",
        outcome: "cors-headers-added",
    },
    Case {
        name: "actual request matched by the wildcard rule",
        method: Some("HEAD"),
        origin: Some("null"),
        request_method: None,
        request_headers: None,
        path: "/",
        outcome: "cors-headers-added",
    },
    Case {
        name: "actual request matching no rule",
        method: Some("DELETE"),
        origin: Some("https://app.example.com"),
        request_method: None,
        request_headers: None,
        path: "/photo.jpg",
        outcome: "pass-through",
    },
    Case {
        name: "actual request without Origin",
        method: Some("GET"),
        origin: None,
        request_method: None,
        request_headers: None,
        path: "/photo.jpg",
        outcome: "pass-through",
    },
];

const REQUEST_ID: &str = "EXPLAIN0000000001";
const HOST_ID: &str = "aG9zdC1pZC1mb3ItZXhwbGFpbg==";

fn explain_args<'a>(case: &'a Case, path: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "explain",
        path,
        "--json",
        "--request-id",
        REQUEST_ID,
        "--host-id",
        HOST_ID,
        "--path",
        case.path,
    ];
    match case.method {
        Some(method) => args.extend(["--method", method]),
        None => args.push("--preflight"),
    }
    for (flag, value) in [
        ("--origin", case.origin),
        ("--request-method", case.request_method),
        ("--request-headers", case.request_headers),
    ] {
        if let Some(value) = value {
            args.extend([flag, value]);
        }
    }
    args
}

fn request(case: &Case) -> Request<String> {
    let mut builder = Request::builder()
        .method(case.method.unwrap_or("OPTIONS"))
        .uri(case.path);
    for (name, value) in [
        ("origin", case.origin),
        ("access-control-request-method", case.request_method),
        ("access-control-request-headers", case.request_headers),
    ] {
        if let Some(value) = value {
            builder = builder.header(name, value);
        }
    }
    builder.body(String::new()).unwrap()
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn explain_shows_what_the_layer_returns() {
    let path = file("explain.xml", CLEAN);
    // The decision hook's words for each request, to compare with the explanation's.
    let heard: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = Arc::clone(&heard);
    let layer = CorsLayer::new(CorsConfiguration::from_xml(CLEAN).unwrap())
        .request_ids(|_| RequestIds {
            request_id: HeaderValue::from_static(REQUEST_ID),
            host_id: HeaderValue::from_static(HOST_ID),
        })
        .on_decision(move |event| {
            let reason = match event.rule() {
                Some((index, _)) => format!("rule {index} is {}", event.reason()),
                None => event.reason().to_owned(),
            };
            log.lock().unwrap().push((event.outcome().to_owned(), reason));
        });
    for case in CASES {
        let output = run(&explain_args(case, path.to_str().unwrap()));
        assert_eq!(output.status.code(), Some(0), "{}: {output:?}", case.name);
        let explained = json(&output);
        assert_eq!(explained["outcome"], case.outcome, "{}", case.name);

        // The inner service marks its response, so what the layer added stands out.
        let inner = service_fn(|_request: Request<String>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("x-inner", "1")
                    .body(String::from("inner"))
                    .unwrap(),
            )
        });
        let response = layer.layer(inner).oneshot(request(case)).await.unwrap();
        let status = response.status().as_u16();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str() != "x-inner")
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        headers.sort();
        let from_inner = response.headers().contains_key("x-inner");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();

        // The hook heard this request once, in the explanation's words.
        let (outcome, reason) = heard.lock().unwrap().pop().expect("the hook was called");
        assert_eq!(explained["outcome"], outcome, "{}: the hook's outcome", case.name);
        assert_eq!(explained["reason"], reason, "{}: the hook's reason", case.name);
        assert!(
            heard.lock().unwrap().is_empty(),
            "{}: once per request",
            case.name
        );

        let answer = &explained["response"];
        assert_eq!(pairs(&answer["headers"]), headers, "{}: headers", case.name);
        if from_inner {
            assert_eq!(answer["from"], "inner-service", "{}", case.name);
            assert_eq!(answer["status"], Value::Null, "{}", case.name);
            assert_eq!((status, body.as_str()), (200, "inner"), "{}", case.name);
        } else {
            assert_eq!(answer["from"], "layer", "{}", case.name);
            assert_eq!(answer["status"], status, "{}: status", case.name);
            assert_eq!(answer["body"], body, "{}: body", case.name);
        }
    }
}

#[test]
fn explain_says_why_each_rule_does_not_match() {
    let path = file("why.xml", CLEAN);
    let output = run(&[
        "explain",
        path.to_str().unwrap(),
        "--preflight",
        "--origin",
        "https://app.example.com",
        "--request-method",
        "DELETE",
        "--request-headers",
        "x-custom",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("  rule 0 (ID \"uploads\"): no match\n"), "{text}");
    assert!(
        text.contains(
            "    - method \"DELETE\" (Access-Control-Request-Method) is not an AllowedMethod (GET, PUT)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    - requested header \"x-custom\" matches no AllowedHeader (Content-Type, x-amz-*)\n"
        ),
        "{text}"
    );
    assert!(text.contains("  HTTP 403 Forbidden\n"), "{text}");
    assert!(text.contains("<Code>AccessForbidden</Code>"), "{text}");

    let output = run(&[
        "explain",
        path.to_str().unwrap(),
        "--json",
        "--method",
        "GET",
        "--origin",
        "https://app.example.com",
    ]);
    let value = json(&output);
    assert_eq!(value["matched_rule"], 0);
    assert_eq!(value["rules"][0]["applied"], true);
    assert_eq!(value["rules"][1]["matches"], true);
    assert_eq!(value["rules"][1]["applied"], false);
}

// ---- security findings and --deny ----

/// Every origin lets other sites in.
const LOOSE: &str = r#"{"CORSRules": [{"AllowedOrigins": ["https://app.example.com*", "https://*example.com",
  "http://*.example.com", "https://*.com", "null"],
  "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"]}]}"#;

#[test]
fn lint_lists_security_findings_first_with_a_witness() {
    let path = file("loose.json", LOOSE);
    let output = run(&["lint", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    let heads: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        heads,
        [
            "security[origin-wildcard-crosses-host]: rule 0, AllowedOrigin \"https://app.example.com*\"",
            "security[origin-wildcard-crosses-host]: rule 0, AllowedOrigin \"https://*example.com\"",
            "security[origin-insecure-http]: rule 0, AllowedOrigin \"http://*.example.com\"",
            "security[origin-wildcard-public-suffix]: rule 0, AllowedOrigin \"https://*.com\"",
            "security[origin-null]: rule 0, AllowedOrigin \"null\"",
            "warning[expose-etag-missing]: rule 0, ExposeHeader",
            &format!("{}: 6 warnings (5 security)", path.display()),
        ]
    );
    for witness in [
        "\"https://app.example.com.attacker.net\"",
        "\"https://evilexample.com\"",
        "\"http://app.example.com\"",
        "\"https://attacker.com\"",
    ] {
        assert!(text.contains(witness), "{witness} missing from {text}");
    }
    assert!(
        text.contains("  fix: put a dot after the *: \"https://*.example.com\""),
        "{text}"
    );
}

#[test]
fn lint_json_carries_severity_and_witness() {
    let path = file("loose-json.json", LOOSE);
    let value = json(&run(&["lint", "--json", path.to_str().unwrap()]));
    let warnings = value["warnings"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = warnings
        .iter()
        .map(|w| {
            (
                w["severity"].as_str().unwrap(),
                w["code"].as_str().unwrap(),
                w["witness"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "security",
                "origin-wildcard-crosses-host",
                "https://app.example.com.attacker.net"
            ),
            (
                "security",
                "origin-wildcard-crosses-host",
                "https://evilexample.com"
            ),
            ("security", "origin-insecure-http", "http://app.example.com"),
            (
                "security",
                "origin-wildcard-public-suffix",
                "https://attacker.com"
            ),
            ("security", "origin-null", "null"),
            ("warning", "expose-etag-missing", "-"),
        ]
    );
}

#[test]
fn lint_deny_security_fails_on_security_findings_only() {
    let loose = file("deny-loose.json", LOOSE);
    let warnings = file("deny-warnings.json", WARNINGS);
    let clean = file("deny-clean.xml", CLEAN);
    for (path, deny, status) in [
        (&loose, None, 1),
        (&loose, Some("security"), 1),
        (&loose, Some("warning"), 1),
        (&warnings, None, 1),
        (&warnings, Some("security"), 0),
        (&warnings, Some("warning"), 1),
        (&clean, Some("security"), 0),
        (&clean, None, 0),
    ] {
        let mut args = vec!["lint", path.to_str().unwrap()];
        if let Some(deny) = deny {
            args.extend(["--deny", deny]);
        }
        let output = run(&args);
        assert_eq!(output.status.code(), Some(status), "{args:?}: {output:?}");
    }
    // The findings are still printed when they do not fail the run.
    let output = run(&["lint", "--deny", "security", warnings.to_str().unwrap()]);
    assert!(stdout(&output).contains("warning[rule-shadowed]"));
    let output = run(&["lint", "--deny", "everything", clean.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

#[test]
fn explain_names_the_allowed_origin_that_matched_and_why() {
    let path = file("explain-loose.json", LOOSE);
    let output = run(&[
        "explain",
        path.to_str().unwrap(),
        "--preflight",
        "--origin",
        "https://evilexample.com",
        "--request-method",
        "PUT",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains(
            "  rule 0: matches (applied)\n    Origin matches AllowedOrigin \"https://*example.com\": the * stands \
             for \"evil\"; S3 echoes the Origin with Access-Control-Allow-Credentials: true\n    \
             security[origin-wildcard-crosses-host]: this AllowedOrigin lets other sites in, e.g. \
             \"https://evilexample.com\""
        ),
        "{text}"
    );
    let clean = file("explain-clean.xml", CLEAN);
    let value = json(&run(&[
        "explain",
        clean.to_str().unwrap(),
        "--json",
        "--method",
        "GET",
        "--origin",
        "https://app.example.com",
    ]));
    assert_eq!(value["rules"][0]["allowed_origin"], "https://app.example.com");
    assert_eq!(value["rules"][1]["allowed_origin"], "*");
    assert_eq!(
        value["rules"][1]["origin_why"][0],
        "Origin matches AllowedOrigin \"*\": * allows every origin; the rule lists *, so the answer is \
         Access-Control-Allow-Origin: * (no credentials)"
    );
}

const ORIGINS: &str = "# who gets in?\nhttps://app.example.com\nhttps://evilexample.com\n\n\
                       https://app.example.com.attacker.net\nhttps://example.org\n";

#[test]
fn explain_origins_answers_for_a_list() {
    let config = file("origins-loose.json", LOOSE);
    let list = file("origins.txt", ORIGINS);
    let output = run(&[
        "explain",
        config.to_str().unwrap(),
        "--origins",
        list.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains(
            "https://evilexample.com: gets in, with credentials\n  GET, PUT, DELETE through rule 0, AllowedOrigin \
             \"https://*example.com\"\n  security[origin-wildcard-crosses-host]: this AllowedOrigin lets other \
             sites in"
        ),
        "{text}"
    );
    assert!(
        text.contains("https://example.org: does not get in (no rule matches)\n"),
        "{text}"
    );
    assert!(text.ends_with("3 of 4 origins get in\n"), "{text}");

    // The same answers for programs, with the layer's own evaluation behind them.
    let clean = file("origins-clean.xml", CLEAN);
    let value = json(&run(&[
        "explain",
        clean.to_str().unwrap(),
        "--json",
        "--origins",
        list.to_str().unwrap(),
    ]));
    let origins = value["origins"].as_array().unwrap();
    let summary: Vec<(&str, bool, bool)> = origins
        .iter()
        .map(|o| {
            (
                o["origin"].as_str().unwrap(),
                o["gets_in"].as_bool().unwrap(),
                o["credentials"].as_bool().unwrap(),
            )
        })
        .collect();
    // The clean configuration's public-read rule lets everyone GET and HEAD, without credentials.
    assert_eq!(
        summary,
        [
            ("https://app.example.com", true, true),
            ("https://evilexample.com", true, false),
            ("https://app.example.com.attacker.net", true, false),
            ("https://example.org", true, false),
        ]
    );
    assert_eq!(
        origins[0]["through"][0]["methods"],
        serde_json::json!(["GET", "PUT"])
    );
    assert_eq!(
        origins[0]["through"][0]["allowed_origin"],
        "https://app.example.com"
    );
    assert_eq!(origins[0]["through"][1]["methods"], serde_json::json!(["HEAD"]));
    assert_eq!(origins[1]["through"][0]["allowed_origin"], "*");
    assert_eq!(
        origins[1]["through"][0]["methods"],
        serde_json::json!(["GET", "HEAD"])
    );

    // One request for every origin: an actual PUT.
    let value = json(&run(&[
        "explain",
        clean.to_str().unwrap(),
        "--json",
        "--origins",
        list.to_str().unwrap(),
        "--method",
        "PUT",
    ]));
    let gets_in: Vec<bool> = value["origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["gets_in"].as_bool().unwrap())
        .collect();
    assert_eq!(gets_in, [true, false, false, false]);

    // --origin and --origins do not go together; an unreadable list is a failure.
    let output = run(&[
        "explain",
        clean.to_str().unwrap(),
        "--origins",
        list.to_str().unwrap(),
        "--origin",
        "https://a.example",
    ]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let output = run(&[
        "explain",
        clean.to_str().unwrap(),
        "--origins",
        "/nonexistent/origins.txt",
    ]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

/// The README shows `lint` and `explain --origins` on `examples/loose-cors.json`: what it shows is
/// what the tool prints.
#[test]
fn the_readme_shows_the_real_output_for_the_loose_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let shown = |command: &str| -> String {
        let start = readme
            .find(&format!("$ {command}\n"))
            .unwrap_or_else(|| panic!("README lacks {command}"))
            + command.len()
            + 3;
        let end = start + readme[start..].find("```").unwrap();
        readme[start..end].to_owned()
    };
    let lint = Command::new(BIN)
        .current_dir(root)
        .args(["lint", "examples/loose-cors.json"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&lint),
        shown("cargo run --features cli -- lint examples/loose-cors.json")
    );
    let mut child = Command::new(BIN)
        .current_dir(root)
        .args(["explain", "examples/loose-cors.json", "--origins", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"https://evilexample.com\nhttps://example.org\n")
        .unwrap();
    let origins = child.wait_with_output().unwrap();
    assert_eq!(
        stdout(&origins),
        shown(
            "printf 'https://evilexample.com\\nhttps://example.org\\n' | cargo run --features cli -- explain \
             examples/loose-cors.json --origins -"
        )
    );
}
