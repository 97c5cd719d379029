//! Reading the request: the parts the decision looks at ([`RequestHead`]), its CORS fields
//! (`Origin`, `Access-Control-Request-Method`) read once, and the names listed in
//! `Access-Control-Request-Headers`, scanned in one bounded pass without allocating.

use http::header::{GetAll, ValueIter};
use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::options::CorsOptions;
use crate::swar::{bytes_equal, HIGH};

/// `Access-Control-Request-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");

/// The parts of a request the decision reads: method, URI and headers (and, for hooks, the
/// extensions).
///
/// Made from a [`http::Request`] or [`http::request::Parts`] with `From`, or with
/// [`RequestHead::new`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI (its path tells a bucket URL from an object URL).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request extensions, when the head was made from a request (hooks may read an id
    /// an earlier middleware stored there).
    pub extensions: Option<&'a Extensions>,
}

impl<'a> RequestHead<'a> {
    /// A head from its parts (no extensions).
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        RequestHead {
            method,
            uri,
            headers,
            extensions: None,
        }
    }
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestHead {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: Some(&parts.extensions),
        }
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: Some(request.extensions()),
        }
    }
}

/// Whether the URL names the bucket itself or an object in it (S3's `<ResourceType>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// The bucket URL (`/` for a virtual-hosted bucket, `/bucket` path-style).
    Bucket,
    /// An object URL (anything below the bucket).
    Object,
}

impl ResourceType {
    /// For a layer that stands for one virtual-hosted bucket: `/` is the bucket, any other
    /// path an object.
    pub fn from_path(path: &str) -> ResourceType {
        if path.is_empty() || path == "/" {
            ResourceType::Bucket
        } else {
            ResourceType::Object
        }
    }

    /// `BUCKET` or `OBJECT`, as S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Bucket => "BUCKET",
            ResourceType::Object => "OBJECT",
        }
    }
}

/// One of the five methods S3 accepts in `AllowedMethod` and `Access-Control-Request-Method`
/// (compared case-sensitively). The rule builder takes it in place of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum S3Method {
    /// `GET`: read an object or list a bucket.
    Get,
    /// `PUT`: upload an object (or a part).
    Put,
    /// `HEAD`: read an object's metadata.
    Head,
    /// `POST`: browser-form uploads and multipart operations.
    Post,
    /// `DELETE`: delete an object.
    Delete,
}

/// The method's name, so the rule builder takes an `S3Method`:
/// `CorsRule::builder().allowed_method(S3Method::Put)`.
impl From<S3Method> for String {
    fn from(method: S3Method) -> String {
        method.as_str().to_owned()
    }
}

impl std::fmt::Display for S3Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl S3Method {
    /// S3's five methods, in the order S3 lists them (`GET, PUT, HEAD, POST, DELETE`).
    pub const ALL: [S3Method; 5] = [
        S3Method::Get,
        S3Method::Put,
        S3Method::Head,
        S3Method::Post,
        S3Method::Delete,
    ];

