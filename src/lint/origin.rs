//! Origins that let other sites in: `AllowedOrigin` values of a rule S3 answers with
//! credentials (one that does not list `*`) which match origins their author did not mean.
//!
//! Each finding comes with a *witness*: an origin a browser really sends (`scheme://host[:port]`,
//! lowercase, a valid host name) that the pattern matches and that belongs to someone else (a
//! different registrable domain, a plain-`http://` page, or `null`). The witness is built
//! from the pattern and then checked against it with the layer's own matcher, so a finding is
//! never a guess; a pattern for which no such origin can be built stays quiet.
//!
//! Where the one `*` sits decides what can go wrong (matching is prefix, run, suffix):
//!
//! - the whole host (`https://*`, `http*`, `https://*:8443`): every site;
//! - before a dot and a public suffix (`https://*.com`, `https://*.github.io`): every site under it;
//! - anywhere else the run can leave the host's own domain: after the host
//!   (`https://app.example.com*` matches `https://app.example.com.attacker.net`), or before a
//!   name without a dot in between (`https://*example.com` matches `https://evilexample.com`);
//! - in the scheme, or before `://` (`*.example.com`, `*://app.example.com`): `http://` pages;
//! - in the port (`https://app.example.com:*`): the host is fixed, nothing to report.
//!
//! Change this together with `Pattern::matches` (src/matcher.rs): the witnesses assume its
//! prefix, any run (possibly empty), suffix semantics.

use super::suffix::{known_suffix, registrable_domain};
use super::LintCode;
use crate::matcher::Pattern;

/// The domain the witnesses use for a site of the attacker's own.
const ATTACKER_DOMAIN: &str = "attacker.net";

/// One origin pattern that admits origins its author did not mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exposure {
    pub(crate) code: LintCode,
    /// An origin the pattern matches that should not get in.
    pub(crate) witness: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

/// What is wrong with `origin` as an `AllowedOrigin` of a rule answered with credentials.
pub(crate) fn exposure(origin: &str) -> Option<Exposure> {
    if origin == "null" {
        return Some(Exposure {
            code: LintCode::OriginNull,
            witness: "null".to_owned(),
            message: "\"null\" is the Origin of sandboxed iframes, data: documents, local files and some \
                      redirects, so any site can send it (from an <iframe sandbox>), and S3 echoes it with \
                      Access-Control-Allow-Credentials: true"
                .to_owned(),
            fix: "remove \"null\", and serve those documents from an https:// origin you list".to_owned(),
        });
    }
    match origin.split_once('*') {
        None => {
            let web = WebOrigin::parse(origin)?;
            (web.scheme == "http" && !web.is_loopback()).then(|| insecure(origin, origin, false))
        }
        Some((before, after)) => wildcard(origin, before, after),
    }
}

/// Where the `*` of `before*after` sits in `scheme://host[:port]`.
enum Place<'a> {
    /// In the host: `hp*hs` then `port` (`":8443"` or empty). `schemes` are those the origin
    /// can have (the `*` may also stand for `scheme://`).
    Host {
        schemes: &'a [&'a str],
        hp: &'a str,
        hs: &'a str,
        port: &'a str,
    },
    /// In the scheme, with the host fixed.
    Scheme,
    /// In the port (or inside an IPv6 literal): the host is fixed.
    Port,
}

fn place<'a>(before: &'a str, after: &'a str) -> Option<Place<'a>> {
    let split_port = |rest: &'a str| match rest.find(':') {
        Some(colon) => rest.split_at(colon),
        None => (rest, ""),
    };
    if let Some((scheme, hp)) = before.split_once("://") {
        if hp.contains([':', '[']) || after.contains(['[', ']']) {
            return Some(Place::Port);
        }
        let schemes: &[&str] = match scheme {
            "https" => &["https"],
            "http" => &["http"],
            _ => return None,
        };
        let (hs, port) = split_port(after);
        return Some(Place::Host {
            schemes,
            hp,
            hs,
            port,
        });
    }
    if after.contains("://") {
        return Some(Place::Scheme);
    }
    // The `*` stands for (part of) `scheme://` and the start of the host.
    let schemes: &[&str] = match ("https://".starts_with(before), "http://".starts_with(before)) {
        (true, true) => &["https", "http"],
        (true, false) => &["https"],
        (false, true) => &["http"],
        (false, false) => return None,
    };
    let (hs, port) = split_port(after);
    Some(Place::Host {
        schemes,
        hp: "",
        hs,
        port,
    })
}

