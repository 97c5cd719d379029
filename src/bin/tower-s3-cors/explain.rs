//! `explain FILE --origin O (--method M | --preflight --request-method M) ...`: the layer's
//! answer to one request, from the same evaluation the layer runs (`CorsPolicy::evaluate`,
//! turned into a response by `Decision::to_response`), and each rule's verdict
//! (`CorsPolicy::explain`), with the AllowedOrigin that accepted the Origin and why.
//! `explain FILE --origins LIST` answers for many origins at once (see `origins.rs`).

use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower_s3_cors::header::{X_AMZ_ID_2, X_AMZ_REQUEST_ID};
use tower_s3_cors::lint::{LintWarning, Severity};
use tower_s3_cors::{CorsPolicy, CorsRule, Decision, RequestIds, RuleCheck};

use crate::input;
use crate::origins;
use crate::output::{report_failure, show_bytes};
use crate::{ExplainArgs, EXIT_FAILURE, EXIT_OK};

pub(crate) fn run(args: &ExplainArgs, json: bool) -> u8 {
    let config = match input::load(&args.file) {
        Ok((config, _)) => config,
        Err(failure) => return report_failure(&args.file, &failure, json),
    };
    if let Some(list) = &args.origins {
        return origins::run(args, list, config, json);
    }
    let (request, ids) = match build(args) {
        Ok(built) => built,
        Err(message) => return failed(&args.file, &message, json),
    };
    let findings = config.lint();
    let policy = CorsPolicy::new(config);
    let decision = policy.evaluate(&request);
    let checks = policy.explain(&request);
    let answer = Answer::new(&decision, &ids);
    let view = View {
        request: &request,
        policy: &policy,
        checks: &checks,
        findings: &findings,
    };
    if json {
        outln!("{:#}", to_json(&view, &answer));
    } else {
        out!("{}", to_text(&view, &answer));
    }
    EXIT_OK
}

/// Reports a request that cannot be built; gives the exit status.
pub(crate) fn failed(file: &str, message: &str, json: bool) -> u8 {
    if json {
        outln!("{:#}", json!({ "file": file, "failure": message }));
    } else {
        eprintln!("error: {message}");
    }
    EXIT_FAILURE
}

/// What the explanation is about: the request, the rules, their verdicts and the lint's
/// findings (to point at an AllowedOrigin that lets other sites in).
struct View<'a> {
    request: &'a Request<()>,
    policy: &'a CorsPolicy,
    checks: &'a [RuleCheck],
    findings: &'a [LintWarning],
}

/// Which AllowedOrigin accepted the Origin and why, and whether S3 answers with credentials;
/// then the lint's security finding on that AllowedOrigin, if any.
pub(crate) fn origin_match(
    rule: Option<&CorsRule>,
    check: &RuleCheck,
    origin: &str,
    findings: &[LintWarning],
) -> Vec<String> {
    let Some(pattern) = check.allowed_origin.as_deref() else {
        return Vec::new();
    };
    let why = match pattern.split_once('*') {
        _ if pattern == "*" => "* allows every origin".to_owned(),
        None => "the same bytes as the Origin".to_owned(),
        Some((prefix, suffix)) => {
            let run = origin
                .get(prefix.len()..origin.len().saturating_sub(suffix.len()))
                .unwrap_or_default();
            format!("the * stands for {run:?}")
        }
    };
    let answer = if rule.is_some_and(|r| r.allowed_origins().iter().any(|o| o == "*")) {
        "the rule lists *, so the answer is Access-Control-Allow-Origin: * (no credentials)"
    } else {
        "S3 echoes the Origin with Access-Control-Allow-Credentials: true"
    };
    let mut lines = vec![format!(
        "Origin matches AllowedOrigin {pattern:?}: {why}; {answer}"
    )];
    if let Some(finding) = security_finding(findings, check.index, pattern) {
        lines.push(format!(
            "security[{}]: this AllowedOrigin lets other sites in, e.g. {:?} (see `tower-s3-cors lint`)",
            finding.code(),
            finding.witness().unwrap_or_default()
        ));
    }
    lines
}

/// The request described by the arguments, and the ids for an error document.
fn build(args: &ExplainArgs) -> Result<(Request<()>, RequestIds), String> {
    let request = request(args, args.origin.as_deref(), args.request_method.as_deref())?;
    let ids = match (&args.request_id, &args.host_id) {
        (None, None) => RequestIds::generate(),
        (request_id, host_id) => {
            let generated = RequestIds::generate();
            RequestIds {
                request_id: match request_id {
                    Some(id) => header_value(&X_AMZ_REQUEST_ID, id)?,
                    None => generated.request_id,
                },
                host_id: match host_id {
                    Some(id) => header_value(&X_AMZ_ID_2, id)?,
                    None => generated.host_id,
                },
            }
        }
    };
    Ok((request, ids))
}

