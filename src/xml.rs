//! S3's XML format: the PutBucketCors body and the GetBucketCors answer.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::config::{CorsConfiguration, CorsRule, MAX_DOCUMENT_BYTES};
use crate::error::{line_column, ConfigError};
use crate::validate;
use crate::xml_escape::{is_xml_char, push_escaped};

/// The namespace S3 writes and accepts.
pub(crate) const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Most elements a document of 64 KiB could need is far below this; it only bounds work.
const MAX_DEPTH: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    AllowedMethod,
    AllowedOrigin,
    AllowedHeader,
    ExposeHeader,
    MaxAgeSeconds,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "ID" => Field::Id,
            "AllowedMethod" => Field::AllowedMethod,
            "AllowedOrigin" => Field::AllowedOrigin,
            "AllowedHeader" => Field::AllowedHeader,
            "ExposeHeader" => Field::ExposeHeader,
            "MaxAgeSeconds" => Field::MaxAgeSeconds,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::Id => "ID",
            Field::AllowedMethod => "AllowedMethod",
            Field::AllowedOrigin => "AllowedOrigin",
            Field::AllowedHeader => "AllowedHeader",
            Field::ExposeHeader => "ExposeHeader",
            Field::MaxAgeSeconds => "MaxAgeSeconds",
        }
    }
}

/// Where the parser is in the document.
enum State {
    BeforeRoot,
    InRoot,
    InRule,
    InField(Field, String),
    AfterRoot,
}

struct Parser<'a> {
    text: &'a str,
    rules: Vec<CorsRule>,
    rule_offsets: Vec<usize>,
}

impl Parser<'_> {
    fn error_at(&self, offset: u64, detail: impl Into<String>) -> ConfigError {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        ConfigError::malformed(detail).with_line_column(line_column(self.text, offset))
    }

    fn in_rule_error(&self, offset: u64, detail: impl Into<String>) -> ConfigError {
        let index = self.rules.len().saturating_sub(1);
        let id = self.rules.last().and_then(|r| r.id.as_deref());
        self.error_at(offset, detail).with_rule(index, id)
    }
}

impl CorsConfiguration {
    /// Parses S3's XML (`<CORSConfiguration>`), with or without the S3 namespace, elements
    /// in any order. Documents over 64 KiB, DOCTYPEs and entity declarations are refused.
    #[cfg_attr(docsrs, doc(cfg(feature = "xml")))]
    pub fn from_xml(xml: &str) -> Result<Self, ConfigError> {
        parse(xml)
    }

    /// The XML document GetBucketCors returns for this configuration: values verbatim, in
    /// configuration order, absent members omitted.
    #[cfg_attr(docsrs, doc(cfg(feature = "xml")))]
    pub fn to_xml(&self) -> String {
        write(self)
    }
}

