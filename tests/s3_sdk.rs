//! The example S3 server driven by a real S3 SDK (boto3, installed by `.ci/run`) signing with the
//! server's key pair: PutBucketCors, GetBucketCors (values verbatim), DeleteBucketCors, invalid
//! configurations whose S3 error code and message the SDK reports, objects, a wrong key refused,
//! a public-read bucket read anonymously, ListObjectVersions and DeleteObjects. The checks are in
//! `tests/sdk/boto3_s3.py`.

#![cfg(all(feature = "xml", feature = "json"))]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::s3::{ACCESS_KEY, SECRET_KEY};
use support::{missing_tool, Running};

/// Whether `python3` can import boto3.
fn boto3_available() -> bool {
    Command::new("python3")
        .args(["-c", "import boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn boto3_drives_the_example_s3_server() {
    if !boto3_available() {
        missing_tool(
            "boto3_drives_the_example_s3_server",
            "python3 with boto3 is not available",
        );
        return;
    }
    let server = Running::start("s3_server");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/boto3_s3.py");
    let output_path = std::env::temp_dir().join(format!("tower-s3-cors-boto3-{}.log", std::process::id()));
    let output = std::fs::File::create(&output_path).expect("log file");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(server.url())
        .args([ACCESS_KEY, SECRET_KEY])
        // Only what the script sets: no profile, config or instance metadata of this machine.
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("log file"))
        .stderr(output)
        .spawn()
        .expect("start python3");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&output_path).unwrap_or_default();
    let _ = std::fs::remove_file(&output_path);
    match status {
        None => panic!("boto3 script did not finish within 120 s:\n{log}"),
        Some(status) => assert!(
            status.success() && log.lines().any(|l| l == "DONE"),
            "boto3 script failed ({status}):\n{log}"
        ),
    }
}
