//! A configuration as a compiled policy keeps it: one block of bytes.
//!
//! A [`CorsConfiguration`] is a list of rules, each a handful of lists of strings: about a dozen
//! heap blocks for a one-rule configuration. A policy kept for as long as a bucket keeps its
//! rules does not need them as separate blocks (requests read the matcher, not the
//! configuration), and a million buckets pay for every block twice: in memory, and when a
//! replaced configuration is freed, one cold block at a time. So a policy keeps its
//! configuration in this form and reads it back only when asked.
//!
//! The layout (integers little-endian):
//! - the number of rules (`u8`; at most 100), then the offset of each rule (`u32` each), so a
//!   rule's `ID` is found without reading the rules before it;
//! - each rule: a flags byte (`1`: an `ID` follows, `2`: a `MaxAgeSeconds` follows), the `ID`
//!   (a string), `MaxAgeSeconds` (`i32`), then its AllowedHeaders, AllowedMethods,
//!   AllowedOrigins and ExposeHeaders, each a count (`u32`) and that many strings;
//! - a string: its length (`u32`) and its UTF-8 bytes.
//!
//! Equal configurations give equal bytes, and different ones different bytes, so the bytes
//! stand for the configuration in comparisons and hashes ([`PolicyInterner`]).
//!
//! [`PolicyInterner`]: crate::source::PolicyInterner

use crate::config::{CorsConfiguration, CorsRule};

const HAS_ID: u8 = 1;
const HAS_MAX_AGE: u8 = 2;

/// A configuration in one block of bytes (see the module documentation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct StoredConfiguration {
    bytes: Box<[u8]>,
}

impl StoredConfiguration {
    pub(crate) fn new(config: &CorsConfiguration) -> Self {
        let rules = config.rules();
        let mut bytes = Vec::with_capacity(Self::size(rules));
        // A validated configuration has at most 100 rules.
        bytes.push(u8::try_from(rules.len()).unwrap_or(u8::MAX));
        let offsets_at = bytes.len();
        bytes.resize(offsets_at + 4 * rules.len(), 0);
        for (index, rule) in rules.iter().enumerate() {
            let offset = len_u32(bytes.len());
            if let Some(slot) = bytes.get_mut(offsets_at + 4 * index..offsets_at + 4 * index + 4) {
                slot.copy_from_slice(&offset.to_le_bytes());
            }
            let flags = if rule.id.is_some() { HAS_ID } else { 0 }
                | if rule.max_age_seconds.is_some() {
                    HAS_MAX_AGE
                } else {
                    0
                };
            bytes.push(flags);
            if let Some(id) = &rule.id {
                push_str(&mut bytes, id);
            }
            if let Some(seconds) = rule.max_age_seconds {
                bytes.extend_from_slice(&seconds.to_le_bytes());
            }
            for list in [
                &rule.allowed_headers,
                &rule.allowed_methods,
                &rule.allowed_origins,
                &rule.expose_headers,
            ] {
                bytes.extend_from_slice(&len_u32(list.len()).to_le_bytes());
                for value in list {
                    push_str(&mut bytes, value);
                }
            }
        }
        StoredConfiguration { bytes: bytes.into() }
    }

    /// The exact size of the encoding, so the block is allocated once.
    fn size(rules: &[CorsRule]) -> usize {
        let list = |values: &[String]| 4 + values.iter().map(|v| 4 + v.len()).sum::<usize>();
        1 + rules
            .iter()
            .map(|rule| {
                4 + 1
                    + rule.id.as_ref().map_or(0, |id| 4 + id.len())
                    + rule.max_age_seconds.map_or(0, |_| 4)
                    + list(&rule.allowed_headers)
                    + list(&rule.allowed_methods)
                    + list(&rule.allowed_origins)
                    + list(&rule.expose_headers)
            })
            .sum::<usize>()
    }

    /// The configuration, read back.
    pub(crate) fn configuration(&self) -> CorsConfiguration {
        let rules = (0..self.rule_count())
            .map(|index| {
                let mut reader = self.rule(index);
                let flags = reader.u8();
                let mut rule = CorsRule {
                    id: (flags & HAS_ID != 0).then(|| reader.str().to_owned()),
                    max_age_seconds: (flags & HAS_MAX_AGE != 0).then(|| reader.i32()),
                    ..CorsRule::default()
                };
                for list in [
                    &mut rule.allowed_headers,
                    &mut rule.allowed_methods,
                    &mut rule.allowed_origins,
                    &mut rule.expose_headers,
                ] {
                    let values = reader.u32() as usize;
                    // Never more than the bytes left could hold (4 bytes per string at least).
                    list.reserve_exact(values.min(reader.rest.len() / 4));
                    for _ in 0..values {
                        list.push(reader.str().to_owned());
                    }
                }
                rule
            })
            .collect();
        CorsConfiguration::from_validated(rules)
    }

