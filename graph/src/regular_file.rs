//! Opening files that come from users or from model files: only regular files are opened.
//!
//! A FIFO blocks its reader until a writer appears, and a device such as `/dev/zero` or
//! `/dev/urandom` never ends, so a path that names either would hang the tool or exhaust its
//! memory. Every path that a user or a model supplies is opened through [`open`], which
//! follows symbolic links (a link to a regular file is fine), refuses anything that is not a
//! regular file before opening it, and checks the opened handle again so that a file
//! swapped between the check and the open is refused too.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` for reading if it is a regular file (after following links).
///
/// The error is an ordinary [`io::Error`]; one of kind [`io::ErrorKind::InvalidInput`]
/// says what the path is instead ("a fifo", "a folder", ...), so callers can show it as is.
pub fn open(path: &Path) -> io::Result<File> {
    check(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    check(&file.metadata()?)?;
    Ok(file)
}

/// Reads the whole of a regular file, refusing one longer than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {len} bytes, more than the limit of {limit}"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` keeps a file that grows while it is read within the limit too.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it grew past the limit of {limit} bytes while being read"),
        ));
    }
    Ok(bytes)
}

fn check(meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, not a regular file", kind(meta)),
    ))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a fifo";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_and_a_link_to_one_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.bin");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(read(&file, 3).unwrap(), b"abc");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.bin");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert_eq!(read(&link, 10).unwrap(), b"abc");
        }
    }

    #[test]
    fn folders_devices_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("a folder"), "{err}");
        #[cfg(unix)]
        {
            let err = open(Path::new("/dev/zero")).unwrap_err();
            assert!(err.to_string().contains("a device"), "{err}");
        }
        let file = dir.path().join("big.bin");
        std::fs::write(&file, [0u8; 16]).unwrap();
        let err = read(&file, 15).unwrap_err();
        assert!(err.to_string().contains("more than the limit"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_link_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("missing"), &link).unwrap();
        assert_eq!(open(&link).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
