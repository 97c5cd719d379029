//! Options beyond S3 (spec §8), each on its own and every pair of them.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{NOT_ALLOWED, VARY};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_s3_cors::fetch_metadata::FetchMetadata;
use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsOptions, RequestIds};

const VARY_PNA: &str =
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method, Access-Control-Request-Private-Network";

fn rules() -> CorsConfiguration {
    CorsConfiguration::from_json(
        r#"[{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"]}]"#,
    )
    .expect("valid")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    inner_called: bool,
}

/// Sends one request through a layer with `options` around an inner service that counts its
/// calls and answers with `inner_vary` as its `Vary` (if any).
async fn send(
    options: CorsOptions,
    inner_vary: Option<&'static str>,
    request: Request<Full<Bytes>>,
) -> Answer {
    let layer = CorsLayer::new(rules())
        .options(options)
        .request_ids(|_| RequestIds {
            request_id: HeaderValue::from_static("RID"),
            host_id: HeaderValue::from_static("HID"),
        });
    through(layer, inner_vary, request).await
}

async fn through<Src: tower_s3_cors::source::CorsSource>(
    layer: CorsLayer<Src>,
    inner_vary: Option<&'static str>,
    request: Request<Full<Bytes>>,
) -> Answer {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let inner = service_fn(move |_: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
        if let Some(vary) = inner_vary {
            response
                .headers_mut()
                .insert("vary", HeaderValue::from_static(vary));
        }
        async move { Ok::<_, Infallible>(response) }
    });
    let response = layer.layer(inner).oneshot(request).await.expect("answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8"),
        inner_called: calls.load(Ordering::SeqCst) == 1,
    }
}

fn request(method: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri("/object");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).expect("valid")
}

fn vary(answer: &Answer) -> Vec<&str> {
    answer
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

fn refused_document(method: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>{NOT_ALLOWED}</Message><Method>{method}</Method><ResourceType>OBJECT</ResourceType><RequestId>RID</RequestId><HostId>HID</HostId></Error>"
    )
}

const APP: (&str, &str) = ("origin", "https://app.example");
const EVIL: (&str, &str) = ("origin", "https://evil.example");
const ACRM_PUT: (&str, &str) = ("access-control-request-method", "PUT");
const PNA: (&str, &str) = ("access-control-request-private-network", "true");

fn all_off() -> CorsOptions {
    CorsOptions::new()
}

// --- S3 behaviour with every option off, as the baseline the options change ---

#[tokio::test]
async fn off_no_vary_without_origin_and_every_options_is_a_preflight() {
    let answer = send(all_off(), None, request("GET", &[])).await;
    assert!(vary(&answer).is_empty());
    let answer = send(all_off(), None, request("OPTIONS", &[APP])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer
        .body
        .contains("<Message>Invalid Access-Control-Request-Method: null</Message>"));
    assert!(!answer.inner_called);
    let answer = send(all_off(), None, request("GET", &[EVIL])).await;
    assert!(answer.inner_called);
    assert_eq!(answer.status, StatusCode::OK);
}

// --- cache-safe Vary ---

#[tokio::test]
async fn cache_safe_vary_on_a_request_without_origin() {
    let answer = send(all_off().cache_safe_vary(true), None, request("GET", &[])).await;
    assert_eq!(vary(&answer), [VARY]);
    assert!(answer.headers.get("access-control-allow-origin").is_none());
    assert_eq!(answer.body, "inner");
}

