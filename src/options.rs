//! Behaviour beyond S3, each off by default.

use crate::fetch_metadata::FetchMetadata;

/// Behaviour beyond S3, each off by default. See the crate documentation for why one would
/// turn each on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct CorsOptions {
    pub(crate) cache_safe_vary: bool,
    pub(crate) fetch_mode: bool,
    pub(crate) enforce: bool,
    pub(crate) private_network: bool,
    // Fetch Metadata resource isolation (beyond S3): see `crate::fetch_metadata`.
    pub(crate) fetch_metadata: Option<FetchMetadata>,
}

impl CorsOptions {
    /// Every option off ([`Default`], as a constant).
    pub(crate) const NONE: CorsOptions = CorsOptions {
        cache_safe_vary: false,
        fetch_mode: false,
        enforce: false,
        private_network: false,
        fetch_metadata: None,
    };

    /// S3's behaviour: every option off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send `Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method` on
    /// every response of a configured resource, also when the request had no `Origin` or
    /// matched no rule, so a shared cache never serves a CORS-less copy to a CORS request.
    pub fn cache_safe_vary(mut self, on: bool) -> Self {
        self.cache_safe_vary = on;
        self
    }

    /// Intercept only true preflights (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); other `OPTIONS` requests reach the inner service.
    pub fn fetch_mode(mut self, on: bool) -> Self {
        self.fetch_mode = on;
        self
    }

    /// Refuse an actual request whose `Origin` matches no rule with S3's 403
    /// `AccessForbidden`, without calling the inner service. Requests without `Origin` pass;
    /// [`fetch_metadata`](Self::fetch_metadata) judges those, and with it on a same-origin
    /// request (`Sec-Fetch-Site: same-origin`) is served even when no rule lists its `Origin`.
    pub fn enforce(mut self, on: bool) -> Self {
        self.enforce = on;
        self
    }

    /// Answer `Access-Control-Request-Private-Network: true` on an allowed preflight with
    /// `Access-Control-Allow-Private-Network: true` (and that request header in `Vary`).
    ///
    /// Only Chromium sent these Private Network Access preflights (from Chrome 104, before
    /// requests from a public site to a private or loopback address; failures were warnings
    /// unless enforcement was switched on). Chrome replaced them with the Local Network Access
    /// permission prompt, shipped in Chrome 142: the user grants it, no response header can.
    /// This option neither grants nor skips that prompt, and it does not protect a service on
    /// a private network from public sites; [`enforce`](Self::enforce) and
    /// [`fetch_metadata`](Self::fetch_metadata) do that on the server.
    pub fn private_network(mut self, on: bool) -> Self {
        self.private_network = on;
        self
    }

    /// Refuse cross-site requests no rule allows, judged on the Fetch Metadata headers
    /// browsers send (`Sec-Fetch-Site`, `Sec-Fetch-Mode`, `Sec-Fetch-Dest`), before the inner
    /// service runs; [`FetchMetadata`] says which requests pass. `None` turns it off.
    ///
    /// ```
    /// use tower_s3_cors::fetch_metadata::FetchMetadata;
    /// use tower_s3_cors::CorsOptions;
    ///
    /// let options = CorsOptions::new()
    ///     .enforce(true)
    ///     .fetch_metadata(FetchMetadata::new().allow_navigation(false));
    /// assert!(options.fetch_metadata_policy().is_some());
    /// assert!(options.fetch_metadata(None).fetch_metadata_policy().is_none());
    /// ```
    pub fn fetch_metadata(mut self, policy: impl Into<Option<FetchMetadata>>) -> Self {
        self.fetch_metadata = policy.into();
        self
    }

    /// The Fetch Metadata policy, when it is on.
    pub fn fetch_metadata_policy(&self) -> Option<FetchMetadata> {
        self.fetch_metadata
    }

    /// Whether cache-safe `Vary` is on.
    pub fn is_cache_safe_vary(&self) -> bool {
        self.cache_safe_vary
    }

    /// Whether Fetch-mode `OPTIONS` handling is on.
    pub fn is_fetch_mode(&self) -> bool {
        self.fetch_mode
    }

    /// Whether enforce mode is on.
    pub fn is_enforce(&self) -> bool {
        self.enforce
    }

    /// Whether Private Network Access answers are on.
    pub fn is_private_network(&self) -> bool {
        self.private_network
    }
}
