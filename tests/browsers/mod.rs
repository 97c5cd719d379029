//! Real browsers for the tests: every case runs in the three engines, Chromium, Firefox and
//! WebKit (the engine of Safari), and a failure names the engine and the case.
//!
//! No driver: a page served by a [`PageServer`] on a loopback origin runs its `fetch()` calls
//! and POSTs what it saw back to its own origin (`/results`); the browser is then stopped with
//! its whole process group. Every launch has a fresh profile in a fresh temporary directory
//! (its `TMPDIR` too, removed afterwards) and is bounded by [`RUN_TIMEOUT`]; one browser runs
//! at a time in a test binary.
//!
//! Three ways to use it, from the most to the least structured:
//!
//! - [`run_cases`]: one list of [`Case`]s (a script each, the verdict expected in every engine
//!   or per engine), run in every engine; it builds the page.
//! - [`for_each_engine`] with [`PageServer::set_log_page`] and [`Browser::load_log`]: an
//!   existing page that logs `case: verdict` lines into `<pre id="out">` and ends with `DONE`
//!   runs unchanged (a reporter script is added); the body asserts as usual and a panic is
//!   reported with the engine's name.
//! - [`Browser::open`]: a page that reports nothing (a top-level form submission); the test
//!   waits, bounded, for what the server saw, then drops the [`Session`].
//!
//! The engines are Debian's packages, installed by `.ci/run`: `chromium`, `firefox-esr`, and
//! WebKitGTK's `MiniBrowser` (package `webkit2gtk-driver`) under `Xvfb` (`xvfb`). A missing
//! engine fails the test in CI (`CI` set) and is skipped locally with a message;
//! `BROWSER_ENGINES=firefox,webkit` runs only the named engines.
//!
//! A test file uses it with `mod browsers;` next to `mod support;` (for `missing_tool`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use crate::support::missing_tool;

/// How long one page may take in one engine, from launch to its POSTed verdicts.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long any single `fetch()` case may take inside the page before it counts as blocked
/// with `Timeout`.
const CASE_TIMEOUT_MS: u32 = 15_000;

/// How long a browser gets to exit after `SIGTERM` before its process group gets `SIGKILL`.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A browser engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    /// Blink, in Chromium (Chrome, Edge, Opera, Brave).
    Chromium,
    /// Gecko, in Firefox.
    Firefox,
    /// WebKit, the engine of Safari (here WebKitGTK's MiniBrowser).
    WebKit,
}

impl Engine {
    /// Every engine, in the order the tests run them.
    pub const ALL: [Engine; 3] = [Engine::Chromium, Engine::Firefox, Engine::WebKit];

    /// The engine's name, as failure messages and the README use it.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "Chromium",
            Engine::Firefox => "Firefox",
            Engine::WebKit => "WebKit",
        }
    }

    /// What to install when the engine is missing (Debian packages).
    const fn packages(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox-esr",
            Engine::WebKit => "webkit2gtk-driver and xvfb",
        }
    }

    /// The engine's executable (and, for WebKit, the X server it needs), or what is missing.
    fn find(self) -> Result<Browser, String> {
        let on_path = |names: &[&str]| -> Option<PathBuf> {
            let path = std::env::var_os("PATH")?;
            names
                .iter()
                .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
                .find(|candidate| candidate.is_file())
        };
        let missing = |what: &str| format!("{what} not found (install {})", self.packages());
        match self {
            Engine::Chromium => on_path(&[
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ])
            .map(|exe| Browser {
                engine: self,
                exe,
                xvfb: None,
            })
            .ok_or_else(|| missing("chromium")),
            Engine::Firefox => on_path(&["firefox-esr", "firefox"])
                .map(|exe| Browser {
                    engine: self,
                    exe,
                    xvfb: None,
                })
                .ok_or_else(|| missing("firefox-esr")),
            Engine::WebKit => {
                let exe = minibrowser().ok_or_else(|| missing("WebKitGTK's MiniBrowser"))?;
                let xvfb = on_path(&["Xvfb"]).ok_or_else(|| missing("Xvfb"))?;
                Ok(Browser {
                    engine: self,
                    exe,
                    xvfb: Some(xvfb),
                })
            }
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// WebKitGTK's MiniBrowser, which Debian installs outside `PATH`
/// (`/usr/lib/<triplet>/webkit2gtk-<api>/MiniBrowser`), or `WEBKIT_MINIBROWSER` when set.
fn minibrowser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WEBKIT_MINIBROWSER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let mut candidates = Vec::new();
    for lib in ["/usr/lib", "/usr/libexec", "/usr/local/lib"] {
        let Ok(entries) = std::fs::read_dir(lib) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            candidates.push(dir.join("MiniBrowser"));
            if let Ok(inner) = std::fs::read_dir(&dir) {
                candidates.extend(inner.flatten().map(|e| e.path().join("MiniBrowser")));
            }
        }
    }
    // The newest API first (webkit2gtk-4.1 before webkit2gtk-4.0).
    candidates.sort();
    candidates.into_iter().rev().find(|p| {
        p.is_file()
            && p.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n.to_string_lossy().starts_with("webkit2gtk-"))
    })
}

