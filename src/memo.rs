//! The last few preflights of each thread. One web application's pages send the same
//! preflight (`Origin`, method, requested headers) for every URL they fetch, and a browser
//! caches a preflight per URL, so a server mostly answers the same few preflights again. Each
//! thread keeps its last [`WAYS`] of them twice over:
//!
//! - what matching decided (the rule and the echo of the requested names), for [`decide`]
//!   and every caller of it: a repeat is not split, matched and echoed again;
//! - the layer's whole answer to an allowed preflight (its header map), for a layer with no
//!   decision hook and no `tracing` subscriber for its decisions: a repeat is answered by
//!   cloning the map, as a server would send a prebuilt answer, with no decision made.
//!
//! An answer depends on the policy, the requested method, the `Origin`, the one
//! `Access-Control-Request-Headers` field (or its absence) and, for the layer's answer, its
//! options and whether Private Network Access was asked for; on nothing else. The memo keys
//! on all of them, byte for byte, with the policy named by an id that is never reused (an
//! address is, once a policy is freed), so a replaced policy's answers are never given for
//! its successor. It keeps nothing that belongs to the request (a value of it would hold the
//! server's whole read buffer): an echo equal to the request's field is kept as "the field",
//! and the kept answers hold copies.
//!
//! Bounded: [`WAYS`] entries of at most [`KEY_BYTES`] key bytes per thread and table; longer
//! keys are decided each time. A thread whose memo is busy or gone (its exit) decides
//! without it.
//!
//! [`decide`]: crate::decide

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue};

use crate::options::CorsOptions;
use crate::request::S3Method;
use crate::swar::{hash_words, same_bytes};

/// Answers kept per thread and table.
const WAYS: usize = 4;
/// The longest `Origin` and requested-headers field, together, whose answer is kept.
const KEY_BYTES: usize = 192;

/// A new policy's id: unique for the life of the process (ids start at 1; 0 marks an empty
/// entry).
pub(crate) fn policy_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What a preflight's answer depends on.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) policy: u64,
    pub(crate) method: S3Method,
    pub(crate) origin: &'a [u8],
    /// The one `Access-Control-Request-Headers` field; `None` when there is none.
    pub(crate) requested: Option<&'a [u8]>,
    /// The layer's options and whether Private Network Access was asked for (the layer's
    /// answers only; matching depends on neither).
    pub(crate) options: CorsOptions,
    pub(crate) private_network: bool,
}

/// A key short enough to keep, with the fingerprint of its two fields: a table compares the
/// fingerprint first, so a key that is not there costs one comparison per entry (entries are
/// then compared in full).
struct Keyed<'k, 'a> {
    key: &'k Key<'a>,
    fingerprint: u64,
}

impl<'k, 'a> Keyed<'k, 'a> {
    /// `None` when the two fields are longer than [`KEY_BYTES`] together: such a preflight is
    /// decided each time (and its bytes are not even read here: hostile lists are long).
    #[inline]
    fn of(key: &'k Key<'a>) -> Option<Self> {
        (key.len() <= KEY_BYTES).then(|| Keyed {
            key,
            fingerprint: fingerprint(key.origin, key.requested_bytes()),
        })
    }
}

/// Of `origin` and `requested`, each hashed with its length (so where one ends is part of it).
fn fingerprint(origin: &[u8], requested: &[u8]) -> u64 {
    hash_words(origin, 0).rotate_left(32) ^ hash_words(requested, 0)
}

impl Key<'_> {
    fn requested_bytes(&self) -> &[u8] {
        self.requested.unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.origin.len() + self.requested_bytes().len()
    }
}

/// What a preflight's matching decided: the first rule that accepts it and what to echo;
/// `None` when no rule does.
pub(crate) type Outcome = Option<Matched>;