    /// The `ID` of rule `index`, if it has one.
    pub(crate) fn rule_id(&self, index: usize) -> Option<&str> {
        if index >= self.rule_count() {
            return None;
        }
        let mut reader = self.rule(index);
        (reader.u8() & HAS_ID != 0).then(|| reader.str())
    }

    /// How many rules the block holds (its first byte).
    fn rule_count(&self) -> usize {
        usize::from(self.bytes.first().copied().unwrap_or(0))
    }

    /// A reader at the start of rule `index`.
    fn rule(&self, index: usize) -> Reader<'_> {
        let mut offsets = Reader {
            rest: self.bytes.get(1 + 4 * index..).unwrap_or_default(),
        };
        let at = offsets.u32() as usize;
        Reader {
            rest: self.bytes.get(at..).unwrap_or_default(),
        }
    }

    /// Heap bytes of the block.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

impl std::fmt::Debug for StoredConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.configuration().fmt(f)
    }
}

/// A length as stored: every length in a configuration of at most 64 KiB fits.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn push_str(bytes: &mut Vec<u8>, value: &str) {
    bytes.extend_from_slice(&len_u32(value.len()).to_le_bytes());
    bytes.extend_from_slice(value.as_bytes());
}

/// Reads the block front to back. The block was written by [`StoredConfiguration::new`], so
/// every read finds what it expects; past the end (which cannot happen) it reads zeros and
/// empty strings rather than panicking.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        match self.rest.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.rest = rest;
                *head
            }
            None => {
                self.rest = &[];
                [0; N]
            }
        }
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }

    fn str(&mut self) -> &'a str {
        let len = self.u32() as usize;
        let (value, rest) = self.rest.split_at_checked(len).unwrap_or((self.rest, &[]));
        self.rest = rest;
        // Written from a `&str`.
        std::str::from_utf8(value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: Option<&str>, max_age: Option<i32>, n: usize) -> CorsRule {
        let mut builder = CorsRule::builder()
            .allowed_methods(["GET", "PUT"])
            .allowed_origins((0..=n).map(|i| format!("https://{i}.example")));
        if let Some(id) = id {
            builder = builder.id(id);
        }
        if let Some(seconds) = max_age {
            builder = builder.max_age_seconds(seconds);
        }
        for i in 0..n {
            builder = builder
                .allowed_header(format!("x-h{i}"))
                .expose_header(format!("x-e{i}"));
        }
        builder.build()
    }

    #[test]
    fn a_configuration_reads_back_as_it_was() {
        let configs = [
            vec![rule(None, None, 0)],
            vec![rule(Some("one"), Some(3000), 2)],
            vec![
                rule(Some(""), Some(-1), 1),
                rule(None, Some(0), 0),
                rule(Some("héllo"), None, 3),
            ],
            (0..100)
                .map(|i| rule(Some(&format!("r{i}")), None, i % 4))
                .collect(),
        ];
        for rules in configs {
            let config = CorsConfiguration::from_validated(rules);
            let stored = StoredConfiguration::new(&config);
            assert_eq!(stored.configuration(), config);
            assert_eq!(stored.len(), StoredConfiguration::size(config.rules()));
            for (index, rule) in config.rules().iter().enumerate() {
                assert_eq!(stored.rule_id(index), rule.id(), "rule {index}");
            }
            assert_eq!(stored.rule_id(config.rules().len()), None);
        }
    }

    #[test]
    fn equal_configurations_are_equal_bytes_and_different_ones_are_not() {
        let a = CorsConfiguration::from_validated(vec![rule(Some("a"), Some(1), 1)]);
        let same = CorsConfiguration::from_validated(vec![rule(Some("a"), Some(1), 1)]);
        assert_eq!(StoredConfiguration::new(&a), StoredConfiguration::new(&same));
        // Each field changed alone, and values moved from one list to the next.
        let mut others = Vec::new();
        for change in 0..7 {
            let mut r = rule(Some("a"), Some(1), 1);
            match change {
                0 => r.id = None,
                1 => r.id = Some("b".into()),
                2 => r.max_age_seconds = None,
                3 => r.max_age_seconds = Some(2),
                4 => r.allowed_headers.clear(),
                5 => {
                    let moved = r.allowed_headers.pop().expect("one");
                    r.expose_headers.insert(0, moved);
                }
                _ => r.allowed_origins.push(String::new()),
            }
            others.push(CorsConfiguration::from_validated(vec![r]));
        }
        for other in &others {
            assert_ne!(
                StoredConfiguration::new(&a),
                StoredConfiguration::new(other),
                "{other:?}"
            );
        }
    }
}
