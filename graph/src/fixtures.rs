//! What the tests and benchmarks of robustaudit's three crates share (behind the
//! `fixtures` feature, which each crate asks for in its dev-dependencies): the shipped
//! architecture specs of `models/arch/`, networks built from them with seeded weights, a
//! linear network with a closed form, and a runner for the two binaries that checks what
//! every run must satisfy.
//!
//! Everything here panics on failure: a fixture that cannot be built is a broken checkout,
//! and the test that asked for it should fail saying so.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::{arr1, Array2, Array4};

use crate::arch::{forward_graph, ArchSpec};
use crate::onnx::{Attr, GraphBuilder, OnnxModel};

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

/// The weights `W` (3 x 2, row-major) of [`linear_network`].
pub const LINEAR_WEIGHTS: [f32; 6] = [1.0, -2.0, 0.5, 3.0, 0.25, -1.0];

/// The bias of [`linear_network`].
pub const LINEAR_BIAS: [f32; 3] = [0.1, 0.2, 0.3];

/// `logits = W · flatten(x) + b` for `x` of shape `[batch, 1, 1, 2]` and 3 classes, with a
/// Softmax after it (the graph's output `probs`, the logits `z`) when `softmax`; to be
/// written at `path`.
pub fn linear_network(path: &Path, softmax: bool) -> OnnxModel {
    let mut b = GraphBuilder::new("linear");
    b.input("x", &[None, Some(1), Some(1), Some(2)]);
    b.initializer("w", &[3, 2], &LINEAR_WEIGHTS);
    b.initializer("b", &[3], &LINEAR_BIAS);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node(
        "Gemm",
        &["flat", "w", "b"],
        &["z"],
        &[("transB", Attr::Int(1))],
    );
    if softmax {
        b.node("Softmax", &["z"], &["probs"], &[("axis", Attr::Int(1))]);
        b.output("probs", &[None, Some(3)]);
    } else {
        b.output("z", &[None, Some(3)]);
    }
    b.finish(path.to_path_buf()).expect("valid model")
}

/// The logits of [`linear_network`] for `x` `[batch, 1, 1, 2]`, in closed form.
pub fn linear_logits(x: &Array4<f32>) -> Array2<f32> {
    let w = Array2::from_shape_vec((3, 2), LINEAR_WEIGHTS.to_vec()).expect("shape");
    let flat = x.to_shape((x.shape()[0], 2)).expect("flat");
    flat.dot(&w.t()) + arr1(&LINEAR_BIAS)
}

/// Three inputs of [`linear_network`].
pub fn linear_batch() -> Array4<f32> {
    Array4::from_shape_vec((3, 1, 1, 2), vec![0.1, -0.2, 0.3, 0.4, -0.5, 0.05]).expect("shape")
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
    run_through(
        &std::env::var(RUNNER_VARIABLE).unwrap_or_default(),
        program,
        args,
    )
}

/// [`run`] through the command `runner` (empty: directly).
fn run_through<S: AsRef<OsStr>>(runner: &str, program: &str, args: &[S]) -> Run {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_command_goes_before_the_program_and_its_arguments() {
        let direct = run_through("", "echo", &["a", "b"]);
        assert_eq!((direct.code, direct.stdout.as_str()), (0, "a b\n"));
        // `env NAME=VALUE program args`: the runner's own words, then the program.
        let through = run_through("env RUNNER_SAW=1", "sh", &["-c", "echo $RUNNER_SAW \"$0\""]);
        assert_eq!((through.code, through.stdout.as_str()), (0, "1 sh\n"));
    }

    #[test]
    #[should_panic(expected = "capitalised error")]
    fn a_capitalised_error_line_fails_the_run() {
        run_through("", "sh", &["-c", "echo 'error: Something' >&2"]);
    }
}