#[tokio::test]
async fn cache_safe_vary_on_a_request_that_matched_nothing() {
    let answer = send(all_off().cache_safe_vary(true), None, request("GET", &[EVIL])).await;
    assert_eq!(vary(&answer), [VARY]);
    assert!(answer.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cache_safe_vary_merges_with_the_inner_vary() {
    let answer = send(
        all_off().cache_safe_vary(true),
        Some("Accept-Encoding, origin"),
        request("GET", &[]),
    )
    .await;
    assert_eq!(
        vary(&answer),
        ["Accept-Encoding, origin, Access-Control-Request-Headers, Access-Control-Request-Method"]
    );
}

#[tokio::test]
async fn cache_safe_vary_not_on_a_bucket_without_configuration() {
    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    store.create_bucket("plain");
    let layer = CorsLayer::from_source(store).options(all_off().cache_safe_vary(true));
    let request = Request::get("/plain/k")
        .body(Full::new(Bytes::new()))
        .expect("valid");
    let answer = through(layer, None, request).await;
    assert!(vary(&answer).is_empty());
}

// --- Fetch mode ---

#[tokio::test]
async fn fetch_mode_lets_other_options_requests_through() {
    for headers in [&[][..], &[APP][..], &[ACRM_PUT][..]] {
        let answer = send(all_off().fetch_mode(true), None, request("OPTIONS", headers)).await;
        assert!(answer.inner_called, "{headers:?}");
        assert_eq!(answer.body, "inner");
        assert!(answer.headers.get("access-control-allow-origin").is_none());
    }
}

#[tokio::test]
async fn fetch_mode_still_answers_true_preflights() {
    let answer = send(
        all_off().fetch_mode(true),
        None,
        request("OPTIONS", &[APP, ACRM_PUT]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.inner_called);
    assert_eq!(answer.headers["access-control-allow-methods"], "GET, PUT");
    let answer = send(
        all_off().fetch_mode(true),
        None,
        request("OPTIONS", &[EVIL, ACRM_PUT]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body, refused_document("PUT"));
}

// --- enforce ---

#[tokio::test]
async fn enforce_refuses_an_unmatched_actual_request_without_calling_the_inner_service() {
    let answer = send(all_off().enforce(true), None, request("GET", &[EVIL])).await;
    assert!(!answer.inner_called);
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.headers["content-type"], "application/xml");
    assert_eq!(answer.body, refused_document("GET"));
    assert!(vary(&answer).is_empty());
}

#[tokio::test]
async fn enforce_reports_access_control_request_method_when_sent() {
    let answer = send(
        all_off().enforce(true),
        None,
        request("GET", &[APP, ("access-control-request-method", "DELETE")]),
    )
    .await;
    assert!(!answer.inner_called);
    assert_eq!(answer.body, refused_document("DELETE"));
}

#[tokio::test]
async fn enforce_refuses_two_origin_fields() {
    let answer = send(all_off().enforce(true), None, request("GET", &[APP, APP])).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.inner_called);
}

#[tokio::test]
async fn enforce_serves_matches_and_requests_without_origin() {
    let answer = send(all_off().enforce(true), None, request("PUT", &[APP])).await;
    assert!(answer.inner_called);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let answer = send(all_off().enforce(true), None, request("DELETE", &[])).await;
    assert!(answer.inner_called);
    assert!(answer.headers.get("access-control-allow-origin").is_none());
}

// --- Private Network Access ---

#[tokio::test]
async fn private_network_answers_an_allowed_preflight_that_asks() {
    let answer = send(
        all_off().private_network(true),
        None,
        request("OPTIONS", &[APP, ACRM_PUT, PNA]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["access-control-allow-private-network"], "true");
    assert_eq!(vary(&answer), [VARY_PNA]);
}

#[tokio::test]
async fn private_network_silent_when_not_asked_refused_or_off() {
    let answer = send(
        all_off().private_network(true),
        None,
        request("OPTIONS", &[APP, ACRM_PUT]),
    )
    .await;
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
    assert_eq!(vary(&answer), [VARY]);
    let answer = send(
        all_off().private_network(true),
        None,
        request("OPTIONS", &[EVIL, ACRM_PUT, PNA]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
    let answer = send(all_off(), None, request("OPTIONS", &[APP, ACRM_PUT, PNA])).await;
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
    assert_eq!(vary(&answer), [VARY]);
    let answer = send(
        all_off().private_network(true),
        None,
        request(
            "OPTIONS",
            &[APP, ACRM_PUT, ("access-control-request-private-network", "false")],
        ),
    )
    .await;
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
}

// --- Fetch Metadata resource isolation ---

const CROSS_SITE: (&str, &str) = ("sec-fetch-site", "cross-site");
const NO_CORS: (&str, &str) = ("sec-fetch-mode", "no-cors");
const NAVIGATE: (&str, &str) = ("sec-fetch-mode", "navigate");
const DOCUMENT: (&str, &str) = ("sec-fetch-dest", "document");

fn fetch_metadata() -> CorsOptions {
    all_off().fetch_metadata(FetchMetadata::new())
}

#[tokio::test]
async fn fetch_metadata_refuses_a_cross_site_request_without_calling_the_inner_service() {
    // A no-cors POST from another site: Origin matches no rule.
    let answer = send(
        fetch_metadata(),
        None,
        request("PUT", &[CROSS_SITE, NO_CORS, EVIL]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.inner_called);
    assert_eq!(answer.body, refused_document("PUT"));
    assert_eq!(answer.headers["content-type"], "application/xml");
    assert!(vary(&answer).is_empty(), "S3's error documents carry no Vary");
    // A cross-site form POST is a navigation, but not a GET.
    let answer = send(
        fetch_metadata(),
        None,
        request("PUT", &[CROSS_SITE, NAVIGATE, DOCUMENT, EVIL]),
    )
    .await;
    assert!(!answer.inner_called);
    // An <img> from another site: no Origin at all.
    let answer = send(fetch_metadata(), None, request("GET", &[CROSS_SITE, NO_CORS])).await;
    assert_eq!(answer.body, refused_document("GET"));
    assert!(!answer.inner_called);
}

#[tokio::test]
async fn fetch_metadata_serves_what_it_allows_and_varies_on_what_it_read() {
    for site in ["same-origin", "same-site", "none"] {
        let answer = send(
            fetch_metadata(),
            None,
            request("PUT", &[("sec-fetch-site", site)]),
        )
        .await;
        assert!(answer.inner_called, "{site}");
        assert_eq!(vary(&answer), ["Sec-Fetch-Site"], "{site}");
    }
    let answer = send(fetch_metadata(), Some("Accept-Encoding"), request("PUT", &[])).await;
    assert!(answer.inner_called);
    assert_eq!(vary(&answer), ["Accept-Encoding, Sec-Fetch-Site"]);
    let answer = send(
        fetch_metadata(),
        None,
        request("GET", &[CROSS_SITE, NAVIGATE, DOCUMENT]),
    )
    .await;
    assert!(answer.inner_called);
    assert_eq!(vary(&answer), ["Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest"]);
    // An allowed Origin from another site: CORS headers and S3's Vary only.
    let answer = send(fetch_metadata(), None, request("PUT", &[CROSS_SITE, APP])).await;
    assert!(answer.inner_called);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(vary(&answer), [VARY]);
}

#[tokio::test]
async fn fetch_metadata_with_enforce() {
    let both = fetch_metadata().enforce(true);
    let same_origin = ("sec-fetch-site", "same-origin");
    let answer = send(both, None, request("PUT", &[same_origin, EVIL])).await;
    assert!(answer.inner_called, "the browser vouches for a same-origin page");
    assert!(answer.headers.get("access-control-allow-origin").is_none());
    let answer = send(
        both,
        None,
        request("PUT", &[("sec-fetch-site", "same-site"), EVIL]),
    )
    .await;
    assert!(
        !answer.inner_called,
        "enforce judges an unlisted Origin from the same site"
    );
    let answer = send(both, None, request("GET", &[CROSS_SITE, NO_CORS])).await;
    assert!(
        !answer.inner_called,
        "Fetch Metadata judges what carries no Origin"
    );
    let answer = send(both, None, request("PUT", &[])).await;
    assert!(answer.inner_called, "curl: no Origin, no Fetch Metadata");
}

// --- every pair ---

#[tokio::test]
async fn enforce_with_fetch_mode() {
    let options = all_off().enforce(true).fetch_mode(true);
    // An OPTIONS with Origin but no Access-Control-Request-Method is an actual cross-origin
    // request with method OPTIONS, which no rule can allow: refused.
    let answer = send(options, None, request("OPTIONS", &[APP])).await;
    assert!(!answer.inner_called);
    assert_eq!(answer.body, refused_document("OPTIONS"));
    // Without Origin it is not cross-origin: served by the inner service.
    let answer = send(options, None, request("OPTIONS", &[])).await;
    assert!(answer.inner_called);
    // A true preflight is still answered by the layer.
    let answer = send(options, None, request("OPTIONS", &[APP, ACRM_PUT])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.inner_called);
}

#[tokio::test]
async fn cache_safe_vary_with_fetch_mode() {
    let options = all_off().cache_safe_vary(true).fetch_mode(true);
    let answer = send(options, None, request("OPTIONS", &[])).await;
    assert!(answer.inner_called);
    assert_eq!(vary(&answer), [VARY]);
}

#[tokio::test]
async fn cache_safe_vary_with_enforce() {
    let options = all_off().cache_safe_vary(true).enforce(true);
    let answer = send(options, None, request("GET", &[EVIL])).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(vary(&answer).is_empty(), "error documents carry no Vary");
    let answer = send(options, None, request("GET", &[])).await;
    assert!(answer.inner_called);
    assert_eq!(vary(&answer), [VARY]);
}

#[tokio::test]
async fn cache_safe_vary_with_private_network() {
    let options = all_off().cache_safe_vary(true).private_network(true);
    let answer = send(options, None, request("OPTIONS", &[APP, ACRM_PUT, PNA])).await;
    assert_eq!(vary(&answer), [VARY_PNA]);
    let answer = send(options, None, request("GET", &[])).await;
    assert_eq!(vary(&answer), [VARY]);
}

#[tokio::test]
async fn enforce_with_private_network() {
    let options = all_off().enforce(true).private_network(true);
    let answer = send(options, None, request("OPTIONS", &[APP, ACRM_PUT, PNA])).await;
    assert_eq!(answer.headers["access-control-allow-private-network"], "true");
    let answer = send(options, None, request("GET", &[EVIL, PNA])).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
}

#[tokio::test]
async fn fetch_mode_with_private_network() {
    let options = all_off().fetch_mode(true).private_network(true);
    let answer = send(options, None, request("OPTIONS", &[APP, ACRM_PUT, PNA])).await;
    assert_eq!(answer.headers["access-control-allow-private-network"], "true");
    assert!(!answer.inner_called);
    let answer = send(options, None, request("OPTIONS", &[APP, PNA])).await;
    assert!(answer.inner_called);
    assert!(answer
        .headers
        .get("access-control-allow-private-network")
        .is_none());
}

#[tokio::test]
async fn every_option_at_once() {
    let options = all_off()
        .cache_safe_vary(true)
        .fetch_mode(true)
        .enforce(true)
        .private_network(true);
    let answer = send(options, None, request("OPTIONS", &[APP, ACRM_PUT, PNA])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["access-control-allow-private-network"], "true");
    let answer = send(options, None, request("GET", &[EVIL])).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = send(options, None, request("GET", &[APP])).await;
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(vary(&answer), [VARY]);
}

#[test]
fn options_default_to_s3() {
    let options = CorsOptions::default();
    assert!(!options.is_cache_safe_vary());
    assert!(!options.is_fetch_mode());
    assert!(!options.is_enforce());
    assert!(!options.is_private_network());
    assert_eq!(CorsLayer::new(rules()).current_options(), options);
}

// --- builder calls take effect on the layer they are called on, cloned or not ---

#[tokio::test]
async fn options_set_after_a_clone_take_effect() {
    let original = CorsLayer::new(rules());
    let kept = original.clone();
    let enforcing = original.options(CorsOptions::new().enforce(true));
    assert!(enforcing.current_options().is_enforce());
    let refused = through(enforcing, None, request("GET", &[EVIL])).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.inner_called);
    // The clone taken before the call keeps the settings it had.
    assert!(!kept.current_options().is_enforce());
    let served = through(kept, None, request("GET", &[EVIL])).await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.inner_called);
}

#[tokio::test]
async fn request_ids_set_after_a_clone_take_effect() {
    let original = CorsLayer::new(rules()).options(CorsOptions::new().enforce(true));
    let _clone = original.clone();
    let layer = original.request_ids(|_| RequestIds {
        request_id: HeaderValue::from_static("RID"),
        host_id: HeaderValue::from_static("HID"),
    });
    let refused = through(layer, None, request("GET", &[EVIL])).await;
    assert_eq!(refused.headers["x-amz-request-id"], "RID");
    assert_eq!(refused.body, refused_document("GET"));
}