/// A rule accepts the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    pub(crate) rule: usize,
    /// `Access-Control-Allow-Headers`, when it is not the request's field itself.
    pub(crate) echo: Option<HeaderValue>,
    /// `Access-Control-Allow-Headers` is the request's one field as it is (one lowercase name,
    /// as browsers send it): the request's own value is sent, and none is kept here.
    pub(crate) echo_is_field: bool,
}

struct Entry<T> {
    /// 0 when empty.
    policy: u64,
    fingerprint: u64,
    method: S3Method,
    has_requested: bool,
    options: CorsOptions,
    private_network: bool,
    /// `key[..origin]` is the `Origin`, `key[origin..len]` the requested headers.
    origin: usize,
    len: usize,
    key: [u8; KEY_BYTES],
    value: Option<T>,
    /// The table's clock when it was last asked for (0: never).
    used: u64,
}

impl<T> Entry<T> {
    const EMPTY: Self = Entry {
        policy: 0,
        fingerprint: 0,
        method: S3Method::Get,
        has_requested: false,
        options: CorsOptions::NONE,
        private_network: false,
        origin: 0,
        len: 0,
        key: [0; KEY_BYTES],
        value: None,
        used: 0,
    };

    #[inline]
    fn is(&self, keyed: &Keyed<'_, '_>) -> bool {
        let key = keyed.key;
        self.fingerprint == keyed.fingerprint
            && self.policy == key.policy
            && self.method == key.method
            && self.has_requested == key.requested.is_some()
            && self.private_network == key.private_network
            && self.options == key.options
            && self.origin == key.origin.len()
            && self.len == key.len()
            && self
                .key
                .get(..self.origin)
                .is_some_and(|kept| same_bytes(kept, key.origin))
            && self
                .key
                .get(self.origin..self.len)
                .is_some_and(|kept| same_bytes(kept, key.requested_bytes()))
    }
}

struct Table<T> {
    entries: [Entry<T>; WAYS],
    /// Counts uses: a new key takes the place of the entry used longest ago, so a stream of
    /// keys that come once does not push out the answers that keep being asked for.
    clock: u64,
}

/// What a table knows of a key.
pub(crate) enum Found<T> {
    /// Its answer.
    Answer(T),
    /// That it was asked lately, once: its answer is to be kept ([`Table::fill`],
    /// [`keep_preflight`]).
    Seen,
    /// Nothing: it is now marked seen (or the key is too long to keep).
    New,
}

impl<T: Clone> Table<T> {
    const EMPTY: Self = Table {
        entries: [const { Entry::EMPTY }; WAYS],
        clock: 0,
    };

    /// What the table knows of `key`; a new key is marked seen, so that its answer is kept
    /// the second time it comes (a key that never comes twice costs a copy of its bytes, no
    /// allocation).
    #[inline]
    fn look(&mut self, key: &Keyed<'_, '_>) -> Found<T> {
        self.clock += 1;
        match self.entries.iter_mut().find(|entry| entry.is(key)) {
            Some(entry) => {
                entry.used = self.clock;
                match &entry.value {
                    Some(value) => Found::Answer(value.clone()),
                    None => Found::Seen,
                }
            }
            None => {
                self.keep(key, None);
                Found::New
            }
        }
    }

    /// Keeps `value` as `key`'s answer.
    fn fill(&mut self, key: &Keyed<'_, '_>, value: T) {
        match self.entries.iter_mut().find(|entry| entry.is(key)) {
            Some(entry) => entry.value = Some(value),
            None => self.keep(key, Some(value)),
        }
    }

    /// A new entry for `key`, in place of the one used longest ago.
    fn keep(&mut self, keyed: &Keyed<'_, '_>, value: Option<T>) {
        let key = keyed.key;
        let Some(entry) = self.entries.iter_mut().min_by_key(|entry| entry.used) else {
            return;
        };
        let Some(bytes) = entry.key.get_mut(..key.len()) else {
            return;
        };
        let (origin, requested) = bytes.split_at_mut(key.origin.len());
        origin.copy_from_slice(key.origin);
        requested.copy_from_slice(key.requested_bytes());
        entry.policy = key.policy;
        entry.fingerprint = keyed.fingerprint;
        entry.method = key.method;
        entry.has_requested = key.requested.is_some();
        entry.options = key.options;
        entry.private_network = key.private_network;
        entry.origin = key.origin.len();
        entry.len = key.len();
        entry.value = value;
        entry.used = self.clock;
    }
}

