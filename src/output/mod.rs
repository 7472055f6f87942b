//! Files a run writes: ami_ids.json (the legacy shape other tools read), the richer manifest,
//! and the run directory with logs and events. Every file is replaced atomically.

pub mod ami_ids;
pub mod manifest;
pub mod rundir;

use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that a crash never leaves the file truncated.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// JSON with 4-space indentation and a final newline, as the legacy ami_ids.json was written.
pub fn to_json_4(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value
        .serialize(&mut ser)
        .expect("in-memory JSON serialization cannot fail");
    out.push(b'\n');
    out
}
