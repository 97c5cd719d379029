//! Lints: configurations S3 accepts that probably do not do what their author meant.
//!
//! "Why does my S3 CORS not work?" usually has one of a few answers: an origin written with a
//! trailing slash, a path, capital letters or an explicit default port (a browser's `Origin`
//! has none of these, and S3 compares bytes), a rule hidden behind an earlier one, or an
//! upload rule that does not expose `ETag`. [`CorsConfiguration::lint`] finds them offline.
//!
//! Worse are the configurations that work too well: an `AllowedOrigin` such as
//! `https://*example.com` or `https://app.example.com*` also matches sites of other people
//! (`https://evilexample.com`, `https://app.example.com.attacker.net`), and S3 answers them with
//! the origin echoed and `Access-Control-Allow-Credentials: true`. Those are
//! [`Severity::Security`] findings, each with a witness origin that gets in, listed first.
//!
//! Always compiled (it needs no dependency): a server can warn when it accepts a
//! configuration, and an application's tests can assert that its rules are clean. The
//! `public-suffix-list` feature (on with `cli`) adds the Public Suffix List, so that
//! `https://*.co.uk` and `https://*.github.io` are recognised too, not only `https://*.com`.

mod origin;
mod shadow;
mod suffix;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::config::{CorsConfiguration, CorsRule};
use crate::matcher::RulePatterns;

/// The longest preflight cache Chromium honours, in seconds: a longer `Access-Control-Max-Age`
/// is cut to 2 hours (`kMaxTimeout = base::Hours(2)` in Chromium's
/// `services/network/cors/preflight_result.cc`).
pub const CHROMIUM_MAX_AGE_SECONDS: i32 = 7200;

/// The longest preflight cache Firefox honours, in seconds: 24 hours (`AddResultToCache` in
/// Gecko's `netwerk/protocol/http/nsCORSListenerProxy.cpp` caps the parsed value at 86400).
pub const FIREFOX_MAX_AGE_SECONDS: i32 = 86_400;

/// The longest preflight cache WebKit (Safari, every browser on iOS) honours, in seconds: 10
/// minutes (`maxPreflightCacheTimeout = 600_s` in WebKit's
/// `Source/WebCore/loader/CrossOriginPreflightResultCache.cpp`). The smallest of the three
/// engines' caps, so the one `max-age-capped` starts at.
pub const WEBKIT_MAX_AGE_SECONDS: i32 = 600;

/// Each engine's cap, smallest first: `max-age-capped` names the engines that cut a
/// `MaxAgeSeconds` and those that honour it.
const ENGINE_MAX_AGE_SECONDS: [(&str, i32); 3] = [
    ("WebKit (Safari)", WEBKIT_MAX_AGE_SECONDS),
    ("Chromium", CHROMIUM_MAX_AGE_SECONDS),
    ("Firefox", FIREFOX_MAX_AGE_SECONDS),
];

/// The `max-age-capped` message for a `MaxAgeSeconds` above the smallest cap, e.g. "WebKit
/// (Safari) caches a preflight for at most 600 s, so MaxAgeSeconds 3000 is cut to 600 s there;
/// Chromium (up to 7200 s) and Firefox (up to 86400 s) honour it".
fn max_age_capped_message(seconds: i32) -> String {
    let (cut, honoured): (Vec<_>, Vec<_>) =
        ENGINE_MAX_AGE_SECONDS.iter().partition(|(_, cap)| seconds > *cap);
    let caps: Vec<String> = cut
        .iter()
        .enumerate()
        .map(|(i, (engine, cap))| {
            if i == 0 {
                format!("{engine} caches a preflight for at most {cap} s")
            } else {
                format!("{engine} for at most {cap} s")
            }
        })
        .collect();
    let mut message = match (caps.as_slice(), cut.as_slice()) {
        ([only], [(_, cap)]) => format!("{only}, so MaxAgeSeconds {seconds} is cut to {cap} s there"),
        ([first @ .., last], _) => format!(
            "{} and {last}, so MaxAgeSeconds {seconds} is cut there",
            first.join(", ")
        ),
        ([], _) => format!("MaxAgeSeconds {seconds} is honoured everywhere"),
    };
    let honoured: Vec<String> = honoured
        .iter()
        .map(|(engine, cap)| format!("{engine} (up to {cap} s)"))
        .collect();
    match honoured.as_slice() {
        [] => {}
        [one] => message.push_str(&format!("; {one} honours it")),
        many => message.push_str(&format!("; {} honour it", many.join(" and "))),
    }
    message
}

