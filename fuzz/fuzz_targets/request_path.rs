//! An arbitrary configuration and arbitrary request header bytes through the real layer
//! around a stub service. See `Case` for the input format and `check_request_path` for what
//! must hold: valid headers that echo only what the request sent, preflights that never reach
//! the inner service, well-formed error documents, and agreement with `CorsPolicy::explain`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_s3_cors_fuzz::{check_request_path, Case};

fuzz_target!(|data: &[u8]| {
    if let Some(case) = Case::parse(data) {
        check_request_path(case);
    }
});
