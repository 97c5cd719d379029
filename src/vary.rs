//! Merging the layer's `Vary` into the inner service's, as one field without repeats.

use http::header::VARY;
use http::{HeaderMap, HeaderValue};

/// Adds the tokens of `ours` to the response's `Vary`: one field, the inner service's tokens
/// first in their order, no token twice (compared ASCII-case-insensitively). `Vary: *` already
/// covers everything and is left alone.
pub(crate) fn merge(headers: &mut HeaderMap, ours: HeaderValue) {
    let mut fields = headers.get_all(VARY).iter();
    let Some(first) = fields.next() else {
        headers.insert(VARY, ours);
        return;
    };
    if fields.next().is_none() && first == ours {
        return;
    }
    let mut tokens: Vec<&[u8]> = Vec::new();
    for field in headers.get_all(VARY) {
        for token in field
            .as_bytes()
            .split(|&b| b == b',')
            .map(trim)
            .filter(|t| !t.is_empty())
        {
            if token == b"*" {
                return;
            }
            if !tokens.iter().any(|t| t.eq_ignore_ascii_case(token)) {
                tokens.push(token);
            }
        }
    }
    for token in ours.as_bytes().split(|&b| b == b',').map(trim) {
        if !tokens.iter().any(|t| t.eq_ignore_ascii_case(token)) {
            tokens.push(token);
        }
    }
    let merged = tokens.join(&b", "[..]);
    // Every token came from a valid header value, so the join is one too.
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        headers.insert(VARY, value);
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

    fn merged(existing: &[&str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for v in existing {
            headers.append(VARY, HeaderValue::from_str(v).unwrap());
        }
        merge(&mut headers, HeaderValue::from_static(OURS));
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn no_vary_gets_ours() {
        assert_eq!(merged(&[]), [OURS]);
    }

    #[test]
    fn appends_after_inner_tokens_once() {
        assert_eq!(
            merged(&["Accept-Encoding", "origin"]),
            ["Accept-Encoding, origin, Access-Control-Request-Headers, Access-Control-Request-Method"]
        );
    }

    #[test]
    fn star_left_alone() {
        assert_eq!(merged(&["*"]), ["*"]);
    }

    #[test]
    fn same_value_untouched() {
        assert_eq!(merged(&[OURS]), [OURS]);
    }
}
