//! `CorsConfiguration::from_xml` on arbitrary text: never a panic; a refusal carries S3's
//! code and message; an accepted configuration is one S3 would accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_s3_cors::CorsConfiguration;
use tower_s3_cors_fuzz::{check_accepted, check_config_error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match CorsConfiguration::from_xml(text) {
        Ok(config) => check_accepted(&config),
        Err(err) => check_config_error(&err, text.len()),
    }
});
