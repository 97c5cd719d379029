//! Reading a configuration file (or standard input) in whichever format it is.

use std::io::Read;

use tower_s3_cors::{ConfigError, CorsConfiguration};

/// The format of a configuration document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Xml,
    Json,
}

impl Format {
    /// JSON if the document starts with `{` or `[`, XML otherwise.
    pub(crate) fn detect(text: &str) -> Format {
        let start = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
        if start.starts_with('{') || start.starts_with('[') {
            Format::Json
        } else {
            Format::Xml
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Json => "json",
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The file could not be read.
    Io(String),
    /// The document is not UTF-8 text (S3 answers `MalformedXML`).
    NotUtf8 { offset: usize },
    /// S3 would refuse the configuration.
    Invalid(Format, ConfigError),
}

/// Reads `path` (`-` for standard input) and parses it as S3 would.
pub(crate) fn load(path: &str) -> Result<(CorsConfiguration, Format), Failure> {
    let bytes = read(path).map_err(|err| Failure::Io(format!("cannot read {path}: {err}")))?;
    let text = String::from_utf8(bytes).map_err(|err| Failure::NotUtf8 {
        offset: err.utf8_error().valid_up_to(),
    })?;
    // A byte order mark is not part of the document.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let format = Format::detect(text);
    let parsed = match format {
        Format::Xml => CorsConfiguration::from_xml(text),
        Format::Json => CorsConfiguration::from_json(text),
    };
    parsed
        .map(|config| (config, format))
        .map_err(|err| Failure::Invalid(format, err))
}

fn read(path: &str) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}