    /// Parses a method token exactly (case-sensitive), as S3 does.
    pub fn from_bytes(bytes: &[u8]) -> Option<S3Method> {
        Some(match bytes {
            b"GET" => S3Method::Get,
            b"PUT" => S3Method::Put,
            b"HEAD" => S3Method::Head,
            b"POST" => S3Method::Post,
            b"DELETE" => S3Method::Delete,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            S3Method::Get => "GET",
            S3Method::Put => "PUT",
            S3Method::Head => "HEAD",
            S3Method::Post => "POST",
            S3Method::Delete => "DELETE",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            S3Method::Get => 0,
            S3Method::Put => 1,
            S3Method::Head => 2,
            S3Method::Post => 3,
            S3Method::Delete => 4,
        }
    }
}

/// A field as the request sent it: absent, once, or more than once.
#[derive(Clone, Copy)]
pub(crate) enum Sent<'a> {
    Absent,
    One(&'a HeaderValue),
    Many,
}

impl<'a> Sent<'a> {
    /// From the field's first value and whether there were more.
    fn of(field: Option<(&'a HeaderValue, bool)>) -> Self {
        match field {
            None => Sent::Absent,
            Some((value, false)) => Sent::One(value),
            Some((_, true)) => Sent::Many,
        }
    }
}

/// `Origin` as the request sent it; several `Origin` fields match nothing.
pub(crate) type OriginField<'a> = Sent<'a>;

/// `Origin` from its first field and whether there were more: S3 treats an empty `Origin` as
/// no `Origin`.
fn origin_field(field: Option<(&HeaderValue, bool)>) -> OriginField<'_> {
    match Sent::of(field) {
        Sent::One(value) if value.is_empty() => Sent::Absent,
        sent => sent,
    }
}

/// A field's first value and whether it was repeated; `None` when absent.
#[inline]
fn first_and_repeated<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<(&'a HeaderValue, bool)> {
    let mut fields = headers.get_all(name).iter();
    let first = fields.next()?;
    Some((first, fields.next().is_some()))
}

/// Whether a request is a preflight: S3 treats every `OPTIONS` as one; Fetch mode only those
/// a browser sends (with `Origin` and `Access-Control-Request-Method`).
fn is_preflight(
    method: &Method,
    origin: &OriginField<'_>,
    request_method: Option<(&HeaderValue, bool)>,
    options: &CorsOptions,
) -> bool {
    *method == Method::OPTIONS
        && (!options.fetch_mode || (!matches!(origin, OriginField::Absent) && request_method.is_some()))
}

/// The method an actual request is matched on: `Access-Control-Request-Method` when present
/// (S3 matches an actual request on it), else the request's own; none when it was sent twice.
fn actual_method(method: &Method, request_method: Option<(&HeaderValue, bool)>) -> Option<S3Method> {
    match request_method {
        None => S3Method::from_bytes(method.as_str().as_bytes()),
        Some((value, false)) => S3Method::from_bytes(value.as_bytes()),
        Some((_, true)) => None,
    }
}

/// What the request's CORS fields say, read once: the decision, the per-rule explanation and
/// the answer to a failed lookup all read them through this, so they read them alike.
#[derive(Clone, Copy)]
pub(crate) struct CorsFields<'a> {
    pub(crate) method: &'a Method,
    pub(crate) origin: OriginField<'a>,
    pub(crate) request_method: Option<(&'a HeaderValue, bool)>,
    /// `Access-Control-Request-Headers` as the request sent it.
    pub(crate) requested: Requested<'a>,
}

/// `Access-Control-Request-Headers` as the request sent it: absent, one field (as browsers
/// send it), or several (their names are read from every field in turn).
pub(crate) type Requested<'a> = Sent<'a>;

/// Requests with at most this many fields are read in one pass over their fields (a few
/// comparisons each); larger ones by one lookup per CORS field.
const ONE_PASS_FIELDS: usize = 16;

impl<'a> CorsFields<'a> {
    #[inline]
    pub(crate) fn of(head: &RequestHead<'a>) -> Self {
        let headers = head.headers;
        if headers.len() > ONE_PASS_FIELDS {
            return CorsFields {
                method: head.method,
                origin: origin_field(first_and_repeated(headers, &ORIGIN)),
                request_method: first_and_repeated(headers, &ACCESS_CONTROL_REQUEST_METHOD),
                requested: Sent::of(first_and_repeated(headers, &ACCESS_CONTROL_REQUEST_HEADERS)),
            };
        }
        // The same answers as `first_and_repeated` for each field, from one pass.
        let mut origin: Option<(&HeaderValue, bool)> = None;
        let mut request_method: Option<(&HeaderValue, bool)> = None;
        let mut requested: Option<(&HeaderValue, bool)> = None;
        for (name, value) in headers {
            let first_or_repeated = |field: &mut Option<(&'a HeaderValue, bool)>| {
                *field = Some(match *field {
                    None => (value, false),
                    Some((first, _)) => (first, true),
                })
            };
            if *name == ORIGIN {
                first_or_repeated(&mut origin);
            } else if *name == ACCESS_CONTROL_REQUEST_METHOD {
                first_or_repeated(&mut request_method);
            } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
                first_or_repeated(&mut requested);
            }
        }
        CorsFields {
            method: head.method,
            origin: origin_field(origin),
            request_method,
            requested: Sent::of(requested),
        }
    }

    #[inline]
    pub(crate) fn is_preflight(&self, options: &CorsOptions) -> bool {
        is_preflight(self.method, &self.origin, self.request_method, options)
    }

    /// Whether the request names an origin (one or several `Origin` fields, not empty).
    pub(crate) fn has_origin(&self) -> bool {
        !matches!(self.origin, OriginField::Absent)
    }

    /// The one `Origin` a rule can match (several fields match nothing).
    pub(crate) fn single_origin(&self) -> Option<&'a HeaderValue> {
        match self.origin {
            OriginField::One(origin) => Some(origin),
            _ => None,
        }
    }

    /// Whether a preflight's answer includes Private Network Access: the option is on and the
    /// request asks with `Access-Control-Request-Private-Network: true`.
    pub(crate) fn private_network(head: &RequestHead<'_>, options: &CorsOptions) -> bool {
        options.private_network
            && head
                .headers
                .get(ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK)
                .is_some_and(|v| v == "true")
    }

    /// The method rules are matched on: a preflight's `Access-Control-Request-Method`, or an
    /// actual request's (see [`actual_method`]); an `OPTIONS` without one matches nothing.
    #[inline]
    pub(crate) fn matched_method(&self) -> Option<S3Method> {
        actual_method(self.method, self.request_method)
    }
}

