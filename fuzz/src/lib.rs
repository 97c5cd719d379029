//! Checks shared by the fuzz targets of `tower-s3-cors`.
//!
//! Every check panics (which libFuzzer reports as a crash) when the crate breaks a promise:
//! a parser answers with the wrong S3 error, an accepted configuration does not survive its
//! own serialisation, or the layer emits a header or a document that the request did not
//! justify.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tower_s3_cors::fetch_metadata::FetchMetadata;
use tower_s3_cors::header::{ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, X_AMZ_ID_2, X_AMZ_REQUEST_ID};
use tower_s3_cors::{
    ConfigError, CorsConfiguration, CorsLayer, CorsOptions, CorsPolicy, Decision, ErrorCode, RequestIds,
};
use tower_service::Service;

const MALFORMED_XML: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";
const TOO_BIG: &str = "Your request was too big.";
const TOO_MANY_RULES: &str = "The number of CORS rules should not exceed allowed limit of 100 rules.";
const VARY_VALUE: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// A parser's refusal is one of S3's three codes with S3's message for it, and the oversized
/// refusal is given exactly when the document is over 64 KiB.
pub fn check_config_error(err: &ConfigError, document_len: usize) {
    let too_big = document_len > CorsConfiguration::MAX_DOCUMENT_BYTES;
    assert_eq!(
        err.code() == ErrorCode::MaxMessageLengthExceeded,
        too_big,
        "{err}"
    );
    let message = err.message();
    match err.code() {
        ErrorCode::MalformedXml => assert_eq!(message, MALFORMED_XML),
        ErrorCode::MaxMessageLengthExceeded => assert_eq!(message, TOO_BIG),
        ErrorCode::InvalidRequest => assert!(
            message.starts_with("Found unsupported HTTP method in CORS config. Unsupported method is ")
                || (message.starts_with("AllowedOrigin \"")
                    && message.ends_with("\" can not have more than one wildcard."))
                || (message.starts_with("AllowedHeader \"")
                    && message.ends_with("\" can not have more than one wildcard."))
                || (message.starts_with("ExposeHeader \"")
                    && message.ends_with(
                        "\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                    ))
                || message == TOO_MANY_RULES,
            "unexpected InvalidRequest message {message:?}"
        ),
        other => panic!("unexpected code {other:?}"),
    }
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    let _ = err.to_string();
    let document = err.to_s3_xml("request-id", "host-id");
    let fields = parse_error_document(&document).unwrap_or_else(|e| panic!("{e}: {document}"));
    assert_eq!(field(&fields, "Code"), Some(err.code().as_str()));
    assert_eq!(field(&fields, "Message"), Some(message));
}

/// An accepted configuration is one S3 would accept: 1 to 100 rules that validate again.
pub fn check_accepted(config: &CorsConfiguration) {
    let rules = config.rules();
    assert!(!rules.is_empty() && rules.len() <= CorsConfiguration::MAX_RULES);
    let again = CorsConfiguration::new(rules.to_vec()).expect("an accepted configuration validates again");
    assert_eq!(&again, config);
}

/// `from_xml(to_xml(c)) == c` and `from_json(to_json(c)) == c`, unless the written document is
/// over 64 KiB, which the parsers must then refuse with `MaxMessageLengthExceeded`.
pub fn check_round_trip(config: &CorsConfiguration) {
    let xml = config.to_xml();
    match CorsConfiguration::from_xml(&xml) {
        Ok(again) => assert_eq!(&again, config, "XML round trip changed the configuration:\n{xml}"),
        Err(err) => {
            assert!(
                xml.len() > CorsConfiguration::MAX_DOCUMENT_BYTES,
                "to_xml wrote a document from_xml refuses: {err}\n{xml}"
            );
            assert_eq!(err.code(), ErrorCode::MaxMessageLengthExceeded);
        }
    }
    let json = config.to_json();
    match CorsConfiguration::from_json(&json) {
        Ok(again) => assert_eq!(
            &again, config,
            "JSON round trip changed the configuration:\n{json}"
        ),
        Err(err) => {
            assert!(
                json.len() > CorsConfiguration::MAX_DOCUMENT_BYTES,
                "to_json wrote a document from_json refuses: {err}\n{json}"
            );
            assert_eq!(err.code(), ErrorCode::MaxMessageLengthExceeded);
        }
    }
    // serde (any format) has no size limit: it must always give the configuration back.
    let serde_text = serde_json::to_string(config).expect("a configuration serialises");
    let again: CorsConfiguration = serde_json::from_str(&serde_text).expect("and deserialises");
    assert_eq!(&again, config);
    // A compiled policy keeps the configuration in its compact form: read back, it is the same.
    let policy = CorsPolicy::new(config.clone());
    assert_eq!(&policy.configuration_owned(), config);
    assert_eq!(policy.configuration(), config);
}

/// The children of `<Error>` in an S3 error document, in order, with their text; an error
/// when the document is not well-formed XML 1.0 or not shaped as S3 writes it.
pub fn parse_error_document(document: &str) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>";
    if !document.starts_with(DECLARATION) {
        return Err("the document does not start with the XML declaration and <Error>".into());
    }
    let mut reader = quick_xml::Reader::from_str(document);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut fields = Vec::new();
    let mut current: Option<(String, String)> = None;
    loop {
        match reader.read_event().map_err(|e| format!("not well-formed: {e}"))? {
            Event::Decl(_) if depth == 0 && roots == 0 => {}
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                depth += 1;
                match depth {
                    1 if name == "Error" => roots += 1,
                    2 => current = Some((name, String::new())),
                    _ => return Err(format!("unexpected element <{name}> at depth {depth}")),
                }
            }
            Event::End(_) => {
                if depth == 2 {
                    fields.extend(current.take());
                }
                depth = depth.checked_sub(1).ok_or("unbalanced end tag")?;
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                    return Err(format!("character U+{:04X} cannot appear in XML", u32::from(c)));
                }
                match &mut current {
                    Some((_, value)) => value.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside a field".into()),
                }
            }
            Event::GeneralRef(r) => {
                let c = match &*r {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => r
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .ok_or_else(|| format!("undeclared entity &{};", &*r))?,
                };
                if !is_xml_char(c) {
                    return Err(format!("reference to U+{:04X}", u32::from(c)));
                }
                match &mut current {
                    Some((_, value)) => value.push(c),
                    None => return Err("reference outside a field".into()),
                }
            }
            Event::Eof => break,
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    if depth != 0 || roots != 1 {
        return Err("not exactly one complete <Error> root".into());
    }
    Ok(fields)
}

/// The text of the first field called `name`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Parses a configuration from fuzz input: XML when it starts with `<`, JSON otherwise.
#[allow(clippy::result_large_err)] // the library's own parsers return this error by value
pub fn parse_config(text: &str) -> Result<CorsConfiguration, ConfigError> {
    if text.trim_start().starts_with('<') {
        CorsConfiguration::from_xml(text)
    } else {
        CorsConfiguration::from_json(text)
    }
}

/// One request through the layer, described by fuzz input.
///
/// The input is `CONFIG \0 FLAGS REQUEST`: a configuration (XML or JSON), a NUL, one byte of
/// flags, then an HTTP/1-like request head: `METHOD PATH` and `name: value` lines separated by
/// `\n`. Header values are raw bytes (obs-text and invalid UTF-8 included); lines that no
/// `HeaderValue` can hold are dropped, as a server would refuse them before any middleware.
#[derive(Debug)]
pub struct Case {
    /// The configuration.
    pub config: CorsConfiguration,
    /// Bit 0 cache-safe Vary, 1 Fetch mode, 2 enforce, 3 Private Network Access, 4 a fixed
    /// request-id hook, 5 the inner service sets stale CORS headers and a Vary, 6 the inner
    /// answers 404, 7 Fetch Metadata resource isolation.
    pub flags: u8,
    /// The request.
    pub request: Request<String>,
}

impl Case {
    /// Reads a case; `None` when the configuration is refused or the request line is not one.
    pub fn parse(data: &[u8]) -> Option<Case> {
        let split = data.iter().position(|&b| b == 0)?;
        let (config, rest) = data.split_at(split);
        let config = parse_config(std::str::from_utf8(config).ok()?).ok()?;
        let (&flags, head) = rest.get(1..)?.split_first()?;
        let mut lines = head.split(|&b| b == b'\n');
        let request_line = lines.next()?;
        let mut parts = request_line.splitn(2, |&b| b == b' ');
        let method = Method::from_bytes(parts.next()?).ok()?;
        let path = parts.next().unwrap_or(b"/");
        let uri = http::Uri::try_from(path).unwrap_or_else(|_| http::Uri::from_static("/"));
        let mut request = Request::new(String::new());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default();
            let value = value.strip_prefix(b" ").unwrap_or(value);
            let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) else {
                continue;
            };
            if request.headers().len() >= 20_000 {
                break;
            }
            request.headers_mut().append(name, value);
        }
        Some(Case {
            config,
            flags,
            request,
        })
    }

    fn options(&self) -> CorsOptions {
        CorsOptions::new()
            .cache_safe_vary(self.flags & 1 != 0)
            .fetch_mode(self.flags & 2 != 0)
            .enforce(self.flags & 4 != 0)
            .private_network(self.flags & 8 != 0)
            .fetch_metadata((self.flags & 128 != 0).then(FetchMetadata::new))
    }
}

