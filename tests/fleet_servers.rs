//! Two example S3 servers (`examples/s3_server`) started with the same `--data DIR` and
//! `--rules-db URL` against a real PostgreSQL (a throwaway cluster per test) form one gateway:
//! PutBucketCors and DeleteBucketCors on one are answered by the other; the database stopped,
//! restarted, its connections cut; churn on both; 1,000 concurrent first preflights, one query.
//!
//! Needs PostgreSQL's server binaries (`.ci/run` installs them): skipped locally without them,
//! a failure in CI.
#![cfg(all(feature = "cache", feature = "xml"))]

mod common;

#[path = "common/postgres.rs"]
mod postgres;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::process::{preflight, Reply, Running};
use common::s3::signed;
use postgres::Postgres;

const APP: &str = "https://app.example.com";

/// A cluster and a shared data directory, or `None` when PostgreSQL is missing (skipped
/// locally, a failure in CI).
struct Gateway {
    db: Postgres,
    data: PathBuf,
}

impl Gateway {
    fn new(test: &str) -> Option<Gateway> {
        let db = match Postgres::start() {
            Ok(db) => db,
            Err(why) => {
                common::process::missing_tool(test, &why);
                return None;
            }
        };
        let data = db.dir().join("s3-data");
        std::fs::create_dir_all(&data).expect("data directory");
        Some(Gateway { db, data })
    }

    /// One instance of the example server on the shared data and database.
    fn node(&self) -> Running {
        let data = self.data.display().to_string();
        Running::start_with("s3_server", &["--data", &data, "--rules-db", &self.db.url()])
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn rules(origin: &str) -> String {
    format!(
        "<CORSConfiguration><CORSRule><AllowedOrigin>{origin}</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
         <AllowedHeader>*</AllowedHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>"
    )
}

fn create_bucket(node: SocketAddr, bucket: &str) {
    let reply = signed(node, "PUT", &format!("/{bucket}"), &[], b"");
    assert_eq!(reply.status, 200, "CreateBucket {bucket}: {}", reply.text());
}

fn put_cors(node: SocketAddr, bucket: &str, origin: &str) {
    let reply = signed(
        node,
        "PUT",
        &format!("/{bucket}?cors="),
        &[],
        rules(origin).as_bytes(),
    );
    assert_eq!(reply.status, 200, "PutBucketCors {bucket}: {}", reply.text());
}

fn ask(node: SocketAddr, bucket: &str, origin: &str) -> Reply {
    preflight(
        node,
        &format!("/{bucket}/photo.jpg"),
        origin,
        "PUT",
        "content-type",
    )
}

/// Waits (at most 10 s) until `check` holds; how long it took.
fn until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not within 10 s: {what}"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    start.elapsed()
}

fn origin(i: usize) -> String {
    format!("https://app{i}.example.com")
}

/// Status, the CORS headers and the body without its ids: what must equal one
/// configuration's answer.
fn essence(reply: &Reply) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("access-control-") || n == "vary" || n == "content-type")
        .cloned()
        .collect();
    headers.sort();
    let body = reply.text();
    let body = match (body.find("<RequestId>"), body.find("</Error>")) {
        (Some(start), Some(end)) => format!("{}{}", &body[..start], &body[end..]),
        _ => body,
    };
    (reply.status, headers, body)
}

