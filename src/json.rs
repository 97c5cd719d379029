//! The JSON forms: AWS CLI (`{"CORSRules": [...]}`) and S3 console (a bare array).

use crate::config::{CorsConfiguration, CorsRule, MAX_DOCUMENT_BYTES};
use crate::error::{line_column, ConfigError};
use crate::validate;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CliForm {
    #[serde(rename = "CORSRules")]
    rules: Vec<CorsRule>,
}

#[derive(serde::Serialize)]
struct CliFormRef<'a> {
    #[serde(rename = "CORSRules")]
    rules: &'a [CorsRule],
}

impl CorsConfiguration {
    /// Parses JSON in the AWS CLI form (`{"CORSRules": [...]}`) or the S3 console form (a
    /// bare array of rules), with S3's plural PascalCase field names.
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        parse(json)
    }

    /// The AWS CLI JSON form, `{"CORSRules": [...]}`: pretty-printed, or compact when
    /// pretty-printing would pass the 64 KiB limit, so the output always reads back.
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn to_json(&self) -> String {
        write(self)
    }
}

fn parse(text: &str) -> Result<CorsConfiguration, ConfigError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(ConfigError::too_big("the document", text.len()));
    }
    let bare = text
        .trim_start_matches([' ', '\t', '\r', '\n', '\u{feff}'])
        .starts_with('[');
    let parsed = if bare {
        serde_json::from_str::<Vec<CorsRule>>(text)
    } else {
        serde_json::from_str::<CliForm>(text).map(|form| form.rules)
    };
    let rules = parsed.map_err(|err| {
        let detail = match err.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("not well-formed JSON: {err}")
            }
            _ => format!("does not match S3's schema: {err}"),
        };
        let mut e = ConfigError::malformed(detail);
        if err.line() > 0 {
            e = e.with_line_column((err.line(), err.column()));
        }
        e
    })?;
    validate::configuration(rules).map_err(|err| match err.rule_index() {
        Some(index) => match rule_position(text, index) {
            Some(offset) => err.with_line_column(line_column(text, offset)),
            None => err,
        },
        None => err,
    })
}

/// Byte offset of the `index`-th rule object, for error positions. A light scan that skips
/// strings; the document already parsed, so it is well-formed.
fn rule_position(text: &str, index: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let bare = text.trim_start().starts_with('[');
    // Depth at which rule objects open: 1 inside a bare array, 2 inside {"CORSRules": [ ... ]}.
    let rule_depth = if bare { 1 } else { 2 };
    let mut depth = 0usize;
    let mut seen = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if b == b'{' && depth == rule_depth {
                    if seen == index {
                        return Some(i);
                    }
                    seen += 1;
                }
                depth += 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Pretty-printed, unless that would pass the 64 KiB limit: then compact, so that the output
/// always reads back (the compact form is shorter than the S3 XML form, which fits).
fn write(config: &CorsConfiguration) -> String {
    let form = CliFormRef {
        rules: config.rules(),
    };
    // Serialising plain strings and integers cannot fail.
    let pretty = serde_json::to_string_pretty(&form).unwrap_or_default();
    if pretty.len() <= MAX_DOCUMENT_BYTES {
        pretty
    } else {
        serde_json::to_string(&form).unwrap_or_default()
    }
}
