//! The compiled matcher: a configuration's patterns turned, once, into indexes.
//!
//! Rules are at most 100, so a set of rules is a `u128` bit mask. Matching a request is three
//! lookups that each give the mask of rules accepting one part of it (origin, method, each
//! requested header); their intersection's lowest bit is S3's "first matching rule". Origins
//! and header names are found through indexes, so the cost does not grow with the number of
//! rules that cannot match: exact values through a hash table, one-`*` patterns through the
//! same kind of table keyed by their longer side (`https://*.example.com` by its suffix,
//! `x-amz-*` by its prefix), one probe per distinct key length.

use std::collections::HashMap;

use crate::config::{CorsConfiguration, CorsRule};
use crate::request::S3Method;
use crate::swar::{hash_words, lowercase_word};

/// A set of rules, one bit per rule index.
pub(crate) type Mask = u128;

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
        self.matches_in(value, Case::Sensitive)
    }

    /// ASCII-case-insensitive match (header names).
    pub(crate) fn matches_ignore_case(&self, value: &[u8]) -> bool {
        self.matches_in(value, Case::Insensitive)
    }

    fn matches_in(&self, value: &[u8], case: Case) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) => case.eq_either(exact, value),
            Pattern::Wildcard { prefix, suffix } => {
                affix_matches(prefix, suffix, value, |a, b| case.eq_either(a, b))
            }
        }
    }
}

/// `prefix*suffix` against `value`, `eq` comparing each side with the bytes of `value` it
/// lines up with. The length test keeps prefix and suffix from overlapping; the `*` run may be
/// empty. (Parsed patterns compare with [`Case::eq_either`]; the packed scan, whose header
/// patterns are lowercased already, with [`Case::eq`].)
#[inline]
fn affix_matches(prefix: &[u8], suffix: &[u8], value: &[u8], eq: impl Fn(&[u8], &[u8]) -> bool) -> bool {
    value.len() >= prefix.len() + suffix.len()
        && value.get(..prefix.len()).is_some_and(|p| eq(prefix, p))
        && value
            .get(value.len() - suffix.len()..)
            .is_some_and(|s| eq(suffix, s))
}

/// One rule reduced to what matching reads: its origin patterns, its methods and its header
/// patterns (lowercased, as the matcher compares them). For rule-by-rule reasoning: `explain`,
/// the lints (`lint/shadow.rs`, `lint/origin.rs`) and the tests that check the matcher.
#[derive(Clone, Debug)]
pub(crate) struct RulePatterns {
    pub(crate) origins: Box<[Pattern]>,
    pub(crate) methods: [bool; 5],
    pub(crate) headers: Box<[Pattern]>,
}

impl RulePatterns {
    pub(crate) fn new(rule: &CorsRule) -> Self {
        let mut methods = [false; 5];
        for method in rule.allowed_methods() {
            if let Some(m) = S3Method::from_bytes(method.as_bytes()) {
                methods[m.index()] = true;
            }
        }
        RulePatterns {
            origins: rule.allowed_origins().iter().map(|o| Pattern::parse(o)).collect(),
            methods,
            headers: rule
                .allowed_headers()
                .iter()
                .map(|h| Pattern::parse(&h.to_ascii_lowercase()))
                .collect(),
        }
    }

    pub(crate) fn allows(&self, method: S3Method) -> bool {
        self.methods[method.index()]
    }
}

/// A configuration's rules as masks: which rules accept an origin, a method, a requested
/// header name. Origin matching lives here and in [`Pattern::matches`]; the shadowing lint
/// (`lint/shadow.rs`) and the security lint's witnesses (`lint/origin.rs`) reason about the
/// same patterns and must change with them.
///
/// For a small configuration (the usual case: a few rules with a few patterns), the matcher
/// scans a packed copy of its patterns: a handful of comparisons cost less than a hash, and the
/// copy is one small allocation, so a compiled policy stays a few hundred bytes and a request
/// reads it in one or two cache lines.
/// Larger configurations get indexes, so that the cost of a request does not grow with the
/// number of rules that cannot match it.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Matcher {
    /// The rule sets a request starts from.
    sets: Sets,
    /// How the patterns are found: scanned or indexed.
    find: Find,
}

