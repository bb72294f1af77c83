//! What the tests and benchmarks of robustaudit's three crates share (behind the
//! `fixtures` feature, which each crate asks for in its dev-dependencies): the shipped
//! architecture specs of `models/arch/`, networks built from them with seeded weights, and
//! a runner for the two binaries that checks what every run must satisfy.
//!
//! Everything here panics on failure: a fixture that cannot be built is a broken checkout,
//! and the test that asked for it should fail saying so.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::arch::{forward_graph, ArchSpec};
use crate::onnx::OnnxModel;

/// The environment variable naming a command that runs the binaries under test (words
/// split on spaces, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu` for binaries
/// cross-built for aarch64); unset, they run directly.
pub const RUNNER_VARIABLE: &str = "ROBUSTAUDIT_TEST_RUNNER";

/// The workspace's `models/arch/` folder.
pub fn arch_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/arch")
}

/// The shipped spec file `models/arch/<name>.toml`.
pub fn spec_path(name: &str) -> PathBuf {
    arch_folder().join(format!("{name}.toml"))
}

/// The shipped spec `models/arch/<name>.toml`.
pub fn spec(name: &str) -> ArchSpec {
    let path = spec_path(name);
    ArchSpec::from_file(&path).unwrap_or_else(|e| panic!("shipped spec {name}: {e}"))
}

/// The forward graph of the shipped spec `name` with weights drawn from `seed`, to be
/// written at `path`.
pub fn network(name: &str, seed: u64, path: impl Into<PathBuf>) -> OnnxModel {
    forward_graph(&spec(name), seed, path.into())
        .unwrap_or_else(|e| panic!("forward graph of {name}: {e}"))
}

/// What a run of a binary produced.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the binary `program` (a crate's `CARGO_BIN_EXE_<name>`, through the command in
/// [`RUNNER_VARIABLE`] where it is set) with `args`, and checks what every run of
/// robustaudit's binaries must satisfy: it was not killed, did not panic, and every
/// `error: ` line starts lowercase.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Run {
    let runner = std::env::var(RUNNER_VARIABLE).unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(first) => {
            let mut command = Command::new(first);
            command.args(words).arg(program);
            command
        }
        None => Command::new(program),
    };
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
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