fn wildcard(origin: &str, before: &str, after: &str) -> Option<Exposure> {
    let pattern = Pattern::parse(origin);
    let place = place(before, after)?;
    if let Place::Host {
        schemes,
        hp,
        hs,
        port,
    } = place
    {
        if let Some(found) = foreign_host(origin, &pattern, schemes, hp, hs, port) {
            return Some(found);
        }
    }
    // No other site: is a plain-http page of the same host let in?
    let fillers: &[&str] = match place {
        Place::Host { .. } => &["app", "", "app.", ".app"],
        Place::Scheme => &["http"],
        Place::Port => &["", "8080"],
    };
    let scheme_star = matches!(place, Place::Scheme) || !before.contains("://");
    fillers.iter().find_map(|filler| {
        let candidate = match place {
            // `before` may be only part of `http://`: build the whole origin.
            Place::Host { hp, hs, port, .. } => format!("http://{hp}{filler}{hs}{port}"),
            Place::Scheme | Place::Port => format!("{before}{filler}{after}"),
        };
        let web = WebOrigin::parse(&candidate)?;
        (web.scheme == "http" && !web.is_loopback() && pattern.matches(candidate.as_bytes()))
            .then(|| insecure(origin, &candidate, scheme_star))
    })
}

/// A witness under another registrable domain, for a `*` in the host.
fn foreign_host(
    origin: &str,
    pattern: &Pattern,
    schemes: &[&str],
    hp: &str,
    hs: &str,
    port: &str,
) -> Option<Exposure> {
    let scheme = schemes.first()?;
    let (code, fillers, intended): (LintCode, Vec<String>, Option<&str>) = if hp.is_empty() && hs.is_empty() {
        (
            LintCode::OriginWildcardAnyHost,
            vec![ATTACKER_DOMAIN.to_owned()],
            None,
        )
    } else if let (true, Some(domain)) = (hp.is_empty(), hs.strip_prefix('.')) {
        // `*.D`: every match is under D; only a public suffix at or below D lets others in.
        (
            LintCode::OriginWildcardPublicSuffix,
            vec!["attacker".to_owned(), "www.attacker".to_owned()],
            registrable_domain(domain),
        )
    } else if let Some(dot) = hs.find('.') {
        // `hp*L.D`: the label around the `*` sits right above D.
        let domain = hs.get(dot + 1..).unwrap_or_default();
        let fixed = if dot == 0 { domain } else { hs };
        (
            LintCode::OriginWildcardCrossesHost,
            vec!["evil".to_owned()],
            registrable_domain(fixed),
        )
    } else if hs.is_empty() {
        // `hp*`: the run continues the host with a domain of the attacker's.
        let fillers = [".", "", "x."]
            .iter()
            .map(|sep| format!("{sep}{ATTACKER_DOMAIN}"))
            .collect();
        let fixed = hp.trim_end_matches(['.', '-']);
        (
            LintCode::OriginWildcardCrossesHost,
            fillers,
            registrable_domain(fixed),
        )
    } else if cfg!(feature = "public-suffix-list") {
        // `hp*T` with T the end of the last label: only the list can say which top-level
        // names end with T.
        (
            LintCode::OriginWildcardCrossesHost,
            vec!["attacker.".to_owned()],
            None,
        )
    } else {
        return None;
    };
    fillers.iter().find_map(|filler| {
        let host = format!("{hp}{filler}{hs}");
        let candidate = format!("{scheme}://{host}{port}");
        let web = WebOrigin::parse(&candidate)?;
        let theirs = registrable_domain(web.host)?;
        let foreign = Some(theirs) != intended
            && known_suffix(web.host)
            && !web.is_loopback()
            && !web.is_ip_literal()
            && pattern.matches(candidate.as_bytes());
        foreign.then(|| other_site(code, origin, &candidate, hp, hs, scheme))
    })
}