/// The rule sets a request starts from (every rule, the rules of each method, the rules with
/// `AllowedOrigin` `*` and with `AllowedHeader` `*`), as masks of `M`.
#[derive(Clone, Copy, Debug, Default)]
struct SetsOf<M> {
    all: M,
    methods: [M; 5],
    any_origin: M,
    any_header: M,
}

/// [`SetsOf`] in sixteen bytes for up to 16 rules (nearly every configuration), so a request
/// reads them from the same cache line as the rest of the matcher; boxed beyond.
#[derive(Clone, Debug)]
enum Sets {
    Small(SetsOf<u16>),
    Large(Box<SetsOf<Mask>>),
}

impl Sets {
    fn new(sets: SetsOf<Mask>) -> Self {
        match Self::narrow(&sets) {
            Some(small) => Sets::Small(small),
            None => Sets::Large(Box::new(sets)),
        }
    }

    /// The sets as `u16` masks, when every rule index is below 16.
    fn narrow(sets: &SetsOf<Mask>) -> Option<SetsOf<u16>> {
        let small = |mask: Mask| u16::try_from(mask).ok();
        let [m0, m1, m2, m3, m4] = sets.methods;
        Some(SetsOf {
            all: small(sets.all)?,
            methods: [small(m0)?, small(m1)?, small(m2)?, small(m3)?, small(m4)?],
            any_origin: small(sets.any_origin)?,
            any_header: small(sets.any_header)?,
        })
    }

    /// One set, widened to a [`Mask`].
    #[inline]
    fn get(&self, field: impl Fn(&SetsOf<u16>) -> u16, wide: impl Fn(&SetsOf<Mask>) -> Mask) -> Mask {
        match self {
            Sets::Small(sets) => Mask::from(field(sets)),
            Sets::Large(sets) => wide(sets),
        }
    }
}

/// A small configuration's patterns are scanned from one buffer (one cache line or two, where
/// the configuration's own strings are an allocation each); a large one's are indexed.
#[derive(Clone, Debug)]
enum Find {
    Scan(Packed),
    Index(Box<Indexes>),
}

/// Patterns other than `*`, packed one after the other: first every origin pattern, then
/// every allowed-header pattern (lowercased, since names compare ASCII-case-insensitively).
/// Each record is the pattern's length (two bytes, little-endian), where its `*` is (two bytes;
/// `u16::MAX` for none), the rule index, then the pattern's bytes. A request only compares
/// bytes: where the `*` is was found when compiling, and a length that cannot match skips the
/// record.
#[derive(Clone, Debug)]
struct Packed {
    bytes: Box<[u8]>,
    /// Where the allowed-header records begin.
    headers_at: u32,
}

/// The size of a record's head: length, `*` position, rule index.
const RECORD_HEAD: usize = 5;
const NO_STAR: u16 = u16::MAX;

