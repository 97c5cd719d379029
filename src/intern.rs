//! Sharing compiled rules: identical configurations compile to one [`CorsPolicy`].

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::config::CorsConfiguration;
use crate::policy::CorsPolicy;
use crate::stored::StoredConfiguration;

/// Hands out one shared [`CorsPolicy`] per distinct configuration, so that a million buckets
/// with the same rules hold one compiled policy between them.
///
/// Two configurations are the same when they are equal as validated values: the same rules in
/// the same order with the same IDs, values and `MaxAgeSeconds`. That is the canonical form: a
/// configuration read from XML, from JSON or built in code compares by its content, never by the
/// text it came from. Rules differing only in an `ID` are not shared (GetBucketCors must return
/// each bucket's own IDs).
///
/// The interner holds its policies weakly: a policy no bucket (no `Arc`) uses any more is freed
/// at once, and its entry is swept out as the interner is used ([`intern`](Self::intern),
/// [`released`](Self::released); amortized: each sweep is paid for by as many calls as half the
/// entries it looks at). Interning takes a lock for a lookup and an insert, never while a
/// configuration compiles (writers for different buckets do not wait on each other's
/// compilation); requests never touch the interner, only the `Arc<CorsPolicy>` it returned.
///
/// ```
/// use std::sync::Arc;
/// use tower_s3_cors::source::PolicyInterner;
/// use tower_s3_cors::CorsConfiguration;
///
/// let interner = PolicyInterner::new();
/// let json = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#;
/// let a = interner.intern(CorsConfiguration::from_json(json)?);
/// let b = interner.intern(CorsConfiguration::from_json(json)?);
/// assert!(Arc::ptr_eq(&a, &b));
/// assert_eq!(interner.len(), 1);
///
/// drop((a, b));
/// assert_eq!(interner.len(), 0); // nothing uses the policy any more
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct PolicyInterner {
    /// Hashes configurations (random keys: a configuration cannot be chosen to collide).
    hasher: RandomState,
    inner: Mutex<WeakTable<CorsPolicy>>,
}

/// Shared values by a 64-bit hash of what they were made from, held weakly and swept as the
/// table is used: the policies of a [`PolicyInterner`], and the rules' header values that
/// policies share (`response::RuleAnswer`). Two live values with one hash are not shared (the
/// second is used on its own): still correct, only not shared.
#[derive(Debug)]
pub(crate) struct WeakTable<T: ?Sized> {
    entries: HashMap<u64, Weak<T>>,
    /// Calls since the last sweep of dead entries.
    since_sweep: usize,
}

impl<T: ?Sized> Default for WeakTable<T> {
    fn default() -> Self {
        WeakTable {
            entries: HashMap::new(),
            since_sweep: 0,
        }
    }
}

/// What a [`WeakTable`] holds under a hash.
pub(crate) enum Found<T: ?Sized> {
    /// A live value that is the one asked for.
    Same(Arc<T>),
    /// A live value made from something else (a hash collision): make one, do not share it.
    Other,
    /// Nothing live.
    Nothing,
}

impl<T: ?Sized> WeakTable<T> {
    /// What is held under `hash`; `same` tells whether a live value is the one asked for.
    /// Counts one call toward the next sweep.
    pub(crate) fn find(&mut self, hash: u64, same: impl Fn(&T) -> bool) -> Found<T> {
        self.sweep_if_due();
        match self.entries.get(&hash).and_then(Weak::upgrade) {
            Some(live) if same(&live) => Found::Same(live),
            Some(_) => Found::Other,
            None => Found::Nothing,
        }
    }

    /// Keeps `value` under `hash` unless a live value is there already: the value to use
    /// (the one there when `same` accepts it, so that the first insert is the one shared).
    pub(crate) fn insert(&mut self, hash: u64, value: Arc<T>, same: impl Fn(&T) -> bool) -> Arc<T> {
        match self.entries.entry(hash) {
            Entry::Occupied(mut slot) => match slot.get().upgrade() {
                Some(live) if same(&live) => live,
                Some(_) => value,
                None => {
                    slot.insert(Arc::downgrade(&value));
                    value
                }
            },
            Entry::Vacant(slot) => {
                slot.insert(Arc::downgrade(&value));
                value
            }
        }
    }

