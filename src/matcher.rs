//! The compiled matcher: a configuration turned, once, into indexes and prebuilt header values.
//!
//! Rules are at most 100, so a set of rules is a `u128` bit mask. Matching a request is three
//! lookups that each give the mask of rules accepting one part of it (origin, method, each
//! requested header); their intersection's lowest bit is S3's "first matching rule". Exact
//! origins and exact header names are found through indexes, so the cost does not grow with
//! the number of rules that cannot match.

use std::collections::HashMap;

use http::HeaderValue;

use crate::config::{CorsConfiguration, CorsRule};
use crate::validate::S3_METHODS;

/// A set of rules, one bit per rule index.
pub(crate) type Mask = u128;

/// A one-`*` pattern's prefix and suffix, and the rules that list it.
type Affix = (Box<[u8]>, Box<[u8]>, Mask);

/// An exact header name: hash of the lowercased name, the lowercased name, its rules.
type HashedName = (u64, Box<[u8]>, Mask);

/// An S3 pattern with at most one `*`: anything, an exact value, or a prefix and a suffix
/// around a run of any bytes (possibly empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    Any,
    Exact(Box<[u8]>),
    Wildcard { prefix: Box<[u8]>, suffix: Box<[u8]> },
}

impl Pattern {
    pub(crate) fn parse(pattern: &str) -> Pattern {
        if pattern == "*" {
            return Pattern::Any;
        }
        match pattern.split_once('*') {
            Some((prefix, suffix)) => Pattern::Wildcard {
                prefix: prefix.as_bytes().into(),
                suffix: suffix.as_bytes().into(),
            },
            None => Pattern::Exact(pattern.as_bytes().into()),
        }
    }

