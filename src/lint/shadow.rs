//! Exact shadowing: can any request reach rule `j`, or does an earlier rule (or a union of
//! earlier rules) always match first?
//!
//! # The question
//!
//! A request is an origin `o` (a non-empty byte string), an effective method `m` (one of
//! S3's five) and a finite set `S` of requested header names (possibly empty: a preflight
//! without `Access-Control-Request-Headers` is always possible). Rule `r` accepts it iff
//! `o ∈ Orig(r)`, `m ∈ Meth(r)` and `S ⊆ Hdr(r)`, where `Orig(r)` is the union of the
//! languages of its `AllowedOrigin` patterns and `Hdr(r)` that of its `AllowedHeader`
//! patterns. The first accepting rule wins, so rule `j` can never apply iff
//!
//! > for every `o ∈ Orig(j)`, `m ∈ Meth(j)` and finite `S ⊆ Hdr(j)`, some `i < j` accepts
//! > `(o, m, S)`.
//!
//! # Step 1: header sets reduce to one inclusion per pair of rules
//!
//! Fix `o` and `m`, and let `I = {i < j : o ∈ Orig(i), m ∈ Meth(i)}`. Then "every finite
//! `S ⊆ Hdr(j)` is accepted by some `i ∈ I`" holds iff `Hdr(j) ⊆ Hdr(i)` for some `i ∈ I`.
//! If: that `i` accepts every such `S`. Only if: otherwise pick, for every `i ∈ I`, a name
//! `w_i ∈ Hdr(j) \ Hdr(i)`; the finite set `S = {w_i}` lies in `Hdr(j)` and every `i ∈ I`
//! refuses it. (With `I` empty, `S = ∅` is refused by all of `I`, and the condition is false,
//! as it should be.) So with `C = {i < j : Hdr(j) ⊆ Hdr(i)}`, rule `j` is shadowed iff
//!
//! > for every method `m ∈ Meth(j)`: `Orig(j) ⊆ ⋃ { Orig(i) : i ∈ C, m ∈ Meth(i) }`.
//!
//! Both the header test and the origin test are of one form: is the language of one pattern
//! `p` contained in the union of the languages of patterns `q_1 … q_k`? That is [`cover`].
//!
//! # Step 2: one pattern against a union of patterns
//!
//! Patterns have at most one `*`, which matches any run of bytes, including the empty one.
//! Values are compared within a [`Domain`], the strings a request can carry there: origins are
//! non-empty byte strings of header-value bytes (HTAB, 0x20–0x7E, 0x80–0xFF); header names
//! are the same without `,` (the list is split on it) and without a space or tab at either end
//! (items are trimmed), compared ASCII-case-insensitively (everything is lowercased first).
//!
//! The key fact: the byte `0xFF` ([`FRESH`]) is valid in a header value but never occurs in a
//! pattern, because patterns are UTF-8 text and UTF-8 never uses `0xFF`. With such a letter
//! the union case collapses:
//!
//! - `p` is a literal `x`: `L(p) = {x}`; it is covered iff `x` is outside the domain or some
//!   `q_i` matches `x` (a membership test).
//! - `p` is `x*y` (`*` alone is `x = y = ""`): if no domain value has the form `x…y` (a
//!   forbidden byte in `x` or `y`, or for header names a space at the start of `x` or the end
//!   of `y`), `L(p)` is empty in the domain and trivially covered. Otherwise `L(p)` is covered
//!   iff some `q_i` is `*` or is `u*v` with `u` a prefix of `x` and `v` a suffix of `y`.
//!   *If:* every `x w y` starts with `u`, ends with `v` and is at least `|x|+|y| ≥ |u|+|v|`
//!   long, so `q_i` matches it. *Only if:* take `s = x·0xFF·y`, which is in the domain. A
//!   literal `q_i` contains no `0xFF`, so it is not `s`. A `u*v` with `u` not a prefix of `x`
//!   cannot be a prefix of `s`: either `u` and `x` differ within `|x|`, or `u` would need
//!   `0xFF` at position `|x|`; symmetrically for `v` and `y`. So no `q_i` matches `s`, and `s`
//!   is a value of `L(p)` that the union misses.
//!
//! This is exact for any number of patterns: a union of one-star patterns can only cover more
//! than each of its members does by listing every possible next byte, and no pattern can list
//! `0xFF`. Every negative answer comes with a witness (an origin, a method and a header set
//! that reach rule `j` first), which the tests replay through the layer's own matcher.

