//! Validation with S3's errors (PutBucketCors answers HTTP 400).
//!
//! Order, first problem wins: the schema checks of every rule in order (`MalformedXML`), then
//! the number of rules, then the value checks of every rule in order (`InvalidRequest`):
//! methods, origins, allowed headers, expose headers.

use serde::{Deserialize, Deserializer};

use crate::config::{CorsConfiguration, CorsRule, MAX_DOCUMENT_BYTES, MAX_RULES};
use crate::error::{ConfigError, ErrorCode, TOO_MANY_RULES};
use crate::xml_escape::{escaped_len, is_xml_char};

/// The five methods S3 accepts in `AllowedMethod`, case-sensitive.
pub(crate) const S3_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Longest `ID`, in characters.
pub(crate) const MAX_ID_CHARS: usize = 255;

impl CorsConfiguration {
    /// Validates `rules` as S3's PutBucketCors would.
    pub fn new<I>(rules: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<CorsRule>,
    {
        configuration(rules.into_iter().map(Into::into).collect())
    }
}

/// Where every constructor ends (code, serde, XML, JSON): S3's checks, then the one size
/// rule, that the configuration's S3 XML form (what `to_xml` writes and PutBucketCors sends)
/// fits in 64 KiB. A document read from XML or JSON must also fit before it is parsed.
pub(crate) fn configuration(rules: Vec<CorsRule>) -> Result<CorsConfiguration, ConfigError> {
    validate(&rules)?;
    check_xml_size(&rules)?;
    Ok(CorsConfiguration::from_validated(rules))
}

/// What serde reads before validation: the AWS CLI form or the console's bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawConfiguration {
    Wrapped(MapOnly<WrappedRules>),
    Bare(Vec<CorsRule>),
}

/// `T` read from a map only. A derived struct also reads a sequence of its fields in order,
/// which is none of S3's forms: `[[rule, ...]]` would read as `{"CORSRules": [rule, ...]}`,
/// a document `from_json` refuses.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for MapVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(MapVisitor(std::marker::PhantomData))
            .map(MapOnly)
    }
}

/// The AWS CLI form; like any unknown element, an unknown member is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrappedRules {
    #[serde(rename = "CORSRules")]
    rules: Vec<CorsRule>,
}

/// Any serde format: the AWS CLI form or the console's bare array, validated as
/// [`CorsConfiguration::new`] does (an invalid configuration is a deserialization error
/// carrying the [`ConfigError`]'s text).
impl<'de> Deserialize<'de> for CorsConfiguration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match RawConfiguration::deserialize(deserializer)? {
            RawConfiguration::Wrapped(MapOnly(WrappedRules { rules })) | RawConfiguration::Bare(rules) => {
                CorsConfiguration::new(rules).map_err(serde::de::Error::custom)
            }
        }
    }
}

pub(crate) fn validate(rules: &[CorsRule]) -> Result<(), ConfigError> {
    if rules.is_empty() {
        return Err(ConfigError::malformed("the configuration has no CORSRule"));
    }
    for (index, rule) in rules.iter().enumerate() {
        check_schema(rule).map_err(|e| e.with_rule(index, rule.id()))?;
    }
    if rules.len() > MAX_RULES {
        return Err(ConfigError::new(
            ErrorCode::InvalidRequest,
            TOO_MANY_RULES,
            format!(
                "the configuration has {} rules; at most {MAX_RULES} are allowed",
                rules.len()
            ),
        ));
    }
    for (index, rule) in rules.iter().enumerate() {
        check_values(rule).map_err(|e| e.with_rule(index, rule.id()))?;
    }
    Ok(())
}

/// What S3's schema requires: at least one method and one origin, a short ID, and text that
/// an XML document can carry.
fn check_schema(rule: &CorsRule) -> Result<(), ConfigError> {
    if rule.allowed_methods.is_empty() {
        return Err(
            ConfigError::malformed("a CORSRule needs at least one AllowedMethod")
                .with_field("AllowedMethod", None),
        );
    }
    if rule.allowed_origins.is_empty() {
        return Err(
            ConfigError::malformed("a CORSRule needs at least one AllowedOrigin")
                .with_field("AllowedOrigin", None),
        );
    }
    if let Some(id) = &rule.id {
        let chars = id.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(ConfigError::malformed(format!(
                "the ID has {chars} characters; at most {MAX_ID_CHARS} are allowed"
            ))
            .with_field("ID", Some(id)));
        }
        check_xml_text("ID", id)?;
    }
    for (field, values) in [
        ("AllowedMethod", &rule.allowed_methods),
        ("AllowedOrigin", &rule.allowed_origins),
        ("AllowedHeader", &rule.allowed_headers),
        ("ExposeHeader", &rule.expose_headers),
    ] {
        for value in values {
            check_xml_text(field, value)?;
        }
    }
    for value in &rule.expose_headers {
        // The value is sent in Access-Control-Expose-Headers: it must be a valid field value.
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ConfigError::malformed(
                "an ExposeHeader cannot contain control characters (it is sent in a response header)",
            )
            .with_field("ExposeHeader", Some(value)));
        }
    }
    Ok(())
}