/// How bad a [`LintWarning`] is. Security findings come first (`Security < Warning`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Severity {
    /// Other sites get in: S3 answers origins the author did not mean, with credentials.
    Security,
    /// The configuration does not do what its author meant (a rule that never applies, an
    /// origin that never matches, a header a browser cannot read).
    Warning,
}

impl Severity {
    /// `security` or `warning`, as on the command line and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Security => "security",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`LintWarning`] is about. Each code is stable; [`as_str`](Self::as_str) gives its
/// kebab-case name, used on the command line and in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LintCode {
    /// Security: an `AllowedOrigin` whose `*` stands for the whole host (`https://*`, `http*`,
    /// `https://*:8443`) in a rule answered with credentials: every site gets in, as if the
    /// `Origin` were reflected.
    OriginWildcardAnyHost,
    /// Security: an `AllowedOrigin` `*.` followed by a public suffix (`https://*.com`,
    /// `https://*.co.uk`, `https://*.github.io`): anyone can register a site under it.
    OriginWildcardPublicSuffix,
    /// Security: an `AllowedOrigin` whose `*` can reach out of the host's own domain: after
    /// the host (`https://app.example.com*` matches `https://app.example.com.attacker.net`) or
    /// before a name without a dot (`https://*example.com` matches `https://evilexample.com`).
    OriginWildcardCrossesHost,
    /// Security: a plain `http://` origin other than loopback (`localhost`, `127.0.0.1`,
    /// `[::1]`), or a `*` standing for the scheme, in a rule answered with credentials: anyone on
    /// the network path can inject a page there.
    OriginInsecureHttp,
    /// Security: `null` in a rule answered with credentials: sandboxed iframes, `data:`
    /// documents and local files send it, so any site can.
    OriginNull,
    /// An `AllowedOrigin` with whitespace or a comma in it: a browser's `Origin` has neither,
    /// and several origins in one value are one (unmatchable) origin to S3.
    OriginWhitespace,
    /// An `AllowedOrigin` without `scheme://` (`example.com`, `localhost:3000`): browsers
    /// always send the scheme.
    OriginNoScheme,
    /// An `AllowedOrigin` ending in `/`: an origin has no path, not even `/`.
    OriginTrailingSlash,
    /// An `AllowedOrigin` with a path, query or fragment after the host and port.
    OriginPath,
    /// An `AllowedOrigin` with capital letters in its scheme or host: browsers send them
    /// lowercase, and S3 compares bytes.
    OriginUppercase,
    /// An `AllowedOrigin` with the scheme's default port (`https://…:443`, `http://…:80`):
    /// browsers leave it out.
    OriginDefaultPort,
    /// A rule lists `*` and other origins: `*` already allows every origin, and makes the
    /// answer `Access-Control-Allow-Origin: *` (no credentials) for all of them.
    OriginRedundantWithWildcard,
    /// Every request the rule matches is matched by an earlier rule (or several together):
    /// the first match wins, so this rule never applies.
    RuleShadowed,
    /// No request can match the rule at all: none of its origins can be a request's `Origin`.
    RuleUnmatchable,
    /// The rule's `ID` is also an earlier rule's.
    DuplicateId,
    /// `MaxAgeSeconds` above a browser engine's preflight-cache cap: above 600 (WebKit, so
    /// Safari); the message names every engine that cuts it (Chromium above 7200, Firefox above
    /// 86400).
    MaxAgeCapped,
    /// A negative `MaxAgeSeconds`: browsers ignore the header.
    MaxAgeNegative,
    /// The rule allows `PUT` or `POST` but does not expose `ETag`, which a browser needs to
    /// read to finish a multipart upload.
    ExposeEtagMissing,
}