    /// Byte-for-byte match (origins).
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) => **exact == *value,
            // The length test keeps prefix and suffix from overlapping.
            Pattern::Wildcard { prefix, suffix } => {
                value.len() >= prefix.len() + suffix.len()
                    && value.starts_with(prefix)
                    && value.ends_with(suffix)
            }
        }
    }

    /// ASCII-case-insensitive match (header names).
    pub(crate) fn matches_ignore_case(&self, value: &[u8]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) => exact.eq_ignore_ascii_case(value),
            Pattern::Wildcard { prefix, suffix } => {
                value.len() >= prefix.len() + suffix.len()
                    && value
                        .get(..prefix.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                    && value
                        .get(value.len() - suffix.len()..)
                        .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

/// One of the five methods S3 knows, as a bit index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum S3Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
}

impl S3Method {
    /// Parses a method token exactly (case-sensitive), as S3 does.
    pub fn from_bytes(bytes: &[u8]) -> Option<S3Method> {
        Some(match bytes {
            b"GET" => S3Method::Get,
            b"PUT" => S3Method::Put,
            b"HEAD" => S3Method::Head,
            b"POST" => S3Method::Post,
            b"DELETE" => S3Method::Delete,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        S3_METHODS[self.index()]
    }

    pub(crate) fn index(self) -> usize {
        match self {
            S3Method::Get => 0,
            S3Method::Put => 1,
            S3Method::Head => 2,
            S3Method::Post => 3,
            S3Method::Delete => 4,
        }
    }
}

/// The constant part of one rule's answer, built once.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    /// Allow-Origin is `*` when the rule lists `*` among its origins.
    pub(crate) any_origin: bool,
    pub(crate) allow_methods: HeaderValue,
    pub(crate) expose_headers: Option<HeaderValue>,
    pub(crate) max_age: Option<HeaderValue>,
    pub(crate) origins: Box<[Pattern]>,
    pub(crate) methods: [bool; 5],
    pub(crate) headers: Box<[Pattern]>,
}

impl CompiledRule {
    pub(crate) fn allows(&self, method: S3Method) -> bool {
        self.methods[method.index()]
    }
}

/// A [`CorsConfiguration`] compiled for matching: build it once, evaluate every request with
/// it. Building cannot fail: the configuration is already valid.
///
/// ```
/// use tower_s3_cors::{CorsConfiguration, CorsPolicy, Decision};
///
/// let config = CorsConfiguration::from_json(
///     r#"[{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]}]"#,
/// )?;
/// let policy = CorsPolicy::new(config);
/// let request = http::Request::get("/photo.jpg")
///     .header("origin", "https://app.example.com")
///     .body(())
///     .unwrap();
/// match policy.evaluate(&request) {
///     Decision::Actual(allowed) => {
///         assert_eq!(allowed.rule_index(), 0);
///         assert_eq!(allowed.headers().allow_origin(), "https://app.example.com");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CorsPolicy {
    config: CorsConfiguration,
    pub(crate) rules: Box<[CompiledRule]>,
    all: Mask,
    method_masks: [Mask; 5],
    any_origin: Mask,
    exact_origins: HashMap<Box<[u8]>, Mask>,
    wildcard_origins: Box<[Affix]>,
    any_header: Mask,
    /// Sorted by hash of the lowercased name.
    exact_headers: Box<[HashedName]>,
    /// Lowercased prefix and suffix.
    wildcard_headers: Box<[Affix]>,
}

impl From<CorsConfiguration> for CorsPolicy {
    fn from(config: CorsConfiguration) -> Self {
        CorsPolicy::new(config)
    }
}

impl CorsPolicy {
    /// Compiles a validated configuration.
    pub fn new(config: CorsConfiguration) -> Self {
        let rules: Box<[CompiledRule]> = config.rules().iter().map(compile_rule).collect();
        let mut all: Mask = 0;
        let mut method_masks = [0; 5];
        let mut any_origin = 0;
        let mut exact_origins: HashMap<Box<[u8]>, Mask> = HashMap::new();
        let mut wildcard_origins = Vec::new();
        let mut any_header = 0;
        let mut exact_headers: HashMap<Box<[u8]>, Mask> = HashMap::new();
        let mut wildcard_headers: Vec<Affix> = Vec::new();
        // A configuration holds at most 100 rules, so every index fits in the mask.
        for (index, rule) in rules.iter().enumerate().take(128) {
            let bit: Mask = 1 << index;
            all |= bit;
            for (m, allowed) in rule.methods.iter().enumerate() {
                if *allowed {
                    method_masks[m] |= bit;
                }
            }
            for origin in rule.origins.iter() {
                match origin {
                    Pattern::Any => any_origin |= bit,
                    Pattern::Exact(exact) => *exact_origins.entry(exact.clone()).or_default() |= bit,
                    Pattern::Wildcard { prefix, suffix } => {
                        merge_pair(&mut wildcard_origins, prefix.clone(), suffix.clone(), bit)
                    }
                }
            }
            for header in rule.headers.iter() {
                match header {
                    Pattern::Any => any_header |= bit,
                    Pattern::Exact(exact) => {
                        *exact_headers
                            .entry(exact.to_ascii_lowercase().into())
                            .or_default() |= bit
                    }
                    Pattern::Wildcard { prefix, suffix } => merge_pair(
                        &mut wildcard_headers,
                        prefix.to_ascii_lowercase().into(),
                        suffix.to_ascii_lowercase().into(),
                        bit,
                    ),
                }
            }
        }
        let mut exact_headers: Vec<HashedName> = exact_headers
            .into_iter()
            .map(|(name, mask)| (hash_lowercase(&name), name, mask))
            .collect();
        exact_headers.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        CorsPolicy {
            config,
            rules,
            all,
            method_masks,
            any_origin,
            exact_origins,
            wildcard_origins: wildcard_origins.into(),
            any_header,
            exact_headers: exact_headers.into(),
            wildcard_headers: wildcard_headers.into(),
        }
    }

    /// The configuration this policy was compiled from.
    pub fn configuration(&self) -> &CorsConfiguration {
        &self.config
    }

    /// The rule at `index`, as configured.
    pub fn rule(&self, index: usize) -> Option<&CorsRule> {
        self.config.rules().get(index)
    }

    /// Rules whose origin patterns accept `origin`.
    pub(crate) fn origin_mask(&self, origin: &[u8], among: Mask) -> Mask {
        let mut mask = self.any_origin;
        if let Some(exact) = self.exact_origins.get(origin) {
            mask |= exact;
        }
        for (prefix, suffix, rules) in self.wildcard_origins.iter() {
            // Only patterns of rules still in the running are worth a comparison.
            if rules & among & !mask != 0
                && origin.len() >= prefix.len() + suffix.len()
                && origin.starts_with(prefix)
                && origin.ends_with(suffix)
            {
                mask |= rules;
            }
        }
        mask & among
    }

    /// Rules that allow `method`.
    pub(crate) fn method_mask(&self, method: S3Method) -> Mask {
        self.method_masks[method.index()]
    }

    /// Rules whose AllowedHeaders accept the (trimmed, non-empty) requested header `name`.
    pub(crate) fn header_mask(&self, name: &[u8], among: Mask) -> Mask {
        let mut mask = self.any_header & among;
        if mask == among {
            return mask;
        }
        let hash = hash_lowercase(name);
        let start = self.exact_headers.partition_point(|entry| entry.0 < hash);
        for (h, exact, rules) in self.exact_headers.get(start..).unwrap_or_default() {
            if *h != hash {
                break;
            }
            if exact.eq_ignore_ascii_case(name) {
                mask |= rules & among;
            }
        }
        for (prefix, suffix, rules) in self.wildcard_headers.iter() {
            if rules & among & !mask != 0
                && name.len() >= prefix.len() + suffix.len()
                && name
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                && name
                    .get(name.len() - suffix.len()..)
                    .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
            {
                mask |= rules & among;
            }
        }
        mask
    }

    /// Every rule.
    pub(crate) fn all(&self) -> Mask {
        self.all
    }

    /// Rules that accept any requested header (`AllowedHeader` `*`).
    pub(crate) fn any_header(&self) -> Mask {
        self.any_header
    }
}

/// Keeps one entry per distinct (prefix, suffix), so repeated patterns cost one comparison.
fn merge_pair(list: &mut Vec<Affix>, prefix: Box<[u8]>, suffix: Box<[u8]>, bit: Mask) {
    match list.iter_mut().find(|(p, s, _)| *p == prefix && *s == suffix) {
        Some(entry) => entry.2 |= bit,
        None => list.push((prefix, suffix, bit)),
    }
}

/// FNV-1a over the ASCII-lowercased bytes. Keys come from the configuration, so a request
/// cannot make a lookup slower than the longest run of equal hashes among configured names.
fn hash_lowercase(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn compile_rule(rule: &CorsRule) -> CompiledRule {
    let mut methods = [false; 5];
    for method in rule.allowed_methods() {
        if let Some(m) = S3Method::from_bytes(method.as_bytes()) {
            methods[m.index()] = true;
        }
    }
    CompiledRule {
        any_origin: rule.allowed_origins().iter().any(|o| o == "*"),
        allow_methods: joined_value(rule.allowed_methods()).unwrap_or_else(|| HeaderValue::from_static("")),
        expose_headers: joined_value(rule.expose_headers()),
        max_age: rule.max_age_seconds().map(HeaderValue::from),
        origins: rule.allowed_origins().iter().map(|o| Pattern::parse(o)).collect(),
        methods,
        headers: rule.allowed_headers().iter().map(|h| Pattern::parse(h)).collect(),
    }
}

/// `values` joined with `, ` as one header value; `None` when empty (or, impossible after
/// validation, not a valid field value).
fn joined_value(values: &[String]) -> Option<HeaderValue> {
    if values.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(values.join(", ").as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_prefix_and_suffix_do_not_overlap() {
        let p = Pattern::parse("ab*ba");
        assert!(p.matches(b"abba"));
        assert!(p.matches(b"ab-ba"));
        assert!(!p.matches(b"aba"));
    }

    #[test]
    fn empty_run_matches() {
        let p = Pattern::parse("http://*.example.com");
        assert!(p.matches(b"http://.example.com"));
        assert!(p.matches(b"http://a.b.example.com"));
        assert!(!p.matches(b"http://example.com"));
    }

    #[test]
    fn header_patterns_ignore_case() {
        let p = Pattern::parse("X-Amz-*");
        assert!(p.matches_ignore_case(b"x-amz-date"));
        assert!(p.matches_ignore_case(b"X-AMZ-"));
        assert!(!p.matches_ignore_case(b"x-am"));
    }
}
