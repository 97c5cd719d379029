//! `CorsConfiguration::lint`: for every code, a configuration that triggers it and a near one
//! that does not.
#![cfg(feature = "json")]

use tower_s3_cors::lint::{LintCode, LintWarning};
use tower_s3_cors::CorsConfiguration;

fn lint(json: &str) -> Vec<LintWarning> {
    CorsConfiguration::from_json(json)
        .unwrap_or_else(|err| panic!("{json}: {err}"))
        .lint()
}

/// (code, triggers it, does not trigger it). Each pair differs only in what the code is about.
const CASES: &[(LintCode, &str, &str)] = &[
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
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 7201}]"#,
        r#"[{"AllowedOrigins": ["https://a.example"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 7200}]"#,
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
             "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
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
    }
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
