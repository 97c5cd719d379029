//! Printing shared by the commands: failures to load a configuration, and byte strings.

use serde_json::{json, Value};
use tower_s3_cors::ConfigError;

use crate::input::Failure;
use crate::{EXIT_FAILURE, EXIT_INVALID};

/// S3's message for a document it cannot parse.
const MALFORMED_XML: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

/// A configuration error as JSON: S3's code and message, and where.
pub(crate) fn error_json(err: &ConfigError) -> Value {
    json!({
        "code": err.code().as_str(),
        "message": err.message(),
        "detail": err.detail(),
        "rule_index": err.rule_index(),
        "rule_id": err.rule_id(),
        "field": err.field(),
        "value": err.value(),
        "line": err.line_column().map(|(line, _)| line),
        "column": err.line_column().map(|(_, column)| column),
    })
}

/// A configuration error as text: S3's code and message first, then where and why.
pub(crate) fn error_text(file: &str, err: &ConfigError) -> String {
    let mut out = format!("error[{}]: {}\n", err.code(), err.message());
    let mut place = match err.line_column() {
        Some((line, column)) => vec![format!("{file}:{line}:{column}")],
        None => vec![file.to_owned()],
    };
    if let Some(index) = err.rule_index() {
        match err.rule_id() {
            Some(id) => place.push(format!("rule {index} (ID {id:?})")),
            None => place.push(format!("rule {index}")),
        }
    }
    match (err.field(), err.value()) {
        (Some(field), Some(value)) => place.push(format!("{field} {value:?}")),
        (Some(field), None) => place.push(field.to_owned()),
        _ => {}
    }
    out.push_str(&format!("  at: {}\n", place.join(", ")));
    if !err.detail().is_empty() {
        out.push_str(&format!("  why: {}\n", err.detail()));
    }
    out
}

/// Reports a configuration that could not be loaded; gives the exit status.
///
/// Text goes to standard error; with `--json`, one JSON document goes to standard output.
pub(crate) fn report_failure(file: &str, failure: &Failure, json: bool) -> u8 {
    let (status, value, text) = match failure {
        Failure::Io(message) => (
            EXIT_FAILURE,
            json!({ "file": file, "valid": null, "failure": message }),
            format!("error: {message}\n"),
        ),
        Failure::NotUtf8 { offset } => {
            let detail = format!("the document is not UTF-8 text (byte {offset})");
            (
                EXIT_INVALID,
                json!({
                    "file": file,
                    "valid": false,
                    "error": { "code": "MalformedXML", "message": MALFORMED_XML, "detail": detail },
                }),
                format!("error[MalformedXML]: {MALFORMED_XML}\n  at: {file}\n  why: {detail}\n"),
            )
        }
        Failure::Invalid(format, err) => (
            EXIT_INVALID,
            json!({ "file": file, "format": format.as_str(), "valid": false, "error": error_json(err) }),
            error_text(file, err),
        ),
    };
    if json {
        outln!("{value:#}");
    } else {
        eprint!("{text}");
    }
    status
}

/// Bytes as text: UTF-8 as is, other bytes as `\xNN`.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let (bad, after) = after.split_at(err.error_len().unwrap_or(after.len()));
                for b in bad {
                    out.push_str(&format!("\\x{b:02X}"));
                }
                rest = after;
            }
        }
    }
}

/// Writes to standard output; never panics. When the reader has gone away (`... | head`), the
/// rest of the output has nowhere to go: the process ends quietly with status 3 (the command
/// could not run to the end). Any other write error is reported on standard error, same status.
pub(crate) fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {err}");
        }
        std::process::exit(i32::from(crate::EXIT_FAILURE));
    }
}