/// The inner service: counts its calls and answers with a fixed response.
#[derive(Clone)]
struct Stub {
    calls: Arc<AtomicUsize>,
    flags: u8,
}

impl Stub {
    fn response(flags: u8) -> Response<String> {
        let mut response = Response::new(String::from("inner body"));
        if flags & 64 != 0 {
            *response.status_mut() = StatusCode::NOT_FOUND;
        }
        let headers = response.headers_mut();
        headers.insert("x-inner", HeaderValue::from_static("yes"));
        if flags & 32 != 0 {
            headers.insert(
                ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("https://stale.example"),
            );
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-stale"));
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("1"));
            headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
        response
    }
}

impl Service<Request<String>> for Stub {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<String>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Stub::response(self.flags)))
    }
}

fn poll_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the layer's future is not ready although the inner one is"),
    }
}

fn body_bytes<B: Body<Data = Bytes>>(body: B) -> Vec<u8>
where
    B::Error: std::fmt::Debug,
{
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    // A body of ours is one frame; the inner one is a String: both end at once.
    for _ in 0..4 {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Poll::Ready(Some(Err(e))) => panic!("body error {e:?}"),
            Poll::Ready(None) => return out,
            Poll::Pending => panic!("body pending"),
        }
    }
    panic!("body did not end");
}