use std::collections::BTreeSet;

use crate::matcher::{Pattern, RulePatterns};
use crate::request::S3Method;

/// A byte that is valid in a header value and never occurs in a pattern (patterns are UTF-8,
/// and UTF-8 never uses `0xFF`).
pub(crate) const FRESH: u8 = 0xFF;

/// The values a request can carry in one place, as the matcher sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Domain {
    /// The `Origin` value: non-empty header-value bytes, compared byte for byte.
    Origin,
    /// One name of `Access-Control-Request-Headers` after splitting and trimming, lowercased.
    HeaderName,
}

impl Domain {
    /// Whether `b` may appear inside a value.
    fn inner(self, b: u8) -> bool {
        // What `http::HeaderValue` accepts: HTAB, visible ASCII, space and obs-text.
        let field_byte = b == b'\t' || (b >= 0x20 && b != 0x7f);
        field_byte && !(self == Domain::HeaderName && b == b',')
    }

    /// Whether `b` may be the first or last byte of a value.
    fn edge(self, b: u8) -> bool {
        self.inner(b) && !(self == Domain::HeaderName && (b == b' ' || b == b'\t'))
    }

    /// Whether `value` is one the request can carry.
    pub(crate) fn contains(self, value: &[u8]) -> bool {
        match (value.first(), value.last()) {
            (Some(&first), Some(&last)) => {
                self.edge(first) && self.edge(last) && value.iter().all(|&b| self.inner(b))
            }
            _ => false,
        }
    }

    /// Whether some value of the domain has the form `x…y` (with anything in between).
    fn has_star_value(self, x: &[u8], y: &[u8]) -> bool {
        // The run in between can be FRESH, which is allowed everywhere, so only the fixed
        // parts and the ends they fix matter.
        x.iter().chain(y).all(|&b| self.inner(b))
            && x.first().is_none_or(|&b| self.edge(b))
            && y.last().is_none_or(|&b| self.edge(b))
    }
}

/// Whether one pattern's language (within a domain) is covered by a union of patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cover {
    /// The pattern matches no value of the domain.
    Empty,
    /// Covered; the owner of one pattern that covers it.
    By(usize),
    /// Not covered: a value of the pattern's language that no pattern of the union matches.
    Witness(Vec<u8>),
}

/// Decides `L(p) ∩ domain ⊆ ⋃ L(q)` exactly (see the module documentation for why this is
/// complete). `qs` pairs each pattern with its owner (a rule index), reported in
/// [`Cover::By`]. Patterns must come from UTF-8 text (they cannot contain [`FRESH`]); header
/// patterns must be lowercased.
pub(crate) fn cover<'a, Q>(p: &Pattern, qs: Q, domain: Domain) -> Cover
where
    Q: IntoIterator<Item = (&'a Pattern, usize)>,
{
    let (x, y): (&[u8], &[u8]) = match p {
        Pattern::Exact(x) => {
            if !domain.contains(x) {
                return Cover::Empty;
            }
            return match qs.into_iter().find(|(q, _)| q.matches(x)) {
                Some((_, owner)) => Cover::By(owner),
                None => Cover::Witness(x.to_vec()),
            };
        }
        Pattern::Any => (b"", b""),
        Pattern::Wildcard { prefix, suffix } => (prefix, suffix),
    };
    if !domain.has_star_value(x, y) {
        return Cover::Empty;
    }
    for (q, owner) in qs {
        let covers = match q {
            Pattern::Any => true,
            Pattern::Wildcard { prefix, suffix } => x.starts_with(prefix) && y.ends_with(suffix),
            // A literal covers finitely many values; `x*y` has infinitely many.
            Pattern::Exact(_) => false,
        };
        if covers {
            return Cover::By(owner);
        }
    }
    let mut witness = Vec::with_capacity(x.len() + 1 + y.len());
    witness.extend_from_slice(x);
    witness.push(FRESH);
    witness.extend_from_slice(y);
    Cover::Witness(witness)
}

/// What the shadow lint asks of a rule's patterns ([`RulePatterns`], the matcher's reading of
/// a rule).
impl RulePatterns {
    fn accepts_origin(&self, origin: &[u8]) -> bool {
        self.origins.iter().any(|p| p.matches(origin))
    }

    /// A header name this rule accepts and `other` does not, if there is one.
    fn header_beyond(&self, other: &RulePatterns) -> Option<Vec<u8>> {
        self.headers.iter().find_map(|p| {
            match cover(p, other.headers.iter().map(|q| (q, 0)), Domain::HeaderName) {
                Cover::Witness(name) => Some(name),
                Cover::Empty | Cover::By(_) => None,
            }
        })
    }
}

/// A request that rule `j` accepts and no earlier rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Witness {
    /// The `Origin` bytes.
    pub(crate) origin: Vec<u8>,
    /// The effective method.
    pub(crate) method: S3Method,
    /// The requested header names (lowercase; possibly none).
    pub(crate) headers: Vec<Vec<u8>>,
}

