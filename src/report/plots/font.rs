//! The font the figures are laid out and drawn with, read at run time so that the build
//! needs no system library: Debian's DejaVu Sans (package `fonts-dejavu-core`) unless
//! another TrueType or OpenType file is given.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use plotters::style::{register_font, FontStyle};

use super::style::FONT_FAMILY;
use crate::report::input_error::ReportInputError;

/// Where Debian's `fonts-dejavu-core` puts DejaVu Sans.
const SYSTEM_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The font used when none is given: DejaVu Sans as `scripts/setup` installs it
/// (`fonts/DejaVuSans.ttf` of the dependency folder), else the system's copy.
pub fn default_font() -> PathBuf {
    crate::deps::deps_dir()
        .map(|d| d.join("fonts").join("DejaVuSans.ttf"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(SYSTEM_FONT))
}

/// Fonts already read, by path: plotters keeps a registered font for the life of the
/// process, so each file is read and kept once.
static LOADED: OnceLock<Mutex<HashMap<PathBuf, &'static [u8]>>> = OnceLock::new();

/// The largest font file read, in bytes (DejaVu Sans is under 1 MB; CJK fonts reach 20 MB).
const MAX_FONT_BYTES: u64 = 64 << 20;

/// Makes the font at `path` the one every figure uses.
pub fn use_font(path: &Path) -> Result<(), ReportInputError> {
    let fail = |reason: String| ReportInputError::Font {
        path: path.to_path_buf(),
        reason,
    };
    let loaded = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut loaded = loaded
        .lock()
        .map_err(|_| fail("an earlier load failed".into()))?;
    let bytes: &'static [u8] = match loaded.get(path) {
        Some(bytes) => bytes,
        None => {
            // Only a regular file, and no larger than any font: a FIFO or /dev/zero given as
            // --font would block or fill memory.
            let bytes = robustaudit_graph::regular_file::read(path, MAX_FONT_BYTES)
                .map_err(|e| fail(e.to_string().to_lowercase()))?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            loaded.insert(path.to_path_buf(), bytes);
            bytes
        }
    };
    register_font(FONT_FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| fail("not a truetype or opentype font".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_device_or_a_folder_given_as_the_font_is_refused_without_reading_it() {
        let err = use_font(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            err.contains("/dev/zero") && err.contains("a device"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = use_font(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a folder"), "{err}");
    }
}
