//! Fetch Metadata resource isolation (beyond S3): refusing cross-site requests no rule allows.
//!
//! Browsers describe every request they send with the Fetch Metadata request headers
//! (W3C "Fetch Metadata Request Headers", <https://w3c.github.io/webappsec-fetch-metadata/>):
//! `Sec-Fetch-Site` (how the initiator's site relates to the target: `same-origin`,
//! `same-site`, `cross-site`, or `none` for a user action such as a typed URL),
//! `Sec-Fetch-Mode` (`navigate`, `cors`, `no-cors`, ...) and `Sec-Fetch-Dest` (`document`,
//! `iframe`, `image`, `script`, `empty`, ...). Pages cannot set or change them. They are sent
//! also on the cross-site requests that carry no `Origin` (`<img>`, `<script>`, `no-cors` GETs,
//! navigations), which CORS rules cannot judge.
//!
//! The policy is the resource isolation policy of web.dev's "Protect your resources from web
//! attacks with Fetch Metadata" (<https://web.dev/articles/fetch-metadata>), with the CORS rules
//! as its list of exceptions: a request passes when it has no `Sec-Fetch-Site`, or its site is
//! `same-origin`, `same-site` (unless turned off) or `none`, or it is a top-level `GET`
//! navigation (unless turned off), or a rule allows its `Origin`. Everything else is refused.
//!
//! [`FetchMetadata::judge`] reads the headers (a pure function of the method and the headers,
//! so this file depends on nothing else in the crate); the decision combines its verdict with
//! the S3 decision for an actual request.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// `Sec-Fetch-Site`.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
/// `Sec-Fetch-Mode`.
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
/// `Sec-Fetch-Dest`.
const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// Fetch Metadata resource isolation: which requests that carry Fetch Metadata pass without a
/// CORS rule allowing their `Origin`. Turned on with [`CorsOptions::fetch_metadata`](crate::CorsOptions::fetch_metadata).
///
/// | `Sec-Fetch-Site` | verdict |
/// |---|---|
/// | absent (older browsers, curl, server-to-server calls) | passes |
/// | `same-origin` | passes (even when [enforce](crate::CorsOptions::enforce) would refuse its `Origin`: the browser vouches that the page is the resource's own) |
/// | `same-site` | passes unless [`allow_same_site(false)`](Self::allow_same_site) |
/// | `none` (typed URL, bookmark) | passes |
/// | `cross-site` | passes when a rule allows its `Origin`, or when it is a top-level `GET` navigation (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`) unless [`allow_navigation(false)`](Self::allow_navigation); otherwise refused with S3's 403 `AccessForbidden` |
/// | any other value, or several fields | as `cross-site` |
///
/// A cross-site form `POST` is a navigation but not a `GET`: it is refused, as are `<img>`,
/// `<script>`, `<iframe>` and `no-cors` requests from other sites.
///
/// ```
/// use tower_s3_cors::fetch_metadata::FetchMetadata;
/// use tower_s3_cors::{CorsConfiguration, CorsOptions, CorsPolicy, Decision};
///
/// let policy = CorsPolicy::new(CorsConfiguration::from_json(
///     r#"[{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "POST"]}]"#,
/// )?);
/// let options = CorsOptions::new().fetch_metadata(FetchMetadata::new());
///
/// // An <img> on another site: no Origin, so no rule can allow it.
/// let image = http::Request::get("/api/me")
///     .header("sec-fetch-site", "cross-site")
///     .header("sec-fetch-mode", "no-cors")
///     .header("sec-fetch-dest", "image")
///     .body(())
///     .unwrap();
/// assert!(matches!(policy.evaluate_with(&image, &options), Decision::Refuse(_)));
///
/// // The application's own page.
/// let own = http::Request::get("/api/me").header("sec-fetch-site", "same-origin").body(()).unwrap();
/// let Decision::PassThrough(pass) = policy.evaluate_with(&own, &options) else { panic!() };
/// assert_eq!(pass.vary().unwrap(), "Sec-Fetch-Site");
/// # Ok::<(), tower_s3_cors::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct FetchMetadata {
    allow_same_site: bool,
    allow_navigation: bool,
}