thread_local! {
    static OUTCOMES: RefCell<Table<Outcome>> = const { RefCell::new(Table::EMPTY) };
    static PREFLIGHTS: RefCell<Table<HeaderMap>> = const { RefCell::new(Table::EMPTY) };
}

/// `f` on this thread's `table`; `None` when it is in use or gone (the thread is exiting).
#[inline]
fn with<T: 'static, R>(
    table: &'static std::thread::LocalKey<RefCell<Table<T>>>,
    f: impl FnOnce(&mut Table<T>) -> R,
) -> Option<R> {
    table
        .try_with(|table| table.try_borrow_mut().ok().map(|mut table| f(&mut table)))
        .ok()
        .flatten()
}

/// The outcome this thread decided for `key` lately, or `decide()`'s (kept when the key came
/// before).
#[inline]
pub(crate) fn decided(key: &Key<'_>, decide: impl FnOnce() -> Outcome) -> Outcome {
    let Some(key) = Keyed::of(key) else {
        return decide();
    };
    match with(&OUTCOMES, |table| table.look(&key)) {
        Some(Found::Answer(outcome)) => outcome,
        Some(Found::Seen) => {
            let outcome = decide();
            with(&OUTCOMES, |table| table.fill(&key, outcome.clone()));
            outcome
        }
        Some(Found::New) | None => decide(),
    }
}

/// What this thread knows of the layer's answer to the preflight `key`.
#[inline]
pub(crate) fn preflight(key: &Key<'_>) -> Found<HeaderMap> {
    Keyed::of(key)
        .and_then(|key| with(&PREFLIGHTS, |table| table.look(&key)))
        .unwrap_or(Found::New)
}

