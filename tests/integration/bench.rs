//! `robustaudit bench` on generated models: its CSV and table, the finite-difference
//! fallback, the profile, and the command lines it refuses.

use std::ffi::OsStr;
use std::path::Path;

use super::{network, robustaudit, Run};

const CSV_HEADER: &str = "batch,threads,load_ms,forward_images_per_s,vjp_images_per_s";

fn bench(model: &Path, args: &[&str]) -> Run {
    let mut all = vec![OsStr::new("bench"), model.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    robustaudit(&all)
}

/// The digits network of the fast tests, written into `dir`.
fn digits_model(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("digits.onnx");
    network("digits-small", 0, path.clone())
        .write(&path)
        .expect("write");
    path
}

/// The CSV rows under the exact header, each parsed into its five numbers.
fn csv_rows(run: &Run) -> Vec<[f64; 5]> {
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER), "{}", run.stdout);
    lines
        .map(|line| {
            let cells: Vec<f64> = line
                .split(',')
                .map(|c| c.parse().expect("a number"))
                .collect();
            cells.try_into().expect("five columns")
        })
        .collect()
}

#[test]
fn bench_csv_has_one_row_of_positive_figures_per_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let run = bench(
        &model,
        &["--batch", "1,20", "--threads", "2", "--format", "csv"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Progress is drawn only on a terminal, and this model has exact gradients.
    assert_eq!(run.stderr, "");
    let rows = csv_rows(&run);
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    for (row, batch) in rows.iter().zip([1.0, 20.0]) {
        assert_eq!(row[0], batch);
        assert_eq!(row[1], 2.0, "threads");
        assert!(
            row[2..].iter().all(|v| v.is_finite() && *v > 0.0),
            "{row:?}"
        );
        // The VJP graph runs the forward pass and more.
        assert!(row[4] < row[3] * 1.5, "{row:?}");
    }
    // One load per run: every row repeats it.
    assert_eq!(rows[0][2], rows[1][2]);
}

#[test]
fn bench_of_a_model_without_a_vjp_times_the_finite_difference_fallback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sin.onnx");
    let mut b = robustaudit_graph::onnx::GraphBuilder::new("sin");
    b.input("x", &[None, Some(1), Some(2), Some(2)]);
    b.node("Sin", &["x"], &["s"], &[]);
    b.node(
        "Flatten",
        &["s"],
        &["logits"],
        &[("axis", robustaudit_graph::onnx::Attr::Int(1))],
    );
    b.output("logits", &[None, Some(4)]);
    b.finish(path.clone())
        .expect("valid")
        .write(&path)
        .expect("write");
    let run = bench(&path, &["--batch", "3", "--format", "csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "note: {} has no exact vjp (no gradient rule for op Sin in {}); forward+vjp figures \
             are of the finite-difference fallback, 9 forward passes per image",
            path.display(),
            path.display()
        )
    );
    let rows = csv_rows(&run);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], 3.0);
    assert!(rows[0][2..].iter().all(|v| v.is_finite() && *v > 0.0));
    // Nine forward passes per gradient: far slower than one.
    assert!(rows[0][4] < rows[0][3], "{:?}", rows[0]);
}

#[test]
fn bench_table_with_profile_lists_the_ops_of_both_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let run = bench(&model, &["--batch", "4", "--threads", "1", "--profile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "bench {}: 1x8x8 images, 10 classes, gradients exact",
            model.display()
        )
    );
    assert!(
        lines[1].starts_with("1 threads; load and optimise"),
        "{}",
        lines[1]
    );
    let header = lines
        .iter()
        .position(|l| l.starts_with("batch"))
        .expect("rates header");
    let cells: Vec<&str> = lines[header + 1].split_whitespace().collect();
    assert_eq!(cells[0], "4");
    assert!(cells[1..]
        .iter()
        .all(|c| c.parse::<f64>().expect("rate") > 0.0));
    for graph in ["forward", "forward+vjp"] {
        let title = format!("profile of the {graph} plan at batch 4: ");
        let start = lines
            .iter()
            .position(|l| l.starts_with(&title))
            .unwrap_or_else(|| panic!("no {graph} profile in\n{}", run.stdout));
        assert!(lines[start + 1].starts_with("op"), "{}", lines[start + 1]);
        // Every op row until the next blank line; their shares add up to the whole.
        let rows: Vec<Vec<&str>> = lines[start + 2..]
            .iter()
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(!rows.is_empty());
        let share: f64 = rows
            .iter()
            .map(|r| r[r.len() - 1].parse::<f64>().expect("percent"))
            .sum();
        assert!((share - 100.0).abs() < 0.1 * rows.len() as f64, "{share}");
        let ms: f64 = rows
            .iter()
            .map(|r| r[r.len() - 2].parse::<f64>().expect("ms"))
            .sum();
        assert!(ms > 0.0);
    }
}

#[test]
fn bench_refuses_bad_batches_formats_and_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    for args in [
        &["--batch", "0"][..],
        &["--batch", "1,x"],
        &["--batch", "4097"],
        &["--threads", "0"],
        &["--format", "xml"],
        &["--format", "csv", "--profile"],
    ] {
        let run = bench(&model, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
    let absent = dir.path().join("absent.onnx");
    let run = bench(&absent, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let expected = format!("error: cannot read model {}: ", absent.display());
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1
    );
}
