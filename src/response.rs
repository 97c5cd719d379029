//! Writing the response: the `Access-Control-*` headers of an allowed request (from one
//! table), the 200 answer to a preflight, and S3's error documents with their id headers.

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CONTENT_LENGTH,
    CONTENT_TYPE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use crate::config::CorsRule;
use crate::s3_error::{Refusal, RequestIds};

/// `Access-Control-Allow-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
/// `x-amz-request-id`: S3's request id, on every error document the layer writes.
pub const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
/// `x-amz-id-2`: S3's host id, on every error document the layer writes.
pub const X_AMZ_ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");

/// The `Vary` value S3 sends with every CORS answer: the request fields the answer depends on.
pub(crate) const VARY_VALUE: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
/// [`VARY_VALUE`] when the answer also depends on `Access-Control-Request-Private-Network`.
const VARY_VALUE_PRIVATE_NETWORK: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Access-Control-Request-Private-Network";

// ---- The table ---------------------------------------------------------------------------
//
// Every header the layer writes on an allowed request is one row of the `table!` invocation
// below, in the order the layer writes them. The macro makes the fields of `CorsHeaders` and
// every per-header step from it (counting, writing, replacing or merging into the inner
// service's response, iterating), unrolled, so the table costs nothing at run time. Adding a
// header is a row here and its value: a rule's constant in `RuleAnswer::new`, or a value from
// the request in `RuleAnswer::headers` (plus an accessor, if callers should read it).

/// How a row's value meets the inner service's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meets {
    /// Always written: it replaces the inner service's field of that name.
    Replaces,
    /// Written for some rules or requests: the inner service's field of that name is removed
    /// even when the layer writes none (a CORS answer is the layer's alone).
    Removes,
    /// Merged into the inner service's `Vary` (one field, no token twice).
    Merges,
}

macro_rules! table {
    ($($field:ident: $name:expr => $meets:ident,)*) => {
        /// The `Access-Control-*` headers (and `Vary`) of an allowed request, ready to insert.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct CorsHeaders {
            $($field: Option<HeaderValue>,)*
        }

        impl CorsHeaders {
            /// Every header, in the order they are written.
            pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
                [$(self.$field.clone().map(|value| ($name, value)),)*]
                    .into_iter()
                    .flatten()
            }

            /// How many fields are written.
            fn len(&self) -> usize {
                0 $(+ usize::from(self.$field.is_some()))*
            }

            /// Whether a match removes an inner response's field named `name`.
            fn removes(name: &HeaderName) -> bool {
                false $(|| (matches!(Meets::$meets, Meets::Removes) && *name == $name))*
            }

            /// Removes the inner response's fields a match replaces though it may not write them.
            fn remove_stale(headers: &mut HeaderMap) {
                $(if matches!(Meets::$meets, Meets::Removes) {
                    headers.remove($name);
                })*
            }

            /// Writes every header: inserted (replacing same-named fields), or merged into the
            /// response's `Vary` when `merge_vary` is set.
            #[inline]
            fn write(self, headers: &mut HeaderMap, merge_vary: bool) {
                $(if let Some(value) = self.$field {
                    if merge_vary && matches!(Meets::$meets, Meets::Merges) {
                        crate::vary::merge(headers, value);
                    } else {
                        headers.insert($name, value);
                    }
                })*
            }
        }
    };
}

