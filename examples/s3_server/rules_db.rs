//! Bucket CORS shared by several server instances through PostgreSQL (`--rules-db URL`).
//!
//! One table, `bucket_cors (bucket text primary key, configuration text)`, holds each bucket's
//! configuration as S3's XML; it is created if missing. PutBucketCors and DeleteBucketCors
//! write it and send `NOTIFY tower_s3_cors_bucket_cors, '<bucket>'` in the same statement (so
//! the notification goes out when the write commits). Every instance `LISTEN`s on one
//! connection and drops the bucket from its [`RulesCache`](tower_s3_cors::cache::RulesCache);
//! when that connection is lost, it reconnects, listens again and then drops the whole cache,
//! since notifications sent meanwhile are lost. The connection that reads and writes is
//! reopened on its next use after it is lost.
//!
//! Written to be copied into another server: nothing here is specific to s3s.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls, Row};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The channel of change notifications; the payload is the bucket name.
pub const CHANNEL: &str = "tower_s3_cors_bucket_cors";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS bucket_cors (\
     bucket text PRIMARY KEY, configuration text NOT NULL)";
const SELECT: &str = "SELECT configuration FROM bucket_cors WHERE bucket = $1";
// A data-modifying CTE and the notification in one statement: one transaction, so readers
// are told only once the row they will read is committed.
const UPSERT: &str = "WITH written AS (INSERT INTO bucket_cors (bucket, configuration) VALUES ($1, $2) \
     ON CONFLICT (bucket) DO UPDATE SET configuration = EXCLUDED.configuration RETURNING 1) \
     SELECT pg_notify('tower_s3_cors_bucket_cors', $1) FROM written";
const DELETE: &str = "WITH deleted AS (DELETE FROM bucket_cors WHERE bucket = $1) \
     SELECT pg_notify('tower_s3_cors_bucket_cors', $1)";
const NOTIFY: &str = "SELECT pg_notify('tower_s3_cors_bucket_cors', $1)";

/// How long connecting, and any one query, may take before the store counts as failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The listener checks its connection this often (a silent network loss shows up as a
/// failed check).
const HEARTBEAT: Duration = Duration::from_secs(2);

async fn connect(
    url: &str,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    Error,
> {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio_postgres::connect(url, NoTls))
        .await
        .map_err(|_| format!("connecting to the rules database timed out after {CONNECT_TIMEOUT:?}"))??;
    Ok(connected)
}

/// The table of bucket configurations, through one connection reopened when lost.
pub struct RulesDb {
    url: String,
    client: Mutex<Option<Arc<Client>>>,
}

impl RulesDb {
    /// Connects and creates the table if missing.
    pub async fn open(url: &str) -> Result<Arc<RulesDb>, Error> {
        let db = Arc::new(RulesDb {
            url: url.to_owned(),
            client: Mutex::new(None),
        });
        db.client().await?.batch_execute(CREATE_TABLE).await?;
        Ok(db)
    }

    /// The open connection, or a new one if it was lost.
    async fn client(&self) -> Result<Arc<Client>, Error> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let (client, connection) = connect(&self.url).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                eprintln!("rules database connection lost: {err}");
            }
        });
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Runs a query; a connection found closed is reopened and the query tried once more.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            let result = tokio::time::timeout(QUERY_TIMEOUT, client.query(sql, params))
                .await
                .map_err(|_| format!("rules database query timed out after {QUERY_TIMEOUT:?}"))?;
            match result {
                Err(err) if !retried && (lost(&err) || client.is_closed()) => {
                    // Reconnect on the next attempt (unless another query already has).
                    let mut slot = self.client.lock().await;
                    if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &client)) {
                        slot.take();
                    }
                    retried = true;
                }
                other => return Ok(other?),
            }
        }
    }

    /// The bucket's configuration (S3's XML), if it has one.
    pub async fn get(&self, bucket: &str) -> Result<Option<String>, Error> {
        let rows = self.query(SELECT, &[&bucket]).await?;
        Ok(rows.first().map(|row| row.try_get(0)).transpose()?)
    }

    /// PutBucketCors: stores the configuration and tells every instance.
    pub async fn put(&self, bucket: &str, xml: &str) -> Result<(), Error> {
        self.query(UPSERT, &[&bucket, &xml]).await.map(drop)
    }

    /// DeleteBucketCors: removes the configuration and tells every instance.
    pub async fn delete(&self, bucket: &str) -> Result<(), Error> {
        self.query(DELETE, &[&bucket]).await.map(drop)
    }

    /// Tells every instance that the bucket changed otherwise (created or deleted).
    pub async fn notify(&self, bucket: &str) -> Result<(), Error> {
        self.query(NOTIFY, &[&bucket]).await.map(drop)
    }
}

/// The error says the connection is gone (closed, or the server ended the session).
fn lost(err: &tokio_postgres::Error) -> bool {
    err.is_closed()
        || err.code().is_some_and(|code| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code)
        })
}

/// What the listener heard.
pub enum Change<'a> {
    /// This bucket's rules changed.
    Bucket(&'a str),
    /// Notifications may have been lost: anything may have changed.
    All,
}

/// Listens for changes until the runtime stops, reconnecting (every 0.1 s to 2 s) whenever the
/// connection is lost; after each (re)connection `on_change(Change::All)`.
pub fn listen(
    url: String,
    on_change: impl Fn(Change<'_>) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen_once(&url, &on_change).await {
                // It was connected: start over quickly.
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) => {
                    eprintln!("rules database listener: {err}; reconnecting in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    })
}

/// One listening connection, until it is lost. `Ok` once it had been listening.
async fn listen_once(url: &str, on_change: &(impl Fn(Change<'_>) + Send + Sync)) -> Result<(), Error> {
    let (client, mut connection) = connect(url).await?;
    let (sender, mut heard) = mpsc::unbounded_channel();
    // The connection yields the notifications; it ends when the connection is lost.
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!("rules database listener connection lost: {err}");
                    break;
                }
            }
        }
    });
    let listening = async {
        tokio::time::timeout(QUERY_TIMEOUT, client.batch_execute(&format!("LISTEN {CHANNEL}")))
            .await
            .map_err(|_| "LISTEN timed out")??;
        Ok::<_, Error>(())
    };
    if let Err(err) = listening.await {
        driver.abort();
        return Err(err);
    }
    // Listening from here on; what changed before is unknown.
    on_change(Change::All);
    loop {
        tokio::select! {
            bucket = heard.recv() => match bucket {
                Some(bucket) => on_change(Change::Bucket(&bucket)),
                None => break,
            },
            () = tokio::time::sleep(HEARTBEAT) => {
                let alive = tokio::time::timeout(QUERY_TIMEOUT, client.simple_query("SELECT 1")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    break;
                }
            }
        }
    }
    driver.abort();
    Ok(())
}