impl Default for FetchMetadata {
    fn default() -> Self {
        FetchMetadata {
            allow_same_site: true,
            allow_navigation: true,
        }
    }
}

impl FetchMetadata {
    /// The resource isolation policy: `same-site` requests and top-level `GET` navigations
    /// pass.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `same-site` requests (from another origin of the same site, e.g. a sibling
    /// subdomain) pass without a rule. Turn off when other parts of the site are less trusted.
    pub fn allow_same_site(mut self, on: bool) -> Self {
        self.allow_same_site = on;
        self
    }

    /// Whether cross-site top-level `GET` navigations (links, bookmarks on another site) pass
    /// without a rule. Turn off for an API no one opens in a browser tab.
    pub fn allow_navigation(mut self, on: bool) -> Self {
        self.allow_navigation = on;
        self
    }

    /// Whether `same-site` requests pass.
    pub fn is_same_site_allowed(&self) -> bool {
        self.allow_same_site
    }

    /// Whether cross-site top-level `GET` navigations pass.
    pub fn is_navigation_allowed(&self) -> bool {
        self.allow_navigation
    }

    /// What a request's Fetch Metadata says under this policy, before any CORS rule is
    /// consulted. A pure function of the method and the `Sec-Fetch-*` headers.
    ///
    /// ```
    /// use tower_s3_cors::fetch_metadata::{FetchMetadata, SiteVerdict};
    ///
    /// let form_post = http::Request::post("/api/counter/increment")
    ///     .header("sec-fetch-site", "cross-site")
    ///     .header("sec-fetch-mode", "navigate")
    ///     .header("sec-fetch-dest", "document")
    ///     .body(())
    ///     .unwrap();
    /// let verdict = FetchMetadata::new().judge(form_post.method(), form_post.headers());
    /// assert_eq!(verdict, SiteVerdict::CrossSite);
    /// ```
    pub fn judge(&self, method: &Method, headers: &HeaderMap) -> SiteVerdict {
        let mut sites = headers.get_all(SEC_FETCH_SITE).iter();
        let site = match (sites.next(), sites.next()) {
            (None, _) => return SiteVerdict::NoFetchMetadata,
            (Some(site), None) => site.as_bytes(),
            // Several fields: no browser sends that; judged as cross-site.
            (Some(_), Some(_)) => b"",
        };
        match site {
            b"same-origin" => SiteVerdict::SameOrigin,
            b"same-site" if self.allow_same_site => SiteVerdict::SameSite,
            b"none" => SiteVerdict::UserInitiated,
            // `cross-site`, a refused `same-site`, and values the specification does not
            // define (fail closed, as the resource isolation policy does).
            _ if self.allow_navigation && is_top_level_get_navigation(method, headers) => {
                SiteVerdict::Navigation
            }
            _ => SiteVerdict::CrossSite,
        }
    }
}

/// `Sec-Fetch-Mode: navigate` and `Sec-Fetch-Dest: document` on a `GET`: a link followed in a
/// tab, not a form `POST` and not a frame.
fn is_top_level_get_navigation(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::GET
        && headers.get(SEC_FETCH_MODE).is_some_and(|v| v == "navigate")
        && headers.get(SEC_FETCH_DEST).is_some_and(|v| v == "document")
}

/// What a request's Fetch Metadata says under a [`FetchMetadata`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SiteVerdict {
    /// No `Sec-Fetch-Site`: an older browser or a non-browser client. Passes.
    NoFetchMetadata,
    /// `Sec-Fetch-Site: same-origin`. Passes.
    SameOrigin,
    /// `Sec-Fetch-Site: same-site`, allowed by the policy. Passes.
    SameSite,
    /// `Sec-Fetch-Site: none`: the user typed the URL or opened a bookmark. Passes.
    UserInitiated,
    /// A top-level `GET` navigation from another site, allowed by the policy. Passes.
    Navigation,
    /// From another site (or an unknown or repeated `Sec-Fetch-Site`, or `same-site` when the
    /// policy refuses it): passes only when a CORS rule allows its `Origin`.
    CrossSite,
}

