//! Model files whose names are spreadsheet formulas or hold line breaks: every CSV cell is
//! neutralised (OWASP's rule), the files still merge byte for byte and render, and no line
//! break from a name reaches a report row or heading.

use std::path::Path;
use std::process::Command;

use super::network;

/// Runs `robustaudit` in `dir` (so that model names are the bare file names).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_robustaudit"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("spawn robustaudit");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().expect("exited"), stderr)
}

fn audit_args<'a>(model: &'a str, out: &'a str, shard: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "audit",
        "--model",
        model,
        "--data",
        "digits",
        "--samples",
        "32",
        "--attacks",
        "fgsm",
        "--input-range",
        "-0.5,0.5",
        "--out",
        out,
    ];
    if let Some(shard) = shard {
        args.extend(["--shard", shard]);
    }
    args
}

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

#[test]
fn a_model_named_like_a_formula_is_neutralised_in_every_csv_and_survives_merge_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "=HYPERLINK(\"http://evil\",\"x\")\n# heading.onnx";
    network("digits-small", 5, dir.path().join(name))
        .write(&dir.path().join(name))
        .expect("write model");
    for (out, shard) in [("whole", None), ("s0", Some("0/2")), ("s1", Some("1/2"))] {
        let (code, stderr) = run_in(dir.path(), &audit_args(name, out, shard));
        assert_eq!(code, 0, "{stderr}");
    }
    let whole = dir.path().join("whole");
    let mut model_cells = 0;
    for file in [
        "samples.csv",
        "summary.csv",
        "diagnosis.csv",
        "timings.csv",
        "sensitivity.csv",
        "shard.csv",
    ] {
        let mut reader = csv::Reader::from_path(whole.join(file)).expect("csv");
        for record in reader.records() {
            for cell in record.expect("record").iter() {
                if cell.starts_with(FORMULA_STARTS) {
                    assert!(cell.parse::<f64>().is_ok(), "{file}: formula cell {cell:?}");
                }
                if cell.contains("HYPERLINK") {
                    assert!(cell.starts_with("'=HYPERLINK"), "{file}: {cell:?}");
                    model_cells += 1;
                }
            }
        }
    }
    assert!(model_cells >= 6, "the model is named in every file");

    let (code, stderr) = run_in(dir.path(), &["merge", "s0", "s1", "--out", "merged"]);
    assert_eq!(code, 0, "{stderr}");
    for file in [
        "samples.csv",
        "summary.csv",
        "diagnosis.csv",
        "sensitivity.csv",
    ] {
        let a = std::fs::read(whole.join(file)).expect("read");
        let b = std::fs::read(dir.path().join("merged").join(file)).expect("read");
        assert!(a == b, "merged {file} differs from the unsharded audit's");
    }

    let (code, stderr) = run_in(dir.path(), &["report", "whole"]);
    assert_eq!(code, 0, "{stderr}");
    let page = std::fs::read_to_string(whole.join("report.md")).expect("report.md");
    assert!(
        page.contains("HYPERLINK"),
        "the model is named in the report"
    );
    for line in page.lines() {
        assert!(
            !line.starts_with("# heading"),
            "a file name broke a line: {line:?}"
        );
        assert!(
            !line.starts_with("\\# heading"),
            "a file name broke a line: {line:?}"
        );
    }
}
