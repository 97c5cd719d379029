//! `CorsConfiguration::lint`: for every code, a configuration that triggers it and a near one
//! that does not; security findings replayed through the layer's own evaluation.
#![cfg(feature = "json")]

use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::Request;
use tower_s3_cors::lint::{LintCode, LintWarning, Severity};
use tower_s3_cors::{CorsConfiguration, CorsPolicy, Decision};

fn lint(json: &str) -> Vec<LintWarning> {
    CorsConfiguration::from_json(json)
        .unwrap_or_else(|err| panic!("{json}: {err}"))
        .lint()
}

/// (code, triggers it, does not trigger it). Each pair differs only in what the code is about.
const CASES: &[(LintCode, &str, &str)] = &[
    (
        LintCode::OriginWildcardAnyHost,
        r#"[{"AllowedOrigins": ["https://*"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginWildcardPublicSuffix,
        r#"[{"AllowedOrigins": ["https://*.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginWildcardCrossesHost,
        r#"[{"AllowedOrigins": ["https://*example.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginInsecureHttp,
        r#"[{"AllowedOrigins": ["http://app.example.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["http://localhost:3000"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginNull,
        r#"[{"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginWhitespace,
        r#"[{"AllowedOrigins": ["https://a.example, https://b.example"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://a.example", "https://b.example"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginNoScheme,
        r#"[{"AllowedOrigins": ["localhost:3000"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["http://localhost:3000"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginTrailingSlash,
        r#"[{"AllowedOrigins": ["https://app.example.com/"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginPath,
        r#"[{"AllowedOrigins": ["https://app.example.com/upload"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginUppercase,
        r#"[{"AllowedOrigins": ["https://App.Example.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginDefaultPort,
        r#"[{"AllowedOrigins": ["https://app.example.com:443"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com:8443"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::OriginRedundantWithWildcard,
        r#"[{"AllowedOrigins": ["*", "https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::RuleShadowed,
        r#"[{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::RuleUnmatchable,
        r#"[{"AllowedOrigins": [""], "AllowedMethods": ["GET"]}]"#,
        r#"[{"AllowedOrigins": ["", "https://app.example.com"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::DuplicateId,
        r#"[{"ID": "web", "AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"ID": "web", "AllowedOrigins": ["https://b.example"], "AllowedMethods": ["GET"]}]"#,
        r#"[{"ID": "web", "AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"ID": "Web", "AllowedOrigins": ["https://b.example"], "AllowedMethods": ["GET"]}]"#,
    ),
    (
        LintCode::MaxAgeCapped,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 601}]"#,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 600}]"#,
    ),
    (
        LintCode::MaxAgeNegative,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": -1}]"#,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 0}]"#,
    ),
    (
        LintCode::ExposeEtagMissing,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["PUT"],
             "ExposeHeaders": ["x-amz-request-id"]}]"#,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["PUT"], "ExposeHeaders": ["etag"]}]"#,
    ),
];

#[test]
fn every_code_has_a_case() {
    for code in LintCode::ALL {
        assert!(CASES.iter().any(|(c, _, _)| *c == code), "no case for {code}");
    }
}

#[test]
fn each_code_triggers_on_its_case() {
    for (code, triggers, _) in CASES {
        let warnings = lint(triggers);
        assert!(
            warnings.iter().any(|w| w.code() == *code),
            "{code} expected for {triggers}, got {warnings:#?}"
        );
    }
}

#[test]
fn each_code_stays_quiet_on_its_near_miss() {
    for (code, _, quiet) in CASES {
        let warnings = lint(quiet);
        assert!(
            !warnings.iter().any(|w| w.code() == *code),
            "{code} not expected for {quiet}, got {warnings:#?}"
        );
    }
}

