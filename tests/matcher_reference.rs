//! The compiled matcher (`CorsPolicy::evaluate`, i.e. `decide`) against a naive reference
//! written straight from spec §4 (the preflight's order of checks), §5 (matching) and §6 (the
//! headers sent). The reference precomputes nothing: it re-reads the rules and the request
//! headers for every request and tries every possible run for a `*`.
//!
//! Configurations are small (1–6 rules over a tiny alphabet) so that requests often come close
//! to a rule: letter case changed, a trailing slash or a port added, a wildcard run left empty,
//! requested headers with spaces, tabs and empty items, spread over several fields.

mod common;

use bytes::Bytes;
use http::HeaderMap;
use proptest::prelude::*;
use tower_s3_cors::{CorsConfiguration, CorsPolicy, CorsRule, Decision, PassReason, RefusalKind};

const S3_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

// ---------------------------------------------------------------------------------------------
// The reference, from the spec.

#[derive(Clone, Debug)]
struct Rule {
    origins: Vec<String>,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    max_age: Option<i32>,
}

/// §5: `*` alone matches anything; otherwise the pattern is anchored at both ends and its one
/// `*` stands for any run of bytes, the empty run included. `fold` compares ASCII letters
/// case-insensitively (header names).
fn pattern_matches(pattern: &str, value: &[u8], fold: bool) -> bool {
    let same = |a: &[u8], b: &[u8]| if fold { a.eq_ignore_ascii_case(b) } else { a == b };
    if pattern == "*" {
        return true;
    }
    let pattern = pattern.as_bytes();
    match pattern.iter().position(|&b| b == b'*') {
        None => same(pattern, value),
        Some(star) => {
            let (prefix, suffix) = (&pattern[..star], &pattern[star + 1..]);
            // Some run value[i..j] such that prefix + run + suffix == value.
            (0..=value.len())
                .any(|i| (i..=value.len()).any(|j| same(&value[..i], prefix) && same(&value[j..], suffix)))
        }
    }
}

/// §5.3: every `Access-Control-Request-Headers` field joined with `,`, split on `,`, items
/// trimmed of spaces and tabs, empty items dropped.
fn requested_names(headers: &HeaderMap) -> Vec<Vec<u8>> {
    let joined: Vec<u8> = headers
        .get_all("access-control-request-headers")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect::<Vec<_>>()
        .join(&b","[..]);
    joined
        .split(|&b| b == b',')
        .map(|item| {
            let mut item = item.to_vec();
            while item.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                item.remove(0);
            }
            while item.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
                item.pop();
            }
            item
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// §5: the first rule for which origin, method and every requested header hold.
fn first_rule(rules: &[Rule], origin: &[u8], method: &[u8], names: &[Vec<u8>]) -> Option<usize> {
    rules.iter().position(|rule| {
        rule.origins.iter().any(|o| pattern_matches(o, origin, false))
            && rule.methods.iter().any(|m| m.as_bytes() == method)
            && names
                .iter()
                .all(|name| rule.headers.iter().any(|h| pattern_matches(h, name, true)))
    })
}

/// §6: the headers of a match, as (lowercase name, value bytes), sorted.
fn headers_of(rule: &Rule, origin: &[u8], names: &[Vec<u8>]) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    if rule.origins.iter().any(|o| o == "*") {
        out.push(("access-control-allow-origin".to_owned(), Bytes::from_static(b"*")));
    } else {
        out.push((
            "access-control-allow-origin".to_owned(),
            Bytes::from(origin.to_vec()),
        ));
        out.push((
            "access-control-allow-credentials".to_owned(),
            Bytes::from_static(b"true"),
        ));
    }
    out.push((
        "access-control-allow-methods".to_owned(),
        Bytes::from(rule.methods.join(", ").into_bytes()),
    ));
    if !names.is_empty() {
        let lowered: Vec<Vec<u8>> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        out.push((
            "access-control-allow-headers".to_owned(),
            Bytes::from(lowered.join(&b", "[..])),
        ));
    }
    if !rule.expose.is_empty() {
        out.push((
            "access-control-expose-headers".to_owned(),
            Bytes::from(rule.expose.join(", ").into_bytes()),
        ));
    }
    if let Some(seconds) = rule.max_age {
        out.push((
            "access-control-max-age".to_owned(),
            Bytes::from(seconds.to_string().into_bytes()),
        ));
    }
    out.push(("vary".to_owned(), Bytes::from_static(common::VARY.as_bytes())));
    out.sort();
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Not a CORS request, or no rule matched: served unchanged.
    Pass,
    /// P1, P4 or P5 (with P5's `<Method>`).
    Refused(RefusalKind, Option<String>),
    /// P6.
    Preflight(usize, Vec<(String, Bytes)>),
    /// An actual request that matched.
    Actual(usize, Vec<(String, Bytes)>),
}

