//! Writing files so that readers never see a partial one: a temporary file in the target's
//! folder, flushed, renamed over the target, then the folder itself flushed so that the
//! rename survives a power cut. Output folders are made ready before a long run writes into
//! them: created, cleared of the temporary files an interrupted run left behind, and proven
//! writable.

use std::io::Write;
use std::path::Path;

/// Every temporary file starts with this; nothing else in an output folder does.
const TMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
///
/// On any error the temporary file is removed (it is dropped), so nothing is left behind
/// but what an interrupted process cannot clean: [`prepare_dir`] removes that.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // Temporary files are private; the finished file is an ordinary one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes `dir` ready to receive outputs before any work is done for them: creates it,
/// removes the `.tmp-*` files an interrupted run left in it, and creates and removes a
/// probe file, so that an unwritable folder is found at once and not after a long audit.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let stale = entry.file_name().to_string_lossy().starts_with(TMP_PREFIX)
            && entry.file_type()?.is_file();
        if stale {
            std::fs::remove_file(entry.path())?;
        }
    }
    let mut probe = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)?;
    probe.write_all(b"probe")?;
    probe.close()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Flushes a folder's entries (the rename just made) to disk; a no-op where folders cannot
/// be opened as files.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn stale_temporary_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".tmp-AbC123"), b"half a file").unwrap();
        std::fs::write(dir.path().join("summary.csv"), b"kept").unwrap();
        std::fs::create_dir(dir.path().join(".tmp-folder")).unwrap();
        prepare_dir(dir.path()).unwrap();
        assert_eq!(names(dir.path()), [".tmp-folder", "summary.csv"]);
        write(&dir.path().join("new.csv"), b"x").unwrap();
        assert_eq!(names(dir.path()), [".tmp-folder", "new.csv", "summary.csv"]);
    }

    #[test]
    fn an_unwritable_output_folder_is_found_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert!(prepare_dir(&file.join("out")).is_err());
        assert!(prepare_dir(&file).is_err());
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a folder fails after the temporary file was written.
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/inside"), b"").unwrap();
        assert!(write(&dir.path().join("target"), b"bytes").is_err());
        assert_eq!(names(dir.path()), ["target"]);
    }
}
