//! Bucket CORS shared by several instances through a real PostgreSQL (a throwaway cluster per
//! test): the example's store (`examples/s3_server/rules_db.rs`) under `RulesCache`, two nodes
//! in one process, each with its own connections and listener. Propagation of PutBucketCors
//! and DeleteBucketCors, the database stopped and restarted, connections cut, churn, and
//! coalesced loads counted by PostgreSQL itself.
//!
//! Needs PostgreSQL's server binaries (Debian's `postgresql`; `.ci/run` installs them):
//! skipped locally without them, a failure in CI.
#![cfg(all(feature = "cache", feature = "xml"))]

mod common;

#[path = "common/postgres.rs"]
mod postgres;
// The example's store, as a server built on this crate would copy it.
#[path = "../examples/s3_server/rules_db.rs"]
#[allow(dead_code)]
mod rules_db;
#[path = "common/service.rs"]
mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use tower::Layer;
use tower_s3_cors::cache::{CacheOptions, RulesCache, RulesLoader, StoredCors};
use tower_s3_cors::source::{BoxError, BucketAddressing, CachedSource};
use tower_s3_cors::{Cors, CorsConfiguration, CorsLayer};

use postgres::Postgres;
use rules_db::{Change, RulesDb};
use service::{get, preflight, runtime, send, Answer, Stub, APP};

/// The example server's loader, minus the bucket-exists check: every bucket exists.
struct DbLoader(Arc<RulesDb>);

impl RulesLoader for DbLoader {
    fn load(&self, bucket: &str) -> impl Future<Output = Result<StoredCors, BoxError>> + Send {
        let db = Arc::clone(&self.0);
        let bucket = bucket.to_owned();
        async move {
            let found = db
                .get(&bucket)
                .await
                .inspect_err(|e| eprintln!("load {bucket}: {e}"))?;
            Ok(match found {
                None => StoredCors::NotConfigured,
                Some(xml) => StoredCors::Configured(CorsConfiguration::from_xml(&xml)?),
            })
        }
    }
}

/// One instance: its own connections, cache and listener.
struct Node {
    db: Arc<RulesDb>,
    cache: RulesCache<DbLoader>,
    service: Cors<Stub, CachedSource<RulesCache<DbLoader>>>,
    listener: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn start(url: &str, options: CacheOptions) -> Node {
        let db = RulesDb::open(url).await.expect("the rules database opens");
        let cache = RulesCache::new(DbLoader(Arc::clone(&db)), BucketAddressing::PathStyle, options);
        let heard = cache.clone();
        let listener = rules_db::listen(url.to_owned(), move |change| match change {
            Change::Bucket(bucket) => heard.invalidate(bucket),
            Change::All => heard.invalidate_all(),
        });
        let service = CorsLayer::from_cached_source(cache.clone()).layer(Stub);
        Node {
            db,
            cache,
            service,
            listener,
        }
    }

    /// PutBucketCors as the example does it: the store (which notifies), then this node.
    async fn put(&self, bucket: &str, origin: &str) {
        self.db.put(bucket, &rules(origin)).await.expect("stored");
        self.cache.invalidate(bucket);
    }

    async fn delete(&self, bucket: &str) {
        self.db.delete(bucket).await.expect("deleted");
        self.cache.invalidate(bucket);
    }