#[test]
fn a_clean_configuration_has_no_warning() {
    let warnings = lint(
        r#"[{"ID": "uploads", "AllowedOrigins": ["https://app.example.com", "http://localhost:8080"],
             "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["*"],
             "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
            {"ID": "public", "AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]}]"#,
    );
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn codes_have_stable_names() {
    let names: Vec<&str> = LintCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "origin-wildcard-any-host",
            "origin-wildcard-public-suffix",
            "origin-wildcard-crosses-host",
            "origin-insecure-http",
            "origin-null",
            "origin-whitespace",
            "origin-no-scheme",
            "origin-trailing-slash",
            "origin-path",
            "origin-uppercase",
            "origin-default-port",
            "origin-redundant-with-wildcard",
            "rule-shadowed",
            "rule-unmatchable",
            "duplicate-id",
            "max-age-capped",
            "max-age-negative",
            "expose-etag-missing",
        ]
    );
    for code in LintCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        let security = code.as_str().starts_with("origin-wildcard-")
            || matches!(code, LintCode::OriginInsecureHttp | LintCode::OriginNull);
        assert_eq!(code.severity() == Severity::Security, security, "{code}");
    }
}

#[test]
fn max_age_capped_names_the_engines_that_cut_it() {
    // The caps: WebKit (Safari) 600 s, Chromium 7200 s, Firefox 86400 s.
    let cases = [
        (
            3000,
            "WebKit (Safari) caches a preflight for at most 600 s, so MaxAgeSeconds 3000 is cut to 600 s \
             there; Chromium (up to 7200 s) and Firefox (up to 86400 s) honour it",
        ),
        (
            7201,
            "WebKit (Safari) caches a preflight for at most 600 s and Chromium for at most 7200 s, so \
             MaxAgeSeconds 7201 is cut there; Firefox (up to 86400 s) honours it",
        ),
        (
            86401,
            "WebKit (Safari) caches a preflight for at most 600 s, Chromium for at most 7200 s and \
             Firefox for at most 86400 s, so MaxAgeSeconds 86401 is cut there",
        ),
    ];
    for (seconds, message) in cases {
        let warnings = lint(&format!(
            r#"[{{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": {seconds}}}]"#
        ));
        let [warning] = warnings.as_slice() else {
            panic!("{warnings:#?}")
        };
        assert_eq!(warning.code(), LintCode::MaxAgeCapped);
        assert_eq!(warning.message(), message);
        assert_eq!(warning.field(), Some("MaxAgeSeconds"));
        assert_eq!(warning.value(), Some(seconds.to_string().as_str()));
        assert_eq!(
            warning.fix(),
            "set MaxAgeSeconds to 600 or less for the same cache in every browser"
        );
    }
    assert_eq!(
        (
            tower_s3_cors::lint::WEBKIT_MAX_AGE_SECONDS,
            tower_s3_cors::lint::CHROMIUM_MAX_AGE_SECONDS,
            tower_s3_cors::lint::FIREFOX_MAX_AGE_SECONDS
        ),
        (600, 7200, 86400)
    );
}

#[test]
fn a_warning_says_where_and_how_to_fix() {
    let warnings =
        lint(r#"[{"ID": "web", "AllowedOrigins": ["https://a.example/"], "AllowedMethods": ["GET"]}]"#);
    let [warning] = warnings.as_slice() else {
        panic!("{warnings:#?}")
    };
    assert_eq!(warning.code(), LintCode::OriginTrailingSlash);
    assert_eq!(warning.rule_index(), 0);
    assert_eq!(warning.rule_id(), Some("web"));
    assert_eq!(warning.field(), Some("AllowedOrigin"));
    assert_eq!(warning.value(), Some("https://a.example/"));
    assert_eq!(warning.fix(), "write \"https://a.example\"");
    assert!(!warning.message().contains('\n'));
}

#[test]
fn shadowing_names_every_rule_that_takes_part() {
    // GET from a.example is taken by rule 0, PUT by rule 1: rule 2 never applies.
    let warnings = lint(
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://*"], "AllowedMethods": ["PUT"], "ExposeHeaders": ["ETag"]},
            {"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET", "PUT"], "ExposeHeaders": ["ETag"]}]"#,
    );
    let shadowed: Vec<&LintWarning> = warnings
        .iter()
        .filter(|w| w.code() == LintCode::RuleShadowed)
        .collect();
    assert_eq!(shadowed.len(), 1, "{warnings:#?}");
    assert_eq!(shadowed[0].rule_index(), 2);
    assert_eq!(shadowed[0].related_rules(), [0, 1]);
    assert!(shadowed[0].message().starts_with("rules 0 and 1 together match"));
}

#[test]
fn a_request_header_only_the_later_rule_allows_keeps_it_reachable() {
    // Same origin and method, but rule 1 also allows x-amz-meta-* (rule 0 allows no header).
    let warnings = lint(
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-amz-meta-*"]}]"#,
    );
    assert!(warnings.is_empty(), "{warnings:#?}");
}