/// The names listed in `Access-Control-Request-Headers`: every field joined with `,`, split on
/// `,`, trimmed of spaces and tabs, empty items dropped. One pass, no allocation.
pub(crate) fn requested_headers(headers: &HeaderMap) -> Names<'_> {
    RequestedHeaders::of(headers).names()
}

/// The `Access-Control-Request-Headers` fields of a request: the one the request sent (read
/// with its other CORS fields), or every field, looked up once.
pub(crate) enum RequestedHeaders<'a> {
    One(&'a HeaderValue),
    Many(GetAll<'a, HeaderValue>),
}

impl<'a> RequestedHeaders<'a> {
    #[inline]
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        RequestedHeaders::Many(headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS))
    }

    /// The request's fields as [`CorsFields`] read them; `None` when it has none.
    #[inline]
    pub(crate) fn from_fields(requested: Requested<'a>, headers: &'a HeaderMap) -> Option<Self> {
        match requested {
            Requested::Absent => None,
            Requested::One(value) => Some(RequestedHeaders::One(value)),
            Requested::Many => Some(Self::of(headers)),
        }
    }

    /// The request's only field, when it sent one.
    #[inline]
    pub(crate) fn single(&self) -> Option<&'a HeaderValue> {
        match self {
            RequestedHeaders::One(value) => Some(value),
            RequestedHeaders::Many(fields) => {
                let mut fields = fields.iter();
                let first = fields.next()?;
                fields.next().is_none().then_some(first)
            }
        }
    }

    #[inline]
    pub(crate) fn names(&self) -> Names<'a> {
        match self {
            RequestedHeaders::One(value) => Names {
                fields: None,
                rest: value.as_bytes(),
            },
            RequestedHeaders::Many(fields) => Names {
                fields: Some(fields.iter()),
                rest: b"",
            },
        }
    }

    /// The `Access-Control-Allow-Headers` echo of names `listed` counted: lowercased, joined
    /// by `, `, in one allocation of the exact size. `None` when no name was listed, or when
    /// the request's single field is already that value (one lowercase name, as browsers send
    /// it: [`Listed::verbatim`], and the field itself is sent).
    pub(crate) fn echo(&self, listed: &Listed) -> Option<HeaderValue> {
        if listed.count == 0 || listed.verbatim {
            return None;
        }
        let mut out = Vec::with_capacity(listed.bytes + 2 * (listed.count - 1));
        let mut push = |name: &[u8]| {
            if !out.is_empty() {
                out.extend_from_slice(b", ");
            }
            let start = out.len();
            out.extend_from_slice(name);
            if let Some(copied) = out.get_mut(start..) {
                copied.make_ascii_lowercase();
            }
        };
        // A short list was kept by the matching pass; a long one is read again.
        match listed.first.get(..listed.count) {
            Some(names) => names.iter().for_each(|name| push(name)),
            None => self.names().for_each(push),
        }
        // Exact capacity, so `Bytes` takes the buffer over without a second allocation. The
        // bytes come from header values, so they are valid in one.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(out)).ok()
    }
}

/// What the matching pass learnt about the requested names, to size the echo.
#[derive(Default)]
pub(crate) struct Listed<'a> {
    pub(crate) count: usize,
    /// Total length of the names.
    pub(crate) bytes: usize,
    /// The first names (all of them when `count` is at most their number).
    pub(crate) first: [&'a [u8]; KEPT_NAMES],
    /// Whether the request's one field is exactly the echo.
    pub(crate) verbatim: bool,
}

/// How many requested names the matching pass keeps for the echo (browsers send a few).
const KEPT_NAMES: usize = 8;

/// Iterator over requested header names (see [`requested_headers`]).
pub(crate) struct Names<'a> {
    /// The fields not read yet (none when the request's one field is `rest`).
    fields: Option<ValueIter<'a, HeaderValue>>,
    /// What is left of the current field.
    rest: &'a [u8],
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = skip_separators(self.rest);
            if rest.is_empty() {
                self.rest = self.fields.as_mut()?.next()?.as_bytes();
                continue;
            }
            // `rest` starts with a name byte, so the trimmed item is not empty.
            let (item, after) = rest.split_at_checked(find_comma(rest)).unwrap_or((rest, b""));
            self.rest = after;
            return Some(trim_end_ows(item));
        }
    }
}