impl Packed {
    fn new(rules: &[CorsRule]) -> Self {
        let not_star = |p: &&String| *p != "*";
        // Sized exactly, so the buffer becomes the boxed slice without being copied.
        let size: usize = rules
            .iter()
            .flat_map(|rule| rule.allowed_origins().iter().chain(rule.allowed_headers()))
            .filter(not_star)
            .map(|pattern| RECORD_HEAD + pattern.len().min(usize::from(u16::MAX)))
            .sum();
        let mut bytes = Vec::with_capacity(size);
        let push = |bytes: &mut Vec<u8>, index: usize, pattern: &str, lowercase: bool| {
            // A configuration fits in 64 KiB, and so does each of its patterns; its rules are
            // at most 100.
            let len = u16::try_from(pattern.len()).unwrap_or(u16::MAX);
            let star = pattern
                .find('*')
                .and_then(|at| u16::try_from(at).ok())
                .unwrap_or(NO_STAR);
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&star.to_le_bytes());
            bytes.push(index as u8);
            let start = bytes.len();
            bytes.extend_from_slice(pattern.as_bytes().get(..usize::from(len)).unwrap_or_default());
            if lowercase {
                if let Some(copied) = bytes.get_mut(start..) {
                    copied.make_ascii_lowercase();
                }
            }
        };
        for (index, rule) in rules.iter().enumerate().take(128) {
            for pattern in rule.allowed_origins().iter().filter(not_star) {
                push(&mut bytes, index, pattern, false);
            }
        }
        let headers_at = bytes.len();
        for (index, rule) in rules.iter().enumerate().take(128) {
            for pattern in rule.allowed_headers().iter().filter(not_star) {
                push(&mut bytes, index, pattern, true);
            }
        }
        Packed {
            bytes: bytes.into(),
            headers_at: u32::try_from(headers_at).unwrap_or(u32::MAX),
        }
    }

    /// `mask` plus the rules among `wanted` (none of them in `mask`) with an origin pattern,
    /// or an allowed-header pattern, that accepts `value`.
    #[inline]
    fn matches(&self, value: &[u8], origin: bool, mut wanted: Mask, mut mask: Mask) -> Mask {
        let at = self.headers_at as usize;
        let (case, mut rest) = match origin {
            true => (Case::Sensitive, self.bytes.get(..at).unwrap_or_default()),
            false => (Case::Insensitive, self.bytes.get(at..).unwrap_or_default()),
        };
        while wanted != 0 {
            let Some((head, tail)) = rest.split_first_chunk::<RECORD_HEAD>() else {
                break;
            };
            let [l0, l1, s0, s1, index] = *head;
            let len = usize::from(u16::from_le_bytes([l0, l1]));
            let Some((pattern, after)) = tail.split_at_checked(len) else {
                break;
            };
            rest = after;
            let bit: Mask = 1 << (index & 127);
            if wanted & bit == 0 {
                continue;
            }
            let star = u16::from_le_bytes([s0, s1]);
            let accepted = if star == NO_STAR {
                value.len() == len && case.eq(pattern, value)
            } else {
                let (prefix, suffix) = pattern.split_at(usize::from(star).min(len));
                let suffix = suffix.get(1..).unwrap_or_default();
                affix_matches(prefix, suffix, value, |a, b| case.eq(a, b))
            };
            if accepted {
                mask |= bit;
                wanted &= !bit;
            }
        }
        mask
    }
}

/// Configured patterns in at most this many places (origins plus allowed headers, `*` aside)
/// are scanned rather than indexed.
const SCAN_LIMIT: usize = 8;

/// Exact values through hash tables, one-`*` patterns through tables of their longer side.
#[derive(Clone, Debug)]
struct Indexes {
    exact_origins: Table<Mask>,
    wildcard_origins: AffixIndex,
    /// Lowercased names, compared ASCII-case-insensitively.
    exact_headers: Table<Mask>,
    /// Lowercased prefixes and suffixes, compared ASCII-case-insensitively.
    wildcard_headers: AffixIndex,
}

impl Matcher {
    /// Compiles a validated configuration: indexes only when it is large.
    pub(crate) fn new(config: &CorsConfiguration) -> Self {
        let patterns: usize = config
            .rules()
            .iter()
            .map(|rule| {
                let not_star = |list: &[String]| list.iter().filter(|p| *p != "*").count();
                not_star(rule.allowed_origins()) + not_star(rule.allowed_headers())
            })
            .sum();
        Self::build(config, patterns > SCAN_LIMIT)
    }

    fn build(config: &CorsConfiguration, indexed: bool) -> Self {
        let mut sets = SetsOf::<Mask>::default();
        // A configuration holds at most 100 rules, so every index fits in the mask.
        for (index, rule) in config.rules().iter().enumerate().take(128) {
            let bit: Mask = 1 << index;
            sets.all |= bit;
            for method in rule.allowed_methods() {
                if let Some(m) = S3Method::from_bytes(method.as_bytes()) {
                    if let Some(mask) = sets.methods.get_mut(m.index()) {
                        *mask |= bit;
                    }
                }
            }
            if rule.allowed_origins().iter().any(|o| o == "*") {
                sets.any_origin |= bit;
            }
            if rule.allowed_headers().iter().any(|h| h == "*") {
                sets.any_header |= bit;
            }
        }
        let find = if indexed {
            Find::Index(Box::new(Indexes::new(config.rules())))
        } else {
            Find::Scan(Packed::new(config.rules()))
        };
        Matcher {
            sets: Sets::new(sets),
            find,
        }
    }

    /// Rules whose origin patterns accept `origin`, among `among`.
    pub(crate) fn origin_mask(&self, origin: &[u8], among: Mask) -> Mask {
        let mask = self.sets.get(|s| s.any_origin, |s| s.any_origin) & among;
        match &self.find {
            Find::Index(indexes) => indexes.origin_mask(origin, among, mask),
            Find::Scan(packed) => packed.matches(origin, true, among & !mask, mask),
        }
    }