// ---- security findings ----

/// The configuration of a new user's report: every origin lets other sites in.
const LOOSE: &str = r#"{"CORSRules": [{"AllowedOrigins": ["https://app.example.com*", "https://*example.com",
  "http://*.example.com", "https://*.com", "null"],
  "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"]}]}"#;

/// Replays a finding's witness through the layer's own evaluation: for one of the rule's
/// methods, a preflight from the witness is answered by that rule, with the witness echoed
/// and credentials.
fn replay(json: &str, warning: &LintWarning) {
    let config = CorsConfiguration::from_json(json).unwrap();
    let rule = config.rules()[warning.rule_index()].clone();
    let witness = warning
        .witness()
        .unwrap_or_else(|| panic!("no witness: {warning:#?}"));
    let policy = CorsPolicy::new(config);
    let reached = rule.allowed_methods().iter().any(|method| {
        let mut request = Request::options("/object")
            .header(ORIGIN, witness)
            .header(ACCESS_CONTROL_REQUEST_METHOD, method.as_str());
        if !rule.allowed_headers().is_empty() {
            request = request.header(ACCESS_CONTROL_REQUEST_HEADERS, "x-witness-gap");
        }
        match policy.evaluate(&request.body(()).unwrap()) {
            Decision::Preflight(allowed) => {
                allowed.rule_index() == warning.rule_index()
                    && allowed.headers().allow_origin() == witness
                    && allowed.headers().allow_credentials()
            }
            _ => false,
        }
    });
    assert!(
        reached,
        "witness {witness:?} does not reach rule {}: {warning:#?}",
        warning.rule_index()
    );
}

#[test]
fn the_loose_example_gets_one_security_finding_per_origin_each_with_a_witness_that_gets_in() {
    let warnings = lint(LOOSE);
    let security: Vec<(&str, LintCode, &str)> = warnings
        .iter()
        .filter(|w| w.severity() == Severity::Security)
        .map(|w| (w.value().unwrap(), w.code(), w.witness().unwrap()))
        .collect();
    assert_eq!(
        security,
        [
            (
                "https://app.example.com*",
                LintCode::OriginWildcardCrossesHost,
                "https://app.example.com.attacker.net"
            ),
            (
                "https://*example.com",
                LintCode::OriginWildcardCrossesHost,
                "https://evilexample.com"
            ),
            (
                "http://*.example.com",
                LintCode::OriginInsecureHttp,
                "http://app.example.com"
            ),
            (
                "https://*.com",
                LintCode::OriginWildcardPublicSuffix,
                "https://attacker.com"
            ),
            ("null", LintCode::OriginNull, "null"),
        ]
    );
    for warning in warnings.iter().filter(|w| w.severity() == Severity::Security) {
        assert!(
            warning
                .message()
                .contains(&format!("{:?}", warning.witness().unwrap())),
            "{warning:#?}"
        );
        assert_eq!(warning.field(), Some("AllowedOrigin"));
        replay(LOOSE, warning);
    }
}

#[test]
fn every_security_case_replays_through_the_layer() {
    for (code, triggers, _) in CASES
        .iter()
        .filter(|(code, _, _)| code.severity() == Severity::Security)
    {
        let warnings = lint(triggers);
        let found = warnings.iter().find(|w| w.code() == *code).unwrap();
        replay(triggers, found);
    }
}