table! {
    allow_origin: ACCESS_CONTROL_ALLOW_ORIGIN => Replaces,
    allow_credentials: ACCESS_CONTROL_ALLOW_CREDENTIALS => Removes,
    allow_methods: ACCESS_CONTROL_ALLOW_METHODS => Replaces,
    allow_headers: ACCESS_CONTROL_ALLOW_HEADERS => Removes,
    expose_headers: ACCESS_CONTROL_EXPOSE_HEADERS => Removes,
    max_age: ACCESS_CONTROL_MAX_AGE => Removes,
    allow_private_network: ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK => Removes,
    vary: VARY => Merges,
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
// Constants, so the values are checked once, when compiling (`from_static` validates its
// bytes, and with an argument chosen at run time it would at every request).
const VARY_HEADER: HeaderValue = HeaderValue::from_static(VARY_VALUE);
const VARY_HEADER_PRIVATE_NETWORK: HeaderValue = HeaderValue::from_static(VARY_VALUE_PRIVATE_NETWORK);
const STAR: HeaderValue = HeaderValue::from_static("*");
/// What an accessor of an always-written header returns if it is somehow missing.
static EMPTY: HeaderValue = HeaderValue::from_static("");

impl CorsHeaders {
    /// `Access-Control-Allow-Origin`: `*`, or the request's `Origin` verbatim.
    pub fn allow_origin(&self) -> &HeaderValue {
        self.allow_origin.as_ref().unwrap_or(&EMPTY)
    }

    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub fn allow_credentials(&self) -> bool {
        self.allow_credentials.is_some()
    }

    /// `Access-Control-Allow-Methods`: the rule's methods, configuration order.
    pub fn allow_methods(&self) -> &HeaderValue {
        self.allow_methods.as_ref().unwrap_or(&EMPTY)
    }

    /// `Access-Control-Allow-Headers`: the requested names, lowercased, request order.
    pub fn allow_headers(&self) -> Option<&HeaderValue> {
        self.allow_headers.as_ref()
    }

    /// `Access-Control-Expose-Headers`, when the rule has ExposeHeaders.
    pub fn expose_headers(&self) -> Option<&HeaderValue> {
        self.expose_headers.as_ref()
    }

    /// `Access-Control-Max-Age`, when the rule has MaxAgeSeconds.
    pub fn max_age(&self) -> Option<&HeaderValue> {
        self.max_age.as_ref()
    }

    /// `Vary`: the request fields the answer depends on (merged into the inner service's).
    pub fn vary(&self) -> &HeaderValue {
        self.vary.as_ref().unwrap_or(&EMPTY)
    }

    /// Applies the headers to an inner service's response: the layer's values replace every
    /// `Access-Control-*` header the inner service set, and `Vary` is merged into one field.
    pub fn apply_to(self, headers: &mut HeaderMap) {
        // One look at the response's field names (no hashing) tells whether the inner service
        // set a CORS header the layer may not overwrite, or a `Vary` to merge into. Most
        // responses have neither, and then nothing is looked up before inserting.
        let mut stale = false;
        let mut has_vary = false;
        for name in headers.keys() {
            if *name == VARY {
                has_vary = true;
            } else if Self::removes(name) {
                stale = true;
            }
        }
        if stale {
            Self::remove_stale(headers);
        }
        self.write(headers, has_vary);
    }

    /// The headers of a 200 preflight answer (these, then `Content-Length: 0`), from the
    /// matched rule's prebuilt `template` when there is one.
    fn preflight_map(self, template: Option<&PreflightTemplate>) -> HeaderMap {
        match template {
            // Private Network Access changes Vary and adds a field: built by hand (opt-in).
            Some(template) if self.allow_private_network.is_none() => template.fill(self),
            _ => {
                // Sized for every field at once: allocated once, never grown.
                let mut map = HeaderMap::with_capacity(self.len() + 1);
                self.write(&mut map, false);
                map.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                map
            }
        }
    }
}

/// One rule's answer, built when the rules are compiled: the header values that come from
/// the rule, and its prebuilt preflight answers.
#[derive(Clone, Debug)]
pub(crate) struct RuleAnswer {
    /// The rule's constant values; the ones that come from the request are `None` here.
    constant: CorsHeaders,
    /// Allow-Origin is `*` when the rule lists `*` among its origins.
    any_origin: bool,
    preflight: PreflightTemplate,
}

impl RuleAnswer {
    pub(crate) fn new(rule: &CorsRule) -> Self {
        let any_origin = rule.allowed_origins().iter().any(|o| o == "*");
        let constant = CorsHeaders {
            // Credentials are allowed for a named origin, never for `*`.
            allow_credentials: (!any_origin).then_some(TRUE),
            allow_methods: Some(
                joined_value(rule.allowed_methods()).unwrap_or_else(|| HeaderValue::from_static("")),
            ),
            expose_headers: joined_value(rule.expose_headers()),
            max_age: rule.max_age_seconds().map(HeaderValue::from),
            ..CorsHeaders::default()
        };
        let preflight = PreflightTemplate::new(&constant);
        RuleAnswer {
            constant,
            any_origin,
            preflight,
        }
    }

    /// The headers for a request this rule allows: the rule's values, the request's `Origin`
    /// (or `*`), the echoed requested names, and Private Network Access when asked.
    #[inline]
    pub(crate) fn headers(
        &self,
        origin: &HeaderValue,
        echo: Option<HeaderValue>,
        private_network: bool,
    ) -> CorsHeaders {
        let constant = &self.constant;
        CorsHeaders {
            allow_origin: Some(if self.any_origin { STAR } else { origin.clone() }),
            allow_credentials: constant.allow_credentials.clone(),
            allow_methods: constant.allow_methods.clone(),
            allow_headers: echo,
            expose_headers: constant.expose_headers.clone(),
            max_age: constant.max_age.clone(),
            allow_private_network: private_network.then_some(TRUE),
            vary: Some(if private_network {
                VARY_HEADER_PRIVATE_NETWORK
            } else {
                VARY_HEADER
            }),
        }
    }
}

/// `values` joined with `, ` as one header value; `None` when empty (or, impossible after
/// validation, not a valid field value).
fn joined_value(values: &[String]) -> Option<HeaderValue> {
    if values.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(values.join(", ").as_bytes()).ok()
}

/// A rule's preflight answer headers, built when the rules are compiled, in writing order,
/// with placeholders for the two values that come from the request (Allow-Origin, the echoed
/// Allow-Headers). A preflight clones the map that fits (two allocations, no hashing) and
/// puts the request's values in place.
#[derive(Clone, Debug)]
struct PreflightTemplate {
    without_echo: HeaderMap,
    with_echo: HeaderMap,
}

impl PreflightTemplate {
    fn new(constant: &CorsHeaders) -> Self {
        let map = |echo: bool| {
            CorsHeaders {
                allow_origin: Some(STAR),
                allow_headers: echo.then_some(STAR),
                vary: Some(VARY_HEADER),
                ..constant.clone()
            }
            .preflight_map(None)
        };
        PreflightTemplate {
            without_echo: map(false),
            with_echo: map(true),
        }
    }

    /// The template's map with the request's values of `headers` in place.
    fn fill(&self, headers: CorsHeaders) -> HeaderMap {
        let mut origin = headers.allow_origin;
        let mut echo = headers.allow_headers;
        let mut map = match echo {
            Some(_) => self.with_echo.clone(),
            None => self.without_echo.clone(),
        };
        for (name, value) in map.iter_mut() {
            if *name == ACCESS_CONTROL_ALLOW_ORIGIN {
                if let Some(origin) = origin.take() {
                    *value = origin;
                }
            } else if *name == ACCESS_CONTROL_ALLOW_HEADERS {
                if let Some(echo) = echo.take() {
                    *value = echo;
                }
            }
        }
        map
    }
}

/// A 200 preflight answer: empty body, `Content-Length: 0`, no `Content-Type`. `answer` is
/// the matched rule's, when the caller has it (the prebuilt maps are then cloned).
pub(crate) fn preflight_response(headers: CorsHeaders, answer: Option<&RuleAnswer>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.headers_mut() = headers.preflight_map(answer.map(|a| &a.preflight));
    response
}

/// An S3 error document: `Content-Type: application/xml`, ids in headers and body alike.
pub(crate) fn error_response(refusal: &Refusal, ids: RequestIds) -> Response<Bytes> {
    let request_id = String::from_utf8_lossy(ids.request_id.as_bytes());
    let host_id = String::from_utf8_lossy(ids.host_id.as_bytes());
    let body = refusal.to_xml(&request_id, &host_id);
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = refusal.status();
    let map = response.headers_mut();
    // Moved, not cloned: a first clone of a freshly made value would allocate.
    map.insert(X_AMZ_REQUEST_ID, ids.request_id);
    map.insert(X_AMZ_ID_2, ids.host_id);
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_writes_in_order_and_removes_only_what_it_may_not_write() {
        let headers = CorsHeaders {
            allow_origin: Some(STAR),
            allow_credentials: Some(TRUE),
            allow_methods: Some(STAR),
            allow_headers: Some(STAR),
            expose_headers: Some(STAR),
            max_age: Some(STAR),
            allow_private_network: Some(TRUE),
            vary: Some(STAR),
        };
        let names: Vec<HeaderName> = headers.iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                ACCESS_CONTROL_ALLOW_ORIGIN,
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                ACCESS_CONTROL_ALLOW_METHODS,
                ACCESS_CONTROL_ALLOW_HEADERS,
                ACCESS_CONTROL_EXPOSE_HEADERS,
                ACCESS_CONTROL_MAX_AGE,
                ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
                VARY,
            ]
        );
        assert_eq!(headers.len(), 8);
        let removed: Vec<&HeaderName> = names.iter().filter(|n| CorsHeaders::removes(n)).collect();
        assert_eq!(
            removed,
            [
                &ACCESS_CONTROL_ALLOW_CREDENTIALS,
                &ACCESS_CONTROL_ALLOW_HEADERS,
                &ACCESS_CONTROL_EXPOSE_HEADERS,
                &ACCESS_CONTROL_MAX_AGE,
                &ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
            ]
        );
    }
}
