//! Merging the layer's `Vary` into the inner service's, as one field without repeats.

use http::header::VARY;
use http::{HeaderMap, HeaderValue};

/// Adds the tokens of `ours` to the response's `Vary`: one field, the inner service's tokens
/// first in their order, no token twice (compared ASCII-case-insensitively). `Vary: *` already
/// covers everything and is left alone. One allocation (the merged value) when there is
/// something to merge, none otherwise.
pub(crate) fn merge(headers: &mut HeaderMap, ours: HeaderValue) {
    let mut fields = headers.get_all(VARY).iter();
    let Some(first) = fields.next() else {
        headers.insert(VARY, ours);
        return;
    };
    if fields.next().is_none() && first == ours {
        return;
    }
    // The distinct tokens, inner ones first. Responses name a few: they are kept on the
    // stack, and only a long list spills into a vector.
    let mut kept: [&[u8]; 16] = [b""; 16];
    let mut spilled: Vec<&[u8]> = Vec::new();
    let mut count = 0;
    let mut len = 0;
    let inner = headers
        .get_all(VARY)
        .into_iter()
        .flat_map(|field| tokens(field.as_bytes()));
    for (token, theirs) in inner
        .map(|t| (t, true))
        .chain(tokens(ours.as_bytes()).map(|t| (t, false)))
    {
        if theirs && token == b"*" {
            return;
        }
        let seen = |list: &[&[u8]]| list.iter().any(|t| t.eq_ignore_ascii_case(token));
        if seen(kept.get(..count.min(kept.len())).unwrap_or_default()) || seen(&spilled) {
            continue;
        }
        match kept.get_mut(count) {
            Some(slot) => *slot = token,
            None => spilled.push(token),
        }
        count += 1;
        len += token.len();
    }
    let mut merged = Vec::with_capacity(len + 2 * count.saturating_sub(1));
    for token in kept.iter().take(count).chain(&spilled) {
        if !merged.is_empty() {
            merged.extend_from_slice(b", ");
        }
        merged.extend_from_slice(token);
    }
    // Exact capacity: `Bytes` takes the buffer over without another allocation. Every token
    // came from a valid header value, so the join is one too.
    if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(merged)) {
        headers.insert(VARY, value);
    }
}

/// The comma-separated tokens of a `Vary` value, trimmed, empty ones dropped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
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

    #[test]
    fn repeats_dropped_across_fields_ignoring_case() {
        assert_eq!(
            merged(&[
                "accept-encoding, ORIGIN",
                " , Accept-Encoding,,x-a",
                "access-control-request-method"
            ]),
            ["accept-encoding, ORIGIN, x-a, access-control-request-method, Access-Control-Request-Headers"]
        );
    }

    #[test]
    fn long_lists_spill_and_keep_order() {
        let inner: Vec<String> = (0..20).map(|i| format!("x-{i}")).collect();
        let mut expected = inner.clone();
        expected.extend(OURS.split(", ").map(str::to_owned));
        let mut with_repeats = inner.clone();
        with_repeats.extend(["X-3".to_owned(), "x-19".to_owned()]);
        assert_eq!(merged(&[&with_repeats.join(", ")]), [expected.join(", ")]);
    }

    #[test]
    fn star_in_a_later_field_left_alone() {
        assert_eq!(merged(&["accept-encoding", "*"]), ["accept-encoding", "*"]);
    }
}