impl LintCode {
    /// Every code.
    pub const ALL: [LintCode; 18] = [
        LintCode::OriginWildcardAnyHost,
        LintCode::OriginWildcardPublicSuffix,
        LintCode::OriginWildcardCrossesHost,
        LintCode::OriginInsecureHttp,
        LintCode::OriginNull,
        LintCode::OriginWhitespace,
        LintCode::OriginNoScheme,
        LintCode::OriginTrailingSlash,
        LintCode::OriginPath,
        LintCode::OriginUppercase,
        LintCode::OriginDefaultPort,
        LintCode::OriginRedundantWithWildcard,
        LintCode::RuleShadowed,
        LintCode::RuleUnmatchable,
        LintCode::DuplicateId,
        LintCode::MaxAgeCapped,
        LintCode::MaxAgeNegative,
        LintCode::ExposeEtagMissing,
    ];

    /// The stable kebab-case name, e.g. `origin-trailing-slash`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LintCode::OriginWildcardAnyHost => "origin-wildcard-any-host",
            LintCode::OriginWildcardPublicSuffix => "origin-wildcard-public-suffix",
            LintCode::OriginWildcardCrossesHost => "origin-wildcard-crosses-host",
            LintCode::OriginInsecureHttp => "origin-insecure-http",
            LintCode::OriginNull => "origin-null",
            LintCode::OriginWhitespace => "origin-whitespace",
            LintCode::OriginNoScheme => "origin-no-scheme",
            LintCode::OriginTrailingSlash => "origin-trailing-slash",
            LintCode::OriginPath => "origin-path",
            LintCode::OriginUppercase => "origin-uppercase",
            LintCode::OriginDefaultPort => "origin-default-port",
            LintCode::OriginRedundantWithWildcard => "origin-redundant-with-wildcard",
            LintCode::RuleShadowed => "rule-shadowed",
            LintCode::RuleUnmatchable => "rule-unmatchable",
            LintCode::DuplicateId => "duplicate-id",
            LintCode::MaxAgeCapped => "max-age-capped",
            LintCode::MaxAgeNegative => "max-age-negative",
            LintCode::ExposeEtagMissing => "expose-etag-missing",
        }
    }

    /// How bad findings of this code are.
    pub const fn severity(self) -> Severity {
        match self {
            LintCode::OriginWildcardAnyHost
            | LintCode::OriginWildcardPublicSuffix
            | LintCode::OriginWildcardCrossesHost
            | LintCode::OriginInsecureHttp
            | LintCode::OriginNull => Severity::Security,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for LintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding of [`CorsConfiguration::lint`]: which rule, what is wrong, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    code: LintCode,
    severity: Severity,
    rule_index: usize,
    rule_id: Option<String>,
    field: Option<&'static str>,
    value: Option<String>,
    message: String,
    fix: String,
    related_rules: Vec<usize>,
    witness: Option<String>,
}

impl LintWarning {
    /// What kind of problem.
    pub fn code(&self) -> LintCode {
        self.code
    }

    /// How bad it is: [`Severity::Security`] when other sites get in.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// For a security finding, an origin a browser can send that the rule lets in (with
    /// credentials) although its author did not mean it, e.g. `https://evilexample.com` for
    /// `https://*example.com`. A request from it, with one of the rule's methods, reaches this
    /// rule: no earlier rule answers it first.
    pub fn witness(&self) -> Option<&str> {
        self.witness.as_deref()
    }

    /// The 0-based index of the rule.
    pub fn rule_index(&self) -> usize {
        self.rule_index
    }

    /// The rule's `ID`, if it has one.
    pub fn rule_id(&self) -> Option<&str> {
        self.rule_id.as_deref()
    }

    /// The field in S3's XML spelling (`AllowedOrigin`, `MaxAgeSeconds`, ...), when the
    /// problem is in one field.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// The offending value, when the problem is in one value.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong, in one sentence.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it, in one line.
    pub fn fix(&self) -> &str {
        &self.fix
    }

    /// Other rules involved: for [`LintCode::RuleShadowed`] the earlier rules that match
    /// first, for [`LintCode::DuplicateId`] the earlier rule with the same ID.
    pub fn related_rules(&self) -> &[usize] {
        &self.related_rules
    }
}

impl fmt::Display for LintWarning {
    /// `rule 0 (ID "x"): origin-trailing-slash: <message>; fix: <fix>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}", self.rule_index)?;
        if let Some(id) = &self.rule_id {
            write!(f, " (ID {id:?})")?;
        }
        write!(f, ": {}: {}; fix: {}", self.code, self.message, self.fix)
    }
}