/// Keeps the layer's answer to the preflight `key`.
pub(crate) fn keep_preflight(key: &Key<'_>, answer: &HeaderMap) {
    if let Some(key) = Keyed::of(key) {
        with(&PREFLIGHTS, |table| table.fill(&key, answer.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(policy: u64, origin: &'a str, requested: &'a str) -> Key<'a> {
        Key {
            policy,
            method: S3Method::Put,
            origin: origin.as_bytes(),
            requested: Some(requested.as_bytes()),
            options: CorsOptions::NONE,
            private_network: false,
        }
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        let bytes: Vec<u8> = (0..40).collect();
        for len in 0..40 {
            let a = &bytes[..len];
            assert!(same_bytes(a, a));
            assert!(!same_bytes(a, &bytes[..len + 1]));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{len} {at}");
            }
        }
    }

    #[test]
    fn no_options_is_the_default() {
        assert_eq!(CorsOptions::NONE, CorsOptions::default());
    }

    #[test]
    fn fingerprints_tell_the_fields_apart() {
        let pairs: [(&[u8], &[u8]); 6] = [
            (b"https://a", b"x-a"),
            (b"https://ax", b"-a"),
            (b"https://a", b"x-b"),
            (b"", b""),
            (b"https://app.example.com", b"content-type,x-amz-date"),
            (b"https://app.example.con", b"content-type,x-amz-date"),
        ];
        for (i, a) in pairs.iter().enumerate() {
            for b in &pairs[i + 1..] {
                assert_ne!(fingerprint(a.0, a.1), fingerprint(b.0, b.1), "{a:?} {b:?}");
            }
        }
    }

    fn allowed(rule: usize) -> Outcome {
        Some(Matched {
            rule,
            echo: None,
            echo_is_field: false,
        })
    }

    /// `decided`, and whether it decided (rather than answered from the memo).
    fn decide(key: &Key<'_>, answer: Outcome) -> (Outcome, bool) {
        let mut ran = false;
        let outcome = decided(key, || {
            ran = true;
            answer
        });
        (outcome, ran)
    }

    #[test]
    fn a_decision_is_kept_the_second_time_and_given_from_the_third() {
        let policy = policy_id();
        let k = key(policy, "https://a", "x-a");
        assert_eq!(decide(&k, allowed(1)), (allowed(1), true));
        assert_eq!(decide(&k, allowed(1)), (allowed(1), true));
        for _ in 0..3 {
            assert_eq!(decide(&k, allowed(2)), (allowed(1), false));
        }
        // Any part different: decided, every time.
        let other = policy_id();
        let differs = [
            key(other, "https://a", "x-a"),
            key(policy, "https://b", "x-a"),
            key(policy, "https://a", "x-b"),
            key(policy, "https://a", "X-a"),
            // The same bytes split differently between the two fields.
            key(policy, "https://ax", "-a"),
            Key {
                method: S3Method::Get,
                ..key(policy, "https://a", "x-a")
            },
            Key {
                requested: None,
                ..key(policy, "https://ax-a", "")
            },
            Key {
                private_network: true,
                ..key(policy, "https://a", "x-a")
            },
            Key {
                options: CorsOptions::new().fetch_mode(true),
                ..key(policy, "https://a", "x-a")
            },
        ];
        for (i, k) in differs.iter().enumerate() {
            // Each after the kept one, so that it is still there to be confused with.
            assert_eq!(
                decide(&key(policy, "https://a", "x-a"), None),
                (allowed(1), false)
            );
            assert_eq!(decide(k, allowed(i + 10)), (allowed(i + 10), true), "key {i}");
        }
    }

    #[test]
    fn the_memo_keeps_a_few_decisions_and_long_keys_none() {
        let policy = policy_id();
        let origins: Vec<String> = (0..=WAYS).map(|i| format!("https://{i}.example")).collect();
        let keys: Vec<Key<'_>> = origins.iter().map(|o| key(policy, o, "")).collect();
        for (i, k) in keys.iter().take(WAYS).enumerate() {
            decide(k, allowed(i));
            decide(k, allowed(i));
        }
        for (i, k) in keys.iter().take(WAYS).enumerate() {
            assert_eq!(decide(k, None), (allowed(i), false));
        }
        // A new key takes the oldest entry's place.
        decide(&keys[WAYS], allowed(WAYS));
        assert_eq!(decide(&keys[0], None), (None, true));
        for (i, k) in keys.iter().enumerate().take(WAYS).skip(2) {
            assert_eq!(decide(k, None), (allowed(i), false));
        }
        // Too long to keep: decided every time.
        let long = "x".repeat(KEY_BYTES);
        for _ in 0..3 {
            assert_eq!(decide(&key(policy, "https://a", &long), None), (None, true));
        }
        assert!(Keyed::of(&key(policy, "", &long[1..])).is_some());
    }

    #[test]
    fn an_answer_is_kept_when_a_preflight_comes_the_second_time() {
        let k = key(policy_id(), "https://a", "x-a");
        let mut answer = HeaderMap::new();
        answer.insert(
            "access-control-allow-origin",
            HeaderValue::from_static("https://a"),
        );
        assert!(matches!(preflight(&k), Found::New));
        assert!(matches!(preflight(&k), Found::Seen));
        keep_preflight(&k, &answer);
        for _ in 0..3 {
            assert!(matches!(preflight(&k), Found::Answer(kept) if kept == answer));
        }
        let other = Key {
            private_network: true,
            ..k
        };
        assert!(matches!(preflight(&other), Found::New));
        let long = "x".repeat(KEY_BYTES);
        let long = key(k.policy, "https://a", &long);
        keep_preflight(&long, &answer);
        for _ in 0..3 {
            assert!(matches!(preflight(&long), Found::New));
        }
    }
}
