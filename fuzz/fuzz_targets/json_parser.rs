//! `CorsConfiguration::from_json` on arbitrary text: never a panic; a refusal carries S3's
//! code and message; an accepted configuration is one S3 would accept; and serde's
//! `Deserialize` (what a TOML or YAML application config goes through) accepts exactly the
//! same documents, apart from the 64 KiB limit that only applies to uploaded documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_s3_cors::{CorsConfiguration, ErrorCode};
use tower_s3_cors_fuzz::{check_accepted, check_config_error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = CorsConfiguration::from_json(text);
    match &parsed {
        Ok(config) => check_accepted(config),
        Err(err) => check_config_error(err, text.len()),
    }
    let through_serde = serde_json::from_str::<CorsConfiguration>(text);
    match (parsed, through_serde) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(err), Ok(_)) => assert_eq!(
            err.code(),
            ErrorCode::MaxMessageLengthExceeded,
            "serde accepts what from_json refuses: {err}"
        ),
        (Ok(_), Err(err)) => panic!("from_json accepts what serde refuses: {err}"),
        (Err(_), Err(_)) => {}
    }
});