impl CorsConfiguration {
    /// Finds what is probably wrong in this (valid) configuration: origins that let other
    /// sites in (security findings, listed first), origins a browser never sends, rules that
    /// can never apply, ID clashes, preflight cache times browsers will not honour, and upload
    /// rules that hide `ETag`. Within a severity, warnings come in rule order.
    ///
    /// Security findings concern rules S3 answers with the origin echoed and
    /// `Access-Control-Allow-Credentials: true` (rules that do not list `*`). Each carries a
    /// [`witness`](LintWarning::witness): an origin a browser can send that the rule lets in
    /// and that reaches it (no earlier rule answers first). `https://*.example.com` and
    /// `http://localhost:3000` are quiet.
    ///
    /// `rule-shadowed` is exact: a rule is reported iff no request (origin, method and set of
    /// requested headers) reaches it first, taking into account that several earlier rules can
    /// together cover it.
    ///
    /// ```
    /// use tower_s3_cors::lint::{LintCode, Severity};
    /// use tower_s3_cors::CorsConfiguration;
    ///
    /// let config = CorsConfiguration::from_json(
    ///     r#"[{"AllowedOrigins": ["https://app.example.com/"], "AllowedMethods": ["GET"]},
    ///         {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ///         {"AllowedOrigins": ["https://admin.example.com"], "AllowedMethods": ["GET"]},
    ///         {"AllowedOrigins": ["https://*example.com"], "AllowedMethods": ["HEAD"]}]"#,
    /// )?;
    /// let warnings = config.lint();
    /// let codes: Vec<(usize, LintCode)> = warnings.iter().map(|w| (w.rule_index(), w.code())).collect();
    /// assert_eq!(
    ///     codes,
    ///     [
    ///         (3, LintCode::OriginWildcardCrossesHost),
    ///         (0, LintCode::OriginTrailingSlash),
    ///         (2, LintCode::RuleShadowed),
    ///     ]
    /// );
    /// assert_eq!(warnings[0].severity(), Severity::Security);
    /// assert_eq!(warnings[0].witness(), Some("https://evilexample.com"));
    /// # Ok::<(), tower_s3_cors::ConfigError>(())
    /// ```
    pub fn lint(&self) -> Vec<LintWarning> {
        let rules = self.rules();
        let languages: Vec<RulePatterns> = rules.iter().map(RulePatterns::new).collect();
        let mut warnings = self.security_findings(&languages);
        let mut first_with_id: HashMap<&str, usize> = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let warning = |code: LintCode, message: String, fix: String| {
                LintWarning::new(code, index, rule, message, fix)
            };
            for origin in rule.allowed_origins() {
                if let Some((code, message, fix)) = check_origin(origin) {
                    warnings.push(warning(code, message, fix).at("AllowedOrigin", origin));
                }
            }
            if rule.allowed_origins().iter().any(|o| o == "*") {
                for origin in rule.allowed_origins().iter().filter(|o| *o != "*") {
                    let message = format!(
                        "the rule also lists \"*\", which allows every origin and makes the answer \
                         Access-Control-Allow-Origin: * (without credentials), so {origin:?} changes nothing"
                    );
                    let fix = "remove it, or move it to a rule of its own before this one if that origin \
                               needs credentials";
                    warnings.push(
                        warning(LintCode::OriginRedundantWithWildcard, message, fix.to_owned())
                            .at("AllowedOrigin", origin),
                    );
                }
            }
            match shadow::reach(&languages, index) {
                shadow::Reach::Reachable(_) => {}
                shadow::Reach::Shadowed(by) => {
                    let earlier = rule_list(&by);
                    let message = format!(
                        "{earlier} {} every request this rule matches (origin, method and requested headers); \
                         the first matching rule wins, so this rule never applies",
                        if by.len() == 1 { "matches" } else { "together match" }
                    );
                    let fix = format!("remove this rule, or move it before {earlier}");
                    let mut shadowed = warning(LintCode::RuleShadowed, message, fix);
                    shadowed.related_rules = by;
                    warnings.push(shadowed);
                }
                shadow::Reach::Unmatchable => {
                    let message = "no request can match this rule: none of its AllowedOrigin values \
                                   can be a request's Origin (empty, or with bytes a header cannot carry)";
                    let fix = "write each AllowedOrigin as a browser sends it, e.g. https://app.example.com";
                    warnings.push(warning(
                        LintCode::RuleUnmatchable,
                        message.to_owned(),
                        fix.to_owned(),
                    ));
                }
            }
            if let Some(id) = rule.id() {
                match first_with_id.get(id) {
                    Some(&earlier) => {
                        let message = format!("rule {earlier} has the same ID {id:?}");
                        let mut duplicate = warning(
                            LintCode::DuplicateId,
                            message,
                            "give each rule its own ID".to_owned(),
                        )
                        .at("ID", id);
                        duplicate.related_rules = vec![earlier];
                        warnings.push(duplicate);
                    }
                    None => {
                        first_with_id.insert(id, index);
                    }
                }
            }
            if let Some(seconds) = rule.max_age_seconds() {
                if seconds > WEBKIT_MAX_AGE_SECONDS {
                    let message = max_age_capped_message(seconds);
                    let fix = format!(
                        "set MaxAgeSeconds to {WEBKIT_MAX_AGE_SECONDS} or less for the same cache in every browser"
                    );
                    warnings.push(
                        warning(LintCode::MaxAgeCapped, message, fix)
                            .at("MaxAgeSeconds", &seconds.to_string()),
                    );
                } else if seconds < 0 {
                    let message = format!(
                        "Access-Control-Max-Age: {seconds} is invalid; browsers ignore it and cache the \
                         preflight for their default (5 s)"
                    );
                    let fix = "use 0 to disable preflight caching, or a positive number of seconds";
                    warnings.push(
                        warning(LintCode::MaxAgeNegative, message, fix.to_owned())
                            .at("MaxAgeSeconds", &seconds.to_string()),
                    );
                }
            }
            let uploads = rule.allowed_methods().iter().any(|m| m == "PUT" || m == "POST");
            let exposes_etag = rule
                .expose_headers()
                .iter()
                .any(|h| h.eq_ignore_ascii_case("etag"));
            if uploads && !exposes_etag {
                let message = "the rule allows PUT or POST but does not expose ETag, so a browser \
                               cannot read it (a multipart upload needs each part's ETag to complete)";
                let fix = "add <ExposeHeader>ETag</ExposeHeader> (\"ExposeHeaders\": [\"ETag\"] in JSON)";
                let mut missing = warning(LintCode::ExposeEtagMissing, message.to_owned(), fix.to_owned());
                missing.field = Some("ExposeHeader");
                warnings.push(missing);
            }
        }
        warnings
    }

    /// The security findings alone, in rule order: cheap enough to run whenever rules are
    /// compiled (linear in the number of origins, times the earlier rules for the witness).
    fn security_findings(&self, languages: &[RulePatterns]) -> Vec<LintWarning> {
        let mut findings = Vec::new();
        for (index, rule) in self.rules().iter().enumerate() {
            // A rule listing `*` answers `Access-Control-Allow-Origin: *`, without credentials.
            if rule.allowed_origins().iter().any(|o| o == "*") {
                continue;
            }
            for origin in rule.allowed_origins() {
                let Some(found) = origin::exposure(origin) else {
                    continue;
                };
                // Only if a request from the witness reaches this rule (no earlier rule first).
                if shadow::reaching_request(languages, index, found.witness.as_bytes()).is_none() {
                    continue;
                }
                let mut finding = LintWarning::new(found.code, index, rule, found.message, found.fix)
                    .at("AllowedOrigin", origin);
                finding.witness = Some(found.witness);
                findings.push(finding);
            }
        }
        findings
    }
}

