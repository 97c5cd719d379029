//! S3's CORS error documents and the request ids they carry.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::request::ResourceType;
use crate::xml_escape::{push_escaped, push_escaped_bytes, XmlOut};

const MISSING_ORIGIN: &str = "Insufficient information. Origin request header needed.";
const BUCKET_NOT_FOUND: &str = "CORSResponse: Bucket not found";
const CORS_NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
const INVALID_METHOD_PREFIX: &str = "Invalid Access-Control-Request-Method: ";
const INTERNAL_ERROR: &str = "We encountered an internal error. Please try again.";

/// Which of S3's CORS refusals, in the order S3 checks a preflight (enforce mode refuses an
/// actual request with [`NotAllowed`](Self::NotAllowed)'s document).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// A preflight without `Origin` (400 `BadRequest`).
    MissingOrigin,
    /// The bucket does not exist (403 `AccessForbidden`).
    NoSuchBucket,
    /// The bucket has no CORS configuration (403 `AccessForbidden`).
    CorsNotEnabled,
    /// `Access-Control-Request-Method` missing, repeated, or not one of S3's five
    /// (400 `BadRequest`).
    InvalidRequestMethod,
    /// No rule matches (403 `AccessForbidden`).
    NotAllowed,
    /// The rules could not be looked up (500 `InternalError`).
    LookupFailed,
}

impl RefusalKind {
    /// Why, in one sentence for people (the command line's `explain` and the decision hook
    /// use these words).
    pub fn reason(self) -> &'static str {
        match self {
            RefusalKind::MissingOrigin => {
                "a preflight without Origin: S3 answers 400 before looking at any rule"
            }
            RefusalKind::NoSuchBucket => "a preflight to a bucket that does not exist",
            RefusalKind::CorsNotEnabled => "a preflight to a bucket that has no CORS configuration",
            RefusalKind::InvalidRequestMethod => {
                "Access-Control-Request-Method is missing, sent twice, or not one of GET, PUT, \
                 HEAD, POST, DELETE"
            }
            RefusalKind::NotAllowed => "no rule matches the origin, the method and every requested header",
            RefusalKind::LookupFailed => "the bucket's CORS rules could not be looked up",
        }
    }
}

/// A request the layer answers itself with an S3 error document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    kind: RefusalKind,
    /// The method to report: `Access-Control-Request-Method` as sent, or the request's.
    method: Option<HeaderValue>,
    resource: ResourceType,
}

impl Refusal {
    pub(crate) fn missing_origin() -> Self {
        Refusal {
            kind: RefusalKind::MissingOrigin,
            method: None,
            resource: ResourceType::Bucket,
        }
    }

    pub(crate) fn no_such_bucket(method: Option<HeaderValue>) -> Self {
        Refusal {
            kind: RefusalKind::NoSuchBucket,
            method,
            resource: ResourceType::Bucket,
        }
    }

    /// S3 reports `BUCKET` here even for an object URL.
    pub(crate) fn cors_not_enabled(method: Option<HeaderValue>) -> Self {
        Refusal {
            kind: RefusalKind::CorsNotEnabled,
            method,
            resource: ResourceType::Bucket,
        }
    }

    pub(crate) fn invalid_request_method(method: Option<HeaderValue>) -> Self {
        Refusal {
            kind: RefusalKind::InvalidRequestMethod,
            method,
            resource: ResourceType::Bucket,
        }
    }

    pub(crate) fn not_allowed(method: HeaderValue, resource: ResourceType) -> Self {
        Refusal {
            kind: RefusalKind::NotAllowed,
            method: Some(method),
            resource,
        }
    }

    /// The answer to a preflight whose rules could not be looked up.
    pub fn lookup_failed() -> Self {
        Refusal {
            kind: RefusalKind::LookupFailed,
            method: None,
            resource: ResourceType::Bucket,
        }
    }

