//! Spec §1 and §1.1: the configuration formats and PutBucketCors validation, with S3's exact
//! codes and messages and the detail that says where the problem is.

use tower_s3_cors::{ConfigError, CorsConfiguration, CorsRule, ErrorCode};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const MALFORMED: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";
const TOO_MANY: &str = "The number of CORS rules should not exceed allowed limit of 100 rules.";
const TOO_BIG: &str = "Your request was too big.";

/// A rule S3 accepts.
const GOOD: &str = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";

/// A namespaced document with these rule bodies.
fn xml(rules: &[&str]) -> String {
    let mut out = format!("<CORSConfiguration xmlns=\"{NS}\">");
    for rule in rules {
        out.push_str("<CORSRule>");
        out.push_str(rule);
        out.push_str("</CORSRule>");
    }
    out.push_str("</CORSConfiguration>");
    out
}

fn method(m: &str) -> String {
    format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}")
}

fn origin_wildcards(o: &str) -> String {
    format!("AllowedOrigin \"{o}\" can not have more than one wildcard.")
}

fn header_wildcards(h: &str) -> String {
    format!("AllowedHeader \"{h}\" can not have more than one wildcard.")
}

fn expose_wildcard(h: &str) -> String {
    format!("ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader.")
}

enum Format {
    Xml,
    Json,
}

/// One refused document: the S3 pair, and where the error says the problem is.
struct Refused {
    behaviour: &'static str,
    format: Format,
    document: String,
    code: &'static str,
    message: String,
    rule_index: Option<usize>,
    field: Option<&'static str>,
}

fn refused_xml(
    behaviour: &'static str,
    document: String,
    code: &'static str,
    message: impl Into<String>,
    rule_index: Option<usize>,
    field: Option<&'static str>,
) -> Refused {
    Refused {
        behaviour,
        format: Format::Xml,
        document,
        code,
        message: message.into(),
        rule_index,
        field,
    }
}

fn refused_json(
    behaviour: &'static str,
    document: &str,
    code: &'static str,
    message: impl Into<String>,
    rule_index: Option<usize>,
    field: Option<&'static str>,
) -> Refused {
    Refused {
        behaviour,
        format: Format::Json,
        document: document.to_owned(),
        code,
        message: message.into(),
        rule_index,
        field,
    }
}

fn parse(format: &Format, document: &str) -> Result<CorsConfiguration, ConfigError> {
    match format {
        Format::Xml => CorsConfiguration::from_xml(document),
        Format::Json => CorsConfiguration::from_json(document),
    }
}