/// The reference decision for one configured bucket, options off. Also gives the rule §5
/// selects (None when the request has no usable origin or method).
fn reference(rules: &[Rule], method: &str, headers: &HeaderMap) -> (Outcome, Option<usize>) {
    let origins: Vec<&[u8]> = headers.get_all("origin").iter().map(|v| v.as_bytes()).collect();
    // An empty Origin counts as absent; more than one Origin field matches nothing.
    let origin: Option<Option<&[u8]>> = match origins.as_slice() {
        [] => None,
        [[]] => None,
        [only] => Some(Some(*only)),
        _ => Some(None),
    };
    let acrm: Vec<&[u8]> = headers
        .get_all("access-control-request-method")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let names = requested_names(headers);
    let is_s3_method = |m: &[u8]| S3_METHODS.iter().any(|s| s.as_bytes() == m);

    if method == "OPTIONS" {
        // P1
        let Some(origin) = origin else {
            return (Outcome::Refused(RefusalKind::MissingOrigin, None), None);
        };
        // P4: exactly one value, one of the five.
        let method = match acrm.as_slice() {
            [only] if is_s3_method(only) => *only,
            _ => return (Outcome::Refused(RefusalKind::InvalidRequestMethod, None), None),
        };
        let method_text = String::from_utf8_lossy(method).into_owned();
        // P5 / P6
        let Some(origin) = origin else {
            return (Outcome::Refused(RefusalKind::NotAllowed, Some(method_text)), None);
        };
        return match first_rule(rules, origin, method, &names) {
            Some(i) => (
                Outcome::Preflight(i, headers_of(&rules[i], origin, &names)),
                Some(i),
            ),
            None => (Outcome::Refused(RefusalKind::NotAllowed, Some(method_text)), None),
        };
    }
    let Some(Some(origin)) = origin else {
        return (Outcome::Pass, None);
    };
    // The actual request's method, replaced by Access-Control-Request-Method when present
    // (sent twice: not one method, so nothing matches).
    let method: &[u8] = match acrm.as_slice() {
        [] => method.as_bytes(),
        [only] => only,
        _ => return (Outcome::Pass, None),
    };
    match first_rule(rules, origin, method, &names) {
        Some(i) => (Outcome::Actual(i, headers_of(&rules[i], origin, &names)), Some(i)),
        None => (Outcome::Pass, None),
    }
}

// ---------------------------------------------------------------------------------------------
// The crate's answer, in the same shape.

fn crate_outcome(decision: Decision) -> Outcome {
    let headers = |allowed: &tower_s3_cors::Allowed| {
        let mut out: Vec<(String, Bytes)> = allowed
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), Bytes::copy_from_slice(value.as_bytes())))
            .collect();
        out.sort();
        out
    };
    match decision {
        Decision::PassThrough(pass) => {
            assert!(
                matches!(pass.reason(), PassReason::NotCors | PassReason::NoRuleMatched),
                "{pass:?}"
            );
            assert!(!pass.adds_vary());
            Outcome::Pass
        }
        Decision::Refuse(refusal) => {
            let method = match refusal.kind() {
                RefusalKind::NotAllowed => refusal.method().map(|m| m.into_owned()),
                _ => None,
            };
            Outcome::Refused(refusal.kind(), method)
        }
        Decision::Preflight(allowed) => Outcome::Preflight(allowed.rule_index(), headers(&allowed)),
        Decision::Actual(allowed) => Outcome::Actual(allowed.rule_index(), headers(&allowed)),
        other => panic!("a decision this model does not know: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Origins are made of few characters so that patterns and requests collide often.
fn origin_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab.:/]{0,5}",
        Just("http://a.ex".to_owned()),
        Just("https://a.ex".to_owned()),
        Just("http://b.a.ex".to_owned()),
        Just("null".to_owned()),
    ]
}

fn origin_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_owned()),
        3 => origin_text(),
        3 => (origin_text(), origin_text()).prop_map(|(p, s)| format!("{p}*{s}")),
        2 => (origin_text(), "[ab.]{0,2}").prop_map(|(o, s)| format!("{o}*{s}")),
    ]
}

fn header_text() -> impl Strategy<Value = String> {
    "[xXaA-]{1,4}"
}

