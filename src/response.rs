//! Writing the response: the `Access-Control-*` headers of an allowed request (from one
//! table), the 200 answer to a preflight, and S3's error documents with their id headers.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CONTENT_LENGTH,
    CONTENT_TYPE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use crate::config::CorsRule;
use crate::intern::{Found, WeakTable};
use crate::s3_error::{Refusal, RequestIds};

/// `Access-Control-Allow-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
/// `x-amz-request-id`.
pub const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
/// `x-amz-id-2`.
pub const X_AMZ_ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");

/// The `Vary` value S3 sends with every CORS answer: the request fields the answer depends on.
pub(crate) const VARY_VALUE: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
/// [`VARY_VALUE`] when the answer also depends on `Access-Control-Request-Private-Network`.
const VARY_VALUE_PRIVATE_NETWORK: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Access-Control-Request-Private-Network";

// ---- The table ---------------------------------------------------------------------------
//
// Every header the layer writes on an allowed request is one row of `TABLE`, in the order
// the layer writes them, and one variant of `Field` (its index in the table). Counting,
// iterating, replacing the inner service's fields and the prebuilt preflight answers read the
// table; writing (`CorsHeaders::write_each`) goes down the same rows written out, which a test
// checks against the table. Adding a header is a row, a variant, its value (a rule's constant
// in `RuleAnswer::new`, or a value from the request in `RuleAnswer::headers`), and its line in
// `write_each`.

/// A header of an allowed answer; its discriminant is its row in [`TABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    AllowOrigin,
    AllowCredentials,
    AllowMethods,
    AllowHeaders,
    ExposeHeaders,
    MaxAge,
    AllowPrivateNetwork,
    Vary,
}

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

const ROWS: usize = 8;

/// The headers of an allowed answer, in writing order.
static TABLE: [(Field, HeaderName, Meets); ROWS] = [
    (Field::AllowOrigin, ACCESS_CONTROL_ALLOW_ORIGIN, Meets::Replaces),
    (
        Field::AllowCredentials,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        Meets::Removes,
    ),
    (Field::AllowMethods, ACCESS_CONTROL_ALLOW_METHODS, Meets::Replaces),
    (Field::AllowHeaders, ACCESS_CONTROL_ALLOW_HEADERS, Meets::Removes),
    (
        Field::ExposeHeaders,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        Meets::Removes,
    ),
    (Field::MaxAge, ACCESS_CONTROL_MAX_AGE, Meets::Removes),
    (
        Field::AllowPrivateNetwork,
        ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
        Meets::Removes,
    ),
    (Field::Vary, VARY, Meets::Merges),
];

// Constants, so that `from_static`'s check of every byte runs when compiling, not per request.
const TRUE: HeaderValue = HeaderValue::from_static("true");
const ZERO: HeaderValue = HeaderValue::from_static("0");
const APPLICATION_XML: HeaderValue = HeaderValue::from_static("application/xml");
const VARY_HEADER: HeaderValue = HeaderValue::from_static(VARY_VALUE);
const VARY_HEADER_PRIVATE_NETWORK: HeaderValue = HeaderValue::from_static(VARY_VALUE_PRIVATE_NETWORK);
const STAR: HeaderValue = HeaderValue::from_static("*");
/// What an accessor of an always-written header returns if it is somehow missing.
static EMPTY: HeaderValue = HeaderValue::from_static("");
// The constants again as statics, for the accessors that lend them.
static TRUE_REF: HeaderValue = TRUE;
static VARY_REF: HeaderValue = VARY_HEADER;
static VARY_PRIVATE_NETWORK_REF: HeaderValue = VARY_HEADER_PRIVATE_NETWORK;

/// Whether an inner response's field named `name` is removed by a match.
fn removed(name: &HeaderName) -> bool {
    TABLE
        .iter()
        .any(|(_, row, meets)| *meets == Meets::Removes && row == name)
}

