//! `explain FILE --origin O (--method M | --preflight --request-method M) ...`: the layer's
//! answer to one request, from the same evaluation the layer runs (`CorsPolicy::evaluate`,
//! turned into a response by `Decision::to_response`), and each rule's verdict
//! (`CorsPolicy::explain`).

use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower_s3_cors::header::{X_AMZ_ID_2, X_AMZ_REQUEST_ID};
use tower_s3_cors::{CorsPolicy, CorsRule, Decision, RequestIds, RuleCheck};

use crate::input;
use crate::output::{report_failure, show_bytes};
use crate::{ExplainArgs, EXIT_FAILURE, EXIT_OK};

pub(crate) fn run(args: &ExplainArgs, json: bool) -> u8 {
    let config = match input::load(&args.file) {
        Ok((config, _)) => config,
        Err(failure) => return report_failure(&args.file, &failure, json),
    };
    let (request, ids) = match build(args) {
        Ok(built) => built,
        Err(message) => {
            if json {
                println!("{:#}", json!({ "file": args.file, "failure": message }));
            } else {
                eprintln!("error: {message}");
            }
            return EXIT_FAILURE;
        }
    };
    let policy = CorsPolicy::new(config);
    let decision = policy.evaluate(&request);
    let checks = policy.explain(&request);
    let answer = Answer::new(&decision, &ids);
    if json {
        println!("{:#}", to_json(&request, &policy, &checks, &answer));
    } else {
        print!("{}", to_text(&request, &policy, &checks, &answer));
    }
    EXIT_OK
}

/// The request described by the arguments, and the ids for an error document.
fn build(args: &ExplainArgs) -> Result<(Request<()>, RequestIds), String> {
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
        (ORIGIN, &args.origin),
        (ACCESS_CONTROL_REQUEST_METHOD, &args.request_method),
        (ACCESS_CONTROL_REQUEST_HEADERS, &args.request_headers),
    ] {
        if let Some(value) = value {
            builder = builder.header(name.clone(), header_value(&name, value)?);
        }
    }
    let request = builder
        .body(())
        .map_err(|err| format!("invalid request: {err}"))?;
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

fn to_json(request: &Request<()>, policy: &CorsPolicy, checks: &[RuleCheck], answer: &Answer) -> Value {
    let rules: Vec<Value> = checks
        .iter()
        .map(|check| {
            json!({
                "index": check.index,
                "id": check.id,
                "matches": check.matches(),
                "applied": answer.matched_rule == Some(check.index),
                "origin": check.origin,
                "method": check.method,
                "rejected_header": check.rejected_header,
                "why_not": reasons(check, policy.rule(check.index), request),
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

fn to_text(request: &Request<()>, policy: &CorsPolicy, checks: &[RuleCheck], answer: &Answer) -> String {
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
        if answer.matched_rule == Some(check.index) {
            out.push_str(&format!("  {label}: matches (applied)\n"));
        } else if check.matches() {
            out.push_str(&format!("  {label}: matches, but is not applied\n"));
        } else {
            out.push_str(&format!("  {label}: no match\n"));
            for reason in reasons(check, policy.rule(check.index), request) {
                out.push_str(&format!("    - {reason}\n"));
            }
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
