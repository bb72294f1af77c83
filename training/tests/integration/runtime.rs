//! Finding the ONNX Runtime library. These tests change environment variables, which the
//! other tests of this binary read, so each runs its checks in a child process: the parent
//! re-runs this test binary on one ignored test with the variables set.

use std::process::Command;

use robustaudit_train::error::TrainError;
use robustaudit_train::runtime::{init, library_path, Device};

/// Set in the child process only.
const CHILD: &str = "ROBUSTAUDIT_TEST_CHILD";

/// Runs the ignored test `name` of this binary in a child with `env` set (and
/// `ORT_DYLIB_PATH` removed unless `env` sets it), and checks that it ran and passed.
fn run_child(name: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("ORT_DYLIB_PATH")
        .env_remove(robustaudit::deps::DEPS_ENV);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("spawn test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run:\n{stdout}"
    );
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn dependency_error(result: robustaudit_train::error::Result<std::path::PathBuf>) -> String {
    match result {
        Err(err @ TrainError::Core(robustaudit::error::Error::Dependency { .. })) => {
            assert_eq!(err.exit_code(), robustaudit::exit_code::Exit::Dependency);
            err.to_string()
        }
        other => panic!("expected a dependency error, got {other:?}"),
    }
}

#[test]
fn ort_dylib_path_naming_no_file_is_a_dependency_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("libonnxruntime.so.missing");
    run_child(
        "runtime::child_ort_dylib_path_missing",
        &[
            ("ORT_DYLIB_PATH", missing.as_os_str()),
            ("EXPECTED_PATH", missing.as_os_str()),
        ],
    );
}

#[test]
#[ignore = "run in a child process by ort_dylib_path_naming_no_file_is_a_dependency_error"]
fn child_ort_dylib_path_missing() {
    if !in_child() {
        return;
    }
    let missing = std::env::var("EXPECTED_PATH").expect("EXPECTED_PATH");
    let err = library_path(Device::Cpu);
    let message = dependency_error(err);
    assert_eq!(
        message,
        format!("onnx runtime library {missing} (from ORT_DYLIB_PATH) is not a file")
    );
}

#[test]
fn empty_deps_folder_is_a_dependency_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    run_child(
        "runtime::child_empty_deps",
        &[(robustaudit::deps::DEPS_ENV, dir.path().as_os_str())],
    );
}

#[test]
#[ignore = "run in a child process by empty_deps_folder_is_a_dependency_error"]
fn child_empty_deps() {
    if !in_child() {
        return;
    }
    let deps = std::env::var(robustaudit::deps::DEPS_ENV).expect("deps");
    for (device, folder) in [(Device::Cpu, "cpu"), (Device::Cuda, "cuda")] {
        let message = dependency_error(library_path(device));
        assert_eq!(
            message,
            format!(
                "onnx runtime library not found at {deps}/onnxruntime/{folder}/libonnxruntime.so.1.31.1"
            )
        );
    }
}

#[test]
fn the_installed_cpu_library_is_found() {
    run_child("runtime::child_installed_library", &[]);
}

#[test]
#[ignore = "run in a child process by the_installed_cpu_library_is_found"]
fn child_installed_library() {
    if !in_child() {
        return;
    }
    let path = library_path(Device::Cpu).expect("scripts/setup installed onnx runtime");
    assert!(path.is_file());
    assert!(
        path.ends_with(".deps/onnxruntime/cpu/libonnxruntime.so.1.31.1"),
        "{}",
        path.display()
    );
}

#[test]
fn a_file_that_is_not_onnx_runtime_fails_to_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&fake, b"not a shared library\n").expect("write");
    run_child(
        "runtime::child_fake_library",
        &[
            ("ORT_DYLIB_PATH", fake.as_os_str()),
            ("EXPECTED_PATH", fake.as_os_str()),
        ],
    );
}

#[test]
#[ignore = "run in a child process by a_file_that_is_not_onnx_runtime_fails_to_load"]
fn child_fake_library() {
    if !in_child() {
        return;
    }
    let fake = std::env::var("EXPECTED_PATH").expect("EXPECTED_PATH");
    assert_eq!(
        library_path(Device::Cpu).expect("the file exists"),
        std::path::PathBuf::from(&fake)
    );
    match init(Device::Cpu) {
        Err(err @ TrainError::RuntimeLoad { .. }) => {
            assert_eq!(err.exit_code(), robustaudit::exit_code::Exit::Dependency);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("cannot load onnx runtime from {fake}: ")),
                "{message}"
            );
        }
        Err(other) => panic!("expected a load error, got {other:?}"),
        Ok(_) => panic!("a text file loaded as onnx runtime"),
    }
}