/// An engine found on this machine.
#[derive(Clone, Debug)]
pub struct Browser {
    engine: Engine,
    exe: PathBuf,
    xvfb: Option<PathBuf>,
}

/// Removes a directory tree when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-s3-cors-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process started in a process group of its own; on drop the whole group gets `SIGTERM`,
/// then `SIGKILL` after [`TERM_GRACE`], and the leader is reaped.
struct Group {
    child: Child,
}

impl Group {
    fn spawn(mut command: Command, name: &'static str) -> Result<Group, String> {
        command.process_group(0);
        command
            .spawn()
            .map(|child| Group { child })
            .map_err(|e| format!("starting {name}: {e}"))
    }

    fn pid(&self) -> Option<Pid> {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Whether the group's leader has exited (it stays a zombie until reaped in `drop`, so
    /// its process-group id cannot be reused meanwhile).
    fn leader_exited(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // `pid (comm) S ...`: the state follows the last `)`.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| state == 'Z' || state == 'X')
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill_process_group(pid, Signal::TERM);
            let deadline = Instant::now() + TERM_GRACE;
            while !self.leader_exited() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Whatever is left of the group (renderers, content processes) goes now.
            let _ = kill_process_group(pid, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page server on a loopback origin: serves the current page at `/` and receives the
/// page's verdicts as `POST /results`. Stops when dropped.
pub struct PageServer {
    origin: String,
    addr: SocketAddr,
    page: Arc<Mutex<String>>,
    results: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The fixed port of [`PageServer::localhost`]; dropped after the listeners are closed.
    turn: Option<PortTurn>,
    /// How many times the page was served.
    served: Arc<AtomicUsize>,
}

/// The fixed ports (`PageServer::localhost`) in use by a test of this binary, and the signal
/// that one was released.
static FIXED_PORTS: (Mutex<BTreeSet<u16>>, Condvar) = (Mutex::new(BTreeSet::new()), Condvar::new());

/// A test's turn on a fixed port: taken when no other test of this binary has it, released
/// when dropped (also when the test panics).
struct PortTurn(u16);

impl PortTurn {
    fn take(port: u16) -> PortTurn {
        let (taken, freed) = &FIXED_PORTS;
        let mut taken = taken.lock().unwrap_or_else(PoisonError::into_inner);
        while taken.contains(&port) {
            taken = freed.wait(taken).unwrap_or_else(PoisonError::into_inner);
        }
        taken.insert(port);
        PortTurn(port)
    }
}

impl Drop for PortTurn {
    fn drop(&mut self) {
        let (taken, freed) = &FIXED_PORTS;
        taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
        freed.notify_all();
    }
}

impl PageServer {
    /// On a free port of `127.0.0.1`: the origin is `http://127.0.0.1:PORT`.
    pub fn loopback() -> PageServer {
        PageServer::on("127.0.0.1")
    }

    /// On a free port of loopback address `host` (`127.0.0.2` is another site than
    /// `127.0.0.1`): the origin is `http://HOST:PORT`.
    pub fn on(host: &str) -> PageServer {
        let listener = TcpListener::bind((host, 0)).expect("bind the page server");
        let addr = listener.local_addr().expect("page server address");
        PageServer::start(format!("http://{addr}"), vec![listener])
    }

    /// On `localhost:PORT` (both `127.0.0.1` and, when the machine has it, `::1`), for an
    /// example whose rules allow exactly `http://localhost:PORT`. Waits (bounded) while the
    /// port is taken.
    pub fn localhost(port: u16) -> PageServer {
        // Tests of this binary that need the same port take turns (a test holds it for all
        // three engines); the bounded wait below is only for another program.
        let turn = PortTurn::take(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        let v4 = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => panic!("port {port} (the origin http://localhost:{port}) is taken: {e}"),
            }
        };
        let mut listeners = vec![v4];
        // Browsers try `::1` for `localhost` too; without a listener there they fall back to
        // 127.0.0.1, but another program listening there would answer instead.
        match TcpListener::bind(("::1", port)) {
            Ok(v6) => listeners.push(v6),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                panic!("[::1]:{port} is taken by another program: {e}")
            }
            Err(_) => {}
        }
        let mut server = PageServer::start(format!("http://localhost:{port}"), listeners);
        server.turn = Some(turn);
        server
    }

    fn start(origin: String, listeners: Vec<TcpListener>) -> PageServer {
        let addr = listeners[0].local_addr().expect("page server address");
        let page = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, results) = mpsc::channel();
        let served = Arc::new(AtomicUsize::new(0));
        let threads = listeners
            .into_iter()
            .map(|listener| {
                listener.set_nonblocking(true).expect("nonblocking listener");
                let (page, stop, tx) = (Arc::clone(&page), Arc::clone(&stop), tx.clone());
                let served = Arc::clone(&served);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let page = page.lock().unwrap_or_else(PoisonError::into_inner).clone();
                                let (tx, served) = (tx.clone(), Arc::clone(&served));
                                // A thread per connection: a browser's idle preconnection must
                                // not hold up the page or its results.
                                std::thread::spawn(move || match serve_one(stream, &page) {
                                    Served::Page => {
                                        served.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Served::Results(posted) => {
                                        let _ = tx.send(posted);
                                    }
                                    Served::Other => {}
                                });
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })
            })
            .collect();
        PageServer {
            origin,
            addr,
            page,
            results,
            stop,
            threads,
            turn: None,
            served,
        }
    }

