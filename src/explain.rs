//! Why each rule did or did not match a request, for people (the command line's `explain`)
//! and for tests. Evaluated rule by rule from the compiled patterns, independently of the
//! indexes the layer uses; both give the same first match.

use http::HeaderValue;

use crate::matcher::RulePatterns;
use crate::policy::CorsPolicy;
use crate::request::{requested_headers, CorsFields, RequestHead};

/// The verdict of one rule on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCheck {
    /// The rule's 0-based index in the configuration.
    pub index: usize,
    /// The rule's `ID`, when it has one.
    pub id: Option<String>,
    /// Whether an `AllowedOrigin` accepts the request's `Origin`.
    pub origin: bool,
    /// The first `AllowedOrigin` that accepts the request's `Origin` (`*`, the origin itself, or
    /// a pattern whose `*` stands for part of it).
    pub allowed_origin: Option<String>,
    /// Whether the effective method (the preflight's `Access-Control-Request-Method`, or the
    /// actual request's method unless it carries one) is an `AllowedMethod`.
    pub method: bool,
    /// The first requested header no `AllowedHeader` accepts, if any.
    pub rejected_header: Option<String>,
}

impl RuleCheck {
    /// Whether the rule accepts the request.
    pub fn matches(&self) -> bool {
        self.origin && self.method && self.rejected_header.is_none()
    }
}

impl CorsPolicy {
    /// Checks every rule against the request, in order. The first check that
    /// [`matches`](RuleCheck::matches) is the rule the layer would apply.
    pub fn explain<'a>(&self, request: impl Into<RequestHead<'a>>) -> Vec<RuleCheck> {
        let head = request.into();
        let fields = CorsFields::of(&head);
        let origin = fields.single_origin().map(HeaderValue::as_bytes);
        let method = fields.matched_method();
        self.configuration()
            .rules()
            .iter()
            .map(RulePatterns::new)
            .enumerate()
            .map(|(index, rule)| {
                let config = self.rule(index);
                // The compiled patterns are in the order of the rule's AllowedOrigin values.
                let matched = origin.and_then(|o| rule.origins.iter().position(|p| p.matches(o)));
                RuleCheck {
                    index,
                    id: config.and_then(|r| r.id()).map(str::to_owned),
                    origin: matched.is_some(),
                    allowed_origin: matched.and_then(|at| config?.allowed_origins().get(at)).cloned(),
                    method: method.is_some_and(|m| rule.allows(m)),
                    rejected_header: requested_headers(head.headers)
                        .find(|name| !rule.headers.iter().any(|p| p.matches_ignore_case(name)))
                        .map(|name| String::from_utf8_lossy(name).into_owned()),
                }
            })
            .collect()
    }
}