fn other_site(code: LintCode, origin: &str, witness: &str, hp: &str, hs: &str, scheme: &str) -> Exposure {
    let credentials = "and S3 echoes it with Access-Control-Allow-Credentials: true";
    let (message, fix) = match code {
        LintCode::OriginWildcardAnyHost => (
            format!(
                "the * in {origin:?} stands for the whole host, so every site matches, such as {witness:?}, \
                 {credentials} (the same as reflecting any Origin)"
            ),
            "list each origin (\"https://app.example.com\"), or \"https://*.example.com\" for your own \
             subdomains; use \"*\" alone for public reads without credentials"
                .to_owned(),
        ),
        LintCode::OriginWildcardPublicSuffix => {
            let domain = hs.trim_start_matches('.');
            (
                format!(
                    "{origin:?} matches every site under {domain:?}, where anyone can register a name of their \
                     own (a public suffix), such as {witness:?}, {credentials}"
                ),
                format!("name your own domain: \"{scheme}://*.example.{domain}\", or list each origin"),
            )
        }
        _ => {
            let fix = if hs.is_empty() {
                format!(
                    "end the pattern with the host: \"{scheme}://{}\" (list other ports one by one)",
                    hp.trim_end_matches(['.', '-'])
                )
            } else if hp.is_empty() && !hs.starts_with('.') {
                format!("put a dot after the *: \"{scheme}://*.{hs}\" (and list \"{scheme}://{hs}\" itself)")
            } else {
                "keep the * inside one label below your own domain, e.g. \"https://*.example.com\"".to_owned()
            };
            (
                format!(
                    "the * in {origin:?} can reach across the host's labels: {witness:?} matches, a site of \
                     another domain, {credentials}"
                ),
                fix,
            )
        }
    };
    Exposure {
        code,
        witness: witness.to_owned(),
        message,
        fix,
    }
}

fn insecure(origin: &str, witness: &str, scheme_star: bool) -> Exposure {
    let what = if scheme_star {
        format!("the * in {origin:?} also stands for the scheme, so plain http:// origins such as {witness:?} match")
    } else if origin == witness {
        format!("{origin:?} is a plain http:// origin")
    } else {
        format!("{origin:?} allows plain http:// origins such as {witness:?}")
    };
    let https = match (origin.strip_prefix("http://"), origin.split_once("://")) {
        (Some(rest), _) => format!("https://{rest}"),
        // `*://host`: the scheme was the `*`.
        (None, Some((_, rest))) => format!("https://{rest}"),
        // `*.example.com`: the `*` stood for `scheme://` and the start of the host.
        (None, None) => format!(
            "https://*{}",
            origin.split_once('*').map_or("", |(_, after)| after)
        ),
    };
    Exposure {
        code: LintCode::OriginInsecureHttp,
        witness: witness.to_owned(),
        message: format!(
            "{what}: anyone on the network path can inject a page there, and S3 echoes it with \
             Access-Control-Allow-Credentials: true"
        ),
        fix: format!("write {https:?}; http:// is only safe for loopback (localhost, 127.0.0.1, [::1])"),
    }
}

/// An origin as a browser serialises it: `http` or `https`, `://`, a lowercase host name,
/// IPv4 or bracketed IPv6 address, and a port other than the scheme's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WebOrigin<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: &'a str,
}