    /// Rules that allow `method`.
    pub(crate) fn method_mask(&self, method: S3Method) -> Mask {
        let i = method.index();
        self.sets.get(
            |s| s.methods.get(i).copied().unwrap_or(0),
            |s| s.methods.get(i).copied().unwrap_or(0),
        )
    }

    /// Rules whose AllowedHeaders accept the (trimmed, non-empty) requested header `name`,
    /// among `among`.
    pub(crate) fn header_mask(&self, name: &[u8], among: Mask) -> Mask {
        let mask = self.any_header() & among;
        if mask == among {
            return mask;
        }
        match &self.find {
            Find::Index(indexes) => indexes.header_mask(name, among, mask),
            Find::Scan(packed) => packed.matches(name, false, among & !mask, mask),
        }
    }

    /// Every rule.
    pub(crate) fn all(&self) -> Mask {
        self.sets.get(|s| s.all, |s| s.all)
    }

    /// Rules that accept any requested header (`AllowedHeader` `*`).
    pub(crate) fn any_header(&self) -> Mask {
        self.sets.get(|s| s.any_header, |s| s.any_header)
    }
}

impl Indexes {
    fn new(rules: &[CorsRule]) -> Self {
        let mut exact_origins: HashMap<Box<[u8]>, Mask> = HashMap::new();
        let mut wildcard_origins = Vec::new();
        let mut exact_headers: HashMap<Box<[u8]>, Mask> = HashMap::new();
        let mut wildcard_headers = Vec::new();
        for (index, rule) in rules.iter().enumerate().take(128) {
            let bit: Mask = 1 << index;
            let rule = RulePatterns::new(rule);
            for origin in rule.origins.iter() {
                match origin {
                    Pattern::Any => {}
                    Pattern::Exact(exact) => *exact_origins.entry(exact.clone()).or_default() |= bit,
                    Pattern::Wildcard { prefix, suffix } => {
                        wildcard_origins.push((prefix.clone(), suffix.clone(), bit))
                    }
                }
            }
            for header in rule.headers.iter() {
                match header {
                    Pattern::Any => {}
                    // Lowercased already (`RulePatterns`).
                    Pattern::Exact(exact) => *exact_headers.entry(exact.clone()).or_default() |= bit,
                    Pattern::Wildcard { prefix, suffix } => {
                        wildcard_headers.push((prefix.clone(), suffix.clone(), bit))
                    }
                }
            }
        }
        Indexes {
            exact_origins: Table::new(exact_origins, Case::Sensitive),
            wildcard_origins: AffixIndex::new(wildcard_origins, Case::Sensitive),
            exact_headers: Table::new(exact_headers, Case::Insensitive),
            wildcard_headers: AffixIndex::new(wildcard_headers, Case::Insensitive),
        }
    }

    fn origin_mask(&self, origin: &[u8], among: Mask, mut mask: Mask) -> Mask {
        if let Some(exact) = self.exact_origins.get(origin) {
            mask |= exact;
        }
        // Only patterns of rules still in the running are worth a comparison.
        if among & !mask & self.wildcard_origins.rules != 0 {
            mask = self.wildcard_origins.matches(origin, among, mask);
        }
        mask & among
    }

    fn header_mask(&self, name: &[u8], among: Mask, mut mask: Mask) -> Mask {
        if let Some(exact) = self.exact_headers.get(name) {
            mask |= exact & among;
        }
        if among & !mask & self.wildcard_headers.rules != 0 {
            mask = self.wildcard_headers.matches(name, among, mask) & among;
        }
        mask
    }
}

/// A configured value, pattern side or header name.
type Key = Box<[u8]>;

/// A table entry: the key's hash, the key, its value.
type Entry<V> = (u64, Key, V);

/// A one-`*` pattern as (the side it is keyed by, the other side, its rules).
type Affix = (Key, Key, Mask);

/// The patterns that share a key: (other side, rules) each.
type Others = Box<[(Key, Mask)]>;

/// How keys compare: origins byte for byte, header names ASCII-case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Sensitive,
    Insensitive,
}

