//! What a per-bucket store costs as buckets grow: 1 000, 100 000 and 1 000 000 buckets.
//!
//! For each size: one PutBucketCors, DeleteBucketCors and CreateBucket on the full store; the
//! time to fill it (create + put for every bucket, to see that filling is linear); a preflight
//! through the layer with requests spread over every bucket (not one hot bucket); and the heap
//! bytes per bucket, counted by a global allocator, with distinct and with identical one-rule
//! configurations and with a typical three-rule configuration. Each figure is then divided by
//! its value at 1 000 buckets.
//!
//! Times are the thread's CPU time (medians of several rounds), so that other work on the
//! machine does not count; the cache misses of a large store do.
//!
//! Next to each size, the floor: a dependent read from a random place of a buffer as large as
//! the store (one trip to memory once the store outgrows the cache), and each operation's
//! growth counted in such trips, beside the room the goals leave in the same unit.
//!
//! `cargo bench --bench buckets` (a few minutes, about 3 GB of memory at the largest size);
//! `cargo bench --bench buckets -- 1000 100000` for chosen sizes only;
//! `benches/bucket_misses.sh N` counts the cache misses of each operation at N buckets with
//! valgrind's cache simulator (deterministic, where the times above are not).

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_s3_cors::source::{BucketAddressing, BucketStore};
use tower_s3_cors::{CorsConfiguration, CorsLayer, CorsRule};
use tower_service::Service;

/// Live heap bytes, for the memory figures.
#[path = "../tests/common/live_bytes.rs"]
mod live_bytes;

use live_bytes::live;

/// CPU time of this thread: on a shared machine, time spent descheduled is not counted (cache
/// misses, the point of this benchmark, are).
#[derive(Clone, Copy)]
struct Instant(Duration);

