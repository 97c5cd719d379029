//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, the server on
//! 127.0.0.1 at a free port, stopped and removed when dropped. PostgreSQL refuses to run as
//! root, so as root the cluster belongs to the `postgres` system user (Debian's package makes
//! it). Every wait is bounded.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to start or stop.
const WAIT: Duration = Duration::from_secs(30);

/// The user tests connect as (trust authentication on loopback).
pub const USER: &str = "tester";

/// A running (or stopped) throwaway cluster.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Who runs the server: `None` for the current user.
    owner: Option<(u32, u32)>,
    server: Option<Child>,
}

/// The directory with `initdb`, `postgres` and `pg_ctl`: `PG_BIN`, else the newest of
/// `/usr/lib/postgresql/*/bin` (Debian), else `pg_config --bindir`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

/// The uid and gid of the `postgres` user, when running as root.
fn owner() -> Result<Option<(u32, u32)>, String> {
    let id = |flag: &str, user: Option<&str>| -> Result<u32, String> {
        let mut command = Command::new("id");
        command.arg(flag);
        command.args(user);
        let output = command.output().map_err(|e| format!("id: {e}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("id {flag} {user:?}: {}", String::from_utf8_lossy(&output.stderr)))
    };
    if id("-u", None)? != 0 {
        return Ok(None);
    }
    Ok(Some((id("-u", Some("postgres"))?, id("-g", Some("postgres"))?)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Postgres {
    /// Starts a cluster, or says why it cannot (PostgreSQL not installed, no `postgres` user).
    pub fn start() -> Result<Postgres, String> {
        let bin = bin_dir().ok_or("PostgreSQL's initdb was not found (install Debian's `postgresql`)")?;
        let owner = owner()?;
        let dir =
            std::env::temp_dir().join(format!("tower-s3-cors-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut postgres = Postgres {
            bin,
            dir,
            port: free_port(),
            owner,
            server: None,
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&postgres.dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown: {e}"))?;
        }
        let data = postgres.data();
        let initdb = postgres
            .command("initdb")
            .args(["-D", &data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        check("initdb", &initdb)?;
        postgres.start_server()?;
        Ok(postgres)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    /// Starts the server (again) on the same port and waits until it accepts queries.
    pub fn start_server(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("server.log")).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(self.dir.join("server.log"), Some(uid), Some(gid));
        }
        let server = self
            .command("postgres")
            .args([
                "-D",
                &self.data(),
                "-p",
                &self.port.to_string(),
                "-k",
                &self.dir.display().to_string(),
            ])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        self.server = Some(server);
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = self
                .command("pg_isready")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    USER,
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.server.as_mut().map(Child::try_wait) {
                return Err(format!("postgres exited ({status}): {}", self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("postgres did not start within {WAIT:?}: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown: connections are closed) and waits for it to exit.
    pub fn stop_server(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-D", &self.data(), "-m", "fast", "-w", "-t", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + WAIT;
        while !matches!(server.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                let _ = server.kill();
                let _ = server.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The connection URL.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL with `psql` and returns its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        run_psql(self.psql_command(sql))
    }

    /// The `psql` command that runs `sql`, to run elsewhere (another thread) with [`run_psql`].
    pub fn psql_command(&self, sql: &str) -> Command {
        let mut command = self.command("psql");
        let port = self.port.to_string();
        command
            .args(["-h", "127.0.0.1", "-p", &port, "-U", USER, "-d", "postgres"])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        command
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Runs a [`Postgres::psql_command`]; its output, trimmed.
pub fn run_psql(mut command: Command) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("psql: {e}"))?;
    check("psql", &output)?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn check(what: &str, output: &Output) -> Result<(), String> {
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
