//! `tower-s3-cors`: lint, explain and convert S3 CORS configurations, offline, with the same
//! evaluation as the `CorsLayer`.

/// `print!` that never panics: `print!` panics when standard output is closed (`... | head`);
/// this goes through [`output::write_stdout`], which ends the process with a status instead.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that never panics (see [`out!`]).
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

mod explain;
mod input;
mod lint;
mod origins;
mod output;

use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use tower_s3_cors::lint::Severity;

/// Exit status: success, or `lint` found nothing.
const EXIT_OK: u8 = 0;
/// Exit status: `lint` found warnings.
const EXIT_WARNINGS: u8 = 1;
/// Exit status: the configuration is invalid (S3 would refuse it).
const EXIT_INVALID: u8 = 2;
/// Exit status: the command could not run (unreadable file, bad arguments).
const EXIT_FAILURE: u8 = 3;

/// Lint, explain and convert Amazon S3 CORS configurations.
#[derive(Debug, Parser)]
#[command(
    name = "tower-s3-cors",
    version,
    after_help = "Exit status: 0 success (lint: no warnings), 1 lint warnings, 2 invalid configuration, \
                  3 the command could not run."
)]
struct Cli {
    /// Print JSON for programs instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a configuration: S3's validation error (exit 2), else findings with a fix,
    /// security first (exit 1), else nothing (exit 0).
    #[command(after_help = lint::CODES_HELP)]
    Lint(LintArgs),
    /// Show the response the layer gives one request: status, headers and body, and why
    /// each rule matches or not (which AllowedOrigin accepted the Origin); or, with
    /// --origins, which of a list of origins get in.
    Explain(ExplainArgs),
    /// Convert between S3's XML and the AWS CLI JSON form.
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
struct LintArgs {
    /// The configuration: S3 XML or JSON (AWS CLI or console form), told apart by content;
    /// `-` reads standard input.
    file: String,

    /// Which findings make the exit status 1: `warning` (any finding, the default) or
    /// `security` (only origins that let other sites in; for CI pipelines).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity, default_value = "warning")]
    deny: Severity,
}

fn parse_severity(value: &str) -> Result<Severity, String> {
    match value {
        "security" => Ok(Severity::Security),
        "warning" => Ok(Severity::Warning),
        _ => Err("expected `security` or `warning`".to_owned()),
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").args(["method", "preflight"])))]
struct ExplainArgs {
    /// The configuration: S3 XML or JSON, told apart by content; `-` reads standard input.
    file: String,

    /// The request's `Origin` (leave out to send none).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,

    /// Would these origins get in? A file with one origin per line (`#` starts a comment;
    /// `-` reads standard input). For each: whether it gets in, through which rule and
    /// AllowedOrigin, with or without credentials. Without --method or --preflight, each
    /// origin is tried as a preflight for each of S3's five methods.
    #[arg(long, value_name = "FILE", conflicts_with = "origin")]
    origins: Option<String>,

    /// An actual request with this method (`GET`, `PUT`, ...).
    #[arg(long, value_name = "METHOD", required_unless_present_any = ["preflight", "origins"])]
    method: Option<String>,

    /// A preflight: an `OPTIONS` request (give --request-method).
    #[arg(long)]
    preflight: bool,

    /// `Access-Control-Request-Method`: the method a preflight asks for. S3 also matches an
    /// actual request on it when present.
    #[arg(long, value_name = "METHOD")]
    request_method: Option<String>,

    /// `Access-Control-Request-Headers`, e.g. "content-type, x-amz-meta-owner".
    #[arg(long, value_name = "LIST")]
    request_headers: Option<String>,

    /// The URL path: `/` is the bucket, any other path an object (S3's `<ResourceType>`).
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,

    /// `x-amz-request-id` and `<RequestId>` of an error document (default: a fresh id, as
    /// the layer makes).
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,

    /// `x-amz-id-2` and `<HostId>` of an error document (default: a fresh id).
    #[arg(long, value_name = "ID")]
    host_id: Option<String>,
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// The configuration: S3 XML or JSON, told apart by content; `-` reads standard input.
    file: String,

    /// The output format.
    #[arg(long, value_enum)]
    to: Target,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// The XML document GetBucketCors returns.
    Xml,
    /// The AWS CLI form, `{"CORSRules": [...]}`.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are not failures.
            let code = if err.use_stderr() { EXIT_FAILURE } else { EXIT_OK };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    let code = match cli.command {
        Command::Lint(args) => lint::run(&args, json),
        Command::Explain(args) => explain::run(&args, json),
        Command::Convert(args) => convert(&args, json),
    };
    ExitCode::from(code)
}

fn convert(args: &ConvertArgs, json: bool) -> u8 {
    let config = match input::load(&args.file) {
        Ok((config, _)) => config,
        Err(failure) => return output::report_failure(&args.file, &failure, json),
    };
    match args.to {
        Target::Xml => outln!("{}", config.to_xml()),
        Target::Json => outln!("{}", config.to_json()),
    }
    EXIT_OK
}