/// The request of the arguments, with this `Origin` and `Access-Control-Request-Method`.
pub(crate) fn request(
    args: &ExplainArgs,
    origin: Option<&str>,
    request_method: Option<&str>,
) -> Result<Request<()>, String> {
    let method = match (&args.method, args.preflight) {
        (Some(method), false) => {
            Method::from_bytes(method.as_bytes()).map_err(|_| format!("{method:?} is not an HTTP method"))?
        }
        _ => Method::OPTIONS,
    };
    if !args.path.starts_with('/') {
        return Err(format!("the path {:?} must start with /", args.path));
    }
    let mut builder = Request::builder().method(method).uri(args.path.as_str());
    for (name, value) in [
        (ORIGIN, origin),
        (ACCESS_CONTROL_REQUEST_METHOD, request_method),
        (ACCESS_CONTROL_REQUEST_HEADERS, args.request_headers.as_deref()),
    ] {
        if let Some(value) = value {
            builder = builder.header(name.clone(), header_value(&name, value)?);
        }
    }
    builder.body(()).map_err(|err| format!("invalid request: {err}"))
}

fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, String> {
    // from_bytes, not from_str: obs-text bytes (UTF-8 beyond ASCII) are valid in a header.
    HeaderValue::from_bytes(value.as_bytes()).map_err(|_| format!("{value:?} cannot be sent as {name}"))
}

/// What comes back, and from whom.
struct Answer {
    /// `preflight-allowed`, `refused`, `cors-headers-added` or `pass-through`.
    outcome: &'static str,
    reason: String,
    matched_rule: Option<usize>,
    /// The layer answers itself (the inner service is not called).
    from_layer: bool,
    status: Option<StatusCode>,
    /// The whole response's headers when the layer answers; the headers added to the inner
    /// service's response otherwise.
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Answer {
    fn new(decision: &Decision, ids: &RequestIds) -> Answer {
        // The library's words for the outcome and the reason, as the decision hook reports them.
        let outcome = decision.outcome();
        let matched_rule = decision.rule_index();
        let reason = match matched_rule {
            Some(index) => format!("rule {index} is {}", decision.reason()),
            None => decision.reason().to_owned(),
        };
        let pairs = |headers: &mut dyn Iterator<Item = (&HeaderName, &HeaderValue)>| {
            headers
                .map(|(name, value)| (name.as_str().to_owned(), show_bytes(value.as_bytes())))
                .collect::<Vec<_>>()
        };
        match decision.to_response(ids) {
            Some(response) => Answer {
                outcome,
                reason,
                matched_rule,
                from_layer: true,
                status: Some(response.status()),
                headers: pairs(&mut response.headers().iter()),
                body: Some(show_bytes(response.body())),
            },
            None => {
                let headers = match decision {
                    Decision::Actual(allowed) => allowed
                        .headers()
                        .iter()
                        .map(|(name, value)| (name.as_str().to_owned(), show_bytes(value.as_bytes())))
                        .collect(),
                    _ => Vec::new(),
                };
                Answer {
                    outcome,
                    reason,
                    matched_rule,
                    from_layer: false,
                    status: None,
                    headers,
                    body: None,
                }
            }
        }
    }
}

/// Why one rule does or does not match, one sentence per part that fails.
fn reasons(check: &RuleCheck, rule: Option<&CorsRule>, request: &Request<()>) -> Vec<String> {
    let list = |values: &[String]| {
        if values.is_empty() {
            "none".to_owned()
        } else {
            values.join(", ")
        }
    };
    let mut out = Vec::new();
    let origins = rule.map_or(&[][..], CorsRule::allowed_origins);
    let methods = rule.map_or(&[][..], CorsRule::allowed_methods);
    let headers = rule.map_or(&[][..], CorsRule::allowed_headers);
    if !check.origin {
        match request.headers().get(ORIGIN).filter(|o| !o.is_empty()) {
            Some(origin) => out.push(format!(
                "Origin {:?} matches no AllowedOrigin ({})",
                show_bytes(origin.as_bytes()),
                list(origins)
            )),
            None => out.push("no Origin was sent".to_owned()),
        }
    }
    if !check.method {
        let requested = request.headers().get(ACCESS_CONTROL_REQUEST_METHOD);
        match (requested, request.method() == Method::OPTIONS) {
            (None, true) => out.push("no Access-Control-Request-Method was sent".to_owned()),
            (Some(method), _) => out.push(format!(
                "method {:?} (Access-Control-Request-Method) is not an AllowedMethod ({})",
                show_bytes(method.as_bytes()),
                list(methods)
            )),
            (None, false) => out.push(format!(
                "method {:?} is not an AllowedMethod ({})",
                request.method().as_str(),
                list(methods)
            )),
        }
    }
    if let Some(name) = &check.rejected_header {
        if headers.is_empty() {
            out.push(format!(
                "requested header {name:?} is not allowed: the rule has no AllowedHeader, so it only \
                 matches requests that list no headers"
            ));
        } else {
            out.push(format!(
                "requested header {name:?} matches no AllowedHeader ({})",
                list(headers)
            ));
        }
    }
    out
}

fn rule_label(check: &RuleCheck) -> String {
    match &check.id {
        Some(id) => format!("rule {} (ID {id:?})", check.index),
        None => format!("rule {}", check.index),
    }
}

fn request_pairs(request: &Request<()>) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), show_bytes(value.as_bytes())))
        .collect()
}