impl<'a> WebOrigin<'a> {
    pub(crate) fn parse(origin: &'a str) -> Option<WebOrigin<'a>> {
        let (scheme, rest) = origin.split_once("://")?;
        let default_port = match scheme {
            "http" => "80",
            "https" => "443",
            _ => return None,
        };
        let (host, port) = if rest.starts_with('[') {
            let end = rest.find(']')? + 1;
            let (host, port) = rest.split_at(end);
            let inside = host.get(1..host.len() - 1)?;
            let ipv6 = inside.contains(':')
                && inside
                    .bytes()
                    .all(|b| (b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) || b == b':' || b == b'.');
            (ipv6.then_some(host)?, port)
        } else {
            let (host, port) = match rest.find(':') {
                Some(colon) => rest.split_at(colon),
                None => (rest, ""),
            };
            (is_host_name(host).then_some(host)?, port)
        };
        if let Some(digits) = port.strip_prefix(':') {
            let valid = !digits.is_empty()
                && digits.len() <= 5
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
                && digits.parse::<u32>().is_ok_and(|p| p <= 65535)
                && digits != default_port;
            if !valid {
                return None;
            }
        } else if !port.is_empty() {
            return None;
        }
        Some(WebOrigin { scheme, host })
    }

    /// `localhost` (and names under it), `127.0.0.0/8` and `[::1]`: only this machine.
    pub(crate) fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host.ends_with(".localhost")
            || self.host == "[::1]"
            || (self.is_ip_literal() && self.host.starts_with("127."))
    }

    fn is_ip_literal(&self) -> bool {
        self.host.starts_with('[')
            || (self.host.split('.').count() == 4
                && self.host.split('.').all(|part| part.parse::<u8>().is_ok()))
    }
}

