//! Parse (XML or JSON) → `to_xml` → parse, and → `to_json` → parse, give the same
//! configuration: nothing an accepted configuration holds is lost or changed by writing it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_s3_cors_fuzz::{check_round_trip, parse_config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = parse_config(text) {
        check_round_trip(&config);
    }
});
