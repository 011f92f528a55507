//! Writing the trainer's outputs so that a kill, a crash or a full disk never leaves a
//! half-written file where a complete one was: everything goes to a temporary name first and is
//! renamed into place once it is complete and on disk.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Reads a text file; the error names it.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes `bytes` to `path` atomically: a `.tmp` sibling, flushed to disk, renamed over `path`.
/// On an error (e.g. no space left) the temporary file is removed and `path` is unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    if let Err(e) = write_synced(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "writing {} ({} bytes; {} is unchanged)",
                tmp.display(),
                bytes.len(),
                path.display()
            )
        });
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Writes a new file inside a folder that is still being assembled (renamed into place later by
/// the caller): the error names the file.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    write_synced(path, bytes)
        .with_context(|| format!("writing {} ({} bytes)", path.display(), bytes.len()))
}

/// Creates `path`, writes `bytes` and flushes them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("vip5-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomic(&path, b"old").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        // the temporary's name is taken by a folder: creating it fails
        std::fs::create_dir_all(path.with_extension("tmp")).unwrap();
        let err = format!("{:#}", write_atomic(&path, b"new").unwrap_err());
        assert!(err.contains("state.tmp") && err.contains("is unchanged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
