//! Heap bytes per bucket in a `BucketStore`, counted by a global allocator (deterministic, unlike
//! time): a distinct one-rule configuration costs at most 1 KiB per bucket, buckets with equal
//! configurations share one compiled policy (at most 256 bytes per bucket), a compiled policy
//! is a few heap blocks (its configuration one of them, not one per string and list), and a
//! configuration no bucket uses any more is freed. `benches/buckets.rs` measures the same at a million buckets.
//!
//! One test in its own binary: the live-byte counter is global, so no other test may run beside it.

use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{CorsConfiguration, CorsRule};

#[path = "common/live_bytes.rs"]
mod live_bytes;

use live_bytes::{live, live_blocks};

const BUCKETS: usize = 2_000;

/// One rule: two origins, two methods, `AllowedHeader *`, `ExposeHeader ETag`.
fn one_rule(host: &str) -> CorsConfiguration {
    CorsConfiguration::new([CorsRule::builder()
        .allowed_origins([
            format!("https://{host}.example.com"),
            format!("https://*.{host}.example.net"),
        ])
        .allowed_methods(["GET", "PUT"])
        .allowed_header("*")
        .expose_header("ETag")
        .build()])
    .unwrap()
}

fn per_bucket(before: isize) -> isize {
    (live() - before) / BUCKETS as isize
}

#[test]
fn bytes_per_bucket_stay_small_and_unused_policies_are_freed() {
    let names: Vec<String> = (0..BUCKETS).map(|i| format!("bucket-{i:07}")).collect();

    let before = live();
    let store = BucketStore::new(BucketAddressing::PathStyle);
    for name in &names {
        store.create_bucket(name);
        store.put_cors(name, one_rule("shared")).unwrap();
    }
    let identical = per_bucket(before);
    drop(store);

    let before = live();
    let blocks_before = live_blocks();
    let store = BucketStore::new(BucketAddressing::PathStyle);
    for (i, name) in names.iter().enumerate() {
        store.create_bucket(name);
        store.put_cors(name, one_rule(&format!("t{i}"))).unwrap();
    }
    let distinct = per_bucket(before);
    let blocks = (live_blocks() - blocks_before) / BUCKETS as isize;

    // Every configuration deleted: the compiled policies go. What may linger is bounded: map
    // entries not yet reclaimed (a batch at most) and interner entries not yet swept (fewer
    // than half the calls since the last sweep).
    for name in &names {
        store.delete_cors(name).unwrap();
    }
    let unconfigured = per_bucket(before);
    for name in &names {
        store.put_cors(name, one_rule("shared")).unwrap();
    }
    let shared_again = per_bucket(before);

    println!("bytes per bucket: distinct {distinct} ({blocks} heap blocks), identical {identical}, after DeleteBucketCors {unconfigured}, shared again {shared_again}");
    // The map's entry, the policy, its configuration's block and its packed patterns (the
    // rules' answers are shared): a configuration kept as its own strings and lists was 14.
    assert!(
        blocks <= 5,
        "distinct one-rule configurations: {blocks} heap blocks per bucket"
    );
    assert!(
        distinct <= 1024,
        "distinct one-rule configurations: {distinct} B per bucket"
    );
    assert!(
        identical <= 256,
        "identical configurations: {identical} B per bucket"
    );
    assert!(
        unconfigured <= identical + 64,
        "after deleting every configuration: {unconfigured} B per bucket ({identical} with one shared)"
    );
    assert!(
        shared_again <= 256,
        "one shared configuration again: {shared_again} B per bucket"
    );
}