impl Case {
    /// Whether two values are equal, neither lowercased beforehand.
    fn eq_either(self, a: &[u8], b: &[u8]) -> bool {
        match self {
            Case::Sensitive => a == b,
            Case::Insensitive => a.eq_ignore_ascii_case(b),
        }
    }

    /// Whether a request's `value` equals a configured key or affix (lowercased already when
    /// `Insensitive`).
    fn eq(self, configured: &[u8], value: &[u8]) -> bool {
        match self {
            Case::Sensitive => configured == value,
            Case::Insensitive => configured.len() == value.len() && eq_lowercased(configured, value),
        }
    }

    /// [`hash_words`]; `Insensitive` sets bit 5 of every byte first, so names equal but for
    /// ASCII case hash alike (other bytes may collide, which the comparison after the probe
    /// sorts out). Keys come from the configuration: a request chooses where a lookup starts,
    /// never how long a chain of configured keys is.
    fn hash(self, bytes: &[u8]) -> u64 {
        let fold: u64 = match self {
            Case::Sensitive => 0,
            Case::Insensitive => 0x2020_2020_2020_2020,
        };
        hash_words(bytes, fold)
    }
}

/// `lower == value.to_ascii_lowercase()` for slices of one length, eight bytes a step (the
/// last step overlapping the one before when the length is not a multiple of eight).
fn eq_lowercased(lower: &[u8], value: &[u8]) -> bool {
    let same = |x: u64, y: u64| x == lowercase_word(y);
    if let (Some(x), Some(y)) = (lower.last_chunk::<8>(), value.last_chunk::<8>()) {
        if !same(u64::from_le_bytes(*x), u64::from_le_bytes(*y)) {
            return false;
        }
        let (mut a, mut b) = (lower, value);
        while let (Some((x, rest_a)), Some((y, rest_b))) =
            (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
        {
            if !same(u64::from_le_bytes(*x), u64::from_le_bytes(*y)) {
                return false;
            }
            a = rest_a;
            b = rest_b;
        }
        return true;
    }
    if let (Some(x0), Some(x1), Some(y0), Some(y1)) = (
        lower.first_chunk::<4>(),
        lower.last_chunk::<4>(),
        value.first_chunk::<4>(),
        value.last_chunk::<4>(),
    ) {
        let word = |a: &[u8; 4], b: &[u8; 4]| {
            u64::from(u32::from_le_bytes(*a)) | u64::from(u32::from_le_bytes(*b)) << 32
        };
        return same(word(x0, x1), word(y0, y1));
    }
    lower.iter().zip(value).all(|(x, y)| *x == y.to_ascii_lowercase())
}

/// Byte strings from the configuration, found by one hash and (nearly always) one probe.
/// Open addressing with linear probing, at most half full.
#[derive(Clone, Debug)]
struct Table<V> {
    case: Case,
    /// Bit `n` set when a key is `n` bytes long (bit 63: 63 or more), so most values that
    /// cannot be a key are turned away before hashing.
    lengths: u64,
    /// `0` for an empty slot, else 1 + an index into `entries`.
    slots: Box<[u32]>,
    entries: Box<[Entry<V>]>,
}

impl<V> Table<V> {
    fn new(keys: impl IntoIterator<Item = (Key, V)>, case: Case) -> Self {
        let entries: Box<[Entry<V>]> = keys
            .into_iter()
            .map(|(key, value)| (case.hash(&key), key, value))
            .collect();
        let size = (entries.len() * 2).next_power_of_two().max(2);
        let mut slots = vec![0u32; size].into_boxed_slice();
        let mask = size - 1;
        for (index, (hash, _, _)) in entries.iter().enumerate() {
            let mut at = *hash as usize & mask;
            while slots.get(at).is_some_and(|slot| *slot != 0) {
                at = (at + 1) & mask;
            }
            if let Some(slot) = slots.get_mut(at) {
                // At most 100 rules' worth of keys: the index fits.
                *slot = index as u32 + 1;
            }
        }
        let lengths = entries
            .iter()
            .fold(0, |bits, (_, key, _)| bits | length_bit(key.len()));
        Table {
            case,
            lengths,
            slots,
            entries,
        }
    }

    fn get(&self, key: &[u8]) -> Option<&V> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        // One key (the usual configuration): a comparison is cheaper than a hash.
        if let [(_, only, value)] = &*self.entries {
            return self.case.eq(only, key).then_some(value);
        }
        let hash = self.case.hash(key);
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        // The table is at most half full, so an empty slot ends every probe sequence.
        loop {
            let slot = *self.slots.get(at)?;
            let (h, k, value) = self.entries.get(slot.checked_sub(1)? as usize)?;
            if *h == hash && self.case.eq(k, key) {
                return Some(value);
            }
            at = (at + 1) & mask;
        }
    }
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// One-`*` patterns, found through a [`Table`] keyed by the longer of prefix and suffix: a
/// value is probed once per distinct key length, not once per pattern. Patterns sharing a
/// key are then told apart by their other side.
#[derive(Clone, Debug)]
struct AffixIndex {
    /// Every rule that has a pattern here.
    rules: Mask,
    by_prefix: Side,
    by_suffix: Side,
}

/// The patterns keyed by one side: each key's patterns as (other side, rules).
#[derive(Clone, Debug)]
struct Side {
    /// The distinct key lengths, ascending.
    lengths: Box<[usize]>,
    keys: Table<Others>,
}

impl Side {
    fn new(patterns: Vec<Affix>, case: Case) -> Self {
        let mut lengths: Vec<usize> = patterns.iter().map(|(key, _, _)| key.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        let mut grouped: Vec<(Key, Vec<(Key, Mask)>)> = Vec::new();
        for (key, other, bit) in patterns {
            let group = match grouped.iter_mut().position(|(k, _)| *k == key) {
                Some(at) => grouped.get_mut(at),
                None => {
                    grouped.push((key, Vec::new()));
                    grouped.last_mut()
                }
            };
            if let Some((_, list)) = group {
                // One entry per distinct pattern, so a repeated pattern costs one comparison.
                match list.iter_mut().find(|(o, _)| *o == other) {
                    Some(entry) => entry.1 |= bit,
                    None => list.push((other, bit)),
                }
            }
        }
        Side {
            lengths: lengths.into(),
            keys: Table::new(grouped.into_iter().map(|(k, list)| (k, list.into())), case),
        }
    }
}

impl AffixIndex {
    fn new(patterns: Vec<Affix>, case: Case) -> Self {
        let rules = patterns.iter().fold(0, |m, (_, _, bit)| m | bit);
        let (by_prefix, by_suffix): (Vec<_>, Vec<_>) = patterns
            .into_iter()
            .partition(|(prefix, suffix, _)| prefix.len() >= suffix.len());
        AffixIndex {
            rules,
            by_prefix: Side::new(by_prefix, case),
            by_suffix: Side::new(
                by_suffix
                    .into_iter()
                    .map(|(prefix, suffix, bit)| (suffix, prefix, bit))
                    .collect(),
                case,
            ),
        }
    }

    /// `mask` plus the rules among `among` with a pattern matching `value`. The length test
    /// keeps prefix and suffix from overlapping; the `*` run may be empty.
    fn matches(&self, value: &[u8], among: Mask, mut mask: Mask) -> Mask {
        let case = self.by_prefix.keys.case;
        for &len in self.by_prefix.lengths.iter() {
            let Some(prefix) = value.get(..len) else { break };
            for (suffix, rules) in self.by_prefix.keys.get(prefix).into_iter().flatten() {
                if rules & among & !mask != 0
                    && value.len() >= len + suffix.len()
                    && value
                        .get(value.len() - suffix.len()..)
                        .is_some_and(|s| case.eq(suffix, s))
                {
                    mask |= rules;
                }
            }
        }
        for &len in self.by_suffix.lengths.iter() {
            let Some(suffix) = value.len().checked_sub(len).and_then(|at| value.get(at..)) else {
                break;
            };
            for (prefix, rules) in self.by_suffix.keys.get(suffix).into_iter().flatten() {
                if rules & among & !mask != 0
                    && value.len() >= len + prefix.len()
                    && value.get(..prefix.len()).is_some_and(|p| case.eq(prefix, p))
                {
                    mask |= rules;
                }
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CorsConfiguration;
    use crate::policy::CorsPolicy;

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

    #[test]
    fn rule_sets_are_the_same_compact_or_boxed() {
        for rules in [1, 15, 16, 17, 64, 100] {
            let config = CorsConfiguration::new((0..rules).map(|i| {
                let mut rule = CorsRule::builder()
                    .allowed_origin(if i % 3 == 0 { "*" } else { "https://a.example" })
                    .allowed_method(if i % 2 == 0 { "GET" } else { "PUT" });
                if i % 5 == 0 {
                    rule = rule.allowed_header("*");
                }
                rule.build()
            }))
            .expect("valid");
            let matcher = Matcher::new(&config);
            assert_eq!(
                matches!(matcher.sets, Sets::Small(_)),
                rules <= 16,
                "{rules} rules"
            );
            let of = |keep: &dyn Fn(usize) -> bool| -> Mask {
                (0..rules).filter(|&i| keep(i)).fold(0, |mask, i| mask | 1 << i)
            };
            assert_eq!(matcher.all(), of(&|_| true));
            assert_eq!(matcher.method_mask(S3Method::Get), of(&|i| i % 2 == 0));
            assert_eq!(matcher.method_mask(S3Method::Put), of(&|i| i % 2 == 1));
            assert_eq!(matcher.method_mask(S3Method::Delete), 0);
            assert_eq!(matcher.any_header(), of(&|i| i % 5 == 0));
            assert_eq!(
                matcher.origin_mask(b"https://b.example", matcher.all()),
                of(&|i| i % 3 == 0)
            );
            assert_eq!(
                matcher.origin_mask(b"https://a.example", matcher.all()),
                of(&|_| true)
            );
        }
    }

    #[test]
    fn what_a_request_reads_of_a_policy_is_its_first_80_bytes() {
        // The matcher, the rules' answers and the id, right after the reference counts: at
        // most 80 bytes from an address the allocator made a multiple of 16, so two cache
        // lines at most wherever the policy is (the rules' masks alone took 128 bytes when
        // they were not compact).
        assert!(std::mem::offset_of!(CorsPolicy, stored) <= 80);
        assert_eq!(std::mem::offset_of!(CorsPolicy, matcher), 0);
    }

    // ---- the indexes against rule-by-rule matching ------------------------------------------

    use proptest::prelude::*;

    fn policy(rules: &[(Vec<String>, Vec<String>)]) -> CorsPolicy {
        let rules = rules.iter().map(|(origins, headers)| {
            CorsRule::builder()
                .allowed_origins(origins.iter().cloned())
                .allowed_method("GET")
                .allowed_headers(headers.iter().cloned())
                .build()
        });
        CorsPolicy::new(CorsConfiguration::new(rules).expect("valid rules"))
    }

    /// The rules whose patterns accept `value`, one rule at a time, from the patterns alone.
    fn naive(policy: &CorsPolicy, value: &[u8], header: bool) -> Mask {
        policy
            .configuration()
            .rules()
            .iter()
            .map(RulePatterns::new)
            .enumerate()
            .fold(0, |mask, (i, rule)| {
                let patterns = if header { &rule.headers } else { &rule.origins };
                let hit = patterns.iter().any(|p| {
                    if header {
                        p.matches_ignore_case(value)
                    } else {
                        p.matches(value)
                    }
                });
                mask | (Mask::from(hit) << i)
            })
    }

    fn first(policy: &CorsPolicy, origin: &str) -> Option<usize> {
        let request = http::Request::get("/k")
            .header("origin", origin)
            .body(())
            .unwrap();
        match policy.evaluate(&request) {
            crate::decision::Decision::Actual(allowed) => Some(allowed.rule_index()),
            _ => None,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_match_order_holds_across_exact_and_wildcard_rules() {
        let wild = strings(&["https://*.example.com"]);
        let exact = strings(&["https://a.example.com"]);
        let any = strings(&["*"]);
        // Wildcard first: it wins even though an exact rule follows.
        let p = policy(&[(wild.clone(), vec![]), (exact.clone(), vec![])]);
        assert_eq!(first(&p, "https://a.example.com"), Some(0));
        // Exact first: it wins.
        let p = policy(&[(exact.clone(), vec![]), (wild.clone(), vec![])]);
        assert_eq!(first(&p, "https://a.example.com"), Some(0));
        assert_eq!(first(&p, "https://b.example.com"), Some(1));
        // A `*` rule between them, and a late exact one.
        let p = policy(&[
            (strings(&["https://x.example"]), vec![]),
            (wild.clone(), vec![]),
            (any, vec![]),
            (exact, vec![]),
        ]);
        assert_eq!(first(&p, "https://a.example.com"), Some(1));
        assert_eq!(first(&p, "https://x.example"), Some(0));
        assert_eq!(first(&p, "http://elsewhere"), Some(2));
        // Prefix-keyed and suffix-keyed patterns, several sharing a key.
        let p = policy(&[
            (strings(&["http://localhost:*"]), vec![]),
            (
                strings(&["https://app-*.example.com", "https://*.example.com"]),
                vec![],
            ),
            (strings(&["https://*.example.com"]), vec![]),
        ]);
        assert_eq!(first(&p, "http://localhost:8080"), Some(0));
        assert_eq!(first(&p, "https://app-1.example.com"), Some(1));
        assert_eq!(first(&p, "https://b.example.com"), Some(1));
        assert_eq!(first(&p, "https://example.com"), None);
    }

    #[test]
    fn tables_find_every_key_and_nothing_else() {
        let keys: Vec<Box<[u8]>> = (0..100)
            .map(|i| format!("https://app{i}.example.com").into_bytes().into())
            .collect();
        let table = Table::new(keys.iter().cloned().zip(0..), Case::Sensitive);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(table.get(key), Some(&i));
        }
        assert_eq!(table.get(b"https://app100.example.com"), None);
        assert_eq!(table.get(b"HTTPS://app1.example.com"), None);
        assert_eq!(table.get(b""), None);
        let names = Table::new([(Box::from(&b"content-type"[..]), 7)], Case::Insensitive);
        assert_eq!(names.get(b"Content-Type"), Some(&7));
        assert_eq!(names.get(b"content-typf"), None);
        // `@` and a backquote differ only in bit 5, as capitals and small letters do.
        let odd = Table::new(
            [(Box::from(&b"a@b"[..]), 1), (Box::from(&b"x"[..]), 2)],
            Case::Insensitive,
        );
        assert_eq!(odd.get(b"A@B"), Some(&1));
        assert_eq!(odd.get(b"a`b"), None);
    }

    #[test]
    fn case_folding_compares_like_the_standard_library() {
        let samples: [&[u8]; 8] = [
            b"",
            b"a",
            b"AbC",
            b"x-amz-",
            b"X-AMZ-DATE",
            b"[\\]^_`{|}~@",
            b"\xc3\xa9\xc3\x89",
            b"0123456789ABCDEFghij",
        ];
        for a in samples {
            for b in samples {
                let lower = a.to_ascii_lowercase();
                assert_eq!(
                    Case::Insensitive.eq(&lower, b),
                    lower.eq_ignore_ascii_case(b),
                    "{a:?} {b:?}"
                );
                if lower.eq_ignore_ascii_case(b) {
                    assert_eq!(Case::Insensitive.hash(&lower), Case::Insensitive.hash(b));
                }
            }
        }
    }

    /// Patterns and values over a tiny alphabet, so that they often nearly match.
    fn pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("*".to_string()),
            4 => "[abAB.]{0,4}",
            6 => ("[abAB.]{0,4}", "[abAB.]{0,4}").prop_map(|(p, s)| format!("{p}*{s}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn indexes_agree_with_rule_by_rule_matching(
            rules in prop::collection::vec(
                (prop::collection::vec(pattern(), 1..4), prop::collection::vec(pattern(), 0..4)),
                1..8,
            ),
            values in prop::collection::vec("[abAB.]{0,7}", 1..8),
        ) {
            let p = policy(&rules);
            // Both forms, whatever the size: scanned and indexed.
            for indexed in [false, true] {
                let m = &Matcher::build(p.configuration(), indexed);
                for value in &values {
                    let v = value.as_bytes();
                    prop_assert_eq!(m.origin_mask(v, m.all()), naive(&p, v, false), "origin {:?} {}", value, indexed);
                    prop_assert_eq!(m.header_mask(v, m.all()), naive(&p, v, true), "header {:?} {}", value, indexed);
                    // Narrowed candidate sets give the same answer restricted to them.
                    let among = m.all() & !1;
                    prop_assert_eq!(m.origin_mask(v, among), naive(&p, v, false) & among);
                    prop_assert_eq!(m.header_mask(v, among), naive(&p, v, true) & among);
                }
            }
        }
    }
}
