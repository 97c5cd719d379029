//! The last few preflight decisions of each thread. One web application's pages send the same
//! preflight (`Origin`, method, requested headers) for every URL they fetch, and a browser
//! caches a preflight per URL, so a server deciding preflights mostly decides the same few
//! again; each thread keeps its last [`WAYS`] and answers a repeat without splitting the
//! requested names, matching them or building their echo again.
//!
//! A decision depends on the policy, the requested method, the `Origin` and the one
//! `Access-Control-Request-Headers` field, and on nothing else: the memo keys on the four,
//! byte for byte, with the policy named by an id that is never reused (an address is, once
//! a policy is freed), so a replaced policy's decisions are never given for its successor.
//! What it keeps is the matched rule and the echo it built, never a value of the request
//! (one would hold the server's whole read buffer): an echo equal to the request's field is
//! kept as "the field", and the field of the request at hand is sent.
//!
//! Bounded: [`WAYS`] entries of at most [`KEY_BYTES`] key bytes per thread; longer keys are
//! decided each time. A thread whose memo is busy or gone (its exit) decides without it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;

use crate::request::S3Method;

/// Decisions kept per thread.
const WAYS: usize = 4;
/// The longest `Origin` and requested-headers field, together, whose decision is kept.
const KEY_BYTES: usize = 192;

/// A new policy's id: unique for the life of the process (ids start at 1; 0 marks an empty
/// entry).
pub(crate) fn policy_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What a preflight's matching depends on.
pub(crate) struct Key<'a> {
    pub(crate) policy: u64,
    pub(crate) method: S3Method,
    pub(crate) origin: &'a [u8],
    pub(crate) requested: &'a [u8],
}

/// What a preflight's matching decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No rule accepts the request.
    Refused,
    /// The first rule that does, and the `Access-Control-Allow-Headers` to send.
    Allowed { rule: usize, echo: Echo },
}

/// The `Access-Control-Allow-Headers` of an allowed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Echo {
    /// None (no names requested).
    Nothing,
    /// The request's one field, as it is (one lowercase name, as browsers send it).
    TheField,
    /// The names lowercased and `, `-joined.
    Built(HeaderValue),
}

struct Entry {
    /// 0 when empty.
    policy: u64,
    method: S3Method,
    /// `key[..origin]` is the `Origin`, `key[origin..len]` the requested headers.
    origin: usize,
    len: usize,
    key: [u8; KEY_BYTES],
    outcome: Outcome,
}

impl Entry {
    const EMPTY: Entry = Entry {
        policy: 0,
        method: S3Method::Get,
        origin: 0,
        len: 0,
        key: [0; KEY_BYTES],
        outcome: Outcome::Refused,
    };

    #[inline]
    fn is(&self, key: &Key<'_>) -> bool {
        self.policy == key.policy
            && self.method == key.method
            && self.origin == key.origin.len()
            && self.len == key.origin.len() + key.requested.len()
            && self.key.get(..self.origin) == Some(key.origin)
            && self.key.get(self.origin..self.len) == Some(key.requested)
    }
}

struct Memo {
    entries: [Entry; WAYS],
    /// The entry the next decision replaces (round robin).
    next: usize,
}

impl Memo {
    fn find(&self, key: &Key<'_>) -> Option<Outcome> {
        let entry = self.entries.iter().find(|entry| entry.is(key))?;
        Some(entry.outcome.clone())
    }

    fn keep(&mut self, key: &Key<'_>, outcome: &Outcome) {
        let len = key.origin.len() + key.requested.len();
        let Some(entry) = self.entries.get_mut(self.next) else {
            return;
        };
        let Some(bytes) = entry.key.get_mut(..len) else {
            return;
        };
        let (origin, requested) = bytes.split_at_mut(key.origin.len());
        origin.copy_from_slice(key.origin);
        requested.copy_from_slice(key.requested);
        entry.policy = key.policy;
        entry.method = key.method;
        entry.origin = key.origin.len();
        entry.len = len;
        entry.outcome = outcome.clone();
        self.next = (self.next + 1) % WAYS;
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            entries: [const { Entry::EMPTY }; WAYS],
            next: 0,
        })
    };
}

/// `f` on this thread's memo; `None` when it is in use or gone (the thread is exiting).
fn with_memo<T>(f: impl FnOnce(&mut Memo) -> T) -> Option<T> {
    MEMO.try_with(|memo| memo.try_borrow_mut().ok().map(|mut memo| f(&mut memo)))
        .ok()
        .flatten()
}

/// The outcome this thread decided for `key` lately, or `decide()`'s, then kept.
#[inline]
pub(crate) fn decided(key: &Key<'_>, decide: impl FnOnce() -> Outcome) -> Outcome {
    if key.origin.len() + key.requested.len() > KEY_BYTES {
        return decide();
    }
    if let Some(outcome) = with_memo(|memo| memo.find(key)).flatten() {
        return outcome;
    }
    let outcome = decide();
    with_memo(|memo| memo.keep(key, &outcome));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(policy: u64, origin: &'a str, requested: &'a str) -> Key<'a> {
        Key {
            policy,
            method: S3Method::Put,
            origin: origin.as_bytes(),
            requested: requested.as_bytes(),
        }
    }

    fn allowed(rule: usize) -> Outcome {
        Outcome::Allowed {
            rule,
            echo: Echo::Nothing,
        }
    }

    #[test]
    fn a_repeat_is_answered_from_the_memo_and_anything_else_is_decided() {
        let policy = policy_id();
        assert_eq!(decided(&key(policy, "https://a", "x-a"), || allowed(1)), allowed(1));
        // The same key: not decided again.
        assert_eq!(
            decided(&key(policy, "https://a", "x-a"), || unreachable!("decided again")),
            allowed(1)
        );
        // Any part different: decided.
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
        ];
        for (i, k) in differs.iter().enumerate() {
            let mut ran = false;
            assert_eq!(
                decided(k, || {
                    ran = true;
                    allowed(i + 10)
                }),
                allowed(i + 10)
            );
            assert!(ran, "key {i} answered from the memo");
        }
    }

    #[test]
    fn the_memo_keeps_a_few_decisions_and_long_keys_none() {
        let policy = policy_id();
        let origins: Vec<String> = (0..=WAYS).map(|i| format!("https://{i}.example")).collect();
        for (i, origin) in origins.iter().enumerate() {
            decided(&key(policy, origin, ""), || allowed(i));
        }
        // The first was replaced by the last; the others are kept.
        let mut ran = false;
        decided(&key(policy, &origins[0], ""), || {
            ran = true;
            allowed(0)
        });
        assert!(ran);
        for (i, origin) in origins.iter().enumerate().skip(2) {
            assert_eq!(decided(&key(policy, origin, ""), || unreachable!()), allowed(i));
        }
        // Too long to keep: decided every time.
        let long = "x".repeat(KEY_BYTES);
        for _ in 0..2 {
            let mut ran = false;
            decided(&key(policy, "https://a", &long), || {
                ran = true;
                Outcome::Refused
            });
            assert!(ran);
        }
    }
}
