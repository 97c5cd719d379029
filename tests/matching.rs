//! Spec §5: the first rule whose origin, method and requested headers all match wins.
//!
//! Each row names a behaviour, a configuration, a request, and the index of the rule that must
//! match (or none). Rows run on the pure decision and through the layer, and `explain` must
//! agree with both.

mod common;

use http::Request;
use tower_s3_cors::{CorsPolicy, Decision};

use common::*;

struct Row {
    behaviour: &'static str,
    rules: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    matched: Option<usize>,
}

fn row(
    behaviour: &'static str,
    rules: &'static str,
    method: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    matched: Option<usize>,
) -> Row {
    Row {
        behaviour,
        rules,
        method,
        path: "/key",
        headers,
        matched,
    }
}

fn matched_rule(decision: &Decision) -> Option<usize> {
    match decision {
        Decision::Preflight(allowed) | Decision::Actual(allowed) => Some(allowed.rule_index()),
        _ => None,
    }
}

fn build(row: &Row) -> Request<String> {
    request(row.method, row.path, &row.headers)
}

async fn check(table: Vec<Row>) {
    let mut problems = Vec::new();
    for row in &table {
        let policy = CorsPolicy::new(config(row.rules));
        let decision = policy.evaluate(&build(row));
        let got = matched_rule(&decision);
        if got != row.matched {
            problems.push(format!(
                "{}: matched {got:?}, want {:?} ({decision:?})",
                row.behaviour, row.matched
            ));
        }
        // explain: the first rule that matches is the one the layer applies.
        let explained = policy
            .explain(&build(row))
            .iter()
            .position(|check| check.matches());
        if explained != row.matched {
            problems.push(format!(
                "{}: explain says {explained:?}, want {:?}",
                row.behaviour, row.matched
            ));
        }
        // The layer agrees: CORS headers exactly when a rule matched.
        let stub = Stub::new();
        let answer = send(&layer(config(row.rules)), &stub, build(row)).await;
        let has_cors = answer.has("access-control-allow-origin");
        if has_cors != row.matched.is_some() {
            problems.push(format!("{}: layer answered {:?}", row.behaviour, answer));
        }
        if row.method == "OPTIONS" {
            let want = if row.matched.is_some() { 200 } else { 403 };
            if answer.status.as_u16() != want {
                problems.push(format!("{}: layer status {}", row.behaviour, answer.status));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

type H = (&'static str, &'static [u8]);

fn origin(value: &'static str) -> H {
    ("origin", value.as_bytes())
}

fn acrm(value: &'static str) -> H {
    ("access-control-request-method", value.as_bytes())
}

fn acrh(value: &'static str) -> H {
    ("access-control-request-headers", value.as_bytes())
}

fn preflight(behaviour: &'static str, rules: &'static str, headers: Vec<H>, matched: Option<usize>) -> Row {
    row(behaviour, rules, "OPTIONS", headers, matched)
}

const ANY: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#;
const EXACT: &str = r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]}]"#;
const DEFAULT_PORT: &str = r#"[{"AllowedOrigins": ["https://a.example:443"], "AllowedMethods": ["GET"]}]"#;
const SUBDOMAINS: &str = r#"[{"AllowedOrigins": ["http://*.example.com"], "AllowedMethods": ["GET"]}]"#;
const OVERLAP: &str = r#"[{"AllowedOrigins": ["ab*ba"], "AllowedMethods": ["GET"]}]"#;
const LEADING: &str = r#"[{"AllowedOrigins": ["*.example.com"], "AllowedMethods": ["GET"]}]"#;
const TRAILING: &str = r#"[{"AllowedOrigins": ["http://localhost:*"], "AllowedMethods": ["GET"]}]"#;
const NULL: &str = r#"[{"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]}]"#;

#[tokio::test]
async fn origin_matching() {
    check(vec![
        preflight(
            "`*` matches any origin",
            ANY,
            vec![origin("https://x.example"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "`*` matches a value that is not a URL",
            ANY,
            vec![origin("localhost:4566"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "`*` matches `null`",
            ANY,
            vec![origin("null"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "exact origin",
            EXACT,
            vec![origin("https://a.example"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "no normalisation: trailing slash",
            EXACT,
            vec![origin("https://a.example/"), acrm("GET")],
            None,
        ),
        preflight(
            "no normalisation: other scheme",
            EXACT,
            vec![origin("http://a.example"), acrm("GET")],
            None,
        ),
        preflight(
            "no normalisation: explicit default port",
            EXACT,
            vec![origin("https://a.example:443"), acrm("GET")],
            None,
        ),
        preflight(
            "no normalisation: default port in the pattern",
            DEFAULT_PORT,
            vec![origin("https://a.example"), acrm("GET")],
            None,
        ),
        preflight(
            "no normalisation: letter case of the host",
            EXACT,
            vec![origin("https://A.example"), acrm("GET")],
            None,
        ),
        preflight(
            "no normalisation: letter case of the scheme",
            EXACT,
            vec![origin("HTTPS://a.example"), acrm("GET")],
            None,
        ),
        preflight(
            "anchored at the start",
            EXACT,
            vec![origin("xhttps://a.example"), acrm("GET")],
            None,
        ),
        preflight(
            "anchored at the end",
            EXACT,
            vec![origin("https://a.example.evil"), acrm("GET")],
            None,
        ),
        preflight(
            "`*` matches a run of several labels",
            SUBDOMAINS,
            vec![origin("http://a.b.example.com"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "`*` matches the empty run",
            SUBDOMAINS,
            vec![origin("http://.example.com"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "`*` pattern needs its literal dot",
            SUBDOMAINS,
            vec![origin("http://example.com"), acrm("GET")],
            None,
        ),
        preflight(
            "`*` pattern keeps its scheme",
            SUBDOMAINS,
            vec![origin("https://a.example.com"), acrm("GET")],
            None,
        ),
        preflight(
            "`*` pattern anchored at the end",
            SUBDOMAINS,
            vec![origin("http://a.example.com.evil"), acrm("GET")],
            None,
        ),
        preflight(
            "`*` pattern is case-sensitive",
            SUBDOMAINS,
            vec![origin("http://a.EXAMPLE.com"), acrm("GET")],
            None,
        ),
        preflight(
            "prefix and suffix meet on an empty run",
            OVERLAP,
            vec![origin("abba"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "prefix and suffix do not overlap",
            OVERLAP,
            vec![origin("aba"), acrm("GET")],
            None,
        ),
        preflight(
            "prefix and suffix do not overlap (shorter)",
            OVERLAP,
            vec![origin("ab"), acrm("GET")],
            None,
        ),
        preflight(
            "prefix and suffix around a run",
            OVERLAP,
            vec![origin("ab-x-ba"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "leading `*`",
            LEADING,
            vec![origin("https://cdn.example.com"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "leading `*`, empty run",
            LEADING,
            vec![origin(".example.com"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "trailing `*`",
            TRAILING,
            vec![origin("http://localhost:8080"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "trailing `*`, empty run",
            TRAILING,
            vec![origin("http://localhost:"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "trailing `*` needs the prefix",
            TRAILING,
            vec![origin("http://localhost"), acrm("GET")],
            None,
        ),
        preflight(
            "a `null` pattern matches `Origin: null`",
            NULL,
            vec![origin("null"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "a `null` pattern is case-sensitive",
            NULL,
            vec![origin("NULL"), acrm("GET")],
            None,
        ),
        preflight(
            "any of a rule's origins",
            r#"[{"AllowedOrigins": ["https://a.example", "https://b.example"], "AllowedMethods": ["GET"]}]"#,
            vec![origin("https://b.example"), acrm("GET")],
            Some(0),
        ),
        preflight(
            "the first matching rule wins",
            r#"[{"AllowedOrigins": ["https://b.example"], "AllowedMethods": ["GET"]},
                {"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
            vec![origin("https://a.example"), acrm("GET")],
            Some(1),
        ),
        row(
            "actual request: origin matched",
            EXACT,
            "GET",
            vec![origin("https://a.example")],
            Some(0),
        ),
        row(
            "actual request: origin not matched",
            EXACT,
            "GET",
            vec![origin("https://a.example/")],
            None,
        ),
    ])
    .await;
}

const GET_PUT: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]}]"#;
const GET_ONLY: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#;
const HEAD_ONLY: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]"#;
const PUT_ONLY: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]}]"#;

#[tokio::test]
async fn method_matching() {
    let o = || origin("https://a.example");
    check(vec![
        preflight(
            "preflight: the requested method",
            GET_PUT,
            vec![o(), acrm("PUT")],
            Some(0),
        ),
        preflight(
            "preflight: a method the rule lacks",
            GET_PUT,
            vec![o(), acrm("DELETE")],
            None,
        ),
        preflight(
            "the first rule allowing the method wins",
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["POST", "DELETE"]}]"#,
            vec![o(), acrm("DELETE")],
            Some(1),
        ),
        row(
            "actual: the request's own method",
            GET_PUT,
            "PUT",
            vec![o()],
            Some(0),
        ),
        row(
            "actual: a method the rule lacks",
            GET_ONLY,
            "DELETE",
            vec![o()],
            None,
        ),
        row(
            "actual: HEAD is its own method (not GET)",
            GET_ONLY,
            "HEAD",
            vec![o()],
            None,
        ),
        row("actual: HEAD allowed", HEAD_ONLY, "HEAD", vec![o()], Some(0)),
        row("actual: GET is not HEAD", HEAD_ONLY, "GET", vec![o()], None),
        row(
            "actual: methods are case-sensitive",
            GET_ONLY,
            "get",
            vec![o()],
            None,
        ),
        row(
            "actual: a method outside the five",
            GET_ONLY,
            "PATCH",
            vec![o()],
            None,
        ),
        row(
            "actual: ACRM replaces the method (no match)",
            GET_ONLY,
            "GET",
            vec![o(), acrm("PUT")],
            None,
        ),
        row(
            "actual: ACRM replaces the method (match)",
            PUT_ONLY,
            "GET",
            vec![o(), acrm("PUT")],
            Some(0),
        ),
        row(
            "actual: ACRM replaces the method of a POST",
            GET_ONLY,
            "POST",
            vec![o(), acrm("GET")],
            Some(0),
        ),
        row(
            "actual: an invalid ACRM matches nothing",
            GET_ONLY,
            "GET",
            vec![o(), acrm("get")],
            None,
        ),
        row(
            "actual: an empty ACRM matches nothing",
            GET_ONLY,
            "GET",
            vec![o(), acrm("")],
            None,
        ),
        row(
            "actual: two ACRM fields match nothing",
            GET_PUT,
            "GET",
            vec![o(), acrm("GET"), acrm("GET")],
            None,
        ),
    ])
    .await;
}

const NO_HEADERS: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]}]"#;
const STAR_HEADERS: &str =
    r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"]}]"#;
const AMZ_HEADERS: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*", "Content-Type"]}]"#;
const UPPER_HEADERS: &str =
    r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["X-AMZ-*"]}]"#;
const A_B: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a", "b"]}]"#;
const ONLY_A: &str = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a"]}]"#;
const HEADER_OVERLAP: &str =
    r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-x"]}]"#;

#[tokio::test]
async fn requested_header_matching() {
    let o = || origin("https://a.example");
    let g = || acrm("GET");
    check(vec![
        preflight(
            "a listed header allowed by a pattern",
            AMZ_HEADERS,
            vec![o(), g(), acrh("x-amz-date")],
            Some(0),
        ),
        preflight(
            "every listed header must be allowed",
            AMZ_HEADERS,
            vec![o(), g(), acrh("x-amz-date, x-other")],
            None,
        ),
        preflight(
            "names compare case-insensitively (request upper)",
            AMZ_HEADERS,
            vec![o(), g(), acrh("X-Amz-Date, CONTENT-TYPE")],
            Some(0),
        ),
        preflight(
            "names compare case-insensitively (pattern upper)",
            UPPER_HEADERS,
            vec![o(), g(), acrh("x-amz-date")],
            Some(0),
        ),
        preflight(
            "a pattern's `*` matches the empty run",
            AMZ_HEADERS,
            vec![o(), g(), acrh("x-amz-")],
            Some(0),
        ),
        preflight(
            "a pattern's prefix must be there",
            AMZ_HEADERS,
            vec![o(), g(), acrh("x-am")],
            None,
        ),
        preflight(
            "header prefix and suffix meet",
            HEADER_OVERLAP,
            vec![o(), g(), acrh("x--x")],
            Some(0),
        ),
        preflight(
            "header prefix and suffix do not overlap",
            HEADER_OVERLAP,
            vec![o(), g(), acrh("x-x")],
            None,
        ),
        preflight(
            "an exact pattern is anchored",
            AMZ_HEADERS,
            vec![o(), g(), acrh("content-type-x")],
            None,
        ),
        preflight(
            "`*` accepts any list",
            STAR_HEADERS,
            vec![o(), g(), acrh("anything, x-y, Z")],
            Some(0),
        ),
        preflight(
            "items are trimmed of spaces and tabs",
            A_B,
            vec![o(), g(), acrh(" a\t,\tb ")],
            Some(0),
        ),
        preflight(
            "items split on commas only",
            A_B,
            vec![o(), g(), acrh("a b")],
            None,
        ),
        preflight(
            "empty items are dropped",
            A_B,
            vec![o(), g(), acrh(",a,, ,b,")],
            Some(0),
        ),
        preflight(
            "several fields are joined",
            A_B,
            vec![o(), g(), acrh("a"), acrh("b")],
            Some(0),
        ),
        preflight(
            "several fields: every item of every field",
            ONLY_A,
            vec![o(), g(), acrh("a"), acrh("b")],
            None,
        ),
        preflight(
            "a rule without AllowedHeaders and no list",
            NO_HEADERS,
            vec![o(), g()],
            Some(0),
        ),
        preflight(
            "a rule without AllowedHeaders and an empty list",
            NO_HEADERS,
            vec![o(), g(), acrh("")],
            Some(0),
        ),
        preflight(
            "a rule without AllowedHeaders and a list of empty items",
            NO_HEADERS,
            vec![o(), g(), acrh(" , ,\t,")],
            Some(0),
        ),
        preflight(
            "a rule without AllowedHeaders refuses any listed name",
            NO_HEADERS,
            vec![o(), g(), acrh("x-amz-date")],
            None,
        ),
        preflight(
            "the first rule accepting every header wins",
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a", "b"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]"#,
            vec![o(), g(), acrh("b, A")],
            Some(2),
        ),
        preflight(
            "origin, method and headers must hold in the same rule",
            r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"]},
                {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
                {"AllowedOrigins": ["https://b.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]},
                {"AllowedOrigins": ["https://a.*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x"]}]"#,
            vec![o(), g(), acrh("x")],
            Some(3),
        ),
        row(
            "actual: ACRH is checked on any method",
            NO_HEADERS,
            "GET",
            vec![o(), acrh("x-amz-request-payer")],
            None,
        ),
        row(
            "actual: ACRH allowed",
            AMZ_HEADERS,
            "PUT",
            vec![o(), acrh("x-amz-acl")],
            Some(0),
        ),
        row(
            "actual: the request's own headers are never checked",
            AMZ_HEADERS,
            "PUT",
            vec![
                o(),
                ("content-type", b"text/plain"),
                ("x-custom", b"1"),
                ("authorization", b"AWS x"),
            ],
            Some(0),
        ),
    ])
    .await;
}