/// Whether rule `j` can ever be the first match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// This request reaches rule `j` first.
    Reachable(Witness),
    /// Every request rule `j` accepts is accepted first by one of these earlier rules.
    Shadowed(Vec<usize>),
    /// Rule `j` accepts no request at all: none of its origins can be a request's `Origin`.
    Unmatchable,
}

/// Decides exactly whether rule `j` of `rules` can ever apply (see the module documentation).
pub(crate) fn reach(rules: &[RulePatterns], j: usize) -> Reach {
    let Some(target) = rules.get(j) else {
        return Reach::Unmatchable;
    };
    let earlier = rules.get(..j).unwrap_or_default();
    if target
        .origins
        .iter()
        .all(|p| cover(p, std::iter::empty(), Domain::Origin) == Cover::Empty)
    {
        return Reach::Unmatchable;
    }
    // Step 1: `None` where Hdr(j) ⊆ Hdr(i); otherwise a name only rule j accepts.
    let header_gap: Vec<Option<Vec<u8>>> = earlier.iter().map(|i| target.header_beyond(i)).collect();
    let mut by = BTreeSet::new();
    for method in S3Method::ALL.into_iter().filter(|&m| target.allows(m)) {
        // Step 2: the origins of the earlier rules that allow this method and every header set
        // rule j allows.
        let union: Vec<(&Pattern, usize)> = earlier
            .iter()
            .enumerate()
            .filter(|(i, rule)| rule.allows(method) && header_gap.get(*i).is_some_and(Option::is_none))
            .flat_map(|(i, rule)| rule.origins.iter().map(move |q| (q, i)))
            .collect();
        for p in &target.origins {
            match cover(p, union.iter().copied(), Domain::Origin) {
                Cover::Empty => {}
                Cover::By(i) => {
                    by.insert(i);
                }
                Cover::Witness(origin) => {
                    // Every earlier rule that accepts this origin and method misses some header
                    // of Hdr(j): request one such header for each of them.
                    let headers: BTreeSet<Vec<u8>> = earlier
                        .iter()
                        .zip(&header_gap)
                        .filter(|(rule, _)| rule.allows(method) && rule.accepts_origin(&origin))
                        .filter_map(|(_, gap)| gap.clone())
                        .collect();
                    return Reach::Reachable(Witness {
                        origin,
                        method,
                        headers: headers.into_iter().collect(),
                    });
                }
            }
        }
    }
    Reach::Shadowed(by.into_iter().collect())
}

/// A request from `origin` that rule `j` accepts and no earlier rule does, if there is one:
/// for some method of rule `j`, one requested header per earlier rule that accepts the origin
/// and method, which that rule refuses and rule `j` allows (as in step 1 above).
pub(crate) fn reaching_request(rules: &[RulePatterns], j: usize, origin: &[u8]) -> Option<Witness> {
    let target = rules.get(j)?;
    if !target.accepts_origin(origin) || !Domain::Origin.contains(origin) {
        return None;
    }
    let earlier = rules.get(..j)?;
    S3Method::ALL
        .into_iter()
        .filter(|&m| target.allows(m))
        .find_map(|method| {
            let headers: Option<BTreeSet<Vec<u8>>> = earlier
                .iter()
                .filter(|rule| rule.allows(method) && rule.accepts_origin(origin))
                .map(|rule| target.header_beyond(rule))
                .collect();
            Some(Witness {
                origin: origin.to_vec(),
                method,
                headers: headers?.into_iter().collect(),
            })
        })
}

#[cfg(test)]
mod tests {
    use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
    use http::{HeaderValue, Request};
    use proptest::prelude::*;