/// Logs each security finding of a configuration about to be used (feature `tracing`), as
/// a `warn` event with target `tower_s3_cors`: a configuration loaded at run time
/// (PutBucketCors, a reload) is not silent either. Called once per compiled configuration.
#[cfg(feature = "tracing")]
pub(crate) fn log_security_findings(config: &CorsConfiguration) {
    if !tracing::enabled!(target: "tower_s3_cors", tracing::Level::WARN) {
        return;
    }
    let languages: Vec<RulePatterns> = config.rules().iter().map(RulePatterns::new).collect();
    for finding in config.security_findings(&languages) {
        tracing::warn!(
            target: "tower_s3_cors",
            code = finding.code.as_str(),
            rule_index = finding.rule_index,
            rule_id = finding.rule_id.as_deref(),
            allowed_origin = finding.value.as_deref(),
            witness = finding.witness.as_deref(),
            fix = finding.fix.as_str(),
            "CORS configuration lets other sites in: {}",
            finding.message
        );
    }
}

impl LintWarning {
    fn new(code: LintCode, index: usize, rule: &CorsRule, message: String, fix: String) -> Self {
        LintWarning {
            code,
            severity: code.severity(),
            rule_index: index,
            rule_id: rule.id().map(str::to_owned),
            field: None,
            value: None,
            message,
            fix,
            related_rules: Vec::new(),
            witness: None,
        }
    }

