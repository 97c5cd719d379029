//! # tower-s3-cors
//!
//! A [tower] middleware that enforces CORS with Amazon S3's semantics. Build a [`CorsLayer`]
//! from the `CORSConfiguration` you would give an S3 bucket; it answers preflights exactly as
//! S3 does (statuses, headers, XML error documents) and adds the `Access-Control-*` headers to
//! the responses of the service it wraps (axum, hyper, tonic, any tower service).
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_s3_cors::{CorsConfiguration, CorsLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = CorsConfiguration::from_xml(
//!     r#"<CORSConfiguration>
//!          <CORSRule>
//!            <AllowedOrigin>https://app.example.com</AllowedOrigin>
//!            <AllowedMethod>GET</AllowedMethod>
//!            <AllowedMethod>PUT</AllowedMethod>
//!            <AllowedHeader>*</AllowedHeader>
//!            <ExposeHeader>ETag</ExposeHeader>
//!            <MaxAgeSeconds>3000</MaxAgeSeconds>
//!          </CORSRule>
//!        </CORSConfiguration>"#,
//! )?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(CorsLayer::new(config))
//!     .service(service_fn(|_request: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     }));
//!
//! // A preflight is answered by the layer; the inner service never sees it.
//! let preflight = Request::options("/photo.jpg")
//!     .header("origin", "https://app.example.com")
//!     .header("access-control-request-method", "PUT")
//!     .header("access-control-request-headers", "Content-Type, x-amz-meta-owner")
//!     .body(String::new())?;
//! let response = service.clone().oneshot(preflight).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(response.headers()["access-control-allow-methods"], "GET, PUT");
//! assert_eq!(response.headers()["access-control-allow-headers"], "content-type, x-amz-meta-owner");
//! assert_eq!(response.headers()["access-control-max-age"], "3000");
//!
//! // A refused preflight gets S3's 403 document.
//! let refused = Request::options("/photo.jpg")
//!     .header("origin", "https://evil.example")
//!     .header("access-control-request-method", "PUT")
//!     .body(String::new())?;
//! let response = service.clone().oneshot(refused).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(response.headers()["content-type"], "application/xml");
//!
//! // An actual request gets the headers added to the inner response.
//! let get = Request::get("/photo.jpg")
//!     .header("origin", "https://app.example.com")
//!     .body(String::new())?;
//! let response = service.oneshot(get).await?;
//! assert_eq!(response.headers()["access-control-expose-headers"], "ETag");
//! # Ok(())
//! # }
//! ```
//!
//! ## The flow
//!
//! One request goes through the crate's modules in one direction:
//!
//! 1. **Configuration** ([`CorsConfiguration`], [`CorsRule`]): read from S3's XML
//!    ([`CorsConfiguration::from_xml`]), JSON ([`CorsConfiguration::from_json`]), any serde
//!    format, or built in code ([`CorsRule::builder`]). Every constructor validates with S3's
//!    rules and returns a [`ConfigError`] carrying S3's exact code and message and where the
//!    problem is.
//! 2. **Compiled rules** ([`CorsPolicy`]): the configuration compiled once into a matcher
//!    (indexes of origins, methods and header names) and each rule's prebuilt answer.
//! 3. **Where rules come from** ([`source::CorsSource`]): the source hands the request's bucket and
//!    its rules ([`BucketCors`]) to the decision.
//! 4. **Reading the request** ([`RequestHead`]): `Origin`, `Access-Control-Request-Method` and
//!    the requested header names, read once.
//! 5. **The decision** ([`decide`] / [`CorsPolicy::evaluate`]): a pure function from request
//!    parts to a [`Decision`] (preflight allowed, refused with which S3 error, actual request
//!    with which headers, or pass through), reporting the rule that matched.
//! 6. **Writing the answer** ([`CorsHeaders`], [`Decision::to_response`]): the headers of an
//!    allowed request from one table, the 200 preflight answer, S3's error documents.
//! 7. **The tower shell** ([`CorsLayer`] / [`Cors`]): carries the decision out. A preflight
//!    that keeps coming to a thread (a web application sends the same one for every URL) is
//!    answered from the answer kept the second time, by an exact key; not while a decision
//!    hook or a `tracing` subscriber must see every decision.
//!
//! Beside the flow, [`CorsConfiguration::lint`] tells what a valid configuration probably gets
//! wrong, each [`lint::LintWarning`] with a fix: first origins that let other sites in
//! ([`lint::Severity::Security`], with an origin that gets in), then origins a browser never sends,
//! rules that can never apply, ...; and [`CorsPolicy::explain`] gives each rule's verdict on a
//! request. The `cli` feature builds the `tower-s3-cors` command (`lint`, `explain`,
//! `convert`).
//!
//! ## Behaviour
//!
//! S3 mode (the default) treats every `OPTIONS` request as a preflight and never blocks an
//! actual request: a request whose origin matches no rule is served without CORS headers (the
//! browser then refuses to expose it). The first rule whose origin, method and requested
//! headers all match wins. [`CorsOptions`] adds behaviour beyond S3, each off by default:
//! cache-safe `Vary`, Fetch-mode `OPTIONS`, enforce mode, Private Network Access and
//! [`fetch_metadata::FetchMetadata`] resource isolation. Enforce mode and Fetch Metadata together protect an
//! internal API: CORS alone only stops other sites from *reading* answers, while a form `POST`
//! or a `no-cors` `fetch()` from any page still runs the handler; these refuse such requests
//! before it runs (see `examples/internal_api.rs`).
//!
//! ## Where rules come from
//!
//! - [`CorsLayer::new`]: one configuration, as one virtual-hosted bucket (`/` is the bucket).
//! - [`CorsLayer::from_source`] with a closure `Fn(&RequestHead) -> Lookup` (per route, per
//!   tenant), an `Arc<`[`source::ReloadableRules`]`>` (replaced atomically while serving) or an
//!   `Arc<`[`source::BucketStore`]`>` (per-bucket rules with S3's PutBucketCors, GetBucketCors and
//!   DeleteBucketCors, path-style or virtual-host addressing).
//! - [`CorsLayer::from_async_source`] with an [`source::AsyncCorsSource`], for lookups that await.
//! - [`CorsLayer::from_cached_source`] with a [`source::CachedCorsSource`], for rules kept in memory in
//!   front of a store: a hit costs what a synchronous source costs, only a miss awaits. The
//!   `cache` feature's `cache::RulesCache` is one, over any asynchronous loader (a database
//!   shared by several instances), with coalesced loads, invalidation and stale-if-error.
//!
//! [`CorsLayer::request_ids`] sets how the ids of the S3 error documents are made.
//!
//! [tower]: https://docs.rs/tower
#![warn(missing_docs)]
#![deny(unreachable_pub)]
#![forbid(unsafe_code)]
// No panic reachable from a request or a configuration. The one `panic!` is a response future
// polled after it completed (a caller's bug, as in tower), allowed where it is written.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
// Sources answered from memory with a load on a miss (and the cache over a store).
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
mod cached;
mod config;
mod decision;
mod error;
mod explain;
pub mod fetch_metadata;
mod hook;
mod intern;
#[cfg(feature = "json")]
mod json;
mod layer;
pub mod lint;
mod matcher;
mod memo;
mod options;
mod policy;
mod request;
mod response;
mod s3_error;
pub mod source;
mod stored;
mod swar;
mod validate;
mod vary;
#[cfg(feature = "xml")]
mod xml;
mod xml_escape;

pub use body::CorsBody;
pub use config::{CorsConfiguration, CorsRule, CorsRuleBuilder};
pub use decision::{decide, Allowed, Decision, PassReason, PassThrough};
pub use error::{ConfigError, ErrorCode};
pub use explain::RuleCheck;
pub use hook::DecisionEvent;
pub use layer::{Cors, CorsLayer};
pub use options::CorsOptions;
pub use policy::CorsPolicy;
pub use request::{RequestHead, ResourceType, S3Method};
pub use response::CorsHeaders;
pub use s3_error::{Refusal, RefusalKind, RequestIds};
pub use source::BucketCors;

pub mod future {
    //! The response futures of [`Cors`](crate::Cors), as tower keeps its futures: named
    //! types, never boxed, one variant per path.

    pub use crate::layer::{AsyncResponseFuture, CachedResponseFuture, ResponseFuture};
}

pub mod header {
    //! Header names the layer reads or writes that `http::header` does not define.

    pub use crate::request::ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK;
    pub use crate::response::{ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, X_AMZ_ID_2, X_AMZ_REQUEST_ID};
}

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
