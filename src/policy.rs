//! A configuration compiled once: the matcher and each rule's prebuilt answer.

use std::sync::Arc;

use http::HeaderValue;

use crate::config::{CorsConfiguration, CorsRule};
use crate::matcher::Matcher;
use crate::response::{CorsHeaders, RuleAnswer};

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
    /// Which rules accept a request; it owns the configuration.
    pub(crate) matcher: Matcher,
    /// What each rule answers, by rule index; shared with the headers of the requests they
    /// allow.
    answers: Arc<[RuleAnswer]>,
}

impl From<CorsConfiguration> for CorsPolicy {
    fn from(config: CorsConfiguration) -> Self {
        CorsPolicy::new(config)
    }
}

impl CorsPolicy {
    /// Compiles a validated configuration. With the `tracing` feature, each security finding
    /// of [`CorsConfiguration::lint`] (origins that let other sites in) is logged once here as a
    /// `warn` event, so rules loaded at run time are not silent either.
    pub fn new(mut config: CorsConfiguration) -> Self {
        // Construction, not the request path: say so once if these rules let other sites in.
        #[cfg(feature = "tracing")]
        crate::lint::log_security_findings(&config);
        config.shrink_to_fit();
        CorsPolicy {
            answers: RuleAnswer::for_rules(config.rules()),
            matcher: Matcher::new(config),
        }
    }

    /// The configuration this policy was compiled from.
    pub fn configuration(&self) -> &CorsConfiguration {
        self.matcher.configuration()
    }

    /// The rule at `index`, as configured.
    pub fn rule(&self, index: usize) -> Option<&CorsRule> {
        self.configuration().rules().get(index)
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
