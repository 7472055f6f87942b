//! The errors a command ends with, and the exit code each maps to.

use crate::config::Diagnostics;

/// Exit codes, as documented in README.md ("Exit codes").
pub mod exit {
    /// Everything asked for was done.
    pub const OK: i32 = 0;
    /// The run went ahead but did not fully succeed (a build failed, verify found a difference).
    pub const FAILED: i32 = 1;
    /// Bad input: the command line or the configuration. Nothing was run.
    pub const USAGE: i32 = 2;
    /// A check against AWS failed before anything was created (preflight, credentials).
    pub const PREFLIGHT: i32 = 3;
    /// Another run holds the lock of a staging bucket this run needs; nothing was launched.
    pub const LOCKED: i32 = 4;
    /// Interrupted by Ctrl-C (SIGINT) after cleaning up; SIGTERM gives 143, SIGHUP 129.
    pub const INTERRUPTED: i32 = 130;
}

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in the configuration files.
    #[error("{0}")]
    Config(Diagnostics),
    /// Problems with the command line.
    #[error("{}", lines(.0))]
    Usage(Vec<String>),
    /// Read-only checks against AWS found problems; nothing was launched.
    #[error("{}\npreflight found {} problem(s); nothing was launched.", lines(.0), .0.len())]
    Preflight(Vec<String>),
    /// AWS cannot be reached or used as configured (credentials, endpoint).
    #[error("{0}")]
    AwsSetup(String),
    /// The run finished with failures; the summary said which.
    #[error("{0}")]
    Failed(String),
    /// The user pressed Ctrl-C, or the process got SIGTERM or SIGHUP (the exit code).
    #[error("{0}")]
    Interrupted(String, i32),
    /// Another run holds a lock this run needs.
    #[error("{}\nnothing was launched.", lines(.0))]
    Locked(Vec<String>),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => exit::USAGE,
            Error::Preflight(_) | Error::AwsSetup(_) => exit::PREFLIGHT,
            Error::Failed(_) | Error::Io { .. } => exit::FAILED,
            Error::Interrupted(_, code) => *code,
            Error::Locked(_) => exit::LOCKED,
        }
    }

    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

fn lines(v: &[String]) -> String {
    v.iter()
        .map(|l| format!("error: {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