/// The `Access-Control-*` headers (and `Vary`) of an allowed request, ready to insert.
///
/// Small, since a decision carries it through the layer's future: the two values that come
/// from the request, the matched rule's own values shared with the policy (one pointer, not
/// three values), and two flags.
#[derive(Clone)]
pub struct CorsHeaders {
    /// `Access-Control-Allow-Origin`: `*`, or the request's `Origin`.
    origin: HeaderValue,
    /// `Access-Control-Allow-Headers`: the echo of the requested names.
    allow_headers: Option<HeaderValue>,
    /// Every rule's answer of the policy; `rule` is the matched one.
    answers: Arc<[RuleAnswer]>,
    rule: u8,
    credentials: bool,
    private_network: bool,
}

impl PartialEq for CorsHeaders {
    /// The same headers with the same values, whichever policy they came from.
    fn eq(&self, other: &Self) -> bool {
        TABLE
            .iter()
            .all(|(field, _, _)| self.get(*field) == other.get(*field))
    }
}

impl Eq for CorsHeaders {}

impl std::fmt::Debug for CorsHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                TABLE
                    .iter()
                    .filter_map(|(field, name, _)| Some((name, self.get(*field)?))),
            )
            .finish()
    }
}

impl CorsHeaders {
    /// The headers for a request that the rule at `rule` of `answers` allows: the rule's
    /// values, the request's `Origin` (or `*`), the echoed requested names, and Private
    /// Network Access when asked.
    #[inline]
    pub(crate) fn for_rule(
        answers: &Arc<[RuleAnswer]>,
        rule: usize,
        origin: &HeaderValue,
        echo: Option<HeaderValue>,
        private_network: bool,
    ) -> Option<CorsHeaders> {
        let answer = answers.get(rule)?;
        Some(CorsHeaders {
            origin: if answer.any_origin { STAR } else { origin.clone() },
            allow_headers: echo,
            answers: Arc::clone(answers),
            rule: u8::try_from(rule).ok()?,
            // Credentials are allowed for a named origin, never for `*`.
            credentials: !answer.any_origin,
            private_network,
        })
    }

    fn answer(&self) -> Option<&RuleAnswer> {
        self.answers.get(usize::from(self.rule))
    }

    fn get(&self, field: Field) -> Option<&HeaderValue> {
        match field {
            Field::AllowOrigin => Some(&self.origin),
            Field::AllowCredentials => self.credentials.then_some(&TRUE_REF),
            Field::AllowMethods => self.answer().map(|a| &a.allow_methods),
            Field::AllowHeaders => self.allow_headers.as_ref(),
            Field::ExposeHeaders => self.answer().and_then(|a| a.expose_headers.as_ref()),
            Field::MaxAge => self.answer().and_then(|a| a.max_age.as_ref()),
            Field::AllowPrivateNetwork => self.private_network.then_some(&TRUE_REF),
            Field::Vary => Some(match self.private_network {
                true => &VARY_PRIVATE_NETWORK_REF,
                false => &VARY_REF,
            }),
        }
    }

    /// `Access-Control-Allow-Origin`: `*`, or the request's `Origin` verbatim.
    pub fn allow_origin(&self) -> &HeaderValue {
        self.get(Field::AllowOrigin).unwrap_or(&EMPTY)
    }

    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub fn allow_credentials(&self) -> bool {
        self.get(Field::AllowCredentials).is_some()
    }

    /// `Access-Control-Allow-Methods`: the rule's methods, configuration order.
    pub fn allow_methods(&self) -> &HeaderValue {
        self.get(Field::AllowMethods).unwrap_or(&EMPTY)
    }

    /// `Access-Control-Allow-Headers`: the requested names, lowercased, request order.
    pub fn allow_headers(&self) -> Option<&HeaderValue> {
        self.get(Field::AllowHeaders)
    }

    /// `Access-Control-Expose-Headers`, when the rule has ExposeHeaders.
    pub fn expose_headers(&self) -> Option<&HeaderValue> {
        self.get(Field::ExposeHeaders)
    }

    /// `Access-Control-Max-Age`, when the rule has MaxAgeSeconds.
    pub fn max_age(&self) -> Option<&HeaderValue> {
        self.get(Field::MaxAge)
    }

    /// `Vary`.
    pub fn vary(&self) -> &HeaderValue {
        self.get(Field::Vary).unwrap_or(&EMPTY)
    }

