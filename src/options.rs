//! Behaviour beyond S3, each off by default.

/// Behaviour beyond S3, each off by default. See the crate documentation for why one would
/// turn each on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct CorsOptions {
    pub(crate) cache_safe_vary: bool,
    pub(crate) fetch_mode: bool,
    pub(crate) enforce: bool,
    pub(crate) private_network: bool,
}

impl CorsOptions {
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
    /// `AccessForbidden`, without calling the inner service.
    pub fn enforce(mut self, on: bool) -> Self {
        self.enforce = on;
        self
    }

    /// Answer `Access-Control-Request-Private-Network: true` on an allowed preflight with
    /// `Access-Control-Allow-Private-Network: true`.
    pub fn private_network(mut self, on: bool) -> Self {
        self.private_network = on;
        self
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