fn parse(text: &str) -> Result<CorsConfiguration, ConfigError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(ConfigError::too_big("the document", text.len()));
    }
    let mut parser = Parser {
        text,
        rules: Vec::new(),
        rule_offsets: Vec::new(),
    };
    let mut reader = Reader::from_str(text);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
    }
    let mut state = State::BeforeRoot;
    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                return Err(parser.error_at(reader.error_position(), format!("not well-formed: {err}")))
            }
        };
        state = match (state, event) {
            (_, Event::DocType(_)) => {
                return Err(parser.error_at(start, "a DOCTYPE is not allowed (entities are never expanded)"))
            }
            (
                state @ (State::BeforeRoot | State::AfterRoot),
                Event::Decl(_) | Event::Comment(_) | Event::PI(_),
            ) => state,
            (state @ (State::BeforeRoot | State::AfterRoot), Event::Text(t)) if is_blank(&t) => state,
            (State::BeforeRoot, Event::Start(e)) => {
                check_root(&parser, &e, start)?;
                State::InRoot
            }
            (State::BeforeRoot, Event::Empty(e)) => {
                check_root(&parser, &e, start)?;
                return Err(parser.error_at(start, "the CORSConfiguration has no CORSRule"));
            }
            (State::AfterRoot, Event::Eof) => break,
            (State::InRoot, Event::Start(e)) if e.name().as_ref() == "CORSRule" => {
                no_attributes(&parser, &e, start)?;
                parser.rules.push(CorsRule::default());
                parser
                    .rule_offsets
                    .push(usize::try_from(start).unwrap_or(usize::MAX));
                State::InRule
            }
            (State::InRoot, Event::Empty(e)) if e.name().as_ref() == "CORSRule" => {
                parser.rules.push(CorsRule::default());
                parser
                    .rule_offsets
                    .push(usize::try_from(start).unwrap_or(usize::MAX));
                return Err(
                    parser.in_rule_error(start, "an empty CORSRule has no AllowedMethod or AllowedOrigin")
                );
            }
            (State::InRoot, Event::End(_)) => State::AfterRoot,
            (state @ (State::InRoot | State::InRule), Event::Comment(_)) => state,
            (state @ (State::InRoot | State::InRule), Event::Text(t)) if is_blank(&t) => state,
            (State::InRule, Event::Start(e)) => match Field::from_name(e.name().as_ref()) {
                Some(field) => {
                    no_attributes(&parser, &e, start)?;
                    State::InField(field, String::new())
                }
                None => return Err(unknown_element(&parser, &e, start, true)),
            },
            (State::InRule, Event::Empty(e)) => match Field::from_name(e.name().as_ref()) {
                Some(field) => {
                    no_attributes(&parser, &e, start)?;
                    store(&mut parser, field, String::new(), start)?;
                    State::InRule
                }
                None => return Err(unknown_element(&parser, &e, start, true)),
            },
            (State::InRule, Event::End(_)) => State::InRoot,
            (State::InField(field, mut value), Event::Text(t)) => {
                value.push_str(&t.xml10_content());
                State::InField(field, value)
            }
            (State::InField(field, mut value), Event::CData(c)) => {
                // XML 1.0 normalises line breaks in CDATA sections too.
                value.push_str(&c.xml10_content());
                State::InField(field, value)
            }
            (State::InField(field, mut value), Event::GeneralRef(r)) => {
                let c = resolve_reference(&r).ok_or_else(|| {
                    parser.in_rule_error(start, format!("unknown or invalid reference &{};", &*r))
                })?;
                value.push(c);
                State::InField(field, value)
            }
            (State::InField(field, value), Event::Comment(_)) => State::InField(field, value),
            (State::InField(field, value), Event::End(_)) => {
                store(&mut parser, field, value, start)?;
                State::InRule
            }
            (State::InField(field, _), Event::Start(_) | Event::Empty(_)) => {
                return Err(parser.in_rule_error(start, format!("{} must contain text only", field.name())))
            }
            (State::InRoot, Event::Start(e) | Event::Empty(e)) => {
                return Err(unknown_element(&parser, &e, start, false))
            }
            (_, Event::Eof) => {
                return Err(parser.error_at(start, "the document ends before </CORSConfiguration>"))
            }
            (State::AfterRoot, _) => return Err(parser.error_at(start, "content after </CORSConfiguration>")),
            (State::BeforeRoot, _) => {
                return Err(parser.error_at(start, "expected the root element <CORSConfiguration>"))
            }
            (_, _) => return Err(parser.error_at(start, "unexpected content")),
        };
        let depth = match state {
            State::BeforeRoot | State::AfterRoot => 0,
            State::InRoot => 1,
            State::InRule => 2,
            State::InField(..) => 3,
        };
        debug_assert!(depth <= MAX_DEPTH);
    }
    let Parser {
        rules, rule_offsets, ..
    } = parser;
    match validate::configuration(rules) {
        Ok(config) => Ok(config),
        Err(err) => {
            let offset = err.rule_index().and_then(|i| rule_offsets.get(i).copied());
            Err(match offset {
                Some(offset) => err.with_line_column(line_column(text, offset)),
                None => err,
            })
        }
    }
}