/// Text S3 could never have received in an XML document is not well-formed.
fn check_xml_text(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(ConfigError::malformed(format!(
            "character U+{:04X} is not allowed in an XML document",
            u32::from(c)
        ))
        .with_field(field, Some(value)));
    }
    Ok(())
}

fn check_values(rule: &CorsRule) -> Result<(), ConfigError> {
    for method in &rule.allowed_methods {
        if !S3_METHODS.contains(&method.as_str()) {
            return Err(ConfigError::new(
                ErrorCode::InvalidRequest,
                format!("Found unsupported HTTP method in CORS config. Unsupported method is {method}"),
                "AllowedMethod must be one of GET, PUT, HEAD, POST, DELETE (case-sensitive)",
            )
            .with_field("AllowedMethod", Some(method)));
        }
    }
    for origin in &rule.allowed_origins {
        if origin.matches('*').count() > 1 {
            return Err(ConfigError::new(
                ErrorCode::InvalidRequest,
                format!("AllowedOrigin \"{origin}\" can not have more than one wildcard."),
                "an AllowedOrigin may contain at most one '*'",
            )
            .with_field("AllowedOrigin", Some(origin)));
        }
    }
    for header in &rule.allowed_headers {
        if header.matches('*').count() > 1 {
            return Err(ConfigError::new(
                ErrorCode::InvalidRequest,
                format!("AllowedHeader \"{header}\" can not have more than one wildcard."),
                "an AllowedHeader may contain at most one '*'",
            )
            .with_field("AllowedHeader", Some(header)));
        }
    }
    for header in &rule.expose_headers {
        if header.contains('*') {
            return Err(ConfigError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "ExposeHeader \"{header}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                ),
                "ExposeHeader values are literal header names",
            )
            .with_field("ExposeHeader", Some(header)));
        }
    }
    Ok(())
}

/// A configuration reaches S3 as XML (the AWS CLI and SDKs send it so), and S3 refuses an XML
/// body over 64 KiB. The S3 XML form of the configuration (what `to_xml` writes) must
/// therefore fit, or S3 would refuse it and the crate's own XML output could not be read
/// back. This holds for XML input too: a document under 64 KiB can have a larger S3 XML form
/// (no namespace or declaration, CDATA or whitespace that `to_xml` writes longer).
fn check_xml_size(rules: &[CorsRule]) -> Result<(), ConfigError> {
    let len = s3_xml_len(rules);
    if len > MAX_DOCUMENT_BYTES {
        return Err(ConfigError::too_big(
            "the configuration's S3 XML form (what PutBucketCors sends)",
            len,
        ));
    }
    Ok(())
}

/// The exact length of the GetBucketCors document for `rules` (`to_xml`), without writing it.
pub(crate) fn s3_xml_len(rules: &[CorsRule]) -> usize {
    const FRAME: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CORSConfiguration>";
    const RULE: &str = "<CORSRule></CORSRule>";
    // `<Name>` + `</Name>`.
    let element = |name: &str, value: &str| 2 * name.len() + 5 + escaped_len(value);
    let values = |name: &str, values: &[String]| values.iter().map(|v| element(name, v)).sum::<usize>();
    FRAME.len()
        + rules
            .iter()
            .map(|rule| {
                RULE.len()
                    + rule.id.as_deref().map_or(0, |id| element("ID", id))
                    + values("AllowedHeader", &rule.allowed_headers)
                    + values("AllowedMethod", &rule.allowed_methods)
                    + values("AllowedOrigin", &rule.allowed_origins)
                    + values("ExposeHeader", &rule.expose_headers)
                    + rule
                        .max_age_seconds
                        .map_or(0, |s| element("MaxAgeSeconds", &s.to_string()))
            })
            .sum::<usize>()
}

#[cfg(all(test, feature = "xml"))]
mod tests {
    use super::*;
    use crate::config::CorsConfiguration;

    #[test]
    fn xml_length_is_exactly_what_to_xml_writes() {
        let config = CorsConfiguration::new([
            CorsRule::builder()
                .id("a&b<c>\r")
                .allowed_origins(["*", "https://x.example"])
                .allowed_methods(["GET", "PUT"])
                .allowed_header("x-amz-*")
                .expose_header("ETag")
                .max_age_seconds(-3000)
                .build(),
            CorsRule::builder()
                .allowed_origin("o")
                .allowed_method("HEAD")
                .build(),
        ])
        .expect("valid");
        assert_eq!(s3_xml_len(config.rules()), config.to_xml().len());
    }
}
