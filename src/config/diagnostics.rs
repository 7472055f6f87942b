//! Configuration problems, collected so that every one is reported in a single run.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, where the YAML gives one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading one configuration (profile and regions file together).
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Records a problem.
    pub fn push(
        &mut self,
        file: &Path,
        line: Option<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.0.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            message: message.into(),
            help,
        });
    }

    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order they were found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.0
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} configuration problem{} found; nothing was run.",
            if n == 1 { "" } else { "s" }
        )
    }
}