fn is_blank(text: &quick_xml::events::BytesText<'_>) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn check_root(parser: &Parser<'_>, e: &BytesStart<'_>, start: u64) -> Result<(), ConfigError> {
    if e.name().as_ref() != "CORSConfiguration" {
        return Err(parser.error_at(
            start,
            format!(
                "the root element must be CORSConfiguration, not {}",
                e.name().as_ref()
            ),
        ));
    }
    for attribute in e.attributes() {
        let attribute = attribute.map_err(|err| parser.error_at(start, format!("bad attribute: {err}")))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| parser.error_at(start, format!("bad attribute: {err}")))?;
        if attribute.key.as_ref() != "xmlns" || value != S3_NAMESPACE {
            return Err(parser.error_at(
                start,
                format!(
                    "unexpected attribute {}=\"{value}\" (only xmlns=\"{S3_NAMESPACE}\" is allowed)",
                    attribute.key.as_ref()
                ),
            ));
        }
    }
    Ok(())
}

fn no_attributes(parser: &Parser<'_>, e: &BytesStart<'_>, start: u64) -> Result<(), ConfigError> {
    if e.attributes().next().is_some() {
        return Err(parser.error_at(start, format!("<{}> takes no attributes", e.name().as_ref())));
    }
    Ok(())
}

fn unknown_element(parser: &Parser<'_>, e: &BytesStart<'_>, start: u64, in_rule: bool) -> ConfigError {
    let name = e.name().as_ref().to_owned();
    let detail = format!("unknown element <{name}>");
    if in_rule {
        parser.in_rule_error(start, detail)
    } else {
        parser.error_at(start, detail)
    }
}

/// The five predefined entities and character references; nothing else exists without a DTD.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    let c = match &**reference {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => reference.resolve_char_ref().ok().flatten()?,
    };
    is_xml_char(c).then_some(c)
}

fn store(parser: &mut Parser<'_>, field: Field, value: String, start: u64) -> Result<(), ConfigError> {
    let repeated = |parser: &Parser<'_>| {
        parser.in_rule_error(
            start,
            format!("<{}> appears more than once in a CORSRule", field.name()),
        )
    };
    let max_age = if field == Field::MaxAgeSeconds {
        // xs:int: surrounding whitespace is collapsed; the value must fit in 32 bits.
        match value.trim_matches([' ', '\t', '\r', '\n']).parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(parser
                    .in_rule_error(
                        start,
                        "MaxAgeSeconds must be an integer between -2147483648 and 2147483647",
                    )
                    .with_field("MaxAgeSeconds", Some(&value)))
            }
        }
    } else {
        None
    };
    let Some(rule) = parser.rules.last_mut() else {
        return Err(parser.error_at(start, "a field outside a CORSRule"));
    };
    match field {
        Field::Id => {
            if rule.id.is_some() {
                return Err(repeated(parser));
            }
            rule.id = Some(value);
        }
        Field::MaxAgeSeconds => {
            if rule.max_age_seconds.is_some() {
                return Err(repeated(parser));
            }
            rule.max_age_seconds = max_age;
        }
        Field::AllowedMethod => rule.allowed_methods.push(value),
        Field::AllowedOrigin => rule.allowed_origins.push(value),
        Field::AllowedHeader => rule.allowed_headers.push(value),
        Field::ExposeHeader => rule.expose_headers.push(value),
    }
    Ok(())
}

/// The GetBucketCors document. Element order inside a rule follows S3's model: ID,
/// AllowedHeader, AllowedMethod, AllowedOrigin, ExposeHeader, MaxAgeSeconds.
fn write(config: &CorsConfiguration) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"");
    out.push_str(S3_NAMESPACE);
    out.push_str("\">");
    for rule in config.rules() {
        out.push_str("<CORSRule>");
        if let Some(id) = rule.id() {
            element(&mut out, "ID", id);
        }
        for value in rule.allowed_headers() {
            element(&mut out, "AllowedHeader", value);
        }
        for value in rule.allowed_methods() {
            element(&mut out, "AllowedMethod", value);
        }
        for value in rule.allowed_origins() {
            element(&mut out, "AllowedOrigin", value);
        }
        for value in rule.expose_headers() {
            element(&mut out, "ExposeHeader", value);
        }
        if let Some(seconds) = rule.max_age_seconds() {
            element(&mut out, "MaxAgeSeconds", &seconds.to_string());
        }
        out.push_str("</CORSRule>");
    }
    out.push_str("</CORSConfiguration>");
    out
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_escaped(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}