    /// Every header, in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        TABLE
            .iter()
            .filter_map(|(field, name, _)| Some((name.clone(), self.get(*field)?.clone())))
    }

    /// How many fields [`write_each`](Self::write_each) writes.
    fn len(&self) -> usize {
        TABLE
            .iter()
            .filter(|(field, _, _)| self.get(*field).is_some())
            .count()
    }

    /// Hands `write` every field with its value, in `TABLE`'s order: the request's values
    /// moved out (a clone of a value just parsed from a request may allocate), the rule's
    /// cloned (a reference count). Written out rather than a loop over the rows that gets each
    /// value through a match per row, which cost a tenth of an actual request's overhead more;
    /// `apply_to_writes_the_table_in_order` checks it against `iter`, which reads the table.
    #[inline]
    fn write_each(self, mut write: impl FnMut(HeaderName, HeaderValue)) {
        let CorsHeaders {
            origin,
            allow_headers,
            answers,
            rule,
            credentials,
            private_network,
        } = self;
        let answer = answers.get(usize::from(rule));
        write(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if credentials {
            write(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(answer) = answer {
            write(ACCESS_CONTROL_ALLOW_METHODS, answer.allow_methods.clone());
        }
        if let Some(value) = allow_headers {
            write(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if let Some(value) = answer.and_then(|a| a.expose_headers.clone()) {
            write(ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
        if let Some(value) = answer.and_then(|a| a.max_age.clone()) {
            write(ACCESS_CONTROL_MAX_AGE, value);
        }
        if private_network {
            write(ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, TRUE);
        }
        let vary = match private_network {
            true => VARY_HEADER_PRIVATE_NETWORK,
            false => VARY_HEADER,
        };
        write(VARY, vary);
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
            } else if name.as_str().starts_with("access-control-") && removed(name) {
                stale = true;
            }
        }
        // Room for every field at once: the map grows once (or not at all) instead of when
        // the seventh field arrives, with every field before it moved again. If it cannot
        // grow (the map's size limit), `insert` below reports it as before.
        let _ = headers.try_reserve(self.len());
        if stale {
            for (_, name, meets) in &TABLE {
                if *meets == Meets::Removes {
                    headers.remove(name);
                }
            }
        }
        self.write_each(|name, value| {
            if has_vary && name == VARY {
                crate::vary::merge(headers, value);
            } else {
                headers.insert(name, value);
            }
        });
    }

    /// The headers of a 200 preflight answer: these, then `Content-Length: 0`. The map is a
    /// clone of a prebuilt one with the same fields (two allocations, no hashing) with these
    /// values put in place.
    pub(crate) fn preflight_map(self) -> HeaderMap {
        let Some(template) = PreflightShape::template(PreflightShape::of(&self)) else {
            return self.built_map();
        };
        if self.answer().is_none() {
            return self.built_map();
        }
        let mut map = template.clone();
        // The template's fields are the shape's rows of `TABLE` in table order (then
        // Content-Length): each value goes into the next field
        // (`shared_preflight_templates_give_the_built_map_for_every_shape` checks every shape
        // against the map built field by field).
        let mut slots = map.values_mut();
        self.write_each(|_, value| {
            if let Some(slot) = slots.next() {
                *slot = value;
            }
        });
        map
    }

    /// [`preflight_map`](Self::preflight_map) built field by field.
    fn built_map(self) -> HeaderMap {
        // Sized for every field at once: allocated once, never grown.
        let mut map = HeaderMap::with_capacity(self.len() + 1);
        self.write_each(|name, value| {
            map.insert(name, value);
        });
        map.insert(CONTENT_LENGTH, ZERO);
        map
    }
}

/// Which optional fields a preflight answer has (credentials, echoed headers, expose headers,
/// max-age), as four bits: the answers of every rule of every policy come in these 16 shapes,
/// and each shape's map is built once for the whole process, not once per rule (a million
/// compiled policies would otherwise hold a million copies).
#[derive(Clone, Copy)]
struct PreflightShape(usize);

/// A map per shape, built on first use, with placeholder values.
static PREFLIGHT_TEMPLATES: [OnceLock<HeaderMap>; 16] = [const { OnceLock::new() }; 16];

impl PreflightShape {
    const OPTIONAL: [Field; 4] = [
        Field::AllowCredentials,
        Field::AllowHeaders,
        Field::ExposeHeaders,
        Field::MaxAge,
    ];

    /// `None` when the answer has a field outside the shapes (Private Network Access, opt-in).
    fn of(headers: &CorsHeaders) -> Option<Self> {
        if headers.get(Field::AllowPrivateNetwork).is_some() {
            return None;
        }
        let bits = Self::OPTIONAL
            .iter()
            .enumerate()
            .filter(|(_, field)| headers.get(**field).is_some())
            .fold(0, |bits, (bit, _)| bits | 1 << bit);
        Some(PreflightShape(bits))
    }

    fn template(shape: Option<Self>) -> Option<&'static HeaderMap> {
        let PreflightShape(bits) = shape?;
        let cell = PREFLIGHT_TEMPLATES.get(bits)?;
        Some(cell.get_or_init(|| {
            // The shape's rows, in table order, with a placeholder value; then Content-Length.
            let present = |field: Field| match Self::OPTIONAL.iter().position(|f| *f == field) {
                Some(bit) => bits & 1 << bit != 0,
                None => field != Field::AllowPrivateNetwork,
            };
            let rows: Vec<_> = TABLE.iter().filter(|(field, _, _)| present(*field)).collect();
            let mut map = HeaderMap::with_capacity(rows.len() + 1);
            for (_, name, _) in rows {
                map.insert(name.clone(), STAR);
            }
            map.insert(CONTENT_LENGTH, ZERO);
            map
        }))
    }
}

/// One rule's answer, built when the rules are compiled: the header values that come from the
/// rule. Only those are kept (a few hundred bytes per rule, so that a million compiled
/// policies fit in memory); the rest of an answer comes from the request.
#[derive(Clone, Debug)]
pub(crate) struct RuleAnswer {
    allow_methods: HeaderValue,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    /// Allow-Origin is `*` when the rule lists `*` among its origins.
    any_origin: bool,
}

impl RuleAnswer {
    /// Every rule's answer. Policies whose rules answer alike (the same methods, expose
    /// headers, max-age and `*` origin, whatever their origins and allowed headers) share one
    /// set of answers: across many buckets that differ only in origins, the values a request
    /// clones are one block that stays in the cache. The values of all the rules are slices of
    /// one buffer, so a set holds one allocation for them.
    pub(crate) fn for_rules(rules: &[CorsRule]) -> Arc<[RuleAnswer]> {
        let text = AnswerText::of(rules);
        let (hasher, table) = SHARED_ANSWERS.get_or_init(Default::default);
        let hash = hasher.hash_one(&text);
        let same = |live: &[RuleAnswer]| text.describes(live);
        // A poisoned lock only means another thread panicked here: the table is still whole.
        let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
        match table.find(hash, same) {
            Found::Same(live) => live,
            Found::Other => text.build(),
            Found::Nothing => table.insert(hash, text.build(), same),
        }
    }
}

/// The answers every policy shares, by a hash of their text (random keys: a configuration
/// cannot be chosen to collide).
static SHARED_ANSWERS: OnceLock<(RandomState, Mutex<WeakTable<[RuleAnswer]>>)> = OnceLock::new();

/// The rules' values joined as Allow-Methods, Expose-Headers and Max-Age send them, in one
/// text, and where each rule's are: what a set of answers is made from and compared by.
#[derive(Hash)]
struct AnswerText {
    text: String,
    rules: Vec<RuleText>,
}

#[derive(Hash)]
struct RuleText {
    /// `None` for a field the rule does not have; a field the rule has is sent even when its
    /// joined value is empty (an `<ExposeHeader></ExposeHeader>`), as the spec says:
    /// Expose-Headers "only when the rule has ExposeHeaders".
    methods: Option<Range<usize>>,
    expose: Option<Range<usize>>,
    max_age: Option<Range<usize>>,
    any_origin: bool,
}

impl AnswerText {
    fn of(rules: &[CorsRule]) -> Self {
        let mut text = String::new();
        let mut push = |values: &[String]| {
            let start = text.len();
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(value);
            }
            (!values.is_empty()).then_some(start..text.len())
        };
        let rules = rules
            .iter()
            .map(|rule| {
                let seconds = rule.max_age_seconds().map(|s| s.to_string());
                RuleText {
                    methods: push(rule.allowed_methods()),
                    expose: push(rule.expose_headers()),
                    max_age: push(seconds.as_slice()),
                    any_origin: rule.allowed_origins().iter().any(|o| o == "*"),
                }
            })
            .collect();
        AnswerText { text, rules }
    }

    fn slice(&self, range: &Option<Range<usize>>) -> Option<&[u8]> {
        range.clone().and_then(|range| self.text.as_bytes().get(range))
    }

    /// Whether `answers` were built from this text.
    fn describes(&self, answers: &[RuleAnswer]) -> bool {
        let same = |value: Option<&HeaderValue>, range: &Option<Range<usize>>| {
            value.map(HeaderValue::as_bytes) == self.slice(range)
        };
        answers.len() == self.rules.len()
            && answers.iter().zip(&self.rules).all(|(answer, rule)| {
                answer.any_origin == rule.any_origin
                    && same(Some(&answer.allow_methods), &rule.methods)
                    && same(answer.expose_headers.as_ref(), &rule.expose)
                    && same(answer.max_age.as_ref(), &rule.max_age)
            })
    }

    fn build(&self) -> Arc<[RuleAnswer]> {
        let shared = Bytes::from(self.text.clone());
        // A value that is not a valid field value cannot pass validation; it would be left
        // out (Allow-Methods is never missing after validation).
        let value = |range: &Option<Range<usize>>| {
            range
                .clone()
                .and_then(|range| HeaderValue::from_maybe_shared(shared.slice(range)).ok())
        };
        self.rules
            .iter()
            .map(|rule| RuleAnswer {
                any_origin: rule.any_origin,
                allow_methods: value(&rule.methods).unwrap_or_else(|| HeaderValue::from_static("")),
                expose_headers: value(&rule.expose),
                max_age: value(&rule.max_age),
            })
            .collect()
    }
}

/// A 200 preflight answer: empty body, `Content-Length: 0`, no `Content-Type`.
pub(crate) fn preflight_response<B>(headers: CorsHeaders, empty: B) -> Response<B> {
    preflight_answer(headers.preflight_map(), empty)
}

/// A 200 preflight answer with these headers (see [`CorsHeaders::preflight_map`]).
pub(crate) fn preflight_answer<B>(headers: HeaderMap, empty: B) -> Response<B> {
    let mut response = Response::new(empty);
    *response.headers_mut() = headers;
    response
}

/// An S3 error document: `Content-Type: application/xml`, ids in headers and body alike.
/// Without `ids`, fresh ones are made, and the body and both id headers share one buffer.
pub(crate) fn error_response(refusal: &Refusal, ids: Option<RequestIds>) -> Response<Bytes> {
    let (body, ids) = match ids {
        None => refusal.document_with_fresh_ids(),
        Some(ids) => {
            let request_id = String::from_utf8_lossy(ids.request_id.as_bytes());
            let host_id = String::from_utf8_lossy(ids.host_id.as_bytes());
            let body = Bytes::from(refusal.to_xml(&request_id, &host_id));
            (body, ids)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = refusal.status();
    let map = response.headers_mut();
    // Moved, not cloned: a first clone of a freshly made value would allocate.
    map.insert(X_AMZ_REQUEST_ID, ids.request_id);
    map.insert(X_AMZ_ID_2, ids.host_id);
    map.insert(CONTENT_TYPE, APPLICATION_XML);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers a one-rule policy sends when the bits of `shape` say which optional fields
    /// it has: bit 0 credentials (a named origin, not `*`), 1 echoed headers, 2 expose
    /// headers, 3 max-age, 4 Private Network Access.
    fn shaped(shape: usize) -> CorsHeaders {
        let on = |bit: usize| shape & 1 << bit != 0;
        let mut rule = crate::CorsRule::builder()
            .allowed_origin(if on(0) { "https://a.example" } else { "*" })
            .allowed_methods(["GET", "PUT"]);
        if on(2) {
            rule = rule.expose_header("ETag");
        }
        if on(3) {
            rule = rule.max_age_seconds(3000);
        }
        let answers = RuleAnswer::for_rules(&[rule.build()]);
        let echo = on(1).then(|| HeaderValue::from_static("x-a, x-b"));
        let origin = HeaderValue::from_static("https://a.example");
        let headers = CorsHeaders::for_rule(&answers, 0, &origin, echo, on(4)).expect("rule 0");
        assert_eq!(headers.allow_credentials(), on(0));
        assert_eq!(headers.allow_headers().is_some(), on(1));
        assert_eq!(headers.expose_headers().is_some(), on(2));
        assert_eq!(headers.max_age().is_some(), on(3));
        headers
    }

    #[test]
    fn shared_preflight_templates_give_the_built_map_for_every_shape() {
        for shape in 0..16usize {
            let headers = shaped(shape);
            let fields = |map: HeaderMap| -> Vec<(String, HeaderValue)> {
                map.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
            };
            // Twice: the first use builds the shape's template, the second clones it.
            for _ in 0..2 {
                assert_eq!(
                    fields(headers.clone().preflight_map()),
                    fields(headers.clone().built_map()),
                    "shape {shape:04b}"
                );
            }
        }
    }

    #[test]
    fn apply_to_writes_the_table_in_order() {
        for shape in 0..32usize {
            let headers = shaped(shape);
            let listed: Vec<(HeaderName, HeaderValue)> = headers.iter().collect();
            assert_eq!(listed.len(), 3 + shape.count_ones() as usize);
            let mut map = HeaderMap::new();
            headers.apply_to(&mut map);
            let written: Vec<(HeaderName, HeaderValue)> =
                map.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            assert_eq!(written, listed, "shape {shape:05b}");
        }
    }

    #[test]
    fn policies_whose_rules_answer_alike_share_their_answers() {
        let rule = |origin: &str, expose: &[&str], max_age: Option<i32>| {
            let mut rule = crate::CorsRule::builder()
                .allowed_origin(origin)
                .allowed_methods(["GET", "PUT"])
                .allowed_header(format!("x-{origin}"))
                .expose_headers(expose.iter().copied());
            if let Some(seconds) = max_age {
                rule = rule.max_age_seconds(seconds);
            }
            rule.build()
        };
        let a = RuleAnswer::for_rules(&[rule("https://a.example", &["ETag"], Some(600))]);
        // Other origins and allowed headers, the same answers: shared.
        let b = RuleAnswer::for_rules(&[rule("https://b.example", &["ETag"], Some(600))]);
        assert!(Arc::ptr_eq(&a, &b));
        // Anything an answer sends differs: not shared.
        for other in [
            rule("https://a.example", &["ETag", "x-id"], Some(600)),
            rule("https://a.example", &["ETag"], Some(601)),
            rule("https://a.example", &["ETag"], None),
            rule("https://a.example", &[], Some(600)),
            rule("https://a.example", &[""], Some(600)),
            rule("*", &["ETag"], Some(600)),
        ] {
            let c = RuleAnswer::for_rules(std::slice::from_ref(&other));
            assert!(!Arc::ptr_eq(&a, &c), "{other:?}");
            assert!(AnswerText::of(std::slice::from_ref(&other)).describes(&c));
            assert!(!AnswerText::of(std::slice::from_ref(&other)).describes(&a));
        }
        // No rule `""` and no rule at all are not the same either.
        let empty = RuleAnswer::for_rules(&[rule("https://a.example", &[""], Some(600))]);
        let none = RuleAnswer::for_rules(&[rule("https://a.example", &[], Some(600))]);
        assert!(!Arc::ptr_eq(&empty, &none));
        assert_eq!(
            empty[0].expose_headers.as_ref().map(HeaderValue::as_bytes),
            Some(&b""[..])
        );
        assert!(none[0].expose_headers.is_none());
    }

    #[test]
    fn table_rows_are_in_field_order() {
        for (row, (field, _, _)) in TABLE.iter().enumerate() {
            assert_eq!(*field as usize, row, "{field:?}");
        }
    }
}