#[test]
fn security_findings_come_before_the_others() {
    let warnings = lint(
        r#"[{"AllowedOrigins": ["https://app.example.com/"], "AllowedMethods": ["PUT"]},
            {"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]}]"#,
    );
    let order: Vec<(Severity, usize, LintCode)> = warnings
        .iter()
        .map(|w| (w.severity(), w.rule_index(), w.code()))
        .collect();
    assert_eq!(
        order,
        [
            (Severity::Security, 1, LintCode::OriginNull),
            (Severity::Warning, 0, LintCode::OriginTrailingSlash),
            (Severity::Warning, 0, LintCode::ExposeEtagMissing),
        ]
    );
    let value = serde_json::to_value(&warnings[0]).unwrap();
    assert_eq!(value["severity"], "security");
    assert_eq!(value["witness"], "null");
    assert_eq!(serde_json::to_value(&warnings[1]).unwrap()["severity"], "warning");
}

#[test]
fn safe_forms_stay_quiet() {
    let warnings = lint(
        r#"[{"AllowedOrigins": ["https://*.example.com", "https://app.example.com", "http://localhost:3000",
                                "http://127.0.0.1:8080", "http://[::1]:8080", "https://app.example.com:*",
                                "https://app-*.example.com", "http://localhost:*"],
             "AllowedMethods": ["GET"]}]"#,
    );
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn a_rule_answered_with_star_has_no_security_finding() {
    // S3 answers `Access-Control-Allow-Origin: *` for every origin of a rule listing `*`, and
    // browsers send no cookies to it.
    let warnings =
        lint(r#"[{"AllowedOrigins": ["*", "https://*example.com", "null"], "AllowedMethods": ["GET"]}]"#);
    assert!(
        warnings.iter().all(|w| w.severity() != Severity::Security),
        "{warnings:#?}"
    );
}

#[test]
fn a_witness_an_earlier_rule_answers_first_is_no_finding() {
    // Rule 0 answers every GET without credentials; rule 1 is only reached by PUT.
    let only_get = lint(
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://*example.com"], "AllowedMethods": ["GET"]}]"#,
    );
    assert!(
        only_get.iter().all(|w| w.severity() != Severity::Security),
        "{only_get:#?}"
    );
    let with_put = r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
            {"AllowedOrigins": ["https://*example.com"], "AllowedMethods": ["GET", "PUT"],
             "ExposeHeaders": ["ETag"]}]"#;
    let warnings = lint(with_put);
    let [finding] = warnings.as_slice() else {
        panic!("{warnings:#?}")
    };
    assert_eq!(
        (finding.rule_index(), finding.code()),
        (1, LintCode::OriginWildcardCrossesHost)
    );
    replay(with_put, finding);
}

#[test]
fn wildcards_over_the_scheme_let_plain_http_in() {
    for (origin, witness) in [
        ("*.example.com", "http://app.example.com"),
        ("*://app.example.com", "http://app.example.com"),
    ] {
        let json = format!(r#"[{{"AllowedOrigins": ["{origin}"], "AllowedMethods": ["GET"]}}]"#);
        let warnings = lint(&json);
        let [finding] = warnings.as_slice() else {
            panic!("{warnings:#?}")
        };
        assert_eq!(
            (finding.code(), finding.witness()),
            (LintCode::OriginInsecureHttp, Some(witness))
        );
        replay(&json, finding);
    }
}

#[test]
fn any_host_wildcards_are_reflection_with_credentials() {
    // rs/cors#197: `h*` matched almost any origin and reflected it with credentials.
    for (origin, witness) in [
        ("https://*", "https://attacker.net"),
        ("h*", "https://attacker.net"),
        ("https://*:8443", "https://attacker.net:8443"),
    ] {
        let json = format!(r#"[{{"AllowedOrigins": ["{origin}"], "AllowedMethods": ["GET"]}}]"#);
        let warnings = lint(&json);
        let [finding] = warnings.as_slice() else {
            panic!("{warnings:#?}")
        };
        assert_eq!(
            (finding.code(), finding.witness()),
            (LintCode::OriginWildcardAnyHost, Some(witness))
        );
        replay(&json, finding);
    }
}

#[cfg(feature = "public-suffix-list")]
#[test]
fn the_public_suffix_list_knows_more_than_top_level_names() {
    for (origin, witness) in [
        ("https://*.co.uk", "https://attacker.co.uk"),
        ("https://*.github.io", "https://attacker.github.io"),
    ] {
        let json = format!(r#"[{{"AllowedOrigins": ["{origin}"], "AllowedMethods": ["GET"]}}]"#);
        let warnings = lint(&json);
        let [finding] = warnings.as_slice() else {
            panic!("{warnings:#?}")
        };
        assert_eq!(
            (finding.code(), finding.witness()),
            (LintCode::OriginWildcardPublicSuffix, Some(witness))
        );
        replay(&json, finding);
    }
    let mine = lint(
        r#"[{"AllowedOrigins": ["https://*.me.github.io", "https://*.example.co.uk"], "AllowedMethods": ["GET"]}]"#,
    );
    assert!(mine.is_empty(), "{mine:#?}");
}