#[test]
fn put_and_delete_bucket_cors_on_one_server_reach_the_other() {
    let Some(gateway) = Gateway::new("put_and_delete_bucket_cors_on_one_server_reach_the_other") else {
        return;
    };
    let (a, b) = (gateway.node(), gateway.node());
    // Created on A after B started: B finds it in the shared data directory.
    create_bucket(a.addr, "media");
    let mut times = Vec::new();
    for i in 0..100 {
        let new = origin(i);
        put_cors(a.addr, "media", &new);
        times.push(until("B answers with the new rules", || {
            ask(b.addr, "media", &new).status == 200
        }));
    }
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "PutBucketCors on A -> preflight at B, 100 changes: median {:?}, p99 {:?}, max {:?}",
        at(50),
        at(99),
        times[times.len() - 1]
    );
    // GetBucketCors at B gives what A stored.
    let got = signed(b.addr, "GET", "/media?cors=", &[], b"");
    assert_eq!(got.status, 200);
    assert!(got.text().contains(&origin(99)), "{}", got.text());
    let deleted = signed(a.addr, "DELETE", "/media?cors=", &[], b"");
    assert_eq!(deleted.status, 204);
    let took = until("B sees the configuration deleted", || {
        let reply = ask(b.addr, "media", &origin(99));
        reply.status == 403 && reply.text().contains("CORS is not enabled for this bucket")
    });
    println!("DeleteBucketCors on A -> preflight at B: {took:?}");
    assert_eq!(signed(b.addr, "GET", "/media?cors=", &[], b"").status, 404);
}

#[test]
fn the_servers_ride_out_a_database_outage_and_recover_without_restart() {
    let Some(mut gateway) =
        Gateway::new("the_servers_ride_out_a_database_outage_and_recover_without_restart")
    else {
        return;
    };
    let (a, b) = (gateway.node(), gateway.node());
    for bucket in ["cached", "unloaded"] {
        create_bucket(a.addr, bucket);
        put_cors(a.addr, bucket, APP);
    }
    // B must have heard of those writes before it loads, or a late notification would drop
    // what it loaded: notifications arrive in commit order, so once B hears of a later write
    // (to a bucket it cached as unconfigured, for 10 s), it has heard of those.
    create_bucket(a.addr, "marker");
    assert_eq!(ask(b.addr, "marker", APP).status, 403);
    put_cors(a.addr, "marker", APP);
    until("B hears of the marker", || {
        ask(b.addr, "marker", APP).status == 200
    });
    let cached = ask(b.addr, "cached", APP);
    assert_eq!(cached.status, 200);
    gateway.db.stop_server();
    for _ in 0..5 {
        assert_eq!(essence(&ask(b.addr, "cached", APP)), essence(&cached));
    }
    let failed = ask(b.addr, "unloaded", APP);
    assert_eq!(failed.status, 500, "{}", failed.text());
    assert!(
        failed.text().contains("<Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"),
        "{}",
        failed.text()
    );
    assert!(!failed.has_cors_headers());
    // An actual request is served (here s3s's own answer), without CORS headers.
    let actual = common::process::get(b.addr, "/unloaded/photo.jpg", &[("Origin", APP)]);
    assert!(!actual.has_cors_headers(), "{actual:?}");
    gateway.db.start_server().expect("the database restarts");
    until("B loads the bucket it could not", || {
        ask(b.addr, "unloaded", APP).status == 200
    });
    put_cors(a.addr, "cached", "https://after.example");
    until("B hears of a change made after the restart", || {
        ask(b.addr, "cached", "https://after.example").status == 200
    });
}

#[test]
fn a_change_written_right_after_the_connections_are_cut_reaches_the_other_server() {
    let Some(gateway) =
        Gateway::new("a_change_written_right_after_the_connections_are_cut_reaches_the_other_server")
    else {
        return;
    };
    let (a, b) = (gateway.node(), gateway.node());
    create_bucket(a.addr, "media");
    put_cors(a.addr, "media", APP);
    assert_eq!(ask(b.addr, "media", APP).status, 200);
    for round in 0..3 {
        let cut = gateway
            .db
            .psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
            .expect("psql");
        assert!(
            cut.parse::<u32>().expect("a count") >= 4,
            "both servers' connections: {cut}"
        );
        let new = origin(round);
        put_cors(a.addr, "media", &new);
        until("B sees the change made right after the cut", || {
            ask(b.addr, "media", &new).status == 200
        });
    }
}

