//! Where `scripts/setup` installed the project's external files (datasets, ONNX Runtime).
//!
//! The folder is `$ROBUSTAUDIT_DEPS` when set, else the first `.deps/` found walking up from
//! the current directory, else the one beside the running executable's workspace.

use std::path::{Path, PathBuf};

/// Environment variable that overrides where installed dependencies are looked up.
pub const DEPS_ENV: &str = "ROBUSTAUDIT_DEPS";

/// The dependency folder, if one can be found. It may not exist yet.
pub fn deps_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(DEPS_ENV) {
        return Some(PathBuf::from(dir));
    }
    let from_cwd = std::env::current_dir().ok().and_then(|d| find_upwards(&d));
    from_cwd.or_else(|| {
        let exe = std::env::current_exe().ok()?;
        find_upwards(exe.parent()?)
    })
}

fn find_upwards(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(".deps"))
        .find(|candidate| candidate.is_dir())
}