/// Branch-free (`|`, not `||`), so a block of tests becomes a few vector compares.
fn is_separator(b: u8) -> bool {
    (b == b',') | (b == b' ') | (b == b'\t')
}

/// `bytes` after its leading commas, spaces and tabs (empty items and whitespace). Hostile
/// lists are mostly separators: they are skipped sixteen bytes a step (the compiler turns
/// the block test into vector compares), the first other byte is then found eight at a time.
fn skip_separators(mut bytes: &[u8]) -> &[u8] {
    // The usual separators between two names, `,` and `, `, without the block machinery.
    match bytes {
        [b',', b' ', next, ..] if !is_separator(*next) => return bytes.get(2..).unwrap_or_default(),
        [b',', next, ..] if !is_separator(*next) => return bytes.get(1..).unwrap_or_default(),
        _ => {}
    }
    while let Some((block, rest)) = bytes.split_first_chunk::<16>() {
        if !block.iter().fold(true, |all, &b| all & is_separator(b)) {
            break;
        }
        bytes = rest;
    }
    while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*word);
        let separators = bytes_equal(word, b',') | bytes_equal(word, b' ') | bytes_equal(word, b'\t');
        let others = !separators & HIGH;
        if others != 0 {
            return bytes
                .get(others.trailing_zeros() as usize / 8..)
                .unwrap_or_default();
        }
        bytes = rest;
    }
    let start = bytes
        .iter()
        .position(|&b| !is_separator(b))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The index of the first comma in `bytes`, or its length; sixteen then eight bytes a step.
fn find_comma(bytes: &[u8]) -> usize {
    let mut skipped = 0;
    let mut rest = bytes;
    while let Some((block, tail)) = rest.split_first_chunk::<16>() {
        if block.iter().fold(false, |any, &b| any | (b == b',')) {
            break;
        }
        skipped += 16;
        rest = tail;
    }
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let commas = bytes_equal(u64::from_le_bytes(*word), b',');
        if commas != 0 {
            return skipped + commas.trailing_zeros() as usize / 8;
        }
        skipped += 8;
        rest = tail;
    }
    skipped + rest.iter().position(|&b| b == b',').unwrap_or(rest.len())
}

fn trim_end_ows(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fields say, comparable.
    fn summary(fields: &CorsFields<'_>) -> (String, Option<(Vec<u8>, bool)>, String) {
        let origin = match fields.origin {
            OriginField::Absent => "absent".to_owned(),
            OriginField::One(value) => format!("one {value:?}"),
            OriginField::Many => "many".to_owned(),
        };
        let method = fields
            .request_method
            .map(|(v, repeated)| (v.as_bytes().to_vec(), repeated));
        let requested = match fields.requested {
            Requested::Absent => "absent".to_owned(),
            Requested::One(value) => format!("one {value:?}"),
            Requested::Many => "many".to_owned(),
        };
        (origin, method, requested)
    }

    #[test]
    fn one_pass_and_lookups_read_the_fields_alike() {
        let origins: [&[&str]; 4] = [
            &[],
            &[""],
            &["https://a.example"],
            &["https://a.example", "https://b.example"],
        ];
        let methods: [&[&str]; 3] = [&[], &["PUT"], &["PUT", "GET"]];
        let requested: [&[&str]; 3] = [&[], &["x-a"], &["x-a", "x-b"]];
        let (method, uri) = (Method::OPTIONS, Uri::from_static("/k"));
        for origin in origins {
            for acrm in methods {
                for acrh in requested {
                    let mut small = HeaderMap::new();
                    for (name, values) in [
                        (ORIGIN, origin),
                        (ACCESS_CONTROL_REQUEST_METHOD, acrm),
                        (ACCESS_CONTROL_REQUEST_HEADERS, acrh),
                    ] {
                        for value in values {
                            small.append(name.clone(), HeaderValue::from_static(value));
                        }
                    }
                    // The same fields among enough others to be read by lookups.
                    let mut large = small.clone();
                    for i in 0..=ONE_PASS_FIELDS {
                        large.append(
                            HeaderName::from_bytes(format!("x-other-{i}").as_bytes()).unwrap(),
                            HeaderValue::from_static("v"),
                        );
                    }
                    assert!(small.len() <= ONE_PASS_FIELDS && large.len() > ONE_PASS_FIELDS);
                    let one_pass = CorsFields::of(&RequestHead::new(&method, &uri, &small));
                    let lookups = CorsFields::of(&RequestHead::new(&method, &uri, &large));
                    assert_eq!(
                        summary(&one_pass),
                        summary(&lookups),
                        "{origin:?} {acrm:?} {acrh:?}"
                    );
                }
            }
        }
    }
}
