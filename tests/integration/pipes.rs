//! Every command with its standard output closed early (`| head`) or full (`> /dev/full`):
//! a closed pipe ends the output quietly with the command's own exit code, a full disk is a
//! one-line error with exit code 1; never a panic.

use std::path::Path;
use std::process::{Command, Stdio};

use super::network;

/// What a run with a hostile stdout produced: exit code and stderr.
fn run_into(args: &[&str], stdout: Stdio, close_early: bool) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_robustaudit"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn robustaudit");
    if close_early {
        // The reader goes away before the command has printed anything.
        drop(child.stdout.take());
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code().expect("exited, not killed"), stderr)
}

fn closed_pipe(args: &[&str]) -> (i32, String) {
    run_into(args, Stdio::piped(), true)
}

fn full_disk(args: &[&str]) -> (i32, String) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    run_into(args, Stdio::from(full), false)
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn a_closed_or_full_stdout_never_panics_any_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("digits-small.onnx");
    network("digits-small", 5, model.clone())
        .write(&model)
        .expect("write model");
    let audit_out = dir.path().join("audit");
    let audit = |out: &Path| {
        vec![
            "audit".to_string(),
            "--model".into(),
            utf8(&model).into(),
            "--data".into(),
            "digits".into(),
            "--samples".into(),
            "4".into(),
            "--attacks".into(),
            "fgsm".into(),
            "--input-range".into(),
            "-0.5,0.5".into(),
            "--out".into(),
            utf8(out).into(),
        ]
    };
    let first: Vec<String> = audit(&audit_out);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    // The audit itself, its pipe closed: the reports are written all the same.
    assert_eq!(closed_pipe(&first).0, 0);
    assert!(audit_out.join("summary.csv").is_file());
    let merged = dir.path().join("merged");
    let commands: Vec<Vec<&str>> = vec![
        vec!["attacks"],
        vec!["schema"],
        vec!["inspect", utf8(&model)],
        vec![
            "gradcheck",
            utf8(&model),
            "--data",
            "digits",
            "--samples",
            "2",
            "--coords",
            "4",
        ],
        vec!["report", utf8(&audit_out)],
        vec!["merge", utf8(&audit_out), "--out", utf8(&merged)],
        first,
    ];
    for args in &commands {
        let (code, stderr) = closed_pipe(args);
        assert_eq!(code, 0, "{args:?} with a closed pipe: {stderr}");
        assert!(stderr.is_empty() || !stderr.contains("error:"), "{stderr}");
        let (code, stderr) = full_disk(args);
        assert_eq!(code, 1, "{args:?} into /dev/full: {stderr}");
        assert_eq!(
            stderr.lines().next(),
            Some("error: cannot write standard output: No space left on device (os error 28)"),
            "{args:?}"
        );
    }
}
