//! Signed requests to the example S3 server, with AWS's own SigV4 signer (`aws-sigv4`, the
//! one the AWS SDK for Rust uses), so the server's signature check is tested against an
//! implementation it does not share code with.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

use super::{request, Reply};

/// The example's default key pair (printed at its start).
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// S3's signing settings: the path encoded once and not normalised.
fn settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings
}

/// Signs `request` (whose URI is `http://HOST/PATH?QUERY`) in place, with `settings`.
fn sign_request(request: &mut http::Request<Vec<u8>>, key: &str, secret: &str, settings: SigningSettings) {
    let identity = Credentials::new(key, secret, None, None, "tests").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings.clone())
        .build()
        .expect("signing parameters")
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().expect("ASCII header")))
        .collect();
    let body = match settings.signature_location {
        SignatureLocation::QueryParams => SignableBody::UnsignedPayload,
        _ => SignableBody::Bytes(request.body()),
    };
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), body)
        .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    instructions.apply_to_request_http1x(request);
}

/// A request signed with SigV4 in its headers (payload hash included), sent to `addr` with
/// `Host: host` (the address itself for path-style).
pub fn signed_as(
    addr: SocketAddr,
    host: &str,
    (key, secret): (&str, &str),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut signed = builder.body(body.to_vec()).expect("request");
    let mut settings = settings();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sign_request(&mut signed, key, secret, settings);
    let fields: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().expect("ASCII").to_owned()))
        .collect();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    request(addr, method, path, &fields, body)
}

/// A path-style request signed with the default key pair.
pub fn signed(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    signed_as(
        addr,
        &addr.to_string(),
        (ACCESS_KEY, SECRET_KEY),
        method,
        path,
        headers,
        body,
    )
}

/// A presigned URL path (`/bucket/key?X-Amz-...`) for `method`, valid `expires` from now, for
/// requests sent with `Host: host`.
pub fn presign(host: &str, method: &str, path: &str, expires: Duration) -> String {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("host", host)
        .body(Vec::new())
        .expect("request");
    let mut settings = settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    sign_request(&mut request, ACCESS_KEY, SECRET_KEY, settings);
    request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .expect("path and query")
}

/// The text of one XML element, e.g. `<Code>`.
pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}