    use super::*;
    use crate::config::{CorsConfiguration, CorsRule};
    use crate::decision::Decision;
    use crate::matcher::Mask;
    use crate::policy::CorsPolicy;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule::builder()
            .allowed_origins(origins.iter().copied())
            .allowed_methods(methods.iter().copied())
            .allowed_headers(headers.iter().copied())
            .build()
    }

    fn languages(rules: &[CorsRule]) -> Vec<RulePatterns> {
        rules.iter().map(RulePatterns::new).collect()
    }

    fn shadowed_by(rules: &[CorsRule], j: usize) -> Option<Vec<usize>> {
        match reach(&languages(rules), j) {
            Reach::Shadowed(by) => Some(by),
            _ => None,
        }
    }

    /// Replays a witness through the layer's own evaluation: it must be a preflight that
    /// rule `j` answers.
    fn replay(rules: &[CorsRule], j: usize, witness: &Witness) {
        let policy = CorsPolicy::new(CorsConfiguration::new(rules.to_vec()).unwrap());
        let mut names = Vec::new();
        for name in &witness.headers {
            if !names.is_empty() {
                names.extend_from_slice(b", ");
            }
            names.extend_from_slice(name);
        }
        let mut builder = Request::options("/")
            .header(ORIGIN, HeaderValue::from_bytes(&witness.origin).unwrap())
            .header(ACCESS_CONTROL_REQUEST_METHOD, witness.method.as_str());
        if !names.is_empty() {
            builder = builder.header(
                ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_bytes(&names).unwrap(),
            );
        }
        let request = builder.body(()).unwrap();
        match policy.evaluate(&request) {
            Decision::Preflight(allowed) => assert_eq!(allowed.rule_index(), j, "{witness:?}"),
            other => panic!("witness {witness:?} for rule {j} gives {other:?}"),
        }
    }

    #[test]
    fn a_rule_behind_a_broader_one_is_shadowed() {
        let rules = [
            rule(&["https://*.example.com"], &["GET", "PUT"], &["*"]),
            rule(&["https://app.example.com"], &["GET"], &["x-amz-*"]),
        ];
        assert_eq!(shadowed_by(&rules, 1), Some(vec![0]));
    }

    #[test]
    fn origins_split_over_two_earlier_rules() {
        let rules = [
            rule(&["https://a.example"], &["GET"], &[]),
            rule(&["https://b.example"], &["GET"], &[]),
            rule(&["https://a.example", "https://b.example"], &["GET"], &[]),
        ];
        assert_eq!(shadowed_by(&rules, 2), Some(vec![0, 1]));
    }

    #[test]
    fn methods_split_over_two_earlier_rules() {
        let rules = [
            rule(&["*"], &["GET"], &[]),
            rule(&["*"], &["PUT"], &[]),
            rule(&["https://a.example"], &["PUT", "GET"], &[]),
        ];
        assert_eq!(shadowed_by(&rules, 2), Some(vec![0, 1]));
    }

    #[test]
    fn headers_split_over_two_earlier_rules_do_not_shadow() {
        // A request listing both headers is accepted by neither earlier rule.
        let rules = [
            rule(&["*"], &["GET"], &["a"]),
            rule(&["*"], &["GET"], &["b"]),
            rule(&["*"], &["GET"], &["a", "b"]),
        ];
        let languages = languages(&rules);
        match reach(&languages, 2) {
            Reach::Reachable(witness) => {
                assert_eq!(witness.headers, vec![b"a".to_vec(), b"b".to_vec()]);
                replay(&rules, 2, &witness);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_patterns_compare_case_insensitively() {
        let rules = [
            rule(&["*"], &["GET"], &["X-Amz-*"]),
            rule(&["*"], &["GET"], &["x-amz-meta-*", "X-AMZ-DATE"]),
        ];
        assert_eq!(shadowed_by(&rules, 1), Some(vec![0]));
    }

    #[test]
    fn a_rule_without_headers_is_covered_by_any_rule_with_its_origins_and_methods() {
        let rules = [
            rule(&["https://a.example"], &["GET"], &[]),
            rule(&["https://a.example"], &["GET"], &[]),
        ];
        assert_eq!(shadowed_by(&rules, 1), Some(vec![0]));
    }

    #[test]
    fn wildcards_need_a_broader_wildcard() {
        // `https://*.example.com` is not covered by `https://*.example.com.evil`, nor by a list
        // of literal hosts.
        let rules = [
            rule(&["https://a.example.com", "https://b.example.com"], &["GET"], &[]),
            rule(&["https://*.example.com"], &["GET"], &[]),
        ];
        match reach(&languages(&rules), 1) {
            Reach::Reachable(witness) => replay(&rules, 1, &witness),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_origin_is_unmatchable() {
        let rules = [rule(&[""], &["GET"], &[])];
        assert_eq!(reach(&languages(&rules), 0), Reach::Unmatchable);
    }

    // ---- brute force over small alphabets ----

    /// Origin patterns use `a` and `b`; requests also use `A` (origins are case-sensitive) and
    /// FRESH, which stands for every byte no pattern uses.
    const ORIGIN_BYTES: &[u8] = b"aAb\xff";
    /// Header patterns use `a`, `A`, space and comma; requests also use FRESH. A requested
    /// name never contains a comma.
    const NAME_BYTES: &[u8] = b"aA \xff";

    /// Every string over `alphabet` of length 1..=max.
    fn strings(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        let mut layer = vec![Vec::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s: &Vec<u8>| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            all.extend(layer.iter().cloned());
        }
        all
    }

    fn literal_len(pattern: &str) -> usize {
        pattern.len() - usize::from(pattern.contains('*'))
    }

    /// Bound on the length of strings to try. Every pattern condition reads only the first K
    /// bytes, the last K bytes and whether the length reaches 2K (K = longest literal part),
    /// so deleting a byte from the middle of a string longer than 2K changes no match: a
    /// shortest value with any given set of matching patterns has at most 2K bytes (and
    /// at least one, 3 when a trimmed edge must be kept apart from the other edge).
    fn bound(patterns: impl Iterator<Item = usize>) -> usize {
        (2 * patterns.max().unwrap_or(0)).max(3)
    }

    /// Rule `j` is reachable iff some origin and method give a set `I` of earlier rules that
    /// accept them, and the largest header set rule `j` accepts is refused by every rule of
    /// `I` (a superset of a refused set is refused too, so the largest set is the best try).
    /// Origins and names come from the brute-force alphabets, up to the length bound; matching
    /// goes through the layer's compiled indexes.
    fn brute_force_reach(rules: &[CorsRule], j: usize) -> Option<Witness> {
        let compiled = CorsPolicy::new(CorsConfiguration::new(rules.to_vec()).unwrap());
        let policy = &compiled.matcher;
        let all = policy.all();
        let bit: Mask = 1 << j;
        let below: Mask = bit - 1;
        let origin_max = bound(
            rules
                .iter()
                .flat_map(|r| r.allowed_origins())
                .map(|o| literal_len(o)),
        );
        let name_max = bound(
            rules
                .iter()
                .flat_map(|r| r.allowed_headers())
                .map(|h| literal_len(h)),
        );
        let names: Vec<Vec<u8>> = strings(NAME_BYTES, name_max)
            .into_iter()
            .filter(|n| Domain::HeaderName.contains(n))
            .collect();
        // The names rule j accepts, and for each the earlier rules that refuse it.
        let accepted: Vec<(&Vec<u8>, Mask)> = names
            .iter()
            .filter_map(|n| {
                let mask = policy.header_mask(n, all);
                (mask & bit != 0).then_some((n, !mask & below))
            })
            .collect();
        let refusable: Mask = accepted.iter().fold(0, |acc, (_, m)| acc | m);
        for origin in strings(ORIGIN_BYTES, origin_max) {
            let origins = policy.origin_mask(&origin, all);
            if origins & bit == 0 {
                continue;
            }
            for method in S3Method::ALL {
                let methods = policy.method_mask(method);
                if methods & bit == 0 {
                    continue;
                }
                let earlier = origins & methods & below;
                if earlier & !refusable != 0 {
                    continue;
                }
                // One refused name per earlier rule.
                let mut headers = BTreeSet::new();
                let mut left = earlier;
                while left != 0 {
                    let i = left.trailing_zeros();
                    if let Some((name, _)) = accepted.iter().find(|(_, m)| m & (1 << i) != 0) {
                        headers.insert((*name).clone());
                    }
                    left &= left - 1;
                }
                return Some(Witness {
                    origin,
                    method,
                    headers: headers.into_iter().collect(),
                });
            }
        }
        None
    }

    /// The strings `cover_agrees_with_brute_force` tries (patterns of up to 3 letters: K = 3),
    /// built once: pattern letters plus FRESH; header names are lowercased, never hold a comma.
    fn cover_strings(domain: Domain) -> &'static [Vec<u8>] {
        static ORIGINS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        static NAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        match domain {
            Domain::Origin => ORIGINS.get_or_init(|| strings(b"aA ,\xff", 6)),
            Domain::HeaderName => NAMES.get_or_init(|| strings(b"a \xff", 6)),
        }
    }

    fn pattern(letters: &'static [char], max: usize) -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(proptest::sample::select(letters), 0..=max),
            proptest::option::of(0..=3usize),
        )
            .prop_map(|(mut chars, star)| {
                if let Some(at) = star {
                    chars.insert(at.min(chars.len()), '*');
                }
                chars.into_iter().collect()
            })
    }

    fn rules() -> impl Strategy<Value = Vec<CorsRule>> {
        let one = (
            proptest::collection::vec(pattern(&['a', 'b'], 2), 1..=3),
            proptest::sample::select(vec![vec!["GET"], vec!["PUT"], vec!["GET", "PUT"]]),
            proptest::collection::vec(pattern(&['a', 'A', ' ', ','], 2), 0..=2),
        )
            .prop_map(|(origins, methods, headers)| {
                CorsRule::builder()
                    .allowed_origins(origins)
                    .allowed_methods(methods)
                    .allowed_headers(headers)
                    .build()
            });
        proptest::collection::vec(one, 1..=5)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The decision agrees with brute force over small alphabets: it never calls a
        /// reachable rule shadowed, and every "reachable" comes with a witness that the
        /// layer's own evaluation sends to that rule.
        #[test]
        fn shadowing_agrees_with_brute_force(rules in rules()) {
            let languages = languages(&rules);
            for j in 0..rules.len() {
                let decided = reach(&languages, j);
                let brute = brute_force_reach(&rules, j);
                match (&decided, &brute) {
                    (Reach::Reachable(witness), Some(found)) => {
                        replay(&rules, j, witness);
                        replay(&rules, j, found);
                    }
                    (Reach::Shadowed(_) | Reach::Unmatchable, None) => {}
                    _ => prop_assert!(false, "rule {j} of {rules:?}: decided {decided:?}, brute force {brute:?}"),
                }
                if let Reach::Shadowed(by) = &decided {
                    prop_assert!(by.iter().all(|&i| i < j));
                    prop_assert!(!by.is_empty());
                }
            }
        }

        /// One pattern against a union, in both domains, against brute force.
        #[test]
        fn cover_agrees_with_brute_force(
            p in pattern(&['a', 'A', ' ', ','], 3),
            qs in proptest::collection::vec(pattern(&['a', 'A', ' ', ','], 3), 0..=4),
        ) {
            for domain in [Domain::Origin, Domain::HeaderName] {
                let fold = |s: &str| if domain == Domain::HeaderName { s.to_ascii_lowercase() } else { s.to_owned() };
                let parsed_p = Pattern::parse(&fold(&p));
                let parsed_qs: Vec<Pattern> = qs.iter().map(|q| Pattern::parse(&fold(q))).collect();
                let max = bound(std::iter::once(&p).chain(&qs).map(|s| literal_len(s)));
                let candidates = cover_strings(domain).iter().filter(|s| s.len() <= max);
                let missed = candidates.clone().find(|s| {
                    domain.contains(s) && parsed_p.matches(s) && !parsed_qs.iter().any(|q| q.matches(s))
                });
                let decided = cover(&parsed_p, parsed_qs.iter().enumerate().map(|(i, q)| (q, i)), domain);
                match (&decided, &missed) {
                    (Cover::Witness(w), Some(_)) => {
                        prop_assert!(domain.contains(w) && parsed_p.matches(w));
                        prop_assert!(!parsed_qs.iter().any(|q| q.matches(w)));
                    }
                    (Cover::By(i), None) => prop_assert!(*i < parsed_qs.len()),
                    (Cover::Empty, None) => {
                        prop_assert!(!candidates.clone().any(|s| domain.contains(s) && parsed_p.matches(s)));
                    }
                    _ => prop_assert!(false, "{domain:?} {p:?} vs {qs:?}: decided {decided:?}, brute force {missed:?}"),
                }
            }
        }
    }
}
