//! Files a run writes: ami_ids.json (the legacy shape other tools read), the richer manifest,
//! and the run directory with logs and events. Every file is replaced atomically.

pub mod ami_ids;
pub mod manifest;
pub mod rundir;
pub mod writer;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The largest ami_ids.json or manifest read (a whole region matrix is a few hundred KiB).
pub const MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that a crash never leaves the file truncated. A symlink is written through (its target is
/// replaced, the link stays), and an existing file keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let target = resolve_links(path).map_err(|e| Error::io(path, e))?;
    let dir = parent_dir(&target);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    let mode = match std::fs::metadata(&target) {
        Ok(m) => m.permissions(),
        // A new file is readable by others, as files written by other tools are; the
        // temporary file's private mode is not meant for them.
        Err(_) => default_permissions(),
    };
    tmp.as_file()
        .set_permissions(mode)
        .map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(&target).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Runs `f` while holding an exclusive lock on the directory that holds `path` (after
/// following symlinks), so that two amipub processes writing files there take turns: each
/// re-reads and merges inside `f`, and no writer's entries are lost.
pub fn with_dir_lock<T>(path: &Path, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let target = resolve_links(path).map_err(|e| Error::io(path, e))?;
    let dir = parent_dir(&target);
    let handle = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    handle.lock().map_err(|e| Error::io(dir, e))?;
    let result = f();
    // Dropping the handle unlocks too; an explicit unlock says where the turn ends.
    let _ = handle.unlock();
    result
}

/// Checks, before anything is launched, that `path` can be written: its directory exists (it is
/// made when missing) and takes new files, and it is not a directory or a read-only file.
pub fn check_writable(path: &Path, what: &str) -> Result<(), String> {
    let target = resolve_links(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = parent_dir(&target);
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "{what} {} is a directory; name a file, e.g. {}",
                path.display(),
                path.join("ami_ids.json").display()
            ));
        }
        Ok(m) if m.permissions().readonly() => {
            return Err(format!(
                "{what} {} is read-only; make it writable (chmod u+w) or write elsewhere with --output",
                path.display()
            ));
        }
        _ => {}
    }
    match std::fs::metadata(dir) {
        // Mode bits, not an access check: root may write anywhere, but a directory made
        // read-only for everyone was made so on purpose.
        Ok(m) if m.is_dir() && m.permissions().readonly() => {
            return Err(format!(
                "{what} {}: the directory {} is read-only; make it writable or write elsewhere with --output",
                path.display(),
                dir.display()
            ));
        }
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{what} {}: {} is not a directory",
                path.display(),
                dir.display()
            ));
        }
        // Made now, before anything is launched, so that a directory that cannot be made
        // stops the run while it costs nothing.
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "{what} {}: the directory {} cannot be created ({e}); write elsewhere with --output",
                path.display(),
                dir.display()
            )
        })?,
    }
    tempfile::NamedTempFile::new_in(dir).map(drop).map_err(|e| {
        format!(
            "{what} {} cannot be written: the directory {} does not take new files ({e})",
            path.display(),
            dir.display()
        )
    })
}

/// `path` with every symlink followed, also when the final target does not exist yet.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&p) {
            Ok(next) => p = parent_dir(&p).join(next),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Ok(p),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(p);
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn default_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}

#[cfg(not(unix))]
fn default_permissions() -> std::fs::Permissions {
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .map(|m| m.permissions())
        .unwrap_or_else(|_| {
            std::fs::metadata(".")
                .map(|m| m.permissions())
                .expect("cwd")
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_through_a_symlink_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_new_file_is_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.json");
        write_atomic(&p, b"x").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn unwritable_places_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_writable(dir.path(), "--output").unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        assert!(check_writable(&dir.path().join("new/ami_ids.json"), "--output").is_ok());
        assert!(dir.path().join("new").is_dir());
        std::fs::write(dir.path().join("file"), "").unwrap();
        let e = check_writable(&dir.path().join("file/ami_ids.json"), "--output").unwrap_err();
        assert!(e.contains("file is not a directory"), "{e}");
        let ro = dir.path().join("ro.json");
        std::fs::write(&ro, "{}").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = check_writable(&ro, "--output").unwrap_err();
        assert!(e.contains("read-only"), "{e}");
        assert!(check_writable(&dir.path().join("fine.json"), "--output").is_ok());
    }
}