impl SiteVerdict {
    /// Whether the request passes without a CORS rule allowing its `Origin`.
    pub fn passes(self) -> bool {
        self != SiteVerdict::CrossSite
    }

    /// The `Vary` value for a request this verdict let through: cache-safe `Vary`'s tokens
    /// when `cache_safe`, then what the verdict read: `Sec-Fetch-Site` always (its absence
    /// too), the mode and destination for a navigation. Constants, checked when compiling: no
    /// allocation and no byte check per request.
    pub(crate) fn vary_value(self, cache_safe: bool) -> HeaderValue {
        match (cache_safe, self == SiteVerdict::Navigation) {
            (false, false) => VARY_SITE,
            (false, true) => VARY_NAVIGATION,
            (true, false) => VARY_CACHE_SAFE_SITE,
            (true, true) => VARY_CACHE_SAFE_NAVIGATION,
        }
    }
}

const VARY_SITE: HeaderValue = HeaderValue::from_static("Sec-Fetch-Site");
const VARY_NAVIGATION: HeaderValue =
    HeaderValue::from_static("Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest");
const VARY_CACHE_SAFE_SITE: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Sec-Fetch-Site",
);
const VARY_CACHE_SAFE_NAVIGATION: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CorsConfiguration, CorsOptions, CorsPolicy, Decision, RefusalKind};
    use http::HeaderValue;

    const ORIGIN_OK: &str = "https://app.example";
    const ORIGIN_OTHER: &str = "https://evil.example";

    fn policy() -> CorsPolicy {
        CorsPolicy::new(
            CorsConfiguration::from_json(
                r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "POST"]}]"#,
            )
            .unwrap(),
        )
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut builder = http::Request::builder().method(method).uri("/api/counter");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn site(value: &str) -> (&'static str, &str) {
        ("sec-fetch-site", value)
    }

    const NAVIGATE: [(&str, &str); 2] = [("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")];
    const NO_CORS_IMAGE: [(&str, &str); 2] = [("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "image")];

    fn judged(policy: FetchMetadata, method: &str, headers: &[(&str, &str)]) -> SiteVerdict {
        let request = request(method, headers);
        policy.judge(request.method(), request.headers())
    }

    /// The outcome through `decide`, as `(refused, inner runs with CORS headers, Vary)`.
    fn outcome(
        options: CorsOptions,
        method: &str,
        headers: &[(&str, &str)],
    ) -> (&'static str, Option<String>) {
        let decision = policy().evaluate_with(&request(method, headers), &options);
        match decision {
            Decision::Refuse(refusal) => {
                assert_eq!(refusal.kind(), RefusalKind::NotAllowed);
                ("refused", None)
            }
            Decision::Actual(allowed) => (
                "cors",
                Some(allowed.headers().vary().to_str().unwrap().to_owned()),
            ),
            Decision::PassThrough(pass) => ("served", pass.vary().map(|v| v.to_str().unwrap().to_owned())),
            Decision::Preflight(_) => ("preflight", None),
        }
    }

    fn on() -> CorsOptions {
        CorsOptions::new().fetch_metadata(FetchMetadata::new())
    }

    #[test]
    fn every_sec_fetch_site_value_is_judged() {
        let policy = FetchMetadata::new();
        assert_eq!(judged(policy, "GET", &[]), SiteVerdict::NoFetchMetadata);
        assert_eq!(
            judged(policy, "POST", &[site("same-origin")]),
            SiteVerdict::SameOrigin
        );
        assert_eq!(
            judged(policy, "POST", &[site("same-site")]),
            SiteVerdict::SameSite
        );
        assert_eq!(judged(policy, "GET", &[site("none")]), SiteVerdict::UserInitiated);
        assert_eq!(
            judged(policy, "POST", &[site("cross-site")]),
            SiteVerdict::CrossSite
        );
        // Values outside the specification, and case variants, fail closed.
        for odd in [
            "Cross-Site",
            "SAME-ORIGIN",
            "",
            "same-origin, cross-site",
            "unknown",
        ] {
            assert_eq!(
                judged(policy, "GET", &[site(odd)]),
                SiteVerdict::CrossSite,
                "{odd:?}"
            );
        }
        // Two fields, even two friendly ones.
        assert_eq!(
            judged(policy, "GET", &[site("same-origin"), site("same-origin")]),
            SiteVerdict::CrossSite
        );
    }

    #[test]
    fn hostile_values_are_bounded_and_fail_closed() {
        let policy = FetchMetadata::new();
        let mut headers = http::HeaderMap::new();
        for _ in 0..10_000 {
            headers.append("sec-fetch-site", HeaderValue::from_static("same-origin"));
        }
        assert_eq!(policy.judge(&Method::GET, &headers), SiteVerdict::CrossSite);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "sec-fetch-site",
            HeaderValue::from_bytes(b"same-\xffsite").unwrap(),
        );
        assert_eq!(policy.judge(&Method::GET, &headers), SiteVerdict::CrossSite);
    }

    #[test]
    fn same_site_is_configurable() {
        let strict = FetchMetadata::new().allow_same_site(false);
        assert_eq!(
            judged(strict, "POST", &[site("same-site")]),
            SiteVerdict::CrossSite
        );
        assert!(!strict.is_same_site_allowed());
        // A refused same-site GET navigation is still a navigation.
        let nav = [site("same-site"), NAVIGATE[0], NAVIGATE[1]];
        assert_eq!(judged(strict, "GET", &nav), SiteVerdict::Navigation);
    }

    #[test]
    fn only_top_level_get_navigations_pass_and_only_when_allowed() {
        let policy = FetchMetadata::new();
        let nav = [site("cross-site"), NAVIGATE[0], NAVIGATE[1]];
        assert_eq!(judged(policy, "GET", &nav), SiteVerdict::Navigation);
        // A cross-site form POST is a navigation, not a GET.
        assert_eq!(judged(policy, "POST", &nav), SiteVerdict::CrossSite);
        // A frame, an <img>, a navigation without its destination.
        let frame = [
            site("cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "iframe"),
        ];
        assert_eq!(judged(policy, "GET", &frame), SiteVerdict::CrossSite);
        let image = [site("cross-site"), NO_CORS_IMAGE[0], NO_CORS_IMAGE[1]];
        assert_eq!(judged(policy, "GET", &image), SiteVerdict::CrossSite);
        assert_eq!(
            judged(policy, "GET", &[site("cross-site"), NAVIGATE[0]]),
            SiteVerdict::CrossSite
        );
        let closed = FetchMetadata::new().allow_navigation(false);
        assert!(!closed.is_navigation_allowed());
        assert_eq!(judged(closed, "GET", &nav), SiteVerdict::CrossSite);
    }

    #[test]
    fn without_fetch_metadata_requests_pass_and_vary_on_its_absence() {
        assert_eq!(
            outcome(on(), "POST", &[]),
            ("served", Some("Sec-Fetch-Site".into()))
        );
        // With an unmatched Origin and enforce off, S3 serves it; Fetch Metadata has nothing to say.
        assert_eq!(
            outcome(on(), "POST", &[("origin", ORIGIN_OTHER)]),
            ("served", Some("Sec-Fetch-Site".into()))
        );
    }

    #[test]
    fn decisions_for_every_site_value() {
        let vary_site = Some("Sec-Fetch-Site".to_owned());
        for value in ["same-origin", "same-site", "none"] {
            assert_eq!(
                outcome(on(), "POST", &[site(value)]),
                ("served", vary_site.clone()),
                "{value}"
            );
        }
        // Cross-site without Origin (an <img>, a no-cors GET): no rule can allow it.
        let image = [site("cross-site"), NO_CORS_IMAGE[0], NO_CORS_IMAGE[1]];
        assert_eq!(outcome(on(), "GET", &image), ("refused", None));
        // Cross-site with an Origin no rule allows (a no-cors POST, a form POST).
        assert_eq!(
            outcome(on(), "POST", &[site("cross-site"), ("origin", ORIGIN_OTHER)]),
            ("refused", None)
        );
        // Cross-site with an allowed Origin: CORS as S3, Vary as S3 (the answer does not
        // depend on Fetch Metadata).
        assert_eq!(
            outcome(on(), "POST", &[site("cross-site"), ("origin", ORIGIN_OK)]),
            ("cors", Some(crate::response::VARY_VALUE.into()))
        );
        // A top-level GET navigation passes and varies on all three headers.
        let nav = [site("cross-site"), NAVIGATE[0], NAVIGATE[1]];
        assert_eq!(
            outcome(on(), "GET", &nav),
            (
                "served",
                Some("Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest".into())
            )
        );
        // Same-site refused by configuration.
        let strict = CorsOptions::new().fetch_metadata(FetchMetadata::new().allow_same_site(false));
        assert_eq!(outcome(strict, "POST", &[site("same-site")]), ("refused", None));
    }

    #[test]
    fn composes_with_enforce() {
        let both = on().enforce(true);
        // Enforce judges Origin: an unlisted one is refused even from the same site.
        assert_eq!(
            outcome(both, "POST", &[site("same-site"), ("origin", ORIGIN_OTHER)]),
            ("refused", None)
        );
        // Same-origin: the browser vouches for the page; served without CORS headers.
        assert_eq!(
            outcome(
                both,
                "POST",
                &[site("same-origin"), ("origin", "http://127.0.0.1:8080")]
            ),
            ("served", Some("Sec-Fetch-Site".into()))
        );
        // Without Fetch Metadata the same request is refused by enforce alone.
        assert_eq!(
            outcome(
                CorsOptions::new().enforce(true),
                "POST",
                &[site("same-origin"), ("origin", "http://127.0.0.1:8080")]
            ),
            ("refused", None)
        );
        // Fetch Metadata judges what carries no Origin.
        let image = [site("cross-site"), NO_CORS_IMAGE[0], NO_CORS_IMAGE[1]];
        assert_eq!(outcome(both, "GET", &image), ("refused", None));
        assert_eq!(
            outcome(CorsOptions::new().enforce(true), "GET", &image).0,
            "served"
        );
        // Neither blocks a client without Origin or Fetch Metadata.
        assert_eq!(
            outcome(both, "POST", &[]),
            ("served", Some("Sec-Fetch-Site".into()))
        );
    }

    #[test]
    fn cache_safe_vary_comes_first() {
        let options = on().cache_safe_vary(true);
        assert_eq!(
            outcome(options, "GET", &[site("none")]).1.as_deref(),
            Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Sec-Fetch-Site")
        );
        let nav = [site("cross-site"), NAVIGATE[0], NAVIGATE[1]];
        assert_eq!(
            outcome(options, "GET", &nav).1.as_deref(),
            Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest")
        );
        // Off: nothing added, as in S3.
        assert_eq!(
            outcome(CorsOptions::new(), "GET", &[site("none")]),
            ("served", None)
        );
    }

    #[test]
    fn preflights_are_judged_by_cors_alone() {
        let preflight = [
            site("cross-site"),
            ("origin", ORIGIN_OK),
            ("access-control-request-method", "POST"),
        ];
        assert_eq!(outcome(on(), "OPTIONS", &preflight).0, "preflight");
    }

    #[test]
    fn refusal_reports_the_request_method() {
        let decision = policy().evaluate_with(&request("DELETE", &[site("cross-site")]), &on());
        let Decision::Refuse(refusal) = decision else {
            panic!("refused")
        };
        assert_eq!(refusal.method().as_deref(), Some("DELETE"));
    }
}
