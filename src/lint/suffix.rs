//! Public suffixes: the names under which anyone can register a domain of their own (`com`,
//! `co.uk`, `github.io`). An origin pattern whose `*` can reach across one lets other sites in.
//!
//! With the `public-suffix-list` feature (on with `cli`) this is the Public Suffix List, from
//! the `psl` crate, which compiles the list into code. Without it, only the list's implicit
//! rule is known: every top-level name (`com`, `uk`, `io`) is a public suffix, and a name's
//! registrable domain is its last two labels. That still catches `https://*.com`, but not
//! `https://*.co.uk` or `https://*.github.io`; and every top-level name counts as one anyone
//! can register under, so an intranet's `https://*.corp` is reported too (the list knows
//! better: quiet).

/// The registrable domain of `host` (lowercase, no trailing dot): the public suffix and one
/// label more, e.g. `example.co.uk` for `app.example.co.uk`. `None` when `host` is itself a
/// public suffix.
#[cfg(feature = "public-suffix-list")]
pub(crate) fn registrable_domain(host: &str) -> Option<&str> {
    use psl::Psl;
    let domain = psl::List.domain(host.as_bytes())?;
    // The registrable domain is a suffix of the host; return it as a slice of `host`.
    host.get(host.len().checked_sub(domain.as_bytes().len())?..)
}

/// Whether `host`'s public suffix is on the list (not only the implicit rule), so that a
/// domain under it can actually be registered.
#[cfg(feature = "public-suffix-list")]
pub(crate) fn known_suffix(host: &str) -> bool {
    use psl::Psl;
    psl::List.suffix(host.as_bytes()).is_some_and(|s| s.is_known())
}

/// The registrable domain of `host` under the implicit rule only: its last two labels.
#[cfg(not(feature = "public-suffix-list"))]
pub(crate) fn registrable_domain(host: &str) -> Option<&str> {
    let last_dot = host.rfind('.')?;
    let start = host.get(..last_dot)?.rfind('.').map_or(0, |dot| dot + 1);
    let domain = host.get(start..)?;
    (!domain.starts_with('.')).then_some(domain)
}

/// Without the list, every top-level name of letters counts as a real one.
#[cfg(not(feature = "public-suffix-list"))]
pub(crate) fn known_suffix(host: &str) -> bool {
    let tld = host.rsplit('.').next().unwrap_or_default();
    !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("app.example.com"), Some("example.com"));
        assert_eq!(registrable_domain("example.com"), Some("example.com"));
        assert_eq!(registrable_domain("com"), None);
        assert!(known_suffix("evil.net"));
    }

    #[cfg(feature = "public-suffix-list")]
    #[test]
    fn the_list_knows_multi_label_and_private_suffixes() {
        assert_eq!(registrable_domain("co.uk"), None);
        assert_eq!(registrable_domain("github.io"), None);
        assert_eq!(registrable_domain("me.github.io"), Some("me.github.io"));
        assert_eq!(registrable_domain("a.b.example.co.uk"), Some("example.co.uk"));
    }
}
