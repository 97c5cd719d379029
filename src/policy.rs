//! A configuration compiled once: the matcher and each rule's prebuilt answer.

use std::sync::{Arc, OnceLock};

use http::HeaderValue;

use crate::config::{CorsConfiguration, CorsRule};
use crate::matcher::Matcher;
use crate::response::{CorsHeaders, RuleAnswer};
use crate::stored::StoredConfiguration;

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
#[derive(Clone)]
// In this order: what a request reads (the matcher, the rules' answers and the id: 72 bytes)
// first, right after the reference counts, so it takes two cache lines at most; the
// configuration after.
#[repr(C)]
pub struct CorsPolicy {
    /// Which rules accept a request.
    pub(crate) matcher: Matcher,
    /// What each rule answers, by rule index; shared with the headers of the requests they
    /// allow.
    answers: Arc<[RuleAnswer]>,
    /// Names the policy in each thread's memo of recent decisions (never reused).
    pub(crate) id: u64,
    /// The configuration, in one block (a million policies are freed and kept by the block,
    /// not by the dozen a configuration is made of); the interner compares and hashes it.
    pub(crate) stored: StoredConfiguration,
    /// The configuration read back, the first time [`configuration`](Self::configuration)
    /// is asked for it.
    read_back: OnceLock<CorsConfiguration>,
}

impl From<CorsConfiguration> for CorsPolicy {
    fn from(config: CorsConfiguration) -> Self {
        CorsPolicy::new(config)
    }
}

impl std::fmt::Debug for CorsPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorsPolicy")
            .field("configuration", &self.stored)
            .finish_non_exhaustive()
    }
}

impl CorsPolicy {
    /// Compiles a validated configuration. With the `tracing` feature, each security finding
    /// of [`CorsConfiguration::lint`] (origins that let other sites in) is logged once here as a
    /// `warn` event, so rules loaded at run time are not silent either.
    pub fn new(config: CorsConfiguration) -> Self {
        let stored = StoredConfiguration::new(&config);
        Self::compile(config, stored)
    }

    /// [`new`](Self::new), with the stored form made already (the interner made it to compare).
    pub(crate) fn compile(config: CorsConfiguration, stored: StoredConfiguration) -> Self {
        // Construction, not the request path: say so once if these rules let other sites in.
        #[cfg(feature = "tracing")]
        crate::lint::log_security_findings(&config);
        CorsPolicy {
            answers: RuleAnswer::for_rules(config.rules()),
            matcher: Matcher::new(&config),
            id: crate::memo::policy_id(),
            stored,
            read_back: OnceLock::new(),
        }
    }

    /// The configuration this policy was compiled from. The policy keeps it in a compact form;
    /// the first call reads it back and keeps that (see [`configuration_owned`] to read it
    /// without keeping it).
    ///
    /// [`configuration_owned`]: Self::configuration_owned
    pub fn configuration(&self) -> &CorsConfiguration {
        self.read_back.get_or_init(|| self.stored.configuration())
    }

    /// The configuration this policy was compiled from, read back from the policy's compact
    /// form without keeping a copy in the policy (GetBucketCors for a million buckets).
    pub fn configuration_owned(&self) -> CorsConfiguration {
        match self.read_back.get() {
            Some(config) => config.clone(),
            None => self.stored.configuration(),
        }
    }

    /// The rule at `index`, as configured.
    pub fn rule(&self, index: usize) -> Option<&CorsRule> {
        self.configuration().rules().get(index)
    }

    /// The `ID` of the rule at `index`, if it has one (read from the compact form: deciding
    /// a request never reads the whole configuration back).
    pub(crate) fn rule_id(&self, index: usize) -> Option<&str> {
        self.stored.rule_id(index)
    }

    /// The headers for a request the rule at `index` allows (see [`CorsHeaders::for_rule`]).
    #[inline]
    pub(crate) fn headers(
        &self,
        index: usize,
        origin: &HeaderValue,
        echo: Option<HeaderValue>,
        private_network: bool,
    ) -> Option<CorsHeaders> {
        CorsHeaders::for_rule(&self.answers, index, origin, echo, private_network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ResourceType;
    use crate::source::BucketCors;

    #[test]
    fn rule_ids_are_read_without_reading_the_configuration_back() {
        let config = CorsConfiguration::new([
            CorsRule::builder()
                .allowed_origin("*")
                .allowed_method("GET")
                .build(),
            CorsRule::builder()
                .id("second")
                .allowed_origin("*")
                .allowed_method("PUT")
                .build(),
        ])
        .expect("valid");
        let policy = CorsPolicy::new(config.clone());
        let bucket = BucketCors::Configured {
            policy: &policy,
            resource: ResourceType::Object,
        };
        assert_eq!(bucket.rule_id(0), None);
        assert_eq!(bucket.rule_id(1), Some("second"));
        assert_eq!(bucket.rule_id(2), None);
        assert_eq!(policy.configuration_owned(), config);
        assert!(policy.read_back.get().is_none(), "read back and kept");
        // `configuration()` keeps what it read back.
        assert_eq!(policy.configuration(), &config);
        assert!(policy.read_back.get().is_some());
    }
}