#[test]
fn under_churn_on_both_servers_every_answer_is_one_configuration_s() {
    let Some(gateway) = Gateway::new("under_churn_on_both_servers_every_answer_is_one_configuration_s")
    else {
        return;
    };
    let (a, b) = (gateway.node(), gateway.node());
    create_bucket(a.addr, "media");
    put_cors(a.addr, "media", APP);
    let allowed = essence(&ask(a.addr, "media", APP));
    put_cors(a.addr, "media", "https://other.example");
    let refused = essence(&ask(a.addr, "media", APP));
    assert_eq!((allowed.0, refused.0), (200, 403));
    let deadline = Instant::now() + Duration::from_secs(3);
    let (allowed, refused) = (Arc::new(allowed), Arc::new(refused));
    let clients: Vec<_> = [a.addr, b.addr, a.addr, b.addr]
        .into_iter()
        .map(|node| {
            let (allowed, refused) = (Arc::clone(&allowed), Arc::clone(&refused));
            std::thread::spawn(move || {
                let mut seen = [0usize; 2];
                while Instant::now() < deadline {
                    let answer = essence(&ask(node, "media", APP));
                    if answer == *allowed {
                        seen[0] += 1;
                    } else if answer == *refused {
                        seen[1] += 1;
                    } else {
                        panic!("an answer of neither configuration: {answer:?}");
                    }
                }
                seen
            })
        })
        .collect();
    let mut changes = 0;
    while Instant::now() < deadline {
        let node = if changes % 2 == 0 { a.addr } else { b.addr };
        put_cors(
            node,
            "media",
            if changes % 3 == 0 {
                APP
            } else {
                "https://other.example"
            },
        );
        changes += 1;
    }
    let seen = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .fold([0, 0], |t, s| [t[0] + s[0], t[1] + s[1]]);
    println!(
        "churn on two servers: {changes} changes, {} answers allowed, {} refused",
        seen[0], seen[1]
    );
    assert!(changes > 10 && seen[0] > 0 && seen[1] > 0, "{changes} {seen:?}");
}

#[test]
fn a_thousand_concurrent_first_preflights_at_one_server_make_one_query() {
    let Some(gateway) = Gateway::new("a_thousand_concurrent_first_preflights_at_one_server_make_one_query")
    else {
        return;
    };
    gateway
        .db
        .psql("CREATE EXTENSION pg_stat_statements")
        .expect("pg_stat_statements");
    let (a, b) = (gateway.node(), gateway.node());
    create_bucket(a.addr, "fresh");
    put_cors(a.addr, "fresh", APP);
    // B must have heard of those writes first (a notification arriving during the load rightly
    // makes it read again): once it hears of a later one, it has.
    create_bucket(a.addr, "marker");
    assert_eq!(ask(b.addr, "marker", APP).status, 403);
    put_cors(a.addr, "marker", APP);
    until("B hears of the marker", || {
        ask(b.addr, "marker", APP).status == 200
    });
    // Hold B's first query at the table (psql in the background keeps the lock) until every
    // preflight is waiting.
    gateway
        .db
        .psql("SELECT pg_stat_statements_reset()")
        .expect("reset");
    let locker = gateway
        .db
        .psql_command("BEGIN; LOCK TABLE bucket_cors IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;");
    let locker = std::thread::spawn(move || postgres::run_psql(locker));
    std::thread::sleep(Duration::from_millis(300));
    let start = Arc::new(Barrier::new(1000));
    let askers: Vec<_> = (0..1000)
        .map(|_| {
            let start = Arc::clone(&start);
            let node = b.addr;
            std::thread::spawn(move || {
                start.wait();
                ask(node, "fresh", APP).status
            })
        })
        .collect();
    let statuses: Vec<u16> = askers.into_iter().map(|t| t.join().expect("asker")).collect();
    locker
        .join()
        .expect("locker")
        .expect("the lock was taken and released");
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let calls = gateway
        .db
        .psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'SELECT configuration FROM bucket_cors%'")
        .expect("stats");
    println!("1000 concurrent first preflights at B: {calls} query");
    assert_eq!(calls, "1", "PostgreSQL ran the bucket's query once");
}