/// The request's `Origin`, as text.
fn origin_text(request: &Request<()>) -> String {
    request
        .headers()
        .get(ORIGIN)
        .map(|o| show_bytes(o.as_bytes()))
        .unwrap_or_default()
}

fn to_json(view: &View<'_>, answer: &Answer) -> Value {
    let View {
        request,
        policy,
        checks,
        findings,
    } = *view;
    let origin = origin_text(request);
    let rules: Vec<Value> = checks
        .iter()
        .map(|check| {
            let rule = policy.rule(check.index);
            json!({
                "index": check.index,
                "id": check.id,
                "matches": check.matches(),
                "applied": answer.matched_rule == Some(check.index),
                "origin": check.origin,
                "allowed_origin": check.allowed_origin,
                "origin_why": origin_match(rule, check, &origin, findings),
                "method": check.method,
                "rejected_header": check.rejected_header,
                "why_not": reasons(check, rule, request),
            })
        })
        .collect();
    json!({
        "request": {
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "headers": request_pairs(request),
        },
        "outcome": answer.outcome,
        "reason": answer.reason,
        "matched_rule": answer.matched_rule,
        "rules": rules,
        "response": {
            "from": if answer.from_layer { "layer" } else { "inner-service" },
            "status": answer.status.map(|s| s.as_u16()),
            "headers": answer.headers,
            "body": answer.body,
        },
    })
}

fn to_text(view: &View<'_>, answer: &Answer) -> String {
    let View {
        request,
        policy,
        checks,
        findings,
    } = *view;
    let origin = origin_text(request);
    let mut out = String::new();
    let kind = if request.method() == Method::OPTIONS {
        "a preflight"
    } else {
        "an actual request"
    };
    out.push_str(&format!(
        "Request: {} {} ({kind})\n",
        request.method(),
        request.uri().path()
    ));
    for (name, value) in request_pairs(request) {
        out.push_str(&format!("  {name}: {value}\n"));
    }
    out.push_str("\nRules (the first that matches wins):\n");
    for check in checks {
        let label = rule_label(check);
        let rule = policy.rule(check.index);
        let verdict = if answer.matched_rule == Some(check.index) {
            "matches (applied)"
        } else if check.matches() {
            "matches, but is not applied"
        } else {
            "no match"
        };
        out.push_str(&format!("  {label}: {verdict}\n"));
        for line in origin_match(rule, check, &origin, findings) {
            out.push_str(&format!("    {line}\n"));
        }
        for reason in reasons(check, rule, request) {
            out.push_str(&format!("    - {reason}\n"));
        }
    }
    out.push_str(&format!("\nDecision: {}: {}\n", answer.outcome, answer.reason));
    if answer.from_layer {
        out.push_str("\nResponse (from the layer; the request does not reach your service):\n");
        if let Some(status) = answer.status {
            out.push_str(&format!(
                "  HTTP {} {}\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ));
        }
        for (name, value) in &answer.headers {
            out.push_str(&format!("  {name}: {value}\n"));
        }
        match answer.body.as_deref() {
            Some("") | None => out.push_str("  (empty body)\n"),
            Some(body) => out.push_str(&format!("\n{body}\n")),
        }
    } else if answer.headers.is_empty() {
        out.push_str("\nResponse: your service's, unchanged.\n");
    } else {
        out.push_str("\nResponse: your service's, with these headers set by the layer:\n");
        for (name, value) in &answer.headers {
            out.push_str(&format!("  {name}: {value}\n"));
        }
    }
    out
}

/// The security finding `lint` reports on AllowedOrigin `pattern` of rule `rule`, if any.
pub(crate) fn security_finding<'a>(
    findings: &'a [LintWarning],
    rule: usize,
    pattern: &str,
) -> Option<&'a LintWarning> {
    findings
        .iter()
        .find(|w| w.severity() == Severity::Security && w.rule_index() == rule && w.value() == Some(pattern))
}