    /// The page's origin, e.g. `http://127.0.0.1:41234`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The page's URL, `ORIGIN/`.
    pub fn url(&self) -> String {
        format!("{}/", self.origin)
    }

    /// How many times the page has been served (a page that reports nothing was loaded).
    pub fn pages_served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Serves `html` from now on, at `/` (with any query string). The page reports by
    /// `POST /results` itself (as [`run_cases`]' pages do).
    pub fn set_page(&self, html: String) {
        *self.page.lock().unwrap_or_else(PoisonError::into_inner) = html;
    }

    /// Serves a page that writes its results as lines into `<pre id="out">` and ends with a
    /// line `DONE`: a reporter script is added that POSTs that text once `DONE` appears, for
    /// [`Browser::load_log`].
    pub fn set_log_page(&self, html: &str) {
        let html = match html.rfind("</body>") {
            Some(at) => format!("{}{LOG_REPORTER}{}", &html[..at], &html[at..]),
            None => format!("{html}{LOG_REPORTER}"),
        };
        self.set_page(html);
    }
}

/// Added to log pages: POSTs `{"log": <text of #out>}` once a line `DONE` is in it.
const LOG_REPORTER: &str = r#"<script>
(function () {
  const timer = setInterval(() => {
    const out = document.getElementById("out");
    const text = out ? out.textContent : "";
    if (text.split("\n").includes("DONE")) {
      clearInterval(timer);
      fetch("/results", { method: "POST", body: JSON.stringify({ log: text }) });
    }
  }, 50);
})();
</script>
"#;

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The listeners are closed (their threads ended): the fixed port's turn, a field,
        // is released after this.
        let _ = self.addr;
    }
}

/// Answers one connection (`Connection: close`): the page for `GET /` (and `GET /?…`), 204 for
/// `POST /results` (whose body is returned), 404 otherwise.
/// What [`serve_one`] answered.
enum Served {
    Page,
    Results(String),
    Other,
}