    /// Which refusal (what S3 checked that failed).
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The HTTP status S3 answers with: 400, 403, or 500 for a failed lookup.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RefusalKind::MissingOrigin | RefusalKind::InvalidRequestMethod => StatusCode::BAD_REQUEST,
            RefusalKind::NoSuchBucket | RefusalKind::CorsNotEnabled | RefusalKind::NotAllowed => {
                StatusCode::FORBIDDEN
            }
            RefusalKind::LookupFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// S3's `<Code>`: `BadRequest`, `AccessForbidden` or `InternalError`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            RefusalKind::MissingOrigin | RefusalKind::InvalidRequestMethod => "BadRequest",
            RefusalKind::NoSuchBucket | RefusalKind::CorsNotEnabled | RefusalKind::NotAllowed => {
                "AccessForbidden"
            }
            RefusalKind::LookupFailed => "InternalError",
        }
    }

    /// S3's `<Message>` (before XML escaping).
    pub fn message(&self) -> Cow<'static, str> {
        match self.kind {
            RefusalKind::MissingOrigin => Cow::Borrowed(MISSING_ORIGIN),
            RefusalKind::NoSuchBucket => Cow::Borrowed(BUCKET_NOT_FOUND),
            RefusalKind::CorsNotEnabled => Cow::Borrowed(CORS_NOT_ENABLED),
            RefusalKind::NotAllowed => Cow::Borrowed(NOT_ALLOWED),
            RefusalKind::LookupFailed => Cow::Borrowed(INTERNAL_ERROR),
            RefusalKind::InvalidRequestMethod => {
                let sent = match &self.method {
                    Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    None => "null".to_owned(),
                };
                Cow::Owned(format!("{INVALID_METHOD_PREFIX}{sent}"))
            }
        }
    }

    /// `<Method>` (`AccessForbidden` documents only): `Access-Control-Request-Method` as sent,
    /// `OPTIONS` when none was sent.
    pub fn method(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            RefusalKind::NoSuchBucket | RefusalKind::CorsNotEnabled | RefusalKind::NotAllowed => {
                Some(match &self.method {
                    Some(value) => String::from_utf8_lossy(value.as_bytes()),
                    None => Cow::Borrowed("OPTIONS"),
                })
            }
            _ => None,
        }
    }

    /// `<ResourceType>` (`AccessForbidden` documents only).
    pub fn resource_type(&self) -> Option<ResourceType> {
        match self.kind {
            RefusalKind::NoSuchBucket | RefusalKind::CorsNotEnabled | RefusalKind::NotAllowed => {
                Some(self.resource)
            }
            _ => None,
        }
    }

    /// The XML error document, exactly as S3 writes it, with these ids.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        // Sized for the longest message and the ids, so the document is written in one buffer.
        let mut out =
            String::with_capacity(self.head_capacity() + request_id.len() + host_id.len() + ID_TAGS.len());
        self.write_document(&mut out, request_id, host_id, Ids::Escaped);
        out
    }

    /// The whole document, with these ids, into `out`: the one writer of
    /// [`to_xml`](Self::to_xml) and of the inline document of fresh ids.
    fn write_document<O: XmlOut>(&self, out: &mut O, request_id: &str, host_id: &str, ids: Ids) {
        let push_id = |out: &mut O, id: &str| match ids {
            Ids::Escaped => push_escaped(out, id),
            Ids::Verbatim => out.push_str(id),
        };
        self.write_head(out);
        push_id(out, request_id);
        out.push_str(ID_TAGS_MIDDLE);
        push_id(out, host_id);
        out.push_str(ID_TAGS_END);
    }

    /// An upper bound of [`write_head`](Self::write_head)'s length (without escaping).
    fn head_capacity(&self) -> usize {
        let method_len = self.method.as_ref().map_or(7, HeaderValue::len);
        160 + NOT_ALLOWED.len() + 2 * method_len
    }

    /// The document up to and including `<RequestId>`: everything but the ids.
    fn write_head(&self, out: &mut impl XmlOut) {
        out.push_str(XML_DECLARATION);
        out.push_str("<Error><Code>");
        out.push_str(self.code());
        out.push_str("</Code><Message>");
        match (self.kind, &self.method) {
            (RefusalKind::InvalidRequestMethod, Some(value)) => {
                out.push_str(INVALID_METHOD_PREFIX);
                push_escaped_bytes(out, value.as_bytes());
            }
            // S3's own messages hold no character that needs escaping.
            _ => out.push_str(&self.message()),
        }
        out.push_str("</Message>");
        if let Some(resource) = self.resource_type() {
            out.push_str("<Method>");
            match &self.method {
                Some(value) => push_escaped_bytes(out, value.as_bytes()),
                None => out.push_str("OPTIONS"),
            }
            out.push_str("</Method><ResourceType>");
            out.push_str(resource.as_str());
            out.push_str("</ResourceType>");
        }
        out.push_str("<RequestId>");
    }

    /// The document with fresh ids, written into one fixed-size buffer that the body and both
    /// id headers share: one allocation for all three. When it does not fit (a long method
    /// echoed), the document is written into a `String` of its size, with the same ids.
    pub(crate) fn document_with_fresh_ids(&self) -> (Bytes, RequestIds) {
        let ids = RawIds::generate();
        // The ids' alphabet is ASCII with no XML metacharacter: written as they are, they
        // end where the document's tail says.
        let request_id = std::str::from_utf8(&ids.request_id).unwrap_or_default();
        let host_id = std::str::from_utf8(&ids.host_id).unwrap_or_default();
        let mut doc = Document::new();
        self.write_document(&mut doc, request_id, host_id, Ids::Verbatim);
        if !doc.overflow {
            let host_end = doc.len - ID_TAGS_END.len();
            let host_start = host_end - host_id.len();
            let request_end = host_start - ID_TAGS_MIDDLE.len();
            let request_start = request_end - request_id.len();
            let body = Bytes::from_owner(doc);
            // Slices of the body: reference counts, no copy. The ids' alphabet is valid in a
            // header value, so the conversion cannot fail.
            let header =
                |range: std::ops::Range<usize>| HeaderValue::from_maybe_shared(body.slice(range)).ok();
            if let (Some(request_id), Some(host_id)) =
                (header(request_start..request_end), header(host_start..host_end))
            {
                return (body, RequestIds { request_id, host_id });
            }
        }
        let body = Bytes::from(self.to_xml(request_id, host_id));
        (body, ids.into_header_values())
    }
}

