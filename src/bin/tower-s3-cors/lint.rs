//! `lint FILE`: S3's validation first, then the warnings of `CorsConfiguration::lint`.

use serde_json::json;
use tower_s3_cors::lint::{LintWarning, Severity};

use crate::input::{self, Failure};
use crate::output::{error_json, error_text, report_failure};
use crate::{LintArgs, EXIT_INVALID, EXIT_OK, EXIT_WARNINGS};

/// The codes, for `lint --help`.
pub(crate) const CODES_HELP: &str = "\
Security codes (listed first; other sites get in, answered with credentials; each names a
witness origin that matches):
  origin-wildcard-any-host        the * stands for the whole host (https://*, http*)
  origin-wildcard-public-suffix   *. before a public suffix (https://*.com, https://*.github.io)
  origin-wildcard-crosses-host    the * can leave the domain (https://*example.com,
                                  https://app.example.com*)
  origin-insecure-http            a plain http:// origin other than loopback, or a * for the scheme
  origin-null                     null (sandboxed iframes, data: documents, local files)

Warning codes:
  origin-whitespace               an AllowedOrigin with whitespace or a comma in it
  origin-no-scheme                an AllowedOrigin without scheme:// (example.com, localhost:3000)
  origin-trailing-slash           an AllowedOrigin ending in /
  origin-path                     an AllowedOrigin with a path, query or fragment
  origin-uppercase                capital letters in an AllowedOrigin's scheme or host
  origin-default-port             https://...:443 or http://...:80 (browsers leave it out)
  origin-redundant-with-wildcard  a rule lists * and other origins
  rule-shadowed                   earlier rules match every request this rule matches
  rule-unmatchable                no request can match the rule at all
  duplicate-id                    two rules with the same ID
  max-age-capped                  MaxAgeSeconds above a browser's cap (WebKit 600, Chromium 7200, Firefox 86400)
  max-age-negative                a negative MaxAgeSeconds
  expose-etag-missing             a rule allows PUT or POST but does not expose ETag

Exit status: 0 no findings, 1 findings (with --deny security: security findings only), 2
invalid configuration (S3's code and message are printed), 3 the file could not be read.";

pub(crate) fn run(args: &LintArgs, json: bool) -> u8 {
    let file = &args.file;
    let (config, format) = match input::load(file) {
        Ok(loaded) => loaded,
        Err(Failure::Invalid(format, err)) => {
            // An invalid configuration is lint's finding, on standard output.
            if json {
                let value = json!({
                    "file": file,
                    "format": format.as_str(),
                    "valid": false,
                    "error": error_json(&err),
                    "warnings": [],
                });
                outln!("{value:#}");
            } else {
                out!("{}", error_text(file, &err));
            }
            return EXIT_INVALID;
        }
        Err(failure) => return report_failure(file, &failure, json),
    };
    let warnings = config.lint();
    let security = warnings
        .iter()
        .filter(|w| w.severity() == Severity::Security)
        .count();
    if json {
        let value = json!({
            "file": file,
            "format": format.as_str(),
            "valid": true,
            "error": null,
            "warnings": warnings,
        });
        outln!("{value:#}");
    } else {
        for warning in &warnings {
            out!("{}", warning_text(warning));
        }
        let of_which = match security {
            0 => String::new(),
            n => format!(" ({n} security)"),
        };
        match warnings.len() {
            0 => outln!("{file}: no problems found"),
            1 => outln!("{file}: 1 warning{of_which}"),
            n => outln!("{file}: {n} warnings{of_which}"),
        }
    }
    let denied = match args.deny {
        Severity::Security => security,
        _ => warnings.len(),
    };
    if denied == 0 {
        EXIT_OK
    } else {
        EXIT_WARNINGS
    }
}

/// ```text
/// warning[origin-trailing-slash]: rule 0 (ID "uploads"), AllowedOrigin "https://a.example/"
///   "https://a.example/" ends with "/"; a browser's Origin has no path, so it never matches
///   fix: write "https://a.example"
/// ```
///
/// Security findings start with `security[...]` instead.
fn warning_text(warning: &LintWarning) -> String {
    let mut place = format!("rule {}", warning.rule_index());
    if let Some(id) = warning.rule_id() {
        place.push_str(&format!(" (ID {id:?})"));
    }
    match (warning.field(), warning.value()) {
        (Some(field), Some(value)) => place.push_str(&format!(", {field} {value:?}")),
        (Some(field), None) => place.push_str(&format!(", {field}")),
        _ => {}
    }
    format!(
        "{}[{}]: {place}\n  {}\n  fix: {}\n",
        warning.severity(),
        warning.code(),
        warning.message(),
        warning.fix()
    )
}
