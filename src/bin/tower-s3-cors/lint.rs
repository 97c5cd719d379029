//! `lint FILE`: S3's validation first, then the warnings of `CorsConfiguration::lint`.

use serde_json::json;
use tower_s3_cors::lint::LintWarning;

use crate::input::{self, Failure};
use crate::output::{error_json, error_text, report_failure};
use crate::{LintArgs, EXIT_INVALID, EXIT_OK, EXIT_WARNINGS};

/// The codes, for `lint --help`.
pub(crate) const CODES_HELP: &str = "\
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
  max-age-capped                  MaxAgeSeconds above 7200 (Chromium's cap)
  max-age-negative                a negative MaxAgeSeconds
  expose-etag-missing             a rule allows PUT or POST but does not expose ETag

Exit status: 0 no warnings, 1 warnings, 2 invalid configuration (S3's code and message are
printed), 3 the file could not be read.";

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
                println!("{value:#}");
            } else {
                print!("{}", error_text(file, &err));
            }
            return EXIT_INVALID;
        }
        Err(failure) => return report_failure(file, &failure, json),
    };
    let warnings = config.lint();
    if json {
        let value = json!({
            "file": file,
            "format": format.as_str(),
            "valid": true,
            "error": null,
            "warnings": warnings,
        });
        println!("{value:#}");
    } else {
        for warning in &warnings {
            print!("{}", warning_text(warning));
        }
        match warnings.len() {
            0 => println!("{file}: no problems found"),
            1 => println!("{file}: 1 warning"),
            n => println!("{file}: {n} warnings"),
        }
    }
    if warnings.is_empty() {
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
        "warning[{}]: {place}\n  {}\n  fix: {}\n",
        warning.code(),
        warning.message(),
        warning.fix()
    )
}