/// The requested header names as spec §5.3 and §6 read them: every field joined with `,`,
/// split on `,`, trimmed of spaces and tabs, empty items dropped, lowercased.
pub fn requested_names(headers: &HeaderMap) -> Vec<Vec<u8>> {
    let mut joined = Vec::new();
    for (i, value) in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(value.as_bytes());
    }
    joined
        .split(|&b| b == b',')
        .map(|item| {
            let start = item
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(item.len());
            let end = item
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |i| i + 1);
            item[start..end].to_ascii_lowercase()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    assert!(all.next().is_none(), "{name} sent more than once");
    first
}

/// The resource isolation policy written from its description: whether the request passes
/// without a rule (no `Sec-Fetch-Site`; one field `same-origin`, `same-site` or `none`; a
/// top-level `GET` navigation), and whether it passed as a navigation.
fn fetch_metadata_reference(method: &Method, headers: &HeaderMap) -> (bool, bool) {
    let sites: Vec<&HeaderValue> = headers.get_all("sec-fetch-site").iter().collect();
    match sites.as_slice() {
        [] => (true, false),
        [one] if [&b"same-origin"[..], b"same-site", b"none"].contains(&one.as_bytes()) => (true, false),
        _ => {
            let navigation = *method == Method::GET
                && headers.get("sec-fetch-mode").is_some_and(|v| v == "navigate")
                && headers.get("sec-fetch-dest").is_some_and(|v| v == "document");
            (navigation, navigation)
        }
    }
}

const CORS_RESPONSE_HEADERS: [HeaderName; 6] = [
    ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE,
];