fn header_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_owned()),
        3 => header_text(),
        3 => ("[xXaA-]{0,3}", "[xXaA-]{0,3}").prop_map(|(p, s)| format!("{p}*{s}")),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::collection::vec(origin_pattern(), 1..4),
        prop::collection::vec(prop::sample::select(&S3_METHODS[..]), 1..4),
        prop::collection::vec(header_pattern(), 0..4),
        prop::collection::vec("[A-Za-z-]{1,6}", 0..3),
        prop::option::of(-5i32..5000),
    )
        .prop_map(|(origins, methods, headers, expose, max_age)| Rule {
            origins,
            methods: methods.into_iter().map(str::to_owned).collect(),
            headers,
            expose,
            max_age,
        })
}

/// A value near one of the configuration's patterns: the `*` filled with a run (often empty),
/// then maybe nudged.
fn near(pattern: &str, run: &str, nudge: u8) -> Vec<u8> {
    let mut value = pattern.replacen('*', run, 1).into_bytes();
    match nudge {
        0 => {}
        1 => value.push(b'/'),
        2 => value.extend_from_slice(b":80"),
        3 => {
            if let Some(b) = value.iter_mut().find(|b| b.is_ascii_lowercase()) {
                b.make_ascii_uppercase();
            }
        }
        4 => {
            value.pop();
        }
        5 => value.insert(0, b'x'),
        6 => value.push(0xE9),
        _ => {}
    }
    value
}

#[derive(Clone, Debug)]
struct Req {
    method: String,
    headers: Vec<(&'static str, Bytes)>,
}

/// The `Access-Control-Request-Headers` fields: names near the patterns, with spaces, tabs and
/// empty items.
fn acrh_fields(patterns: Vec<String>) -> impl Strategy<Value = Vec<Vec<u8>>> {
    let name = prop_oneof![
        1 => header_text().prop_map(String::into_bytes),
        4 => (prop::sample::select(patterns), "[xa-]{0,2}", 0u8..12).prop_map(|(p, run, nudge)| {
            let mut v = near(&p, &run, nudge);
            if nudge == 6 {
                v.pop(); // keep header names ASCII here; non-ASCII bytes come from the origin
            }
            v
        }),
    ];
    let separator = prop::sample::select(vec![",", ", ", " ,", ",\t", ",,", " , ,"]);
    let field = prop::collection::vec((name, separator), 0..3).prop_map(|items| {
        let mut out = Vec::new();
        for (i, (name, sep)) in items.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(sep.as_bytes());
            }
            out.extend_from_slice(&name);
        }
        out
    });
    prop::collection::vec(field, 1..3)
}

fn request_for(rules: Vec<Rule>) -> impl Strategy<Value = Req> {
    let origin_patterns: Vec<String> = rules.iter().flat_map(|r| r.origins.clone()).collect();
    let mut header_patterns: Vec<String> = rules.iter().flat_map(|r| r.headers.clone()).collect();
    header_patterns.push("x-a".to_owned());
    let origin = prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        2 => origin_text().prop_map(|o| Some(o.into_bytes())),
        6 => (prop::sample::select(origin_patterns), "[ab.]{0,3}", 0u8..14)
            .prop_map(|(p, run, nudge)| Some(near(&p, &run, nudge))),
    ];
    let second_origin = prop::option::weighted(0.05, "[ab]{0,2}");
    // Methods: mostly ones the rules allow, sometimes others, lowercase or outside S3's five.
    let mut methods: Vec<&'static str> = rules
        .iter()
        .flat_map(|r| r.methods.iter())
        .filter_map(|m| S3_METHODS.iter().copied().find(|s| s == m))
        .collect();
    methods.extend(["GET", "DELETE", "get", "PATCH", ""]);
    let method = prop::sample::select(methods);
    // A preflight usually sends one method; an actual request usually none (when it does, it
    // replaces the request's method).
    let request_line = prop_oneof![
        4 => method.clone().prop_map(|m| ("OPTIONS", vec![m])),
        1 => Just(("OPTIONS", Vec::new())),
        1 => (method.clone(), method.clone()).prop_map(|(a, b)| ("OPTIONS", vec![a, b])),
        4 => method.clone().prop_map(|m| (m, Vec::new())),
        1 => (method.clone(), method).prop_map(|(m, a)| (m, vec![a])),
    ]
    .prop_map(|(m, acrm)| {
        // An empty request method is not a method; use PATCH for it.
        (if m.is_empty() { "PATCH" } else { m }, acrm)
    });
    let acrh = prop_oneof![
        1 => Just(Vec::new()),
        1 => acrh_fields(header_patterns),
    ];
    (origin, second_origin, request_line, acrh).prop_map(|(origin, second, (method, acrm), acrh)| {
        let mut headers: Vec<(&'static str, Bytes)> = Vec::new();
        if let Some(origin) = origin {
            headers.push(("origin", Bytes::from(origin)));
        }
        if let Some(second) = second {
            headers.push(("origin", Bytes::from(second)));
        }
        for m in acrm {
            headers.push(("access-control-request-method", Bytes::from_static(m.as_bytes())));
        }
        for field in acrh {
            headers.push(("access-control-request-headers", Bytes::from(field)));
        }
        Req {
            method: method.to_owned(),
            headers,
        }
    })
}

