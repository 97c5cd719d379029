//! s3s's `CORSConfiguration` DTO to and from `tower_s3_cors::CorsConfiguration`.
//!
//! This file has no other dependency on the example: copy it into an s3s server (RustFS,
//! s3s-fs, your own) to validate PutBucketCors with S3's exact errors and answer GetBucketCors
//! with the values as they were written.

use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::{S3Error, S3ErrorCode};
use tower_s3_cors::{ConfigError, CorsConfiguration, CorsRule};

/// PutBucketCors: the parsed DTO, validated as S3 validates it. The error carries S3's code,
/// message and status, which s3s writes into its XML error document.
pub fn from_dto(dto: CORSConfiguration) -> Result<CorsConfiguration, S3Error> {
    let rules = dto.cors_rules.into_iter().map(|rule| {
        let mut builder = CorsRule::builder()
            .allowed_methods(rule.allowed_methods)
            .allowed_origins(rule.allowed_origins)
            .allowed_headers(rule.allowed_headers.unwrap_or_default())
            .expose_headers(rule.expose_headers.unwrap_or_default());
        if let Some(id) = rule.id {
            builder = builder.id(id);
        }
        if let Some(seconds) = rule.max_age_seconds {
            builder = builder.max_age_seconds(seconds);
        }
        builder.build()
    });
    CorsConfiguration::new(rules).map_err(|error| s3_error(&error))
}

/// GetBucketCors: the stored configuration, every value as it was written, rules in order.
pub fn to_dto(config: &CorsConfiguration) -> Vec<CORSRule> {
    let non_empty = |values: &[String]| (!values.is_empty()).then(|| values.to_vec());
    config
        .rules()
        .iter()
        .map(|rule| CORSRule {
            id: rule.id().map(str::to_owned),
            allowed_headers: non_empty(rule.allowed_headers()),
            allowed_methods: rule.allowed_methods().to_vec(),
            allowed_origins: rule.allowed_origins().to_vec(),
            expose_headers: non_empty(rule.expose_headers()),
            max_age_seconds: rule.max_age_seconds(),
        })
        .collect()
}

/// S3's code (custom where s3s has no constant for it), message and status.
pub fn s3_error(error: &ConfigError) -> S3Error {
    let code =
        S3ErrorCode::from_bytes(error.code().as_str().as_bytes()).unwrap_or(S3ErrorCode::InvalidRequest);
    let mut s3 = S3Error::with_message(code, error.message().to_owned());
    s3.set_status_code(error.status());
    s3
}