/// `<?xml ...?>` and the line break S3 writes after it.
const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// How [`Refusal::write_document`] writes the ids: escaped (ids given by a hook), or as they
/// are (fresh ids, whose alphabet has no XML metacharacter).
#[derive(Clone, Copy)]
enum Ids {
    Escaped,
    Verbatim,
}

/// What the document writes between the ids, and after them.
const ID_TAGS_MIDDLE: &str = "</RequestId><HostId>";
const ID_TAGS_END: &str = "</HostId></Error>";
/// What the document adds around the ids.
const ID_TAGS: &str = "</RequestId><HostId></HostId></Error>";

/// The size of an error document written inline: the longest of S3's refusals (the 403 of a
/// request no rule allows, on an object: 467 bytes with fresh ids) fits with a method of up to
/// 109 bytes.
const DOCUMENT_SIZE: usize = 576;

/// An error document in a buffer of fixed size, which becomes the response body with
/// `Bytes::from_owner` (one allocation that the id headers share).
struct Document {
    len: usize,
    overflow: bool,
    bytes: [u8; DOCUMENT_SIZE],
}

impl Document {
    fn new() -> Self {
        Document {
            len: 0,
            overflow: false,
            bytes: [0; DOCUMENT_SIZE],
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + bytes.len()) {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

impl XmlOut for Document {
    fn push_str(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }
}

impl AsRef<[u8]> for Document {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// GetBucketCors on a bucket that has no CORS configuration: S3 answers 404
/// `NoSuchCORSConfiguration` (DeleteBucketCors answers 204 whether or not one exists).
///
/// ```
/// use tower_s3_cors::source::NoSuchCorsConfiguration;
///
/// let error = NoSuchCorsConfiguration::new("photos");
/// assert_eq!(error.status(), http::StatusCode::NOT_FOUND);
/// assert_eq!(
///     error.to_xml("RID", "HID"),
///     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchCORSConfiguration</Code>\
///      <Message>The CORS configuration does not exist</Message><BucketName>photos</BucketName>\
///      <RequestId>RID</RequestId><HostId>HID</HostId></Error>"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSuchCorsConfiguration {
    bucket: String,
}

impl NoSuchCorsConfiguration {
    /// The error for `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        NoSuchCorsConfiguration {
            bucket: bucket.into(),
        }
    }

    /// The bucket that has no configuration.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The HTTP status S3 answers GetBucketCors with here: 404.
    pub fn status(&self) -> StatusCode {
        StatusCode::NOT_FOUND
    }

    /// S3's `<Code>`: `NoSuchCORSConfiguration`.
    pub fn code(&self) -> &'static str {
        "NoSuchCORSConfiguration"
    }

    /// `The CORS configuration does not exist`.
    pub fn message(&self) -> &'static str {
        "The CORS configuration does not exist"
    }

    /// The error document, with `<BucketName>` after the message as S3 writes it.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.push_str(self.code());
        out.push_str("</Code><Message>");
        out.push_str(self.message());
        out.push_str("</Message><BucketName>");
        push_escaped(&mut out, &self.bucket);
        out.push_str("</BucketName><RequestId>");
        push_escaped(&mut out, request_id);
        out.push_str("</RequestId><HostId>");
        push_escaped(&mut out, host_id);
        out.push_str("</HostId></Error>");
        out
    }
}