fn case() -> impl Strategy<Value = (Vec<Rule>, Vec<Req>)> {
    prop::collection::vec(rule(), 1..7).prop_flat_map(|rules| {
        let requests = prop::collection::vec(request_for(rules.clone()), 1..8);
        (Just(rules), requests)
    })
}

fn configuration(rules: &[Rule]) -> CorsConfiguration {
    CorsConfiguration::new(rules.iter().map(|r| {
        let mut b = CorsRule::builder()
            .allowed_origins(r.origins.clone())
            .allowed_methods(r.methods.clone())
            .allowed_headers(r.headers.clone())
            .expose_headers(r.expose.clone());
        if let Some(s) = r.max_age {
            b = b.max_age_seconds(s);
        }
        b.build()
    }))
    .expect("generated configurations are valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn compiled_matcher_agrees_with_the_spec_reference((rules, requests) in case()) {
        let policy = CorsPolicy::new(configuration(&rules));
        for req in &requests {
            let headers: Vec<(&str, &[u8])> = req.headers.iter().map(|(n, v)| (*n, &v[..])).collect();
            let request = common::request(&req.method, "/k", &headers);
            let (want, want_rule) = reference(&rules, &req.method, request.headers());
            let got = crate_outcome(policy.evaluate(&request));
            prop_assert_eq!(&got, &want, "request {:?}", req);
            // explain: the first rule that matches is the rule §5 selects.
            let explained = policy.explain(&request).iter().position(|c| c.matches());
            prop_assert_eq!(explained, want_rule, "explain, request {:?}", req);
        }
    }
}

/// The reference itself, on the spec's own examples.
#[test]
fn reference_follows_the_spec_examples() {
    assert!(pattern_matches(
        "http://*.example.com",
        b"http://a.b.example.com",
        false
    ));
    assert!(pattern_matches(
        "http://*.example.com",
        b"http://.example.com",
        false
    ));
    assert!(!pattern_matches(
        "http://*.example.com",
        b"http://example.com",
        false
    ));
    assert!(pattern_matches("ab*ba", b"abba", false));
    assert!(!pattern_matches("ab*ba", b"aba", false));
    assert!(pattern_matches("X-Amz-*", b"x-amz-date", true));
    assert!(!pattern_matches("X-Amz-*", b"x-amz-date", false));
    assert!(pattern_matches("*", b"", false));
    let mut headers = HeaderMap::new();
    headers.append("access-control-request-headers", " a ,,\tB".parse().unwrap());
    headers.append("access-control-request-headers", "c".parse().unwrap());
    assert_eq!(
        requested_names(&headers),
        [b"a".to_vec(), b"B".to_vec(), b"c".to_vec()]
    );
}

/// The generators reach every outcome often enough for the comparison to mean something.
#[test]
fn generated_requests_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..300 {
        let (rules, requests) = case().new_tree(&mut runner).unwrap().current();
        for req in &requests {
            let headers: Vec<(&str, &[u8])> = req.headers.iter().map(|(n, v)| (*n, &v[..])).collect();
            let request = common::request(&req.method, "/k", &headers);
            let names = requested_names(request.headers());
            let kind = match reference(&rules, &req.method, request.headers()).0 {
                Outcome::Pass => "pass",
                Outcome::Refused(RefusalKind::MissingOrigin, _) => "P1",
                Outcome::Refused(RefusalKind::InvalidRequestMethod, _) => "P4",
                Outcome::Refused(_, _) => "P5",
                Outcome::Preflight(..) if names.is_empty() => "P6",
                Outcome::Preflight(..) => "P6 with requested headers",
                Outcome::Actual(..) if names.is_empty() => "actual",
                Outcome::Actual(..) => "actual with requested headers",
            };
            *counts.entry(kind).or_default() += 1;
        }
    }
    for kind in [
        "pass",
        "P1",
        "P4",
        "P5",
        "P6",
        "P6 with requested headers",
        "actual",
        "actual with requested headers",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= 15,
            "{kind} too rare: {counts:?}"
        );
    }
}
