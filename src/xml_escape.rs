//! XML text escaping for the documents the crate writes.

use crate::swar::bytes_equal;

/// Where a document is written: a `String`, or a buffer of fixed size (the S3 error documents
/// of the request path).
pub(crate) trait XmlOut {
    fn push_str(&mut self, text: &str);
}

impl XmlOut for String {
    fn push_str(&mut self, text: &str) {
        String::push_str(self, text);
    }
}

/// The bytes [`push_escaped`] replaces, each with a reference.
const ESCAPED: [u8; 4] = [b'&', b'<', b'>', b'\r'];

/// Appends `text` to `out`, escaped for XML character data (every document the crate writes
/// puts text in elements only).
///
/// Quotes and apostrophes stay literal, as in S3's documents (`resource's CORS spec`,
/// `AllowedOrigin "*example*.com"`). `\r` is written as a character reference so that a
/// parser's end-of-line normalisation gives back the same value.
pub(crate) fn push_escaped(out: &mut impl XmlOut, text: &str) {
    // Nearly always there is nothing to escape (ids, S3's messages, rule values): one pass
    // over the bytes, eight at a time, says so before any character is looked at.
    if !needs_escaping(text.as_bytes()) {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(i) = rest.find(ESCAPED.map(char::from)) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let mut chars = tail.chars();
        let replacement = match chars.next() {
            Some('&') => "&amp;",
            Some('<') => "&lt;",
            Some('>') => "&gt;",
            _ => "&#13;",
        };
        out.push_str(replacement);
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// Whether `bytes` holds a byte [`push_escaped`] replaces ([`ESCAPED`]).
fn needs_escaping(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*word);
        if ESCAPED.iter().fold(0, |found, &b| found | bytes_equal(word, b)) != 0 {
            return true;
        }
        rest = tail;
    }
    rest.iter().any(|b| ESCAPED.contains(b))
}

/// The length of `text` once [`push_escaped`] has escaped it.
pub(crate) fn escaped_len(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'&' | b'\r' => 4,
                b'<' | b'>' => 3,
                _ => 0,
            })
            .sum::<usize>()
}

/// Appends request bytes (which may not be UTF-8) as escaped XML text; invalid UTF-8
/// sequences become U+FFFD and control characters that XML 1.0 cannot carry are dropped.
pub(crate) fn push_escaped_bytes(out: &mut impl XmlOut, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().all(is_xml_char) {
        push_escaped(out, &text);
    } else {
        let cleaned: String = text.chars().filter(|&c| is_xml_char(c)).collect();
        push_escaped(out, &cleaned);
    }
}

/// Whether `c` is a character XML 1.0 allows in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_metacharacters() {
        let mut out = String::new();
        push_escaped(&mut out, "a<b>&\"c'\r");
        assert_eq!(out, "a&lt;b&gt;&amp;\"c'&#13;");
    }

    #[test]
    fn the_fast_check_finds_every_metacharacter_at_every_position() {
        // Lengths around the eight-byte steps, each metacharacter at each position.
        for len in 1..20 {
            for at in 0..len {
                for special in ['&', '<', '>', '\r'] {
                    let text: String = (0..len).map(|i| if i == at { special } else { 'x' }).collect();
                    assert!(needs_escaping(text.as_bytes()), "{text:?}");
                }
            }
            assert!(!needs_escaping("x\"'é".repeat(len).as_bytes()));
        }
    }

    #[test]
    fn bytes_lossy_and_control_free() {
        let mut out = String::new();
        push_escaped_bytes(&mut out, b"x\xff\x01<");
        assert_eq!(out, "x\u{FFFD}&lt;");
    }
}