impl std::fmt::Display for NoSuchCorsConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.code(), self.message(), self.bucket)
    }
}

impl std::error::Error for NoSuchCorsConfiguration {}

/// The ids of one answer: `x-amz-request-id` / `<RequestId>` and `x-amz-id-2` / `<HostId>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIds {
    /// Sent as `x-amz-request-id` and written as `<RequestId>`.
    pub request_id: HeaderValue,
    /// Sent as `x-amz-id-2` and written as `<HostId>`.
    pub host_id: HeaderValue,
}

impl RequestIds {
    /// Fresh ids, unique within the process and unpredictable across processes: 16
    /// upper-case characters for the request id (like S3's), 32 base64 characters for the host
    /// id. A counter and a per-process random key; no lock, no system call.
    pub fn generate() -> RequestIds {
        RawIds::generate().into_header_values()
    }
}

/// Fresh ids as bytes, before they become header values (see [`RequestIds::generate`]).
struct RawIds {
    request_id: [u8; 16],
    host_id: [u8; 32],
}

impl RawIds {
    fn into_header_values(self) -> RequestIds {
        RequestIds {
            request_id: HeaderValue::from_bytes(&self.request_id).unwrap_or(HeaderValue::from_static("0")),
            host_id: HeaderValue::from_bytes(&self.host_id).unwrap_or(HeaderValue::from_static("0")),
        }
    }

    fn generate() -> RawIds {
        static KEY: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let key = *KEY.get_or_init(|| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(0x5eed);
            hasher.finish()
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let a = splitmix64(key ^ n);
        let b = splitmix64(a ^ key.rotate_left(17));
        let c = splitmix64(b ^ n.rotate_left(29));
        let d = splitmix64(c);
        const UPPER: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut request_id = [0u8; 16];
        // 16 × 5 bits of the 128 bits `b:a`, low first: the counter's low bits (unique) mixed
        // with the key's (unpredictable). `a` is a bijection of the counter, so the low 64
        // bits never repeat. The 128-bit value is shifted as two words.
        let (mut low, mut high) = (a, b);
        for slot in &mut request_id {
            *slot = UPPER[(low & 31) as usize];
            low = low >> 5 | high << 59;
            high >>= 5;
        }
        // Which word and which bits each host-id character takes, worked out when compiling.
        const HOST_BITS: [(u8, u8); 32] = {
            let mut table = [(0, 0); 32];
            let mut i = 0;
            while i < 32 {
                table[i] = (((i * 6) / 64 % 3) as u8, ((i * 6) % 58) as u8);
                i += 1;
            }
            table
        };
        let words = [b, c, d];
        let mut host_id = [0u8; 32];
        for (slot, &(word, shift)) in host_id.iter_mut().zip(&HOST_BITS) {
            let word = words[usize::from(word)];
            *slot = B64[((word >> shift) & 63) as usize];
        }
        RawIds { request_id, host_id }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_messages_need_no_escaping() {
        for message in [
            MISSING_ORIGIN,
            BUCKET_NOT_FOUND,
            CORS_NOT_ENABLED,
            NOT_ALLOWED,
            INVALID_METHOD_PREFIX,
            INTERNAL_ERROR,
        ] {
            let mut escaped = String::new();
            push_escaped(&mut escaped, message);
            assert_eq!(escaped, message);
        }
    }

    fn refusal(method: &str) -> Refusal {
        Refusal::not_allowed(HeaderValue::from_str(method).unwrap(), ResourceType::Object)
    }

    #[test]
    fn the_document_with_fresh_ids_is_to_xml_s_with_the_same_ids_inline_or_not() {
        // 109 bytes of method fit the inline buffer; 110 and more are written as a String.
        for method in ["PUT", &"M".repeat(109), &"M".repeat(110), &"M<&".repeat(300)] {
            let refusal = refusal(method);
            let (body, ids) = refusal.document_with_fresh_ids();
            let expected = refusal.to_xml(ids.request_id.to_str().unwrap(), ids.host_id.to_str().unwrap());
            assert_eq!(body, expected.as_bytes(), "{} bytes of method", method.len());
            assert_eq!(ids.request_id.len(), 16);
            assert_eq!(ids.host_id.len(), 32);
        }
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let ids = RequestIds::generate();
            assert_eq!(ids.request_id.len(), 16);
            assert!(ids
                .request_id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            assert_eq!(ids.host_id.len(), 32);
            assert!(seen.insert(ids.request_id));
        }
    }
}