fn serve_one(mut stream: TcpStream, page: &str) -> Served {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&mut stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return Served::Other;
    }
    let mut content_length = 0usize;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        line.clear();
    }
    let mut served = Served::Other;
    let (status, content_type, body) =
        if request_line.starts_with("GET / ") || request_line.starts_with("GET /?") {
            served = Served::Page;
            ("200 OK", "text/html; charset=utf-8", page)
        } else if request_line.starts_with("POST /results ") && content_length <= 1 << 20 {
            let mut body = vec![0; content_length];
            if reader.read_exact(&mut body).is_err() {
                return Served::Other;
            }
            served = Served::Results(String::from_utf8_lossy(&body).into_owned());
            ("204 No Content", "text/plain", "")
        } else {
            ("404 Not Found", "text/plain", "")
        };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    served
}

/// What a case should give.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The same verdict in every engine.
    Every(String),
    /// A verdict per engine, where the engines legitimately differ: Chromium, Firefox, WebKit.
    PerEngine([String; 3]),
}

impl Expect {
    fn for_engine(&self, engine: Engine) -> &str {
        match self {
            Expect::Every(verdict) => verdict,
            Expect::PerEngine(verdicts) => &verdicts[engine as usize],
        }
    }
}

/// One `fetch()` case: `script` is the body of an `async` function returning what the page
/// read (a string). Its verdict is `allowed <that string>`, or `blocked <error name>` when it
/// throws (`TypeError` is how every engine reports a CORS failure to the page).
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub script: String,
    pub expect: Expect,
}

impl Case {
    /// A case with the same verdict in every engine.
    pub fn new(name: &'static str, script: impl Into<String>, expect: impl Into<String>) -> Case {
        Case {
            name,
            script: script.into(),
            expect: Expect::Every(expect.into()),
        }
    }

    /// A case whose verdict differs by engine: `[chromium, firefox, webkit]`.
    pub fn per_engine(name: &'static str, script: impl Into<String>, expect: [&str; 3]) -> Case {
        Case {
            name,
            script: script.into(),
            expect: Expect::PerEngine(expect.map(str::to_owned)),
        }
    }
}

/// What one engine gave for a [`run_cases`] page.
#[derive(Clone, Debug)]
pub struct Verdicts {
    pub engine: Engine,
    /// Case name to verdict.
    pub verdicts: BTreeMap<String, String>,
    /// Case name to the error message the engine gave the page, for blocked cases.
    pub messages: BTreeMap<String, String>,
    /// From launching the browser to receiving the verdicts.
    pub elapsed: Duration,
    /// How long stopping the browser (and its display) took.
    pub stopped_in: Duration,
}

impl Verdicts {
    /// The verdict of `case` (empty when the page reported none).
    pub fn get(&self, case: &str) -> &str {
        self.verdicts.get(case).map_or("", String::as_str)
    }
}

/// What a page POSTed to `/results`, and how long it took.
#[derive(Clone, Debug)]
pub struct Report {
    pub engine: Engine,
    /// The POSTed body.
    pub body: String,
    /// From launching the browser to receiving the report.
    pub elapsed: Duration,
    /// How long stopping the browser (and its display) took.
    pub stopped_in: Duration,
}

/// The page that runs `cases` in order after `prelude` (shared constants and helpers) and
/// POSTs `{"verdicts": [[name, verdict]...], "messages": [[name, message]...], "error": ...}`
/// to `/results`.
fn page_html(title: &str, prelude: &str, cases: &[Case]) -> String {
    let mut calls = String::new();
    for case in cases {
        let _ = writeln!(
            calls,
            "  await run({:?}, async () => {{\n{}\n  }});",
            case.name, case.script
        );
    }
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><p>{title}</p>
<script>
"use strict";
{prelude}
const verdicts = [];
const messages = [];
function timeout(ms) {{
  return new Promise((_, reject) => setTimeout(() => {{
    const e = new Error("no answer within " + ms + " ms"); e.name = "Timeout"; reject(e);
  }}, ms));
}}
async function run(name, call) {{
  try {{ verdicts.push([name, "allowed " + await Promise.race([call(), timeout({CASE_TIMEOUT_MS})])]); }}
  catch (e) {{ verdicts.push([name, "blocked " + e.name]); messages.push([name, String(e.message)]); }}
}}
function report(error) {{
  return fetch("/results", {{ method: "POST", body: JSON.stringify({{ verdicts, messages, error }}) }});
}}
async function main() {{
{calls}}}
main().then(() => report(null), (e) => report(String(e && e.stack || e)));
</script></body></html>
"#
    )
}