    /// Counts one call, and sweeps once the calls since the last sweep outnumber half the
    /// entries: each call pays for a constant share of the sweeps, and dead entries stay fewer
    /// than the live ones plus the calls since.
    pub(crate) fn sweep_if_due(&mut self) {
        self.since_sweep += 1;
        if self.since_sweep > 64 && self.since_sweep * 2 > self.entries.len() {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        self.entries.retain(|_, value| value.strong_count() > 0);
        self.entries.shrink_to(self.entries.len() * 2);
        self.since_sweep = 0;
    }

    /// How many live values are held (sweeps the dead ones).
    fn live(&mut self) -> usize {
        self.sweep();
        self.entries.len()
    }
}

impl PolicyInterner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared policy compiled from `config`, compiling it if no live policy has the same
    /// configuration.
    pub fn intern(&self, config: CorsConfiguration) -> Arc<CorsPolicy> {
        // Compared and hashed in the compact form the policy keeps (equal bytes, equal
        // configurations), so a live policy's configuration is never read back to compare.
        let stored = StoredConfiguration::new(&config);
        let hash = self.hasher.hash_one(&stored);
        let found = self.lock().find(hash, |live: &CorsPolicy| live.stored == stored);
        match found {
            Found::Same(live) => return live,
            // A hash collision with a live, different configuration: not shared.
            Found::Other => return Arc::new(CorsPolicy::compile(config, stored)),
            Found::Nothing => {}
        }
        // Compiled without the lock; another writer may intern the same configuration
        // meanwhile, and then the first to insert is the one every caller shares.
        let policy = Arc::new(CorsPolicy::compile(config, stored));
        let same = |live: &CorsPolicy| live.stored == policy.stored;
        let shared = self.lock().insert(hash, Arc::clone(&policy), same);
        shared
    }

    /// The map, locked. A poisoned lock only means another thread panicked while interning:
    /// the map is still consistent (every step leaves it so).
    fn lock(&self) -> std::sync::MutexGuard<'_, WeakTable<CorsPolicy>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the interner that a user let go of a policy (a bucket's configuration deleted or
    /// replaced, a cache entry evicted). A policy is freed as soon as its last user lets go;
    /// what remains is its entry here (a weak reference and a small block), swept out after a
    /// number of interning calls and releases proportional to the entries held. Calling this is
    /// optional, but a user that mostly releases (deletes more than it puts) keeps the
    /// interner small with it.
    pub fn released(&self) {
        self.lock().sweep_if_due();
    }

    /// How many distinct configurations are in use (sweeps the ones that are not).
    pub fn len(&self) -> usize {
        self.lock().live()
    }

    /// Whether no configuration is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origin: &str, id: Option<&str>) -> CorsConfiguration {
        let mut rule = crate::CorsRule::builder()
            .allowed_origin(origin)
            .allowed_method("GET");
        if let Some(id) = id {
            rule = rule.id(id);
        }
        CorsConfiguration::new([rule.build()]).unwrap()
    }

    #[test]
    fn equal_configurations_share_one_policy() {
        let interner = PolicyInterner::new();
        let a = interner.intern(config("https://a.example", None));
        let b = interner.intern(config("https://a.example", None));
        let c = interner.intern(config("https://c.example", None));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn writers_interning_one_configuration_at_once_share_one_policy() {
        let interner = Arc::new(PolicyInterner::new());
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (interner, barrier) = (Arc::clone(&interner), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    interner.intern(config("https://same.example", None))
                })
            })
            .collect();
        let policies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(policies.iter().all(|p| Arc::ptr_eq(p, &policies[0])));
        assert_eq!(interner.len(), 1);
    }

    #[test]
    fn an_id_makes_a_configuration_distinct() {
        let interner = PolicyInterner::new();
        let a = interner.intern(config("https://a.example", Some("one")));
        let b = interner.intern(config("https://a.example", Some("two")));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.configuration().rules()[0].id(), Some("two"));
    }

    #[test]
    fn unused_policies_are_freed_and_swept() {
        let interner = PolicyInterner::new();
        let kept = interner.intern(config("https://kept.example", None));
        let weak = {
            let dropped = interner.intern(config("https://gone.example", None));
            Arc::downgrade(&dropped)
        };
        // The policy is freed as soon as its last user lets go, not when the interner sweeps.
        assert!(weak.upgrade().is_none());
        // Interning the same configuration again compiles a fresh policy.
        let again = interner.intern(config("https://gone.example", None));
        assert_eq!(again.configuration(), &config("https://gone.example", None));
        drop(again);
        // Many short-lived configurations: the map stays bounded by the live ones.
        for i in 0..1000 {
            drop(interner.intern(config(&format!("https://t{i}.example"), None)));
            assert!(interner.inner.lock().unwrap().entries.len() <= 64 + 4);
        }
        assert_eq!(interner.len(), 1);
        assert!(Arc::ptr_eq(
            &kept,
            &interner.intern(config("https://kept.example", None))
        ));
    }
}
