//! Shared by the tests that run the examples: build and start an example, a blocking HTTP/1.1
//! client, and skipping (locally) or failing (in CI) when an outside tool is missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

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
        let mut child = Command::new(example(name))
            .args(["--listen", "127.0.0.1:0"])
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

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// Sends one request (`Connection: close`) and reads the whole answer.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let has_length = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    if !has_length && (!body.is_empty() || matches!(method, "PUT" | "POST")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("write timeout");
    stream.write_all(head.as_bytes()).expect("write request head");
    stream.write_all(body).expect("write request body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw, method == "HEAD")
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

fn parse_response(raw: &[u8], head_request: bool) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked && !head_request {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = input.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&input[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        input = &input[line_end + 2..];
        if size == 0 || input.len() < size {
            return out;
        }
        out.extend_from_slice(&input[..size]);
        input = input.get(size + 2..).unwrap_or_default();
    }
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
