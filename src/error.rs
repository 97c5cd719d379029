//! Configuration errors, carrying S3's exact code and message plus where the problem is.

use std::fmt;

/// The S3 error code of a rejected configuration (what PutBucketCors would answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `MalformedXML`: not well-formed, or not valid against S3's schema.
    MalformedXml,
    /// `InvalidRequest`: well-formed, but a value S3 refuses.
    InvalidRequest,
    /// `MaxMessageLengthExceeded`: the document is larger than 64 KiB.
    MaxMessageLengthExceeded,
}

impl ErrorCode {
    /// The code as S3 spells it, e.g. `MalformedXML`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedXml => "MalformedXML",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
        }
    }
}

/// `ErrorCode::MalformedXml == "MalformedXML"`: a code equals S3's spelling of it.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const MALFORMED_XML: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";
pub(crate) const TOO_BIG: &str = "Your request was too big.";
pub(crate) const TOO_MANY_RULES: &str =
    "The number of CORS rules should not exceed allowed limit of 100 rules.";

/// A configuration that S3 would refuse.
///
/// [`code`](Self::code) and [`message`](Self::message) are S3's own, byte for byte, so an
/// S3-compatible server can return them verbatim (HTTP 400). The rest says where the problem
/// is, for people: the rule (0-based index and ID), the field, the offending value, the
/// line and column in the source document, and a sentence of explanation.
///
/// ```
/// use tower_s3_cors::CorsConfiguration;
///
/// let err = CorsConfiguration::from_json(
///     r#"{"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}]}"#,
/// )
/// .unwrap_err();
/// assert_eq!(err.code(), "InvalidRequest");
/// assert_eq!(
///     err.message(),
///     "Found unsupported HTTP method in CORS config. Unsupported method is get"
/// );
/// assert_eq!(err.rule_index(), Some(0));
/// assert_eq!(err.field(), Some("AllowedMethod"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    inner: Box<Inner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    code: ErrorCode,
    message: String,
    detail: String,
    rule_index: Option<usize>,
    rule_id: Option<String>,
    field: Option<&'static str>,
    value: Option<String>,
    line_column: Option<(usize, usize)>,
}

impl ConfigError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>, detail: impl Into<String>) -> Self {
        ConfigError {
            inner: Box::new(Inner {
                code,
                message: message.into(),
                detail: detail.into(),
                rule_index: None,
                rule_id: None,
                field: None,
                value: None,
                line_column: None,
            }),
        }
    }

    /// `MaxMessageLengthExceeded` for `what` (a document, or a configuration's XML form) of
    /// `len` bytes.
    pub(crate) fn too_big(what: &str, len: usize) -> Self {
        Self::new(
            ErrorCode::MaxMessageLengthExceeded,
            TOO_BIG,
            format!(
                "{what} has {len} bytes; at most {} are allowed",
                crate::config::MAX_DOCUMENT_BYTES
            ),
        )
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedXml, MALFORMED_XML, detail)
    }

    pub(crate) fn with_rule(mut self, index: usize, id: Option<&str>) -> Self {
        self.inner.rule_index = Some(index);
        self.inner.rule_id = id.map(str::to_owned);
        self
    }

    pub(crate) fn with_field(mut self, field: &'static str, value: Option<&str>) -> Self {
        self.inner.field = Some(field);
        self.inner.value = value.map(str::to_owned);
        self
    }

    #[cfg_attr(not(any(feature = "xml", feature = "json")), allow(dead_code))]
    pub(crate) fn with_line_column(mut self, line_column: (usize, usize)) -> Self {
        self.inner.line_column = Some(line_column);
        self
    }

    /// S3's error code (`MalformedXML`, `InvalidRequest` or `MaxMessageLengthExceeded`);
    /// [`ErrorCode::as_str`] spells it as S3 does, and it compares equal to that spelling.
    pub fn code(&self) -> ErrorCode {
        self.inner.code
    }

    /// S3's exact message for this error.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status S3 answers PutBucketCors with for this error (always 400).
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }

    /// A human explanation of what is wrong (not part of S3's answer).
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// The 0-based index of the offending `CORSRule`, when one rule is at fault.
    pub fn rule_index(&self) -> Option<usize> {
        self.inner.rule_index
    }

    /// The `ID` of the offending rule, when it has one.
    pub fn rule_id(&self) -> Option<&str> {
        self.inner.rule_id.as_deref()
    }

    /// The offending field, in S3's XML spelling (`AllowedMethod`, `MaxAgeSeconds`, ...).
    pub fn field(&self) -> Option<&'static str> {
        self.inner.field
    }

    /// The offending value, verbatim.
    pub fn value(&self) -> Option<&str> {
        self.inner.value.as_deref()
    }

    /// 1-based line and column in the source document (XML or JSON), when known.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        self.inner.line_column
    }

    /// The S3 error document for this error, as PutBucketCors returns it.
    ///
    /// `request_id` and `host_id` are written verbatim after XML escaping.
    pub fn to_s3_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut out = String::with_capacity(160 + self.inner.message.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.push_str(self.code().as_str());
        out.push_str("</Code><Message>");
        crate::xml_escape::push_escaped(&mut out, &self.inner.message);
        out.push_str("</Message><RequestId>");
        crate::xml_escape::push_escaped(&mut out, request_id);
        out.push_str("</RequestId><HostId>");
        crate::xml_escape::push_escaped(&mut out, host_id);
        out.push_str("</HostId></Error>");
        out
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = &*self.inner;
        write!(f, "{}: {}", this.code, this.message)?;
        let mut parts: Vec<String> = Vec::new();
        if let Some((line, column)) = this.line_column {
            parts.push(format!("line {line}, column {column}"));
        }
        if let Some(index) = this.rule_index {
            match &this.rule_id {
                Some(id) => parts.push(format!("CORSRule {} (index {index}, ID {id:?})", index + 1)),
                None => parts.push(format!("CORSRule {} (index {index})", index + 1)),
            }
        }
        match (this.field, &this.value) {
            (Some(field), Some(value)) => parts.push(format!("{field} {value:?}")),
            (Some(field), None) => parts.push(field.to_owned()),
            _ => {}
        }
        if !this.detail.is_empty() {
            parts.push(this.detail.clone());
        }
        if !parts.is_empty() {
            write!(f, " [{}]", parts.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column of a byte offset in `text` (column counted in characters).
#[cfg_attr(not(any(feature = "xml", feature = "json")), allow(dead_code))]
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
