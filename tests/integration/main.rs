//! End-to-end tests of the `robustaudit` binary and of the library on the datasets that
//! `scripts/setup` installs.

mod audit;
mod bench;
mod datasets;
mod fixtures;
mod gradcheck;
mod hostile;
mod hostile_names;
mod image_folder;
mod inspect;
mod out_folder;
mod pipes;
mod report;
mod shard;
mod tract;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use robustaudit::arch::{forward_graph, ArchSpec};
use robustaudit::onnx::OnnxModel;

/// The shipped spec `models/arch/<name>.toml`.
pub fn spec(name: &str) -> ArchSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/arch")
        .join(format!("{name}.toml"));
    ArchSpec::from_file(&path).expect("shipped spec is valid")
}

/// The forward graph of a shipped spec with weights from `seed`, to be written at `path`.
pub fn graph(name: &str, seed: u64, path: PathBuf) -> OnnxModel {
    forward_graph(&spec(name), seed, path).expect("forward graph")
}

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `robustaudit` with `args` and checks what every run must satisfy: it was not killed,
/// did not panic, and every `error: ` line starts lowercase.
pub fn robustaudit(args: &[&std::ffi::OsStr]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_robustaudit"))
        .args(args)
        .output()
        .expect("spawn robustaudit");
    let run = Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for line in run.stderr.lines() {
        if let Some(message) = line.strip_prefix("error: ") {
            let first = message.chars().next().expect("non-empty message");
            assert!(!first.is_uppercase(), "capitalised error: {line}");
        }
    }
    run
}