    async fn preflight(&self, bucket: &str, origin: &str) -> Answer {
        send(&self.service, preflight(bucket, origin)).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn rules(origin: &str) -> String {
    format!(
        "<CORSConfiguration><CORSRule><AllowedOrigin>{origin}</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
         <AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
         <MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>"
    )
}

/// A cluster, or `None` (skipped locally, a failure in CI) when PostgreSQL is missing.
fn database(test: &str) -> Option<Postgres> {
    match Postgres::start() {
        Ok(db) => Some(db),
        Err(why) => {
            common::process::missing_tool(test, &why);
            None
        }
    }
}

/// Waits (at most 10 s) until `check` holds; how long it took.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not within 10 s: {what}"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    start.elapsed()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn origin(i: usize) -> String {
    format!("https://app{i}.example.com")
}

#[test]
fn a_put_or_delete_on_one_node_reaches_the_other() {
    let Some(db) = database("a_put_or_delete_on_one_node_reaches_the_other") else {
        return;
    };
    runtime().block_on(async {
        let a = Node::start(&db.url(), CacheOptions::new()).await;
        let b = Node::start(&db.url(), CacheOptions::new()).await;
        let mut times = Vec::new();
        for i in 0..100 {
            let new = origin(i);
            a.put("media", &new).await;
            times.push(
                until("B answers with the new rules", async || {
                    b.preflight("media", &new).await.status == StatusCode::OK
                })
                .await,
            );
            // The old origin is refused at once after.
            if i > 0 {
                assert_eq!(
                    b.preflight("media", &origin(i - 1)).await.status,
                    StatusCode::FORBIDDEN
                );
            }
        }
        times.sort();
        println!(
            "propagation A -> B over {} PutBucketCors: median {:?}, p99 {:?}, max {:?}",
            times.len(),
            percentile(&times, 50),
            percentile(&times, 99),
            times.last().expect("100")
        );
        a.delete("media").await;
        let deleted = until("B sees the configuration deleted", async || {
            b.preflight("media", &origin(99))
                .await
                .body
                .contains("CORS is not enabled for this bucket")
        })
        .await;
        println!("DeleteBucketCors A -> B: {deleted:?}");
    });
}

#[test]
fn with_the_database_stopped_cached_buckets_keep_their_answers_and_others_get_internal_error() {
    let Some(mut db) = database("with_the_database_stopped_cached_buckets_keep_their_answers") else {
        return;
    };
    let runtime = runtime();
    let options = CacheOptions::new()
        .time_to_live(Duration::from_millis(300))
        .negative_time_to_live(Duration::from_secs(60))
        .retry_after_error(Duration::from_millis(200));
    let (a, b, cached) = runtime.block_on(async {
        let a = Node::start(&db.url(), options).await;
        let b = Node::start(&db.url(), options).await;
        a.put("cached", APP).await;
        a.put("unloaded", APP).await;
        // B must have heard of those writes before it loads, or a late notification would drop
        // what it loaded: notifications arrive in commit order, so once B hears of a later
        // write (to a bucket it cached as unconfigured), it has heard of those.
        assert_eq!(b.preflight("marker", APP).await.status, StatusCode::FORBIDDEN);
        a.put("marker", APP).await;
        until("B hears of the marker", async || {
            b.preflight("marker", APP).await.status == StatusCode::OK
        })
        .await;
        let cached = b.preflight("cached", APP).await;
        assert_eq!(cached.status, StatusCode::OK);
        (a, b, cached)
    });
    db.stop_server();
    runtime.block_on(async {
        // Past the time to live, well within the stale window: the same answer, byte for byte.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..5 {
            assert_eq!(b.preflight("cached", APP).await, cached);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let failed = b.preflight("unloaded", APP).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(failed.body.contains("<Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"), "{}", failed.body);
        let actual = send(&b.service, get("unloaded", APP)).await;
        assert_eq!((actual.status, actual.body.as_str()), (StatusCode::OK, "from the service"));
        assert!(!actual.headers.iter().any(|(n, _)| n.starts_with("access-control-")), "{actual:?}");
    });
    db.start_server().expect("the database restarts");
    runtime.block_on(async {
        // Both nodes recover without a restart: the writer and the listeners reconnect.
        until("B loads the unloaded bucket", async || {
            b.preflight("unloaded", APP).await.status == StatusCode::OK
        })
        .await;
        a.put("cached", "https://after.example").await;
        until("B hears of the change", async || {
            b.preflight("cached", "https://after.example").await.status == StatusCode::OK
        })
        .await;
        assert_eq!(a.preflight("unloaded", APP).await.status, StatusCode::OK);
    });
}

#[test]
fn a_change_written_right_after_the_connections_are_cut_is_seen() {
    let Some(db) = database("a_change_written_right_after_the_connections_are_cut_is_seen") else {
        return;
    };
    runtime().block_on(async {
        let a = Node::start(&db.url(), CacheOptions::new()).await;
        let b = Node::start(&db.url(), CacheOptions::new()).await;
        a.put("media", APP).await;
        assert_eq!(b.preflight("media", APP).await.status, StatusCode::OK);
        for round in 0..5 {
            // The cut below must cut all four connections: wait until the ones cut in the
            // round before are back (the listeners reconnect by themselves, with a backoff;
            // the clients were used by the last put and load).
            until("both nodes' listeners and clients are connected", async || {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let connected = db
                    .psql("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
                    .expect("psql");
                connected.parse::<u32>().expect("a count") >= 4
            })
            .await;
            let killed = db
                .psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
                .expect("psql");
            assert!(killed.parse::<u32>().expect("a count") >= 4, "listeners and clients cut: {killed}");
            // Written at once: the writer reconnects; B's listener may not be back yet.
            let new = origin(round);
            a.put("media", &new).await;
            until("B sees the change made right after the cut", async || {
                b.preflight("media", &new).await.status == StatusCode::OK
            })
            .await;
        }
    });
}

#[test]
fn under_churn_every_answer_is_one_configuration_s_exact_answer() {
    let Some(db) = database("under_churn_every_answer_is_one_configuration_s_exact_answer") else {
        return;
    };
    runtime().block_on(async {
        let a = Arc::new(Node::start(&db.url(), CacheOptions::new()).await);
        let b = Arc::new(Node::start(&db.url(), CacheOptions::new()).await);
        // The exact answers of each configuration, for a preflight from APP.
        a.put("media", APP).await;
        let allowed = a.preflight("media", APP).await;
        a.put("media", "https://other.example").await;
        let refused = until("A has the second configuration", async || {
            a.preflight("media", APP).await.status == StatusCode::FORBIDDEN
        })
        .await;
        let _ = refused;
        let refused = a.preflight("media", APP).await;
        assert_ne!(allowed, refused);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut clients = tokio::task::JoinSet::new();
        for node in [&a, &b, &a, &b] {
            let node = Arc::clone(node);
            let (allowed, refused) = (clone_answer(&allowed), clone_answer(&refused));
            clients.spawn(async move {
                let mut seen = [0usize; 2];
                while Instant::now() < deadline {
                    let answer = node.preflight("media", APP).await;
                    // A hit never waits: let the connections' tasks run, as sockets would.
                    tokio::task::yield_now().await;
                    if answer == allowed {
                        seen[0] += 1;
                    } else if answer == refused {
                        seen[1] += 1;
                    } else {
                        panic!("an answer of neither configuration: {answer:?}");
                    }
                }
                seen
            });
        }
        let writer = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            tokio::spawn(async move {
                let mut changes = 0;
                while Instant::now() < deadline {
                    let node = if changes % 2 == 0 { &a } else { &b };
                    let origin = if changes % 3 == 0 {
                        APP
                    } else {
                        "https://other.example"
                    };
                    node.put("media", origin).await;
                    changes += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                changes
            })
        };
        let seen = clients.join_all().await;
        let changes = writer.await.expect("writer");
        let total: [usize; 2] = seen.iter().fold([0, 0], |t, s| [t[0] + s[0], t[1] + s[1]]);
        println!(
            "churn: {changes} changes, {} answers allowed, {} refused",
            total[0], total[1]
        );
        assert!(
            changes > 50 && total[0] > 0 && total[1] > 0,
            "{changes} {total:?}"
        );
    });
}

fn clone_answer(answer: &Answer) -> Answer {
    Answer {
        status: answer.status,
        headers: answer.headers.clone(),
        body: answer.body.clone(),
    }
}

#[test]
fn a_thousand_concurrent_first_requests_make_one_query() {
    let Some(db) = database("a_thousand_concurrent_first_requests_make_one_query") else {
        return;
    };
    db.psql("CREATE EXTENSION pg_stat_statements")
        .expect("pg_stat_statements");
    runtime().block_on(async {
        let a = Node::start(&db.url(), CacheOptions::new()).await;
        let b = Node::start(&db.url(), CacheOptions::new()).await;
        a.put("media", APP).await;
        // B must have heard of that write first (a notification arriving during the load
        // rightly makes it read again): once it hears of a later one, it has.
        assert_eq!(b.preflight("marker", APP).await.status, StatusCode::FORBIDDEN);
        a.put("marker", APP).await;
        until("B hears of the marker", async || b.preflight("marker", APP).await.status == StatusCode::OK).await;
        // Hold B's first query at the table until every request is waiting.
        let (locker, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        let loads_before = b.cache.loads();
        locker.batch_execute("SELECT pg_stat_statements_reset(); BEGIN; LOCK TABLE bucket_cors IN ACCESS EXCLUSIVE MODE").await.expect("locked");
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..1000 {
            let service = b.service.clone();
            let request = if i % 2 == 0 { preflight("media", APP) } else { get("media", APP) };
            requests.spawn(async move { send(&service, request).await });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        locker.batch_execute("COMMIT").await.expect("unlocked");
        let answers = requests.join_all().await;
        assert!(answers.iter().all(|a| a.status == StatusCode::OK
            && a.headers.iter().any(|(n, v)| n == "access-control-allow-origin" && v == APP)));
        let calls: i64 = locker
            .query_one("SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE 'SELECT configuration FROM bucket_cors%'", &[])
            .await
            .expect("stats")
            .get(0);
        let loads = b.cache.loads() - loads_before;
        println!("1000 concurrent first requests at B: {calls} query, {loads} load");
        assert_eq!(calls, 1, "PostgreSQL ran the bucket's query once");
        assert_eq!(loads, 1);
    });
}