/// The engines to run: all three, or those named (case-insensitively, comma-separated) in
/// `BROWSER_ENGINES`, e.g. `BROWSER_ENGINES=firefox cargo test --test browser` while working on
/// one engine.
fn selected() -> Vec<Engine> {
    match std::env::var("BROWSER_ENGINES") {
        Ok(names) if !names.trim().is_empty() => Engine::ALL
            .into_iter()
            .filter(|engine| {
                names
                    .split(',')
                    .any(|name| name.trim().eq_ignore_ascii_case(engine.name()))
            })
            .collect(),
        _ => Engine::ALL.to_vec(),
    }
}

/// Serialises browser runs in this test binary: one browser at a time keeps a two-core
/// machine responsive (no run times out because three browsers start at once) and lets
/// pages use fixed ports.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `body` once per engine, one engine after the other (never two browsers at once in this
/// test binary), and fails once at the end with every engine's failure, each prefixed with the
/// engine's name. `body` fails by panicking (`assert!` works as usual) or by returning
/// messages. A missing engine fails in CI and is skipped locally with a message.
pub fn for_each_engine(test: &str, mut body: impl FnMut(&Browser) -> Vec<String>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut failures = Vec::new();
    for engine in selected() {
        let browser = match engine.find() {
            Ok(browser) => browser,
            Err(what) => {
                missing_tool(&format!("{test} in {engine}"), &what);
                continue;
            }
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&browser))) {
            Ok(messages) => failures.extend(messages.into_iter().map(|m| format!("{engine}: {m}"))),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|m| (*m).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned());
                failures.push(format!("{engine}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{test}: {} failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Runs every case in every engine and fails (once, at the end) with every mismatch, each
/// naming the engine and the case. `check` runs after each engine with its verdicts, for what
/// the server saw; it returns its own mismatches. Returns the verdicts of the engines that ran
/// (all three in CI; locally a missing one is skipped with a message).
pub fn run_cases(
    test: &str,
    page: &PageServer,
    prelude: &str,
    cases: &[Case],
    mut check: impl FnMut(&Verdicts) -> Vec<String>,
) -> Vec<Verdicts> {
    page.set_page(page_html(test, prelude, cases));
    let mut ran = Vec::new();
    for_each_engine(test, |browser| {
        let verdicts = match browser
            .load(page, &page.url())
            .and_then(|report| parse_verdicts(&report))
        {
            Ok(verdicts) => verdicts,
            Err(failure) => return vec![failure],
        };
        println!("{}", describe(test, &verdicts));
        let mut failures = Vec::new();
        for case in cases {
            let want = case.expect.for_engine(browser.engine);
            let got = verdicts.get(case.name);
            if got != want {
                let message = verdicts
                    .messages
                    .get(case.name)
                    .map(|m| format!(" (message: {m:?})"))
                    .unwrap_or_default();
                failures.push(format!("{}: expected {want:?}, got {got:?}{message}", case.name));
            }
        }
        failures.extend(check(&verdicts));
        ran.push(verdicts);
        failures
    });
    ran
}

/// `engine test (…):` and one line per case.
fn describe(test: &str, verdicts: &Verdicts) -> String {
    let mut out = format!(
        "{} {test} (verdicts {} ms after launch, stopped in {} ms):",
        verdicts.engine,
        verdicts.elapsed.as_millis(),
        verdicts.stopped_in.as_millis()
    );
    for (case, verdict) in &verdicts.verdicts {
        let _ = write!(out, "\n  {case}: {verdict}");
        if let Some(message) = verdicts.messages.get(case) {
            let _ = write!(out, " ({message:?})");
        }
    }
    out
}

/// The verdicts of a [`run_cases`] page's report.
fn parse_verdicts(report: &Report) -> Result<Verdicts, String> {
    let value: serde_json::Value = serde_json::from_str(&report.body)
        .map_err(|e| format!("the page posted bad JSON ({e}): {}", report.body))?;
    if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
        return Err(format!("the page failed: {error}"));
    }
    let pairs = |key: &str| -> BTreeMap<String, String> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|pair| {
                Some((
                    pair.get(0)?.as_str()?.to_owned(),
                    pair.get(1)?.as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    Ok(Verdicts {
        engine: report.engine,
        verdicts: pairs("verdicts"),
        messages: pairs("messages"),
        elapsed: report.elapsed,
        stopped_in: report.stopped_in,
    })
}

impl Browser {
    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Opens `url` in a fresh profile; the browser runs until the session is dropped, which
    /// stops it with its whole process group. For pages that report nothing (a top-level form
    /// submission, a page the server under test serves): wait for what the server saw, bounded.
    pub fn open(&self, url: &str) -> Result<Session, String> {
        let dir = TempDir::new(&self.engine.name().to_ascii_lowercase());
        let running = launch(self, &dir.0, url)?;
        Ok(Session {
            engine: self.engine,
            running: Some(running),
            dir,
        })
    }

    /// Opens `url` (a page of `page`) and returns what it POSTs to `/results`, within
    /// [`RUN_TIMEOUT`]; the browser is stopped with its process group on every path. A launch
    /// that does not report in time is retried once (a loaded machine); a page that reported
    /// is never retried, so a wrong verdict always fails.
    pub fn load(&self, page: &PageServer, url: &str) -> Result<Report, String> {
        self.load_once(page, url).or_else(|first| {
            let _ = writeln!(
                std::io::stderr(),
                "{}: {url} did not report ({first}); retrying once",
                self.engine
            );
            self.load_once(page, url)
                .map_err(|second| format!("{url} did not report twice: {first}; then: {second}"))
        })
    }

    /// Opens `url`, a log page of `page` (see [`PageServer::set_log_page`]), and returns the
    /// text of its `<pre id="out">` once it has a line `DONE`.
    pub fn load_log(&self, page: &PageServer, url: &str) -> Result<String, String> {
        let report = self.load(page, url)?;
        let value: serde_json::Value = serde_json::from_str(&report.body)
            .map_err(|e| format!("the page posted bad JSON ({e}): {}", report.body))?;
        let log = value
            .get("log")
            .and_then(|l| l.as_str())
            .unwrap_or_default()
            .to_owned();
        println!(
            "{} {url} (log {} ms after launch, stopped in {} ms):\n{log}",
            self.engine,
            report.elapsed.as_millis(),
            report.stopped_in.as_millis()
        );
        Ok(log)
    }

    fn load_once(&self, page: &PageServer, url: &str) -> Result<Report, String> {
        // A report a previous, timed-out launch posted late is not this launch's.
        while page.results.try_recv().is_ok() {}
        let started = Instant::now();
        let mut session = self.open(url)?;
        let deadline = started + RUN_TIMEOUT;
        let body = loop {
            match page.results.recv_timeout(Duration::from_millis(100)) {
                Ok(body) => break body,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the page server stopped".to_owned()),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if session.exited() {
                return Err(format!(
                    "the browser exited early; its output:\n{}",
                    session.output()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no report within {RUN_TIMEOUT:?}; the browser's output:\n{}",
                    session.output()
                ));
            }
        };
        let elapsed = started.elapsed();
        let stopping = Instant::now();
        session.stop();
        Ok(Report {
            engine: self.engine,
            body,
            elapsed,
            stopped_in: stopping.elapsed(),
        })
    }
}

/// A browser running on one URL in a fresh profile (removed afterwards); dropping it stops the
/// browser's whole process group (and WebKit's X server).
pub struct Session {
    engine: Engine,
    running: Option<Running>,
    dir: TempDir,
}

impl Session {
    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the browser has already exited (it should run until stopped).
    pub fn exited(&self) -> bool {
        self.running.as_ref().is_none_or(|r| r.browser.leader_exited())
    }

    /// The last lines the browser printed, for a failure message.
    pub fn output(&self) -> String {
        tail(&self.dir.0.join("browser.log"))
    }

    /// Waits until `done()` (what the server under test saw, say), polling every 50 ms, at
    /// most [`RUN_TIMEOUT`]; fails early when the browser exits. `what` names the wait in the
    /// error.
    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + RUN_TIMEOUT;
        loop {
            if done() {
                return Ok(());
            }
            if self.exited() {
                return Err(format!(
                    "{}: the browser exited before {what}; its output:\n{}",
                    self.engine,
                    self.output()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: no {what} within {RUN_TIMEOUT:?}; the browser's output:\n{}",
                    self.engine,
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `happened()` becomes true within `limit` (polling every 50 ms): for what must
    /// NOT happen, `!session.happens_within(..)` after a positive sign that the page ran (say
    /// [`PageServer::pages_served`]).
    pub fn happens_within(&self, limit: Duration, mut happened: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if happened() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the browser now (dropping the session does the same).
    pub fn stop(&mut self) {
        self.running = None;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The browser stops before its profile directory is removed.
        self.running = None;
    }
}

/// The last lines of a log file, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A launched browser and, for WebKit, its X server. Fields drop in order: the browser's
/// process group is stopped before its display.
struct Running {
    browser: Group,
    display: Option<Group>,
}

/// Starts the browser on `url` with its profile, cache and `TMPDIR` inside `dir`.
fn launch(browser: &Browser, dir: &Path, url: &str) -> Result<Running, String> {
    let log = std::fs::File::create(dir.join("browser.log")).map_err(|e| format!("browser log: {e}"))?;
    let err_log = log.try_clone().map_err(|e| format!("browser log: {e}"))?;
    let mut command = Command::new(&browser.exe);
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .env("HOME", dir)
        .env("TMPDIR", dir.join("tmp"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_DATA_HOME", dir.join("data"));
    let mut display = None;
    match browser.engine {
        Engine::Chromium => {
            command
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                ])
                .arg(format!("--user-data-dir={}", dir.join("profile").display()));
        }
        Engine::Firefox => {
            let profile = dir.join("profile");
            std::fs::create_dir_all(&profile).map_err(|e| format!("Firefox profile: {e}"))?;
            std::fs::write(profile.join("user.js"), FIREFOX_PREFS)
                .map_err(|e| format!("Firefox prefs: {e}"))?;
            command
                .args(["--headless", "--no-remote", "--profile"])
                .arg(&profile)
                .env("MOZ_CRASHREPORTER_DISABLE", "1");
        }
        Engine::WebKit => {
            let xvfb = browser.xvfb.as_ref().ok_or("WebKit needs Xvfb")?;
            let (server, number) = start_xvfb(xvfb)?;
            display = Some(server);
            command
                .arg("--private")
                .env("DISPLAY", format!(":{number}"))
                .env("GDK_BACKEND", "x11")
                // No accessibility bus or GPU on a headless machine.
                .env("NO_AT_BRIDGE", "1")
                .env("LIBGL_ALWAYS_SOFTWARE", "1")
                .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
        }
    }
    command.arg(url);
    let name = browser.engine.name();
    let browser = Group::spawn(command, name)?;
    Ok(Running { browser, display })
}

/// Starts `Xvfb` on the first free display (`-displayfd` lets the server choose, so parallel
/// starts never race for a number) and returns it with the display number.
fn start_xvfb(xvfb: &Path) -> Result<(Group, u32), String> {
    let mut command = Command::new(xvfb);
    command
        .args([
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-screen",
            "0",
            "1280x800x24",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Group::spawn(command, "Xvfb")?;
    let stdout = server.child.stdout.take().ok_or("Xvfb's stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| "Xvfb printed no display number within 20 s".to_owned())?;
    let number = line
        .trim()
        .parse()
        .map_err(|_| format!("Xvfb printed {line:?}, not a display number"))?;
    Ok((server, number))
}

/// Firefox preferences for a test profile: nothing but the page touches the network (no
/// updates, telemetry, safe browsing or captive-portal checks, which would stall on a closed
/// network), and no first-run pages.
const FIREFOX_PREFS: &str = r#"
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.newtabpage.activity-stream.feeds.section.topstories", false);
user_pref("browser.newtabpage.activity-stream.showSponsored", false);
user_pref("browser.newtabpage.activity-stream.showSponsoredTopSites", false);
user_pref("browser.topsites.contile.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("browser.search.update", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("services.settings.server", "http://127.0.0.1:9/");
"#;