/// A lowercase DNS name: labels of `a-z`, `0-9` and `-` (not at either end), 1 to 63 bytes
/// each, 253 in all.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
    use http::Request;

    use super::*;
    use crate::config::{CorsConfiguration, CorsRule};
    use crate::decision::Decision;
    use crate::policy::CorsPolicy;

    /// Replays a witness as a preflight through the layer's own evaluation: it must be
    /// allowed, with the origin echoed and credentials.
    fn replay(pattern: &str, witness: &str) {
        let rule = CorsRule::builder()
            .allowed_origins([pattern])
            .allowed_methods(["GET"])
            .build();
        let policy = CorsPolicy::new(CorsConfiguration::new(vec![rule]).unwrap());
        let request = Request::options("/")
            .header(ORIGIN, witness)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(())
            .unwrap();
        match policy.evaluate(&request) {
            Decision::Preflight(allowed) => {
                let headers = allowed.headers();
                assert_eq!(headers.allow_origin(), witness);
                assert!(headers.allow_credentials(), "{pattern:?}");
            }
            other => panic!("{pattern:?}: witness {witness:?} gives {other:?}"),
        }
    }

    #[test]
    fn each_pattern_gets_its_code_and_a_witness_that_gets_in() {
        let mut cases = vec![
            (
                "https://*",
                LintCode::OriginWildcardAnyHost,
                "https://attacker.net",
            ),
            ("http*", LintCode::OriginWildcardAnyHost, "https://attacker.net"),
            ("h*", LintCode::OriginWildcardAnyHost, "https://attacker.net"),
            (
                "https://*:8443",
                LintCode::OriginWildcardAnyHost,
                "https://attacker.net:8443",
            ),
            (
                "https://*.com",
                LintCode::OriginWildcardPublicSuffix,
                "https://attacker.com",
            ),
            (
                "https://*example.com",
                LintCode::OriginWildcardCrossesHost,
                "https://evilexample.com",
            ),
            (
                "https://app.*example.com",
                LintCode::OriginWildcardCrossesHost,
                "https://app.evilexample.com",
            ),
            (
                "https://app.*.com",
                LintCode::OriginWildcardCrossesHost,
                "https://app.evil.com",
            ),
            (
                "https://app-*.com",
                LintCode::OriginWildcardCrossesHost,
                "https://app-evil.com",
            ),
            (
                "https://app.example.com*",
                LintCode::OriginWildcardCrossesHost,
                "https://app.example.com.attacker.net",
            ),
            (
                "https://app.*",
                LintCode::OriginWildcardCrossesHost,
                "https://app.attacker.net",
            ),
            (
                "https://app-*",
                LintCode::OriginWildcardCrossesHost,
                "https://app-attacker.net",
            ),
            (
                "https://10.0.0.*",
                LintCode::OriginWildcardCrossesHost,
                "https://10.0.0.attacker.net",
            ),
            (
                "http://localhost*",
                LintCode::OriginWildcardCrossesHost,
                "http://localhost.attacker.net",
            ),
            (
                "*example.com",
                LintCode::OriginWildcardCrossesHost,
                "https://evilexample.com",
            ),
            (
                "http://*.example.com",
                LintCode::OriginInsecureHttp,
                "http://app.example.com",
            ),
            (
                "http://app.example.com",
                LintCode::OriginInsecureHttp,
                "http://app.example.com",
            ),
            (
                "http://192.168.1.10:8080",
                LintCode::OriginInsecureHttp,
                "http://192.168.1.10:8080",
            ),
            (
                "*.example.com",
                LintCode::OriginInsecureHttp,
                "http://app.example.com",
            ),
            (
                "*://app.example.com",
                LintCode::OriginInsecureHttp,
                "http://app.example.com",
            ),
            (
                "http://app.example.com:*",
                LintCode::OriginInsecureHttp,
                "http://app.example.com:8080",
            ),
            ("null", LintCode::OriginNull, "null"),
        ];
        if cfg!(feature = "public-suffix-list") {
            cases.extend([
                (
                    "https://*.co.uk",
                    LintCode::OriginWildcardPublicSuffix,
                    "https://attacker.co.uk",
                ),
                (
                    "https://*.github.io",
                    LintCode::OriginWildcardPublicSuffix,
                    "https://attacker.github.io",
                ),
                (
                    "https://*.ck",
                    LintCode::OriginWildcardPublicSuffix,
                    "https://www.attacker.ck",
                ),
                (
                    "https://*.compute.amazonaws.com",
                    LintCode::OriginWildcardPublicSuffix,
                    "https://www.attacker.compute.amazonaws.com",
                ),
                (
                    "https://app.example.*com",
                    LintCode::OriginWildcardCrossesHost,
                    "https://app.example.attacker.com",
                ),
            ]);
        }
        for (pattern, code, witness) in cases {
            let found = exposure(pattern).unwrap_or_else(|| panic!("{pattern:?}: no finding"));
            assert_eq!(
                (found.code, found.witness.as_str()),
                (code, witness),
                "{pattern:?}"
            );
            assert!(found.message.contains(witness), "{pattern:?}: {}", found.message);
            replay(pattern, witness);
        }
    }

    #[test]
    fn safe_forms_stay_quiet() {
        for pattern in [
            "https://*.example.com",
            "https://*.example.co.uk",
            "https://*.me.github.io",
            "https://app-*.example.com",
            "https://*-preview.example.com",
            "https://app.example.com",
            "https://app.example.com:*",
            "https://app.example.com:8*",
            "http://localhost:3000",
            "http://localhost:*",
            "http://*.localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://[::1]:*",
            // Never sent by a browser: other lints say so.
            "https://*.Example.com",
            "https://app.example.com/",
            "chrome-extension://*",
            "",
        ] {
            assert_eq!(exposure(pattern), None, "{pattern:?}");
        }
    }

    #[test]
    fn fixes_name_a_safe_form() {
        let fix = |pattern: &str| exposure(pattern).map(|found| found.fix).unwrap();
        assert!(fix("https://*example.com").contains("\"https://*.example.com\""));
        assert!(fix("https://app.example.com*").contains("\"https://app.example.com\""));
        assert!(fix("http://*.example.com").contains("\"https://*.example.com\""));
        assert!(fix("*.example.com").contains("\"https://*.example.com\""));
        assert!(fix("*://app.example.com").contains("\"https://app.example.com\""));
        for safe in ["https://*.example.com", "https://app.example.com"] {
            assert_eq!(exposure(safe), None);
        }
    }

    #[test]
    fn browser_origins() {
        for (origin, valid) in [
            ("https://a.example", true),
            ("https://a.example:8443", true),
            ("https://a.example:443", false),
            ("http://a.example:80", false),
            ("https://a.example:0", false),
            ("https://a.example:65536", false),
            ("https://A.example", false),
            ("https://-a.example", false),
            ("https://a..example", false),
            ("https://a.example/", false),
            ("http://[::1]:3000", true),
            ("http://[::1", false),
            ("ftp://a.example", false),
        ] {
            assert_eq!(WebOrigin::parse(origin).is_some(), valid, "{origin:?}");
        }
    }
}