fn check_refused(table: Vec<Refused>) {
    let mut problems = Vec::new();
    for case in &table {
        match parse(&case.format, &case.document) {
            Ok(_) => problems.push(format!("{}: accepted", case.behaviour)),
            Err(err) => {
                let got = (err.code().as_str(), err.message(), err.rule_index(), err.field());
                let want = (case.code, case.message.as_str(), case.rule_index, case.field);
                if got != want {
                    problems.push(format!("{}: got {got:?}, want {want:?} ({err})", case.behaviour));
                }
                if err.status() != http::StatusCode::BAD_REQUEST {
                    problems.push(format!("{}: status {}", case.behaviour, err.status()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn malformed_xml_rows() {
    let long_id = "i".repeat(256);
    check_refused(vec![
        refused_xml(
            "not well-formed: unclosed root",
            format!("<CORSConfiguration><CORSRule>{GOOD}</CORSRule>"),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "not well-formed: mismatched end tag",
            format!("<CORSConfiguration><CORSRule>{GOOD}</CORSRul></CORSConfiguration>"),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "not well-formed: text instead of a document",
            "GET *".to_owned(),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "not well-formed: empty document",
            String::new(),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "not well-formed: undefined entity",
            xml(&["<AllowedOrigin>&foo;</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            None,
        ),
        refused_xml(
            "wrong root element",
            format!("<CORSConfig><CORSRule>{GOOD}</CORSRule></CORSConfig>"),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "no rules: self-closing root",
            format!("<CORSConfiguration xmlns=\"{NS}\" />"),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "no rules: empty root",
            xml(&[]),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "rule without AllowedMethod",
            xml(&["<AllowedOrigin>*</AllowedOrigin>"]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("AllowedMethod"),
        ),
        refused_xml(
            "rule without AllowedOrigin",
            xml(&["<AllowedMethod>GET</AllowedMethod>"]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("AllowedOrigin"),
        ),
        refused_xml(
            "empty <CORSRule/>",
            format!("<CORSConfiguration><CORSRule>{GOOD}</CORSRule><CORSRule/></CORSConfiguration>"),
            "MalformedXML",
            MALFORMED,
            Some(1),
            None,
        ),
        refused_xml(
            "empty <CORSRule></CORSRule>",
            xml(&[GOOD, ""]),
            "MalformedXML",
            MALFORMED,
            Some(1),
            Some("AllowedMethod"),
        ),
        refused_xml(
            "unknown element in a rule",
            xml(&[GOOD, &format!("{GOOD}<AllowedOrigins>x</AllowedOrigins>")]),
            "MalformedXML",
            MALFORMED,
            Some(1),
            None,
        ),
        refused_xml(
            "unknown element in the root",
            format!("<CORSConfiguration><CORSRule>{GOOD}</CORSRule><Rule/></CORSConfiguration>"),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_xml(
            "element names are case-sensitive",
            xml(&["<allowedorigin>*</allowedorigin><AllowedMethod>GET</AllowedMethod>"]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            None,
        ),
        refused_xml(
            "MaxAgeSeconds not an integer: word",
            xml(&[&format!("{GOOD}<MaxAgeSeconds>ten</MaxAgeSeconds>")]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("MaxAgeSeconds"),
        ),
        refused_xml(
            "MaxAgeSeconds not an integer: decimal",
            xml(&[&format!("{GOOD}<MaxAgeSeconds>1.5</MaxAgeSeconds>")]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("MaxAgeSeconds"),
        ),
        refused_xml(
            "MaxAgeSeconds not an integer: empty",
            xml(&[&format!("{GOOD}<MaxAgeSeconds/>")]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("MaxAgeSeconds"),
        ),
        refused_xml(
            "MaxAgeSeconds beyond i32",
            xml(&[&format!("{GOOD}<MaxAgeSeconds>2147483648</MaxAgeSeconds>")]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("MaxAgeSeconds"),
        ),
        refused_xml(
            "ID of 256 characters",
            xml(&[&format!("<ID>{long_id}</ID>{GOOD}")]),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("ID"),
        ),
        refused_xml(
            "DOCTYPE refused",
            format!(
                "<?xml version=\"1.0\"?><!DOCTYPE CORSConfiguration [<!ENTITY x \"GET\">]>{}",
                xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>&x;</AllowedMethod>"])
            ),
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON not well-formed",
            r#"{"CORSRules": [{"AllowedOrigins": ["*"],}"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: no rules (CLI form)",
            r#"{"CORSRules": []}"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: no rules (console form)",
            "[]",
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: rule without AllowedMethods",
            r#"[{"AllowedOrigins": ["*"]}]"#,
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("AllowedMethod"),
        ),
        refused_json(
            "JSON: rule without AllowedOrigins",
            r#"[{"AllowedMethods": ["GET"]}]"#,
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("AllowedOrigin"),
        ),
        refused_json(
            "JSON: empty rule object",
            r#"[{}]"#,
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("AllowedMethod"),
        ),
        refused_json(
            "JSON: unknown field",
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedOrigin": ["x"]}]"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: singular field names are not S3's",
            r#"[{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"]}]"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: MaxAgeSeconds a string",
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": "3000"}]"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: MaxAgeSeconds a fraction",
            r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 1.5}]"#,
            "MalformedXML",
            MALFORMED,
            None,
            None,
        ),
        refused_json(
            "JSON: ID of 256 characters",
            &format!(r#"[{{"ID": "{long_id}", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}}]"#),
            "MalformedXML",
            MALFORMED,
            Some(0),
            Some("ID"),
        ),
    ]);
}

#[test]
fn invalid_request_rows() {
    let rules_101 = vec![GOOD; CorsConfiguration::MAX_RULES + 1];
    check_refused(vec![
        refused_xml("method outside the five", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>MYMETHOD</AllowedMethod>"]), "InvalidRequest", method("MYMETHOD"), Some(0), Some("AllowedMethod")),
        refused_xml("lowercase method", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"]), "InvalidRequest", method("get"), Some(0), Some("AllowedMethod")),
        refused_xml("OPTIONS is not an S3 method", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>OPTIONS</AllowedMethod>"]), "InvalidRequest", method("OPTIONS"), Some(0), Some("AllowedMethod")),
        refused_xml("empty <AllowedMethod/> leaves a trailing space", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod/>"]), "InvalidRequest", method(""), Some(0), Some("AllowedMethod")),
        refused_xml("empty <AllowedMethod></AllowedMethod> leaves a trailing space", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod></AllowedMethod>"]), "InvalidRequest", method(""), Some(0), Some("AllowedMethod")),
        refused_xml("method value verbatim, spaces kept", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod> GET</AllowedMethod>"]), "InvalidRequest", method(" GET"), Some(0), Some("AllowedMethod")),
        refused_xml("AllowedOrigin with two wildcards", xml(&["<AllowedOrigin>*example*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]), "InvalidRequest", origin_wildcards("*example*.com"), Some(0), Some("AllowedOrigin")),
        refused_xml("AllowedOrigin with three wildcards", xml(&["<AllowedOrigin>***</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]), "InvalidRequest", origin_wildcards("***"), Some(0), Some("AllowedOrigin")),
        refused_xml("AllowedHeader with two wildcards", xml(&[&format!("{GOOD}<AllowedHeader>*-amz-*</AllowedHeader>")]), "InvalidRequest", header_wildcards("*-amz-*"), Some(0), Some("AllowedHeader")),
        refused_xml("ExposeHeader with a wildcard", xml(&[&format!("{GOOD}<ExposeHeader>x-amz-meta-*</ExposeHeader>")]), "InvalidRequest", expose_wildcard("x-amz-meta-*"), Some(0), Some("ExposeHeader")),
        refused_xml("ExposeHeader `*` alone", xml(&[&format!("{GOOD}<ExposeHeader>*</ExposeHeader>")]), "InvalidRequest", expose_wildcard("*"), Some(0), Some("ExposeHeader")),
        refused_xml("101 rules", xml(&rules_101), "InvalidRequest", TOO_MANY, None, None),
        refused_json("JSON: method outside the five", r#"{"CORSRules": [{"AllowedOrigins": ["*", "https://test.com"], "AllowedMethods": ["GET", "PUT", "HEAD", "MYMETHOD"]}]}"#, "InvalidRequest", method("MYMETHOD"), Some(0), Some("AllowedMethod")),
        refused_json("JSON: empty method", r#"[{"AllowedOrigins": ["*"], "AllowedMethods": [""]}]"#, "InvalidRequest", method(""), Some(0), Some("AllowedMethod")),
        refused_json("JSON: AllowedOrigin with two wildcards", r#"[{"AllowedOrigins": ["http://*.*.com"], "AllowedMethods": ["GET"]}]"#, "InvalidRequest", origin_wildcards("http://*.*.com"), Some(0), Some("AllowedOrigin")),
        refused_json("JSON: AllowedHeader with two wildcards", r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["**"]}]"#, "InvalidRequest", header_wildcards("**"), Some(0), Some("AllowedHeader")),
        refused_json("JSON: ExposeHeader with a wildcard", r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["ETag", "x-*"]}]"#, "InvalidRequest", expose_wildcard("x-*"), Some(0), Some("ExposeHeader")),
    ]);
}

#[test]
fn first_problem_wins_in_the_documented_order() {
    let bad_method = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>FOO</AllowedMethod>";
    let bad_origin = "<AllowedOrigin>a*b*c</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";
    let no_origin = "<AllowedMethod>GET</AllowedMethod>";
    let mut rules_101: Vec<&str> = vec![GOOD; CorsConfiguration::MAX_RULES + 1];
    rules_101[50] = bad_method;
    let mut rules_101_schema: Vec<&str> = vec![GOOD; CorsConfiguration::MAX_RULES + 1];
    rules_101_schema[60] = no_origin;
    check_refused(vec![
        // Schema problems (MalformedXML) of every rule come before any value problem.
        refused_xml("a later rule's missing origin beats an earlier rule's bad method", xml(&[bad_method, no_origin]), "MalformedXML", MALFORMED, Some(1), Some("AllowedOrigin")),
        refused_xml("a later rule's long ID beats an earlier rule's bad origin", xml(&[bad_origin, &format!("<ID>{}</ID>{GOOD}", "x".repeat(300))]), "MalformedXML", MALFORMED, Some(1), Some("ID")),
        // Then the number of rules.
        refused_xml("101 rules beat a bad method", xml(&rules_101), "InvalidRequest", TOO_MANY, None, None),
        refused_xml("a missing origin beats 101 rules", xml(&rules_101_schema), "MalformedXML", MALFORMED, Some(60), Some("AllowedOrigin")),
        // Then the value checks, rule by rule.
        refused_xml("rules in order: rule 0's bad origin before rule 1's bad method", xml(&[bad_origin, bad_method]), "InvalidRequest", origin_wildcards("a*b*c"), Some(0), Some("AllowedOrigin")),
        refused_xml("rules in order: rule 0's bad expose before rule 1's bad method", xml(&[&format!("{GOOD}<ExposeHeader>*</ExposeHeader>"), bad_method]), "InvalidRequest", expose_wildcard("*"), Some(0), Some("ExposeHeader")),
        // Within a rule: methods, origins, allowed headers, expose headers, whatever the
        // element order in the document.
        refused_xml("method before origin", xml(&["<AllowedOrigin>a*b*c</AllowedOrigin><AllowedMethod>FOO</AllowedMethod>"]), "InvalidRequest", method("FOO"), Some(0), Some("AllowedMethod")),
        refused_xml("origin before allowed header", xml(&["<AllowedHeader>**</AllowedHeader><AllowedOrigin>a*b*c</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]), "InvalidRequest", origin_wildcards("a*b*c"), Some(0), Some("AllowedOrigin")),
        refused_xml("allowed header before expose header", xml(&[&format!("<ExposeHeader>*</ExposeHeader>{GOOD}<AllowedHeader>a**</AllowedHeader>")]), "InvalidRequest", header_wildcards("a**"), Some(0), Some("AllowedHeader")),
        refused_xml("the first bad method of a rule", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>FOO</AllowedMethod><AllowedMethod>BAR</AllowedMethod>"]), "InvalidRequest", method("FOO"), Some(0), Some("AllowedMethod")),
        refused_xml("the first bad origin of a rule", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedOrigin>1**</AllowedOrigin><AllowedOrigin>2**</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]), "InvalidRequest", origin_wildcards("1**"), Some(0), Some("AllowedOrigin")),
        // The S3 vector: `*` next to another origin is no error; the method is.
        refused_json("`*` next to another origin is not itself an error", r#"[{"AllowedOrigins": ["*", "https://test.com"], "AllowedMethods": ["GET", "MYMETHOD"]}]"#, "InvalidRequest", method("MYMETHOD"), Some(0), Some("AllowedMethod")),
    ]);
}

#[test]
fn accepted_edge_values() {
    let cases: Vec<(&str, String)> = vec![
        ("ID of 255 characters", xml(&[&format!("<ID>{}</ID>{GOOD}", "i".repeat(255))])),
        ("ID of 255 multi-byte characters (characters, not bytes)", xml(&[&format!("<ID>{}</ID>{GOOD}", "é".repeat(255))])),
        ("100 rules", xml(&vec![GOOD; CorsConfiguration::MAX_RULES])),
        ("empty AllowedOrigin", xml(&["<AllowedOrigin></AllowedOrigin><AllowedMethod>GET</AllowedMethod>"])),
        ("scheme-less AllowedOrigin", xml(&["<AllowedOrigin>localhost</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"])),
        ("one wildcard in an origin", xml(&["<AllowedOrigin>http://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"])),
        ("one wildcard in a header", xml(&[&format!("{GOOD}<AllowedHeader>x-amz-*</AllowedHeader>")])),
        ("all five methods", xml(&["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"])),
        ("negative MaxAgeSeconds (an i32)", xml(&[&format!("{GOOD}<MaxAgeSeconds>-1</MaxAgeSeconds>")])),
        ("MaxAgeSeconds at i32::MAX", xml(&[&format!("{GOOD}<MaxAgeSeconds>2147483647</MaxAgeSeconds>")])),
        ("no namespace", format!("<CORSConfiguration><CORSRule>{GOOD}</CORSRule></CORSConfiguration>")),
        ("XML declaration, comments and whitespace", format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- rules -->\n<CORSConfiguration xmlns=\"{NS}\">\n  <CORSRule>\n    <!-- one -->\n    {GOOD}\n  </CORSRule>\n</CORSConfiguration>\n")),
    ];
    for (behaviour, document) in cases {
        if let Err(err) = CorsConfiguration::from_xml(&document) {
            panic!("{behaviour}: refused: {err}");
        }
    }
}

#[test]
fn document_size_limit_is_64_kib() {
    assert_eq!(CorsConfiguration::MAX_DOCUMENT_BYTES, 64 * 1024);
    let base = xml(&[GOOD]);
    // Padding with a comment keeps the document valid.
    let pad = |total: usize| {
        let fill = total - base.len() - "<!---->".len();
        format!("{base}<!--{}-->", " ".repeat(fill))
    };
    let at_limit = pad(CorsConfiguration::MAX_DOCUMENT_BYTES);
    assert_eq!(at_limit.len(), CorsConfiguration::MAX_DOCUMENT_BYTES);
    CorsConfiguration::from_xml(&at_limit).expect("64 KiB is accepted");
    let over = pad(CorsConfiguration::MAX_DOCUMENT_BYTES + 1);
    let err = CorsConfiguration::from_xml(&over).unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.message()),
        ("MaxMessageLengthExceeded", TOO_BIG)
    );
    assert_eq!(err.code(), ErrorCode::MaxMessageLengthExceeded);
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);

    // The size is checked before the document is read: an oversized, broken document still
    // gets MaxMessageLengthExceeded.
    let err =
        CorsConfiguration::from_xml(&"<".repeat(CorsConfiguration::MAX_DOCUMENT_BYTES + 1)).unwrap_err();
    assert_eq!(err.code().as_str(), "MaxMessageLengthExceeded");

    let json = format!(
        r#"[{{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}}]{}"#,
        " ".repeat(CorsConfiguration::MAX_DOCUMENT_BYTES)
    );
    let err = CorsConfiguration::from_json(&json).unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.message()),
        ("MaxMessageLengthExceeded", TOO_BIG)
    );
}

/// One rule whose S3 XML form (`to_xml`) is exactly `len` bytes: its origin is padded.
fn rule_with_xml_len(len: usize) -> CorsRule {
    let rule = |origin: String| {
        CorsRule::builder()
            .allowed_origin(origin)
            .allowed_method("GET")
            .build()
    };
    let base = CorsConfiguration::new([rule(String::new() + "https://a")])
        .expect("valid")
        .to_xml()
        .len();
    rule(format!("https://{}", "a".repeat(len - base + 1)))
}

/// The one size rule, at its boundary, from every constructor: a configuration whose S3 XML
/// form is 64 KiB is accepted and reads back; one byte more is refused, also from an XML
/// document that is itself under 64 KiB (no namespace, no declaration).
#[test]
fn every_constructor_applies_the_64_kib_rule_to_the_s3_xml_form() {
    let at_limit = rule_with_xml_len(CorsConfiguration::MAX_DOCUMENT_BYTES);
    let config = CorsConfiguration::new([at_limit.clone()]).expect("64 KiB is accepted");
    let written = config.to_xml();
    assert_eq!(written.len(), CorsConfiguration::MAX_DOCUMENT_BYTES);
    assert_eq!(CorsConfiguration::from_xml(&written).expect("reads back"), config);
    assert_eq!(
        CorsConfiguration::from_json(&config.to_json()).expect("reads back"),
        config
    );
    let short_form = |rule: &CorsRule| {
        format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>{}</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
            rule.allowed_origins()[0]
        )
    };
    assert_eq!(
        CorsConfiguration::from_xml(&short_form(&at_limit)).expect("accepted"),
        config
    );

    let over = rule_with_xml_len(CorsConfiguration::MAX_DOCUMENT_BYTES + 1);
    let document = short_form(&over);
    assert!(
        document.len() < CorsConfiguration::MAX_DOCUMENT_BYTES,
        "the document itself fits"
    );
    let refusals = [
        ("new", CorsConfiguration::new([over.clone()]).unwrap_err()),
        ("from_xml", CorsConfiguration::from_xml(&document).unwrap_err()),
        (
            "from_json",
            CorsConfiguration::from_json(&format!(
                r#"[{{"AllowedOrigins": ["{}"], "AllowedMethods": ["GET"]}}]"#,
                over.allowed_origins()[0]
            ))
            .unwrap_err(),
        ),
    ];
    for (constructor, err) in refusals {
        assert_eq!(err.code(), ErrorCode::MaxMessageLengthExceeded, "{constructor}");
        assert_eq!(err.message(), TOO_BIG, "{constructor}");
        assert!(
            err.detail()
                .contains(&format!("{} bytes", CorsConfiguration::MAX_DOCUMENT_BYTES + 1)),
            "{constructor}: {}",
            err.detail()
        );
    }
}

#[test]
fn errors_say_where_line_column_rule_and_field() {
    // A syntax error: line and column of the problem.
    let broken = "<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>*</AllowedOrigin>\n    <AllowedMethod>GET</AllowedMethd>\n  </CORSRule>\n</CORSConfiguration>";
    let err = CorsConfiguration::from_xml(broken).unwrap_err();
    assert_eq!(err.code().as_str(), "MalformedXML");
    let (line, _column) = err.line_column().expect("a syntax error has a position");
    assert_eq!(line, 4, "{err}");
    assert!(err.to_string().contains("line 4, column"), "{err}");

    // A value error: the rule (index and ID), the field, the value, and where the rule starts.
    let doc = "<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>*</AllowedOrigin>\n    <AllowedMethod>GET</AllowedMethod>\n  </CORSRule>\n  <CORSRule>\n    <ID>uploads</ID>\n    <AllowedOrigin>*</AllowedOrigin>\n    <AllowedMethod>PATCH</AllowedMethod>\n  </CORSRule>\n</CORSConfiguration>";
    let err = CorsConfiguration::from_xml(doc).unwrap_err();
    assert_eq!(err.code().as_str(), "InvalidRequest");
    assert_eq!(err.message(), method("PATCH"));
    assert_eq!(err.rule_index(), Some(1));
    assert_eq!(err.rule_id(), Some("uploads"));
    assert_eq!(err.field(), Some("AllowedMethod"));
    assert_eq!(err.value(), Some("PATCH"));
    assert_eq!(err.line_column(), Some((6, 3)));
    assert!(!err.detail().is_empty());
    let shown = err.to_string();
    for part in [
        "InvalidRequest",
        "Unsupported method is PATCH",
        "line 6, column 3",
        "CORSRule 2 (index 1, ID \"uploads\")",
        "AllowedMethod \"PATCH\"",
    ] {
        assert!(shown.contains(part), "{part:?} not in {shown:?}");
    }

    // MaxAgeSeconds: the field and the rule.
    let err = CorsConfiguration::from_xml(&xml(&[
        GOOD,
        &format!("{GOOD}<MaxAgeSeconds>soon</MaxAgeSeconds>"),
    ]))
    .unwrap_err();
    assert_eq!(
        (err.rule_index(), err.field(), err.value()),
        (Some(1), Some("MaxAgeSeconds"), Some("soon"))
    );
    assert!(err.to_string().contains("MaxAgeSeconds \"soon\""), "{err}");

    // JSON: a syntax error has serde_json's line and column; a value error the rule's.
    let err = CorsConfiguration::from_json("{\n  \"CORSRules\": [\n    {,}\n  ]\n}").unwrap_err();
    assert_eq!(err.code().as_str(), "MalformedXML");
    assert_eq!(err.line_column().map(|(line, _)| line), Some(3), "{err}");
    let json = "{\"CORSRules\": [\n  {\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"GET\"]},\n  {\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"get\"]}\n]}";
    let err = CorsConfiguration::from_json(json).unwrap_err();
    assert_eq!(err.rule_index(), Some(1));
    assert_eq!(err.line_column(), Some((3, 3)));
    assert!(err.to_string().contains("CORSRule 2 (index 1)"), "{err}");

    // Too many rules names no rule.
    let err = CorsConfiguration::from_xml(&xml(&vec![GOOD; 101])).unwrap_err();
    assert!(err.rule_index().is_none());
    assert!(err.to_string().contains("101"), "{err}");
}

#[test]
fn elements_in_any_order_and_namespace_optional() {
    let ordered = xml(&["<ID>r</ID><AllowedHeader>a</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedOrigin>o</AllowedOrigin><ExposeHeader>e</ExposeHeader><MaxAgeSeconds>5</MaxAgeSeconds>"]);
    let shuffled = "<CORSConfiguration><CORSRule><MaxAgeSeconds>5</MaxAgeSeconds><ExposeHeader>e</ExposeHeader><AllowedOrigin>o</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>a</AllowedHeader><ID>r</ID></CORSRule></CORSConfiguration>";
    assert_eq!(
        CorsConfiguration::from_xml(&ordered).unwrap(),
        CorsConfiguration::from_xml(shuffled).unwrap()
    );
    // Interleaved repeated elements keep their relative order.
    let interleaved = xml(&["<AllowedMethod>PUT</AllowedMethod><AllowedOrigin>b</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedOrigin>a</AllowedOrigin>"]);
    let config = CorsConfiguration::from_xml(&interleaved).unwrap();
    assert_eq!(config.rules()[0].allowed_methods(), ["PUT", "GET"]);
    assert_eq!(config.rules()[0].allowed_origins(), ["b", "a"]);
}

#[test]
fn values_are_kept_verbatim() {
    let doc = xml(&["<AllowedOrigin>http://test.com:80</AllowedOrigin><AllowedOrigin>HTTPS://A.example/</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>X-AMZ-Date</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-a&amp;b</ExposeHeader>"]);
    let config = CorsConfiguration::from_xml(&doc).unwrap();
    let rule = &config.rules()[0];
    assert_eq!(
        rule.allowed_origins(),
        ["http://test.com:80", "HTTPS://A.example/"]
    );
    assert_eq!(rule.allowed_headers(), ["X-AMZ-Date"]);
    assert_eq!(rule.expose_headers(), ["ETag", "x-amz-a&b"]);
    assert_eq!(rule.max_age_seconds(), None);
    assert_eq!(rule.id(), None);
}

#[test]
fn to_xml_is_the_get_bucket_cors_document() {
    let config = CorsConfiguration::new([
        CorsRule::builder()
            .id("uploads & more")
            .allowed_origins(["https://b.example", "https://a.example"])
            .allowed_methods(["PUT", "GET"])
            .allowed_headers(["X-Amz-*", "content-type"])
            .expose_headers(["ETag", "x-amz-request-id"])
            .max_age_seconds(3000)
            .build(),
        CorsRule::builder()
            .allowed_origin("*")
            .allowed_method("GET")
            .build(),
    ])
    .unwrap();
    let expected = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        "<CORSRule><ID>uploads &amp; more</ID>",
        "<AllowedHeader>X-Amz-*</AllowedHeader><AllowedHeader>content-type</AllowedHeader>",
        "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>",
        "<AllowedOrigin>https://b.example</AllowedOrigin><AllowedOrigin>https://a.example</AllowedOrigin>",
        "<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader>",
        "<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>",
        // Absent members are omitted.
        "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>",
        "</CORSConfiguration>",
    );
    assert_eq!(config.to_xml(), expected);
    assert_eq!(CorsConfiguration::from_xml(&config.to_xml()).unwrap(), config);
}

#[test]
fn to_xml_round_trips_odd_values() {
    let config = CorsConfiguration::new([CorsRule::builder()
        .id("it's \"quoted\" <b> & ]]> \u{e9}")
        .allowed_origin("")
        .allowed_origin("http://x/?a=1&b=<2>")
        .allowed_method("DELETE")
        .allowed_header("a\rb")
        .max_age_seconds(-2147483648)
        .build()])
    .unwrap();
    let xml = config.to_xml();
    assert!(xml.contains("<AllowedOrigin></AllowedOrigin>"), "{xml}");
    assert!(
        xml.contains("<ID>it's \"quoted\" &lt;b&gt; &amp; ]]&gt; \u{e9}</ID>"),
        "{xml}"
    );
    assert_eq!(CorsConfiguration::from_xml(&xml).unwrap(), config);
}

const CLI: &str = r#"{"CORSRules": [
    {"ID": "web", "AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
]}"#;

const CONSOLE: &str = r#"[
    {"AllowedHeaders": ["*"], "AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["https://app.example.com"],
     "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000, "ID": "web"},
    {"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}
]"#;

#[test]
fn json_cli_and_console_forms_read_the_same() {
    let cli = CorsConfiguration::from_json(CLI).unwrap();
    let console = CorsConfiguration::from_json(CONSOLE).unwrap();
    assert_eq!(cli, console);
    let rule = &cli.rules()[0];
    assert_eq!(rule.id(), Some("web"));
    assert_eq!(rule.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(rule.max_age_seconds(), Some(3000));
    // Output is the CLI form, absent members omitted.
    let out: serde_json::Value = serde_json::from_str(&cli.to_json()).unwrap();
    assert_eq!(
        out,
        serde_json::json!({"CORSRules": [
            {"ID": "web", "AllowedHeaders": ["*"], "AllowedMethods": ["GET", "PUT"],
             "AllowedOrigins": ["https://app.example.com"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
            {"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}
        ]})
    );
    assert_eq!(CorsConfiguration::from_json(&cli.to_json()).unwrap(), cli);
    // XML and JSON describe the same configuration.
    assert_eq!(CorsConfiguration::from_xml(&cli.to_xml()).unwrap(), cli);
}

#[test]
fn serde_reads_both_forms_and_validates() {
    let cli: serde_json::Value = serde_json::from_str(CLI).unwrap();
    let console: serde_json::Value = serde_json::from_str(CONSOLE).unwrap();
    let from_cli: CorsConfiguration = serde_json::from_value(cli).unwrap();
    let from_console: CorsConfiguration = serde_json::from_value(console).unwrap();
    assert_eq!(from_cli, from_console);
    assert_eq!(from_cli, CorsConfiguration::from_json(CLI).unwrap());
    // Serialising gives the CLI form back.
    let again: CorsConfiguration = serde_json::from_value(serde_json::to_value(&from_cli).unwrap()).unwrap();
    assert_eq!(again, from_cli);

    // Validation runs on deserialisation too, with S3's message in the error.
    let err = serde_json::from_value::<CorsConfiguration>(serde_json::json!(
        [{"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}]
    ))
    .unwrap_err();
    assert!(err.to_string().contains(&method("get")), "{err}");
    let err = serde_json::from_value::<CorsConfiguration>(serde_json::json!({"CORSRules": []})).unwrap_err();
    assert!(err.to_string().contains("MalformedXML"), "{err}");

    // Unknown members are refused as from_json refuses them, at the top and in a rule.
    let extra_top = serde_json::json!(
        {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}], "Extra": 1}
    );
    assert!(CorsConfiguration::from_json(&extra_top.to_string()).is_err());
    assert!(serde_json::from_value::<CorsConfiguration>(extra_top).is_err());
    let extra_in_rule = serde_json::json!([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "Extra": 1}]);
    assert!(CorsConfiguration::from_json(&extra_in_rule.to_string()).is_err());
    assert!(serde_json::from_value::<CorsConfiguration>(extra_in_rule).is_err());
}

#[test]
fn code_built_rules_are_validated_like_documents() {
    let err = CorsConfiguration::new([CorsRule::builder()
        .allowed_origin("*")
        .allowed_method("PATCH")
        .build()])
    .unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.message()),
        ("InvalidRequest", method("PATCH").as_str())
    );
    let err = CorsConfiguration::new(Vec::<CorsRule>::new()).unwrap_err();
    assert_eq!((err.code().as_str(), err.message()), ("MalformedXML", MALFORMED));
    let err = CorsConfiguration::new([CorsRule::builder().allowed_method("GET").build()]).unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.field()),
        ("MalformedXML", Some("AllowedOrigin"))
    );
    let rules = (0..=CorsConfiguration::MAX_RULES)
        .map(|_| CorsRule::builder().allowed_origin("*").allowed_method("GET"));
    let err = CorsConfiguration::new(rules).unwrap_err();
    assert_eq!((err.code().as_str(), err.message()), ("InvalidRequest", TOO_MANY));
}

#[test]
fn config_error_document_is_s3s() {
    let err = CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["a*"]}]"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_s3_xml("RID1", "HID/2+="),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRequest</Code><Message>{}</Message><RequestId>RID1</RequestId><HostId>HID/2+=</HostId></Error>",
            expose_wildcard("a*")
        )
    );
}
