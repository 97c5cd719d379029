//! `explain FILE --origins LIST`: would these origins get in? For each origin of the list,
//! the same evaluation the layer runs (`CorsPolicy::evaluate`), summed up: which methods get
//! an answer, through which rule and AllowedOrigin, and whether S3 answers with credentials.

use std::io::Read;

use serde_json::{json, Value};
use tower_s3_cors::{CorsConfiguration, CorsPolicy, Decision, S3Method};

use crate::explain::{failed, request, security_finding};
use crate::{ExplainArgs, EXIT_OK};

/// One way an origin gets in: a rule and the AllowedOrigin that accepted it.
struct Entry {
    rule: usize,
    rule_id: Option<String>,
    allowed_origin: Option<String>,
    credentials: bool,
    /// The methods (or the one request) answered through this rule.
    methods: Vec<String>,
    finding: Option<(String, String)>,
}

/// The verdict for one origin.
struct Verdict {
    origin: String,
    entries: Vec<Entry>,
}

pub(crate) fn run(args: &ExplainArgs, list: &str, config: CorsConfiguration, json: bool) -> u8 {
    let origins = match read_list(list, &args.file) {
        Ok(origins) => origins,
        Err(message) => return failed(&args.file, &message, json),
    };
    let findings = config.lint();
    let policy = CorsPolicy::new(config);
    // The request for each origin: the one the arguments describe, or a preflight per method.
    let tries: Vec<Option<&str>> = if args.method.is_some() || args.preflight {
        vec![args.request_method.as_deref()]
    } else {
        S3Method::ALL.iter().map(|m| Some(m.as_str())).collect()
    };
    let mut verdicts = Vec::new();
    for origin in &origins {
        let mut entries: Vec<Entry> = Vec::new();
        for request_method in &tries {
            let request = match request(args, Some(origin), *request_method) {
                Ok(request) => request,
                Err(message) => return failed(&args.file, &message, json),
            };
            let (Decision::Preflight(allowed) | Decision::Actual(allowed)) = policy.evaluate(&request) else {
                continue;
            };
            let label = match (request_method, &args.method) {
                (_, Some(method)) if !args.preflight => method.clone(),
                (Some(method), _) => (*method).to_owned(),
                (None, _) => "OPTIONS".to_owned(),
            };
            let rule = allowed.rule_index();
            match entries.iter_mut().find(|e| e.rule == rule) {
                Some(entry) => entry.methods.push(label),
                None => {
                    let checks = policy.explain(&request);
                    let allowed_origin = checks.get(rule).and_then(|c| c.allowed_origin.clone());
                    entries.push(Entry {
                        rule,
                        rule_id: checks.get(rule).and_then(|c| c.id.clone()),
                        finding: allowed_origin
                            .as_deref()
                            .and_then(|pattern| security_finding(&findings, rule, pattern))
                            .map(|w| {
                                (
                                    w.code().as_str().to_owned(),
                                    w.witness().unwrap_or_default().to_owned(),
                                )
                            }),
                        allowed_origin,
                        credentials: allowed.headers().allow_credentials(),
                        methods: vec![label],
                    });
                }
            }
        }
        verdicts.push(Verdict {
            origin: origin.clone(),
            entries,
        });
    }
    let tried = if tries.len() > 1 {
        "a preflight for each of GET, PUT, HEAD, POST, DELETE".to_owned()
    } else if args.preflight {
        "a preflight".to_owned()
    } else {
        "an actual request".to_owned()
    };
    if json {
        outln!("{:#}", to_json(&args.file, &tried, &verdicts));
    } else {
        out!("{}", to_text(&tried, &verdicts));
    }
    EXIT_OK
}

/// The origins of the list: one per line, trimmed; blank lines and `#` comments skipped.
fn read_list(list: &str, config_file: &str) -> Result<Vec<String>, String> {
    let text = if list == "-" {
        if config_file == "-" {
            return Err("the configuration and --origins cannot both be standard input".to_owned());
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| format!("cannot read the origins from standard input: {err}"))?;
        text
    } else {
        std::fs::read_to_string(list).map_err(|err| format!("cannot read {list}: {err}"))?
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

fn to_json(file: &str, tried: &str, verdicts: &[Verdict]) -> Value {
    let origins: Vec<Value> = verdicts
        .iter()
        .map(|verdict| {
            let through: Vec<Value> = verdict
                .entries
                .iter()
                .map(|entry| {
                    json!({
                        "rule_index": entry.rule,
                        "rule_id": entry.rule_id,
                        "allowed_origin": entry.allowed_origin,
                        "credentials": entry.credentials,
                        "methods": entry.methods,
                        "security": entry.finding.as_ref().map(|(code, witness)| {
                            json!({ "code": code, "witness": witness })
                        }),
                    })
                })
                .collect();
            json!({
                "origin": verdict.origin,
                "gets_in": !verdict.entries.is_empty(),
                "credentials": verdict.entries.iter().any(|e| e.credentials),
                "through": through,
            })
        })
        .collect();
    json!({ "file": file, "tried": tried, "origins": origins })
}

/// ```text
/// https://evilexample.com: gets in, with credentials
///   GET, PUT, DELETE through rule 0, AllowedOrigin "https://*example.com"
///   security[origin-wildcard-crosses-host]: this AllowedOrigin lets other sites in
/// https://example.org: does not get in (no rule matches)
/// ```
fn to_text(tried: &str, verdicts: &[Verdict]) -> String {
    let mut out = format!("Would these origins get in? (each tried with {tried})\n");
    for verdict in verdicts {
        if verdict.entries.is_empty() {
            out.push_str(&format!(
                "{}: does not get in (no rule matches)\n",
                verdict.origin
            ));
            continue;
        }
        let credentials = if verdict.entries.iter().any(|e| e.credentials) {
            "with credentials"
        } else {
            "without credentials (Access-Control-Allow-Origin: *)"
        };
        out.push_str(&format!("{}: gets in, {credentials}\n", verdict.origin));
        for entry in &verdict.entries {
            let rule = match &entry.rule_id {
                Some(id) => format!("rule {} (ID {id:?})", entry.rule),
                None => format!("rule {}", entry.rule),
            };
            let pattern = entry.allowed_origin.as_deref().unwrap_or_default();
            out.push_str(&format!(
                "  {} through {rule}, AllowedOrigin {pattern:?}\n",
                entry.methods.join(", ")
            ));
            if let Some((code, _)) = &entry.finding {
                out.push_str(&format!(
                    "  security[{code}]: this AllowedOrigin lets other sites in (see `tower-s3-cors lint`)\n"
                ));
            }
        }
    }
    let getting_in = verdicts.iter().filter(|v| !v.entries.is_empty()).count();
    out.push_str(&format!("{getting_in} of {} origins get in\n", verdicts.len()));
    out
}
