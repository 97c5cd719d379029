//! The configuration model: S3's `CORSConfiguration`, an ordered list of `CORSRule`s.
//!
//! The constructors live with what they read: [`CorsConfiguration::new`] and serde in
//! `validate`, `from_xml`/`to_xml` in `xml`, `from_json`/`to_json` in `json`.

use serde::{Deserialize, Serialize};

/// Largest configuration document S3 accepts, in bytes.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Most rules a configuration may hold.
pub(crate) const MAX_RULES: usize = 100;

/// One `CORSRule`: which origins may use which methods and request headers, and what the
/// browser may read and cache.
///
/// Values are kept verbatim (S3 returns them exactly as written). A rule on its own is not
/// validated; [`CorsConfiguration::new`] and the parsers validate every rule.
///
/// ```
/// use tower_s3_cors::CorsRule;
///
/// let rule = CorsRule::builder()
///     .id("uploads")
///     .allowed_origin("https://app.example.com")
///     .allowed_methods(["PUT", "POST"])
///     .allowed_header("x-amz-*")
///     .expose_header("ETag")
///     .max_age_seconds(3000)
///     .build();
/// assert_eq!(rule.allowed_methods(), ["PUT", "POST"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(rename = "AllowedHeaders", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_headers: Vec<String>,
    #[serde(rename = "AllowedMethods", default)]
    pub(crate) allowed_methods: Vec<String>,
    #[serde(rename = "AllowedOrigins", default)]
    pub(crate) allowed_origins: Vec<String>,
    #[serde(rename = "ExposeHeaders", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) expose_headers: Vec<String>,
    #[serde(rename = "MaxAgeSeconds", default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age_seconds: Option<i32>,
}

impl CorsRule {
    /// Starts a rule written in code; add at least one method and one origin.
    pub fn builder() -> CorsRuleBuilder {
        CorsRuleBuilder::default()
    }

    /// The rule's `ID`, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// `AllowedMethod` values, in configuration order.
    pub fn allowed_methods(&self) -> &[String] {
        &self.allowed_methods
    }

    /// `AllowedOrigin` values, in configuration order.
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// `AllowedHeader` values, in configuration order.
    pub fn allowed_headers(&self) -> &[String] {
        &self.allowed_headers
    }

    /// `ExposeHeader` values, in configuration order.
    pub fn expose_headers(&self) -> &[String] {
        &self.expose_headers
    }

    /// `MaxAgeSeconds`, if set.
    pub fn max_age_seconds(&self) -> Option<i32> {
        self.max_age_seconds
    }
}

/// Builds a [`CorsRule`] in code. See [`CorsRule::builder`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CorsRuleBuilder {
    rule: CorsRule,
}

impl CorsRuleBuilder {
    /// Sets the rule's `ID` (free text, at most 255 characters).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.rule.id = Some(id.into());
        self
    }

    /// Adds an `AllowedMethod`: one of `GET`, `PUT`, `HEAD`, `POST`, `DELETE` (case-sensitive),
    /// as text or as an [`S3Method`](crate::S3Method), which cannot be misspelt.
    ///
    /// ```
    /// use tower_s3_cors::{CorsRule, S3Method};
    ///
    /// let rule = CorsRule::builder().allowed_origin("*").allowed_method(S3Method::Put).build();
    /// assert_eq!(rule.allowed_methods(), ["PUT"]);
    /// ```
    pub fn allowed_method(mut self, method: impl Into<String>) -> Self {
        self.rule.allowed_methods.push(method.into());
        self
    }

    /// Adds several `AllowedMethod`s.
    pub fn allowed_methods<I, T>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.rule
            .allowed_methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// Adds an `AllowedOrigin` pattern: `*` for any origin, or a value with at most one `*`
    /// (`https://*.example.com`), compared byte for byte.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.rule.allowed_origins.push(origin.into());
        self
    }

    /// Adds several `AllowedOrigin` patterns.
    pub fn allowed_origins<I, T>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.rule
            .allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds an `AllowedHeader` pattern (at most one `*`, case-insensitive).
    pub fn allowed_header(mut self, header: impl Into<String>) -> Self {
        self.rule.allowed_headers.push(header.into());
        self
    }

    /// Adds several `AllowedHeader` patterns.
    pub fn allowed_headers<I, T>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.rule
            .allowed_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Adds an `ExposeHeader` (a literal header name; no `*`).
    pub fn expose_header(mut self, header: impl Into<String>) -> Self {
        self.rule.expose_headers.push(header.into());
        self
    }

    /// Adds several `ExposeHeader`s.
    pub fn expose_headers<I, T>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.rule
            .expose_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Sets `MaxAgeSeconds`, sent as `Access-Control-Max-Age`.
    pub fn max_age_seconds(mut self, seconds: i32) -> Self {
        self.rule.max_age_seconds = Some(seconds);
        self
    }

    /// The rule (validated later, by [`CorsConfiguration::new`]).
    pub fn build(self) -> CorsRule {
        self.rule
    }
}

impl From<CorsRuleBuilder> for CorsRule {
    fn from(builder: CorsRuleBuilder) -> Self {
        builder.rule
    }
}

/// A validated S3 `CORSConfiguration`: 1 to 100 [`CorsRule`]s, in order (the first rule that
/// matches a request wins).
///
/// Every way of making one validates it with S3's rules, so a `CorsConfiguration` value is
/// always one S3 would have accepted.
///
/// ```
/// use tower_s3_cors::{CorsConfiguration, CorsRule};
///
/// let from_code = CorsConfiguration::new([CorsRule::builder()
///     .allowed_origin("https://app.example.com")
///     .allowed_methods(["GET", "PUT"])
///     .build()])?;
///
/// let from_xml = CorsConfiguration::from_xml(
///     "<CORSConfiguration><CORSRule>\
///        <AllowedOrigin>https://app.example.com</AllowedOrigin>\
///        <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
///      </CORSRule></CORSConfiguration>",
/// )?;
/// assert_eq!(from_code, from_xml);
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CorsConfiguration {
    #[serde(rename = "CORSRules")]
    rules: Vec<CorsRule>,
}

impl CorsConfiguration {
    /// The largest configuration S3 accepts, in bytes (64 KiB): a document read from XML or
    /// JSON, and the S3 XML form of any configuration (what [`to_xml`](Self::to_xml) writes),
    /// must fit. Larger ones are refused with `MaxMessageLengthExceeded`.
    pub const MAX_DOCUMENT_BYTES: usize = MAX_DOCUMENT_BYTES;

    /// The most rules a configuration may hold (100).
    pub const MAX_RULES: usize = MAX_RULES;

    /// The rules, in order.
    pub fn rules(&self) -> &[CorsRule] {
        &self.rules
    }

    /// Wraps rules that were validated already (the constructors, in `validate`, `xml` and
    /// `json`, validate first).
    pub(crate) fn from_validated(rules: Vec<CorsRule>) -> Self {
        CorsConfiguration { rules }
    }
}