impl Instant {
    fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Instant(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    fn elapsed(&self) -> Duration {
        Instant::now().0.saturating_sub(self.0)
    }
}

/// The store's own service: answers at once with an empty body.
#[derive(Clone, Copy)]
struct Stub;

impl Service<Request<()>> for Stub {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

fn name(i: usize) -> String {
    format!("bucket-{i:07}")
}

/// The one-rule configuration of the measurements: two origins, `AllowedHeader *`,
/// `ExposeHeader ETag`; `tenant` makes it distinct.
fn one_rule(tenant: Option<usize>) -> CorsConfiguration {
    let host = tenant.map_or_else(|| "shared".to_owned(), |t| format!("t{t}"));
    CorsConfiguration::new([CorsRule::builder()
        .allowed_origins([
            format!("https://{host}.example.com"),
            format!("https://*.{host}.example.net"),
        ])
        .allowed_methods(["GET", "PUT"])
        .allowed_header("*")
        .expose_header("ETag")
        .build()])
    .expect("valid")
}

/// A typical three-rule configuration (an upload rule, a read rule, local development).
fn three_rules(tenant: usize) -> CorsConfiguration {
    CorsConfiguration::new([
        CorsRule::builder()
            .id("uploads")
            .allowed_origin(format!("https://app.t{tenant}.example.com"))
            .allowed_methods(["PUT", "POST", "DELETE"])
            .allowed_headers(["content-type", "x-amz-*"])
            .expose_headers(["ETag", "x-amz-version-id"])
            .max_age_seconds(3000)
            .build(),
        CorsRule::builder()
            .allowed_origin("*")
            .allowed_methods(["GET", "HEAD"])
            .build(),
        CorsRule::builder()
            .allowed_origin("http://localhost:*")
            .allowed_methods(["GET", "PUT", "POST"])
            .allowed_header("*")
            .build(),
    ])
    .expect("valid")
}

/// A small xorshift: the same spread of buckets on every run.
struct Spread(u64);

impl Spread {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn drive<S>(service: &mut S, request: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Response = Response<tower_s3_cors::CorsBody<()>>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let _ = service.poll_ready(&mut cx);
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status(),
        Poll::Pending => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn preflight(bucket: &str, tenant: usize) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = Method::OPTIONS;
    *request.uri_mut() = format!("/{bucket}/photos/cat.jpg").parse().expect("valid");
    let headers = request.headers_mut();
    let origin = format!("https://t{tenant}.example.com");
    headers.insert("origin", HeaderValue::from_str(&origin).expect("valid"));
    headers.insert("access-control-request-method", HeaderValue::from_static("PUT"));
    headers.insert(
        "access-control-request-headers",
        HeaderValue::from_static("content-type"),
    );
    request
}

/// The median of `rounds` measurements of `f`, each returning (time, operations).
fn median(rounds: usize, mut f: impl FnMut() -> (Duration, usize)) -> f64 {
    let mut per_op: Vec<f64> = (0..rounds)
        .map(|_| {
            let (time, ops) = f();
            time.as_nanos() as f64 / ops as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[rounds / 2]
}

#[derive(Clone, Copy, Default)]
struct Row {
    buckets: usize,
    /// One dependent read from a random place of a buffer as large as the store (ns).
    floor_ns: f64,
    put_ns: f64,
    delete_cors_ns: f64,
    create_ns: f64,
    fill_s: f64,
    preflight_ns: f64,
    distinct_bytes: f64,
    identical_bytes: f64,
    three_rule_bytes: f64,
}

/// The floor under every figure here: nanoseconds per read when each read goes to a random
/// cache line of `bytes` of memory and depends on the read before it, as finding a bucket and
/// then its policy does. Once `bytes` is larger than the cache, this is one trip to main
/// memory (with its page-table walk); no structure over that many bytes can find a random
/// bucket's data in fewer than one.
fn memory_floor(bytes: usize) -> f64 {
    const WORDS_PER_LINE: usize = 8;
    let lines = (bytes / 64).max(2);
    let mut order: Vec<u32> = (0..lines as u32).collect();
    let mut spread = Spread(0x2545_f491_4f6c_dd1d);
    for i in (1..lines).rev() {
        order.swap(i, spread.below(i + 1));
    }
    // Each line holds the index of the next line of one random cycle through all of them.
    let mut next = vec![0u64; lines * WORDS_PER_LINE];
    for (k, &line) in order.iter().enumerate() {
        next[line as usize * WORDS_PER_LINE] = u64::from(order[(k + 1) % lines]);
    }
    let steps = 1 << 20;
    let mut at = u64::from(order[0]);
    median(5, || {
        let start = Instant::now();
        for _ in 0..steps {
            at = next[at as usize * WORDS_PER_LINE];
        }
        black_box(at);
        (start.elapsed(), steps)
    })
}

/// Fills a store with `n` buckets, each with `config(i)`: (store, seconds, bytes per bucket).
fn fill(n: usize, config: impl Fn(usize) -> CorsConfiguration) -> (Arc<BucketStore>, f64, f64) {
    let before = live();
    let start = Instant::now();
    let store = Arc::new(BucketStore::new(BucketAddressing::PathStyle));
    for i in 0..n {
        let bucket = name(i);
        store.create_bucket(&bucket);
        store.put_cors(&bucket, config(i)).expect("bucket exists");
    }
    let seconds = start.elapsed().as_secs_f64();
    let bytes = (live() - before) as f64 / n as f64;
    (store, seconds, bytes)
}

fn measure(n: usize) -> Row {
    let mut row = Row {
        buckets: n,
        ..Row::default()
    };
    let (store, _, bytes) = fill(n, three_rules);
    row.three_rule_bytes = bytes;
    drop(store);
    let (store, _, bytes) = fill(n, |_| one_rule(None));
    row.identical_bytes = bytes;
    drop(store);
    let (store, seconds, bytes) = fill(n, |i| one_rule(Some(i)));
    row.fill_s = seconds;
    row.distinct_bytes = bytes;
    row.floor_ns = memory_floor((bytes * n as f64) as usize);

    let mut spread = Spread(0x9e37_79b9_7f4a_7c15);
    const OPS: usize = 1_000;
    // PutBucketCors of a new distinct configuration on an existing bucket (compiling it).
    row.put_ns = median(7, || {
        let work: Vec<usize> = (0..OPS).map(|_| spread.below(n)).collect();
        let names: Vec<String> = work.iter().map(|&i| name(i)).collect();
        // Each configuration made just before it is put, as a server parses one (see the
        // preflights below); making them is timed alone and subtracted.
        let start = Instant::now();
        for k in 0..OPS {
            drop(black_box(one_rule(Some(n + k))));
        }
        let making = start.elapsed();
        let start = Instant::now();
        for (k, bucket) in names.iter().enumerate() {
            store
                .put_cors(bucket, one_rule(Some(n + k)))
                .expect("bucket exists");
        }
        let time = start.elapsed().saturating_sub(making);
        // Each bucket's own configuration back (not timed), for the preflights below.
        for (&i, bucket) in work.iter().zip(&names) {
            store.put_cors(bucket, one_rule(Some(i))).expect("bucket exists");
        }
        (time, OPS)
    });
    // DeleteBucketCors, then the configuration put back (not timed).
    row.delete_cors_ns = median(7, || {
        let work: Vec<usize> = (0..OPS).map(|_| spread.below(n)).collect();
        let names: Vec<String> = work.iter().map(|&i| name(i)).collect();
        let start = Instant::now();
        for bucket in &names {
            store.delete_cors(bucket).expect("bucket exists");
        }
        let time = start.elapsed();
        for (&i, bucket) in work.iter().zip(&names) {
            store.put_cors(bucket, one_rule(Some(i))).expect("bucket exists");
        }
        (time, OPS)
    });
    // CreateBucket of new names, then deleted again (not timed).
    let mut next = n;
    row.create_ns = median(7, || {
        let names: Vec<String> = (next..next + OPS).map(name).collect();
        next += OPS;
        let start = Instant::now();
        for bucket in &names {
            black_box(store.create_bucket(bucket));
        }
        let time = start.elapsed();
        for bucket in &names {
            store.delete_bucket(bucket);
        }
        (time, OPS)
    });

    // Preflights through the layer, each to a random bucket of the whole store. Each request
    // is made just before it is served, as a server parses one (a batch made beforehand and
    // freed request by request has the allocator merge the freed batch over and over, which
    // serving never does); making them is timed alone over the same buckets and subtracted.
    let mut cors = CorsLayer::from_source(Arc::clone(&store)).layer(Stub);
    const REQUESTS: usize = 1 << 15;
    row.preflight_ns = median(9, || {
        let picks: Vec<usize> = (0..REQUESTS).map(|_| spread.below(n)).collect();
        let names: Vec<String> = picks.iter().map(|&i| name(i)).collect();
        let start = Instant::now();
        for (&i, bucket) in picks.iter().zip(&names) {
            black_box(preflight(bucket, i));
        }
        let making = start.elapsed();
        let start = Instant::now();
        for (&i, bucket) in picks.iter().zip(&names) {
            let status = drive(&mut cors, preflight(bucket, i));
            assert_eq!(status, StatusCode::OK);
        }
        (start.elapsed().saturating_sub(making), REQUESTS)
    });
    row
}

/// `--misses N`: a store of N distinct buckets, then a batch of each operation in a function
/// of its own, for `benches/bucket_misses.sh` to count (only those functions are counted).
fn misses(n: usize) {
    let (store, _, _) = fill(n, |i| one_rule(Some(i)));
    let mut spread = Spread(0x9e37_79b9_7f4a_7c15);
    const OPS: usize = 2_000;
    let mut cors = CorsLayer::from_source(Arc::clone(&store)).layer(Stub);
    // Warm-up, not counted: the first request after filling pays once for the allocator
    // merging the small blocks the fill freed.
    for i in 0..100 {
        drive(&mut cors, preflight(&name(i), i));
    }
    // Each request made just before it is served, as a server parses one, so that freeing it
    // finds the allocator as serving finds it (a batch made beforehand and freed one by one
    // would have the allocator merge the freed batch over and over, which serving never does).
    for _ in 0..OPS {
        let i = spread.below(n);
        counted_preflight(&mut cors, preflight(&name(i), i));
    }
    for k in 0..OPS {
        let bucket = name(spread.below(n));
        counted_put(&store, &bucket, one_rule(Some(n + k)));
    }
    let names: Vec<String> = (0..OPS).map(|_| name(spread.below(n))).collect();
    counted_deletes(&store, &names);
    let names: Vec<String> = (n..n + OPS).map(name).collect();
    counted_creates(&store, &names);
}

#[inline(never)]
fn counted_preflight<S>(cors: &mut S, request: Request<()>)
where
    S: Service<Request<()>, Response = Response<tower_s3_cors::CorsBody<()>>, Error = Infallible>,
{
    assert_eq!(drive(cors, request), StatusCode::OK);
}

#[inline(never)]
fn counted_put(store: &BucketStore, bucket: &str, config: CorsConfiguration) {
    store.put_cors(bucket, config).expect("bucket exists");
}

#[inline(never)]
fn counted_deletes(store: &BucketStore, names: &[String]) {
    for bucket in names {
        store.delete_cors(bucket).expect("bucket exists");
    }
}

#[inline(never)]
fn counted_creates(store: &BucketStore, names: &[String]) {
    for bucket in names {
        black_box(store.create_bucket(bucket));
    }
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--misses") {
        let n = args.nth(1).and_then(|n| n.parse().ok()).expect("--misses N");
        misses(n);
        return;
    }
    let mut sizes: Vec<usize> = args.filter_map(|arg| arg.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1_000, 100_000, 1_000_000];
    }
    let mut rows = Vec::new();
    for n in sizes {
        let row = measure(n);
        eprintln!(
            "{n} buckets: floor {:.0} ns, put {:.0} ns, delete-cors {:.0} ns, create {:.0} ns, fill {:.2} s, preflight {:.0} ns, bytes/bucket distinct {:.0}, identical {:.0}, three-rule {:.0}",
            row.floor_ns,
            row.put_ns, row.delete_cors_ns, row.create_ns, row.fill_s, row.preflight_ns, row.distinct_bytes, row.identical_bytes, row.three_rule_bytes
        );
        rows.push(row);
    }
    let Some(base) = rows.first().copied() else { return };
    let ratio = |x: f64, b: f64| x / b;
    println!();
    println!("| buckets | PutBucketCors | DeleteBucketCors | CreateBucket | fill (create + put each) | preflight through the layer | bytes/bucket distinct | identical | 3-rule distinct |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let fill_per = row.fill_s * 1e9 / row.buckets as f64;
        let base_fill = base.fill_s * 1e9 / base.buckets as f64;
        println!(
            "| {} | {:.2} µs ({:.2}×) | {:.0} ns ({:.2}×) | {:.0} ns ({:.2}×) | {:.2} s, {:.2} µs/bucket ({:.2}×) | {:.0} ns ({:.2}×) | {:.0} B | {:.0} B | {:.0} B |",
            row.buckets,
            row.put_ns / 1e3,
            ratio(row.put_ns, base.put_ns),
            row.delete_cors_ns,
            ratio(row.delete_cors_ns, base.delete_cors_ns),
            row.create_ns,
            ratio(row.create_ns, base.create_ns),
            row.fill_s,
            fill_per / 1e3,
            ratio(fill_per, base_fill),
            row.preflight_ns,
            ratio(row.preflight_ns, base.preflight_ns),
            row.distinct_bytes,
            row.identical_bytes,
            row.three_rule_bytes,
        );
    }
    // Growth in units of the floor: how many dependent trips to memory of the store's size the
    // extra cost over 1 000 buckets is worth, next to the room the goals leave (a preflight
    // ≤ 1.5×, a write ≤ 2× its cost at 1 000 buckets), in the same unit.
    println!();
    println!("| buckets | one dependent read (floor) | preflight: extra / room, in reads | PutBucketCors | DeleteBucketCors | CreateBucket |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        let trips = |x: f64, b: f64, room: f64| {
            format!("{:.1} / {:.1}", (x - b) / row.floor_ns, room * b / row.floor_ns)
        };
        println!(
            "| {} | {:.0} ns | {} | {} | {} | {} |",
            row.buckets,
            row.floor_ns,
            trips(row.preflight_ns, base.preflight_ns, 0.5),
            trips(row.put_ns, base.put_ns, 1.0),
            trips(row.delete_cors_ns, base.delete_cors_ns, 1.0),
            trips(row.create_ns, base.create_ns, 1.0),
        );
    }
}