/// Sends the case's request through a [`CorsLayer`] around a stub and checks the answer.
pub fn check_request_path(case: Case) {
    use tower_s3_cors::{CorsPolicy, RefusalKind};
    use tower_service::Service as _;

    let options = case.options();
    let flags = case.flags;
    let policy = CorsPolicy::new(case.config.clone());
    let mut layer = CorsLayer::new(case.config.clone()).options(options);
    if flags & 16 != 0 {
        layer = layer.request_ids(|_| RequestIds {
            request_id: HeaderValue::from_static("RID-FIXED"),
            host_id: HeaderValue::from_static("HID/fixed+="),
        });
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = tower_layer::Layer::layer(
        &layer,
        Stub {
            calls: Arc::clone(&calls),
            flags,
        },
    );
    let request = case.request;
    let request_headers = request.headers().clone();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let again = || {
        let mut again = Request::new(String::new());
        *again.method_mut() = method.clone();
        *again.uri_mut() = uri.clone();
        *again.headers_mut() = request_headers.clone();
        again
    };

    // The pure decision and the rule-by-rule explanation must agree on the first match.
    let decision = policy.evaluate_with(&request, &options);
    let explained = policy
        .explain(&request)
        .into_iter()
        .find(|check| check.matches())
        .map(|c| c.index);

    let response = poll_now(service.call(request)).unwrap_or_else(|e| match e {});
    let (parts, body) = response.into_parts();
    let body = body_bytes(body);
    let headers = &parts.headers;
    let inner_calls = calls.load(Ordering::SeqCst);

    let origins: Vec<&HeaderValue> = request_headers.get_all(ORIGIN).iter().collect();
    let acrm: Vec<&HeaderValue> = request_headers
        .get_all(ACCESS_CONTROL_REQUEST_METHOD)
        .iter()
        .collect();
    // An empty Origin counts as absent; two fields (even empty ones) are present.
    let origin_present = match origins.as_slice() {
        [] => false,
        [one] => !one.is_empty(),
        _ => true,
    };
    let s3_preflight =
        method == Method::OPTIONS && (!options.is_fetch_mode() || (origin_present && !acrm.is_empty()));
    if s3_preflight {
        assert_eq!(inner_calls, 0, "a preflight reached the inner service");
    }

    let names = requested_names(&request_headers);
    let check_cors_headers = |rule_index: usize| {
        let rule = policy.rule(rule_index).expect("matched rule exists");
        assert_eq!(
            explained,
            Some(rule_index),
            "explain and evaluate disagree on the first match"
        );
        assert_eq!(origins.len(), 1, "a CORS match needs exactly one Origin");
        let allow_origin = single(headers, &ACCESS_CONTROL_ALLOW_ORIGIN).expect("Allow-Origin");
        let any = rule.allowed_origins().iter().any(|o| o == "*");
        if any {
            assert_eq!(allow_origin, "*");
            assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        } else {
            assert_eq!(
                allow_origin.as_bytes(),
                origins[0].as_bytes(),
                "Allow-Origin is not the Origin sent"
            );
            assert_eq!(
                single(headers, &ACCESS_CONTROL_ALLOW_CREDENTIALS).expect("credentials"),
                "true"
            );
        }
        assert_eq!(
            single(headers, &ACCESS_CONTROL_ALLOW_METHODS)
                .expect("Allow-Methods")
                .as_bytes(),
            rule.allowed_methods().join(", ").as_bytes()
        );
        match single(headers, &ACCESS_CONTROL_ALLOW_HEADERS) {
            Some(value) => assert_eq!(
                value.as_bytes(),
                names.join(&b", "[..]),
                "Allow-Headers is not the echo"
            ),
            None => assert!(names.is_empty(), "requested headers not echoed"),
        }
        match single(headers, &ACCESS_CONTROL_EXPOSE_HEADERS) {
            Some(value) => assert_eq!(value.as_bytes(), rule.expose_headers().join(", ").as_bytes()),
            None => assert!(rule.expose_headers().is_empty()),
        }
        match single(headers, &ACCESS_CONTROL_MAX_AGE) {
            Some(value) => {
                let seconds = rule
                    .max_age_seconds()
                    .expect("Max-Age only for a rule with MaxAgeSeconds");
                assert_eq!(value.as_bytes(), seconds.to_string().as_bytes());
            }
            None => assert!(rule.max_age_seconds().is_none()),
        }
    };

    // The same request twice more through the same layer: an allowed preflight's answer is
    // kept the second time and given again the third (this thread's memo), byte for byte.
    if matches!(decision, Decision::Preflight(_)) {
        for _ in 0..2 {
            let repeated = poll_now(service.call(again())).unwrap_or_else(|e| match e {});
            assert_eq!(repeated.status(), parts.status, "a repeated preflight");
            assert_eq!(repeated.headers(), headers, "a repeated preflight");
            assert_eq!(calls.load(Ordering::SeqCst), inner_calls);
        }
    }

    match decision {
        Decision::Preflight(allowed) => {
            assert_eq!(inner_calls, 0);
            assert_eq!(parts.status, StatusCode::OK);
            assert!(body.is_empty());
            assert_eq!(single(headers, &CONTENT_LENGTH).expect("Content-Length"), "0");
            assert!(headers.get(CONTENT_TYPE).is_none());
            check_cors_headers(allowed.rule_index());
            let pna = options.is_private_network()
                && request_headers
                    .get("access-control-request-private-network")
                    .is_some_and(|v| v == "true");
            let vary = single(headers, &VARY).expect("Vary");
            if pna {
                assert_eq!(
                    vary,
                    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Access-Control-Request-Private-Network"
                );
                assert_eq!(
                    single(headers, &ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK).expect("PNA"),
                    "true"
                );
            } else {
                assert_eq!(vary, VARY_VALUE);
                assert!(headers.get(ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK).is_none());
            }
        }
        Decision::Refuse(refusal) => {
            assert_eq!(inner_calls, 0, "a refused request reached the inner service");
            assert_eq!(parts.status, refusal.status());
            assert!(matches!(parts.status.as_u16(), 400 | 403));
            assert_eq!(
                single(headers, &CONTENT_TYPE).expect("Content-Type"),
                "application/xml"
            );
            for name in CORS_RESPONSE_HEADERS.iter().chain([&VARY]) {
                assert!(headers.get(name).is_none(), "an error document carries {name}");
            }
            let text = std::str::from_utf8(&body).expect("error document is UTF-8");
            let fields = parse_error_document(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let rid = single(headers, &X_AMZ_REQUEST_ID).expect("x-amz-request-id");
            let hid = single(headers, &X_AMZ_ID_2).expect("x-amz-id-2");
            assert_eq!(
                field(&fields, "RequestId").map(str::as_bytes),
                Some(rid.as_bytes())
            );
            assert_eq!(field(&fields, "HostId").map(str::as_bytes), Some(hid.as_bytes()));
            assert_eq!(field(&fields, "Code"), Some(refusal.code()));
            let order: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            if refusal.kind() == RefusalKind::NotAllowed {
                assert_eq!(
                    order,
                    ["Code", "Message", "Method", "ResourceType", "RequestId", "HostId"]
                );
                assert_eq!(explained, None, "refused although explain finds a matching rule");
                let sent = acrm
                    .first()
                    .map(|v| v.as_bytes())
                    .unwrap_or(method.as_str().as_bytes());
                let expected: String = String::from_utf8_lossy(sent)
                    .chars()
                    .filter(|&c| is_xml_char(c))
                    .collect();
                assert_eq!(field(&fields, "Method"), Some(expected.as_str()));
            }
            if refusal.kind() == RefusalKind::MissingOrigin {
                assert!(!origin_present);
                assert_eq!(order, ["Code", "Message", "RequestId", "HostId"]);
            }
        }
        Decision::Actual(allowed) => {
            assert_eq!(inner_calls, 1);
            assert_eq!(parts.status, Stub::response(flags).status());
            assert_eq!(body, b"inner body");
            check_cors_headers(allowed.rule_index());
            assert_eq!(headers.get("x-inner").expect("inner header kept"), "yes");
            let vary = single(headers, &VARY).expect("one merged Vary");
            if flags & 32 != 0 {
                assert_eq!(
                    vary,
                    "Accept-Encoding, origin, Access-Control-Request-Headers, Access-Control-Request-Method"
                );
            } else {
                assert_eq!(vary, VARY_VALUE);
            }
        }
        Decision::PassThrough(pass) => {
            assert_eq!(inner_calls, 1);
            assert!(!s3_preflight);
            if origins.len() == 1 && !origins[0].is_empty() && method != Method::OPTIONS {
                assert_eq!(
                    explained, None,
                    "passed through although explain finds a matching rule"
                );
            }
            // Fetch Metadata lets through only what its policy passes; with enforce, an Origin
            // no rule allows passes only from the same origin.
            let (site_passes, navigation) = fetch_metadata_reference(&method, &request_headers);
            let fetch_metadata = options.fetch_metadata_policy().is_some();
            if fetch_metadata {
                assert!(site_passes, "Fetch Metadata let a cross-site request through");
            }
            if options.is_enforce() && origin_present {
                let sites: Vec<&HeaderValue> = request_headers.get_all("sec-fetch-site").iter().collect();
                assert!(
                    fetch_metadata && matches!(sites.as_slice(), [one] if *one == "same-origin"),
                    "enforce let an Origin no rule allows through"
                );
            }
            // Unchanged, apart from cache-safe Vary and the Fetch Metadata headers read.
            let mut expected = Stub::response(flags).into_parts().0.headers;
            let mut ours: Vec<&str> = Vec::new();
            if pass.adds_vary() {
                ours.extend(VARY_VALUE.split(", "));
            }
            if fetch_metadata {
                ours.push("Sec-Fetch-Site");
                if navigation {
                    ours.extend(["Sec-Fetch-Mode", "Sec-Fetch-Dest"]);
                }
            }
            if !ours.is_empty() {
                let mut merged: Vec<&str> = if flags & 32 != 0 {
                    vec!["Accept-Encoding", "origin"]
                } else {
                    Vec::new()
                };
                for token in ours {
                    if !merged.iter().any(|t| t.eq_ignore_ascii_case(token)) {
                        merged.push(token);
                    }
                }
                let merged = HeaderValue::from_str(&merged.join(", ")).expect("tokens");
                expected.insert(VARY, merged);
            }
            assert_eq!(headers, &expected, "a response that matched nothing was changed");
            assert_eq!(body, b"inner body");
        }
        other => panic!("a decision the fuzz checks do not know: {other:?}"),
    }
}