    fn at(mut self, field: &'static str, value: &str) -> Self {
        self.field = Some(field);
        self.value = Some(value.to_owned());
        self
    }
}

/// `rule 3`, `rules 0 and 2`, `rules 0, 1 and 4`.
fn rule_list(rules: &[usize]) -> String {
    match rules {
        [] => "no rule".to_owned(),
        [one] => format!("rule {one}"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(usize::to_string).collect();
            format!("rules {} and {last}", init.join(", "))
        }
    }
}

/// The first problem with one `AllowedOrigin` value: its code, what is wrong, the fix.
fn check_origin(origin: &str) -> Option<(LintCode, String, String)> {
    // `*` matches everything; `null` is what sandboxed documents and `file:` pages send.
    if origin == "*" || origin == "null" {
        return None;
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    if origin.contains(is_space) || origin.contains(',') {
        let trimmed = origin.trim_matches(is_space);
        return Some(
            if !trimmed.contains(is_space) && !trimmed.contains(',') && !trimmed.is_empty() {
                (
                LintCode::OriginWhitespace,
                format!("{origin:?} has whitespace around it, which a browser's Origin never has, so it never matches"),
                format!("write {trimmed:?}"),
            )
            } else {
                (
                    LintCode::OriginWhitespace,
                    format!(
                    "{origin:?} contains whitespace or a comma: S3 takes it as one origin, which a browser \
                     never sends"
                ),
                    "write one AllowedOrigin per origin".to_owned(),
                )
            },
        );
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        // A leading `*` can stand for the scheme: `*.example.com` matches `https://a.example.com`.
        let before_star = origin.split('*').next().unwrap_or_default();
        let star_covers_scheme = origin.contains('*')
            && ("https://".starts_with(before_star) || "http://".starts_with(before_star));
        if star_covers_scheme {
            return check_uppercase(origin, origin.find(['/', '?', '#']).unwrap_or(origin.len()));
        }
        let scheme = if origin.starts_with("localhost") || origin.starts_with("127.") {
            "http"
        } else {
            "https"
        };
        return Some((
            LintCode::OriginNoScheme,
            format!(
                "{origin:?} has no scheme; browsers send Origin as scheme://host[:port], so it never matches"
            ),
            format!("write \"{scheme}://{origin}\""),
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let origin_part = format!("{scheme}://{authority}");
    if path == "/" {
        return Some((
            LintCode::OriginTrailingSlash,
            format!("{origin:?} ends with \"/\"; a browser's Origin has no path, so it never matches"),
            format!("write {origin_part:?}"),
        ));
    }
    if !path.is_empty() {
        return Some((
            LintCode::OriginPath,
            format!(
                "{origin:?} has {path:?} after the host; a browser's Origin is only scheme://host[:port], so \
                 it never matches"
            ),
            format!("write {origin_part:?}"),
        ));
    }
    if let Some(found) = check_uppercase(origin, origin.len()) {
        return Some(found);
    }
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    if let Some(host) = authority.strip_suffix(default_port) {
        return Some((
            LintCode::OriginDefaultPort,
            format!(
                "{origin:?} names {scheme}'s default port, which browsers leave out of Origin, so it never \
                 matches"
            ),
            format!("write \"{scheme}://{host}\""),
        ));
    }
    None
}

/// `origin-uppercase` on the scheme and host, `origin[..end]`.
fn check_uppercase(origin: &str, end: usize) -> Option<(LintCode, String, String)> {
    let (head, tail) = origin.split_at(end.min(origin.len()));
    head.contains(|c: char| c.is_ascii_uppercase()).then(|| {
        (
            LintCode::OriginUppercase,
            format!(
                "{origin:?} has capital letters; browsers send the scheme and host in lowercase and S3 \
                 compares bytes, so it never matches"
            ),
            format!("write \"{}{tail}\"", head.to_ascii_lowercase()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_for_origin(origin: &str) -> Option<LintCode> {
        check_origin(origin).map(|(code, _, _)| code)
    }

    #[test]
    fn origin_checks() {
        for (origin, expected) in [
            ("https://app.example.com", None),
            ("*", None),
            ("null", None),
            ("http://localhost:8080", None),
            ("https://*.example.com", None),
            ("*.example.com", None),
            ("https://app.example.com/", Some(LintCode::OriginTrailingSlash)),
            ("https://app.example.com/app", Some(LintCode::OriginPath)),
            ("https://app.example.com/*", Some(LintCode::OriginPath)),
            ("https://app.example.com?x", Some(LintCode::OriginPath)),
            ("https://App.example.com", Some(LintCode::OriginUppercase)),
            ("HTTPS://app.example.com", Some(LintCode::OriginUppercase)),
            ("*.Example.com", Some(LintCode::OriginUppercase)),
            ("https://app.example.com:443", Some(LintCode::OriginDefaultPort)),
            ("http://app.example.com:80", Some(LintCode::OriginDefaultPort)),
            ("https://app.example.com:8443", None),
            ("http://app.example.com:443", None),
            ("example.com", Some(LintCode::OriginNoScheme)),
            ("localhost:3000", Some(LintCode::OriginNoScheme)),
            ("", Some(LintCode::OriginNoScheme)),
            (" https://app.example.com", Some(LintCode::OriginWhitespace)),
            (
                "https://a.example, https://b.example",
                Some(LintCode::OriginWhitespace),
            ),
        ] {
            assert_eq!(codes_for_origin(origin), expected, "{origin:?}");
        }
    }

    #[test]
    fn fixes_are_the_corrected_value() {
        let fix = |origin: &str| check_origin(origin).map(|(_, _, fix)| fix);
        assert_eq!(
            fix("https://a.example/").as_deref(),
            Some("write \"https://a.example\"")
        );
        assert_eq!(
            fix("https://A.example").as_deref(),
            Some("write \"https://a.example\"")
        );
        assert_eq!(
            fix("https://a.example:443").as_deref(),
            Some("write \"https://a.example\"")
        );
        assert_eq!(
            fix("localhost:3000").as_deref(),
            Some("write \"http://localhost:3000\"")
        );
        assert_eq!(
            fix(" https://a.example\n").as_deref(),
            Some("write \"https://a.example\"")
        );
    }

    #[test]
    fn rule_lists_read_well() {
        assert_eq!(rule_list(&[2]), "rule 2");
        assert_eq!(rule_list(&[0, 2]), "rules 0 and 2");
        assert_eq!(rule_list(&[0, 1, 4]), "rules 0, 1 and 4");
    }
}
