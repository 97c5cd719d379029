//! For the tests that run the examples: build and start an example, a blocking HTTP/1.1
//! client (hyper's), and skipping (locally) or failing (in CI) when an outside tool is missing.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// How long any one step may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// `target/<profile>` of this test binary (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the examples once per test binary, with this test's profile and features, and
/// returns the path of `name`. `cargo test` has usually built them already, so this is a
/// no-op check; run alone (`cargo test --test examples`) it builds what is missing or stale.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let profile_dir = profile_dir();
    let built = BUILT.get_or_init(|| {
        // The same feature set as this test (`default` included), so nothing is rebuilt.
        let mut features = Vec::new();
        if cfg!(feature = "default") {
            features.push("default");
        }
        if cfg!(feature = "xml") {
            features.push("xml");
        }
        if cfg!(feature = "json") {
            features.push("json");
        }
        if cfg!(feature = "tracing") {
            features.push("tracing");
        }
        if cfg!(feature = "cli") {
            features.push("cli");
        }
        if cfg!(feature = "cache") {
            features.push("cache");
        }
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--examples", "--no-default-features"])
            .args(["--features", &features.join(",")]);
        match profile {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        if let Some(target_dir) = profile_dir.parent() {
            cargo.arg("--target-dir").arg(target_dir);
        }
        let status = cargo.status().map_err(|e| format!("running cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cargo build --examples failed: {status}"))
        }
    });
    if let Err(error) = built {
        panic!("{error}");
    }
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A running example; killed when dropped.
pub struct Running {
    child: Child,
    /// Where it listens, from its first line `listening on http://HOST:PORT`.
    pub addr: SocketAddr,
    /// Everything it printed after the first line (collected in the background).
    output: std::sync::Arc<Mutex<String>>,
}

impl Running {
    /// Starts example `name` with `--listen 127.0.0.1:0` and waits for its first line.
    pub fn start(name: &str) -> Running {
        Running::start_with(name, &[])
    }

    /// Starts example `name` with `--listen 127.0.0.1:0` and `args`.
    pub fn start_with(name: &str, args: &[&str]) -> Running {
        let mut child = Command::new(example(name))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (first_tx, first_rx) = mpsc::channel();
        let output = std::sync::Arc::new(Mutex::new(String::new()));
        let rest = std::sync::Arc::clone(&output);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = first_tx.send(first);
            }
            // Keep reading so the example never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                if let Ok(mut out) = rest.lock() {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        });
        let first = match first_rx.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("example {name} printed no first line within {TIMEOUT:?}");
            }
        };
        let addr = first
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("example {name}: unexpected first line {first:?}"));
        Running { child, addr, output }
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the example printed after its first line, so far.
    pub fn printed(&self) -> String {
        // The lines after the first arrive right after it; give them a moment.
        std::thread::sleep(Duration::from_millis(200));
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Running {
    /// Stops the example as Ctrl-C would (SIGTERM, so it removes its temporary directory),
    /// killing it if it has not exited after a few seconds.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while terminated && std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the response carries any `Access-Control-*` header.
    pub fn has_cors_headers(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-"))
    }
}

/// Sends one request on a fresh connection (hyper's HTTP/1.1 client) and reads the whole
/// answer. `Host` is the address unless `headers` name another (a virtual-hosted bucket); header
/// fields are sent as given, repeated names included.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut builder = http::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        builder = builder.header("host", addr.to_string());
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let has_length = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    if !has_length && (!body.is_empty() || matches!(method, "PUT" | "POST")) {
        builder = builder.header("content-length", body.len());
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(connection);
            let response = sender.send_request(request).await.expect("response");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("response body").to_bytes();
            Reply {
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect(),
                body: body.to_vec(),
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
    })
}

/// `GET` with headers.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, b"")
}

/// A preflight: `OPTIONS` with `Origin`, `Access-Control-Request-Method` and, when not empty,
/// `Access-Control-Request-Headers`.
pub fn preflight(addr: SocketAddr, path: &str, origin: &str, method: &str, headers: &str) -> Reply {
    let mut fields = vec![("Origin", origin), ("Access-Control-Request-Method", method)];
    if !headers.is_empty() {
        fields.push(("Access-Control-Request-Headers", headers));
    }
    request(addr, "OPTIONS", path, &fields, b"")
}

/// An outside tool (Chromium, python3 with boto3) is missing: in CI (`CI` set) the test
/// fails; locally it is skipped with a message on the terminal (not captured by the harness).
pub fn missing_tool(test: &str, what: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false") {
        panic!("{test}: {what} (CI is set, so this is a failure; .ci/run installs it)");
    }
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "\n*** SKIPPED {test}: {what}. Install it (see .ci/run) to run this test; in CI it fails. ***\n"
    );
}
