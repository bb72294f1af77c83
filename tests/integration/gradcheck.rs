//! `robustaudit gradcheck` on generated models: passes where the VJP graph is right, exits
//! with the documented codes on bad input.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit_graph::onnx::{Attr, GraphBuilder};

use super::{network, robustaudit, Run};

/// `Flatten`, `Gemm` to 16 units, `Relu`, `Gemm` to `classes` logits on `[batch, 1, 8, 8]`
/// images, with an optional elementwise `op` on the hidden units, written to `dir`.
fn dense_model(dir: &Path, classes: usize, op: Option<&str>) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let mut b = GraphBuilder::new("dense");
    b.input("input", &[None, Some(1), Some(8), Some(8)]);
    b.initializer("w1", &[16, 64], &uniform(16 * 64));
    b.initializer("b1", &[16], &uniform(16));
    b.initializer("w2", &[classes, 16], &uniform(classes * 16));
    b.initializer("b2", &[classes], &uniform(classes));
    let t = [("transB", Attr::Int(1))];
    b.node("Flatten", &["input"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node("Gemm", &["flat", "w1", "b1"], &["z1"], &t);
    b.node("Relu", &["z1"], &["a1"], &[]);
    let hidden = match op {
        Some(op) => {
            b.node(op, &["a1"], &["a2"], &[]);
            "a2"
        }
        None => "a1",
    };
    b.node("Gemm", &[hidden, "w2", "b2"], &["logits"], &t);
    b.output("logits", &[None, Some(classes)]);
    let path = dir.join("dense.onnx");
    b.finish(path.clone())
        .expect("valid model")
        .write(&path)
        .expect("write model");
    path
}

fn gradcheck(model: &Path, args: &[&str]) -> Run {
    let mut all: Vec<OsString> = vec!["gradcheck".into(), model.into()];
    all.extend(args.iter().map(OsString::from));
    let refs: Vec<&OsStr> = all.iter().map(OsString::as_os_str).collect();
    robustaudit(&refs)
}

fn assert_passed(run: &Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for name in ["cross-entropy", "logit-difference", "logit-sum"] {
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{}", run.stdout));
        assert!(row.ends_with("pass"), "{row}");
    }
    assert!(run.stdout.contains("\ngradcheck: pass"), "{}", run.stdout);
}

#[test]
fn gradcheck_passes_on_a_relu_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 10, None);
    let run = gradcheck(
        &model,
        &["--data", "digits", "--samples", "4", "--coords", "8"],
    );
    assert_passed(&run);
    assert!(
        run.stdout.starts_with(&format!(
            "gradcheck {} on digits/test: 4 samples of 1x8x8, labels from the data\n",
            model.display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("8 coordinates per sample and loss"),
        "{}",
        run.stdout
    );
    // The same seed gives the same report.
    let again = gradcheck(
        &model,
        &["--data", "digits", "--samples", "4", "--coords", "8"],
    );
    assert_eq!(again.stdout, run.stdout);
}

#[test]
fn gradcheck_passes_on_digits_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("digits-small.onnx");
    network("digits-small", 0, path.clone())
        .write(&path)
        .expect("write");
    let run = gradcheck(
        &path,
        &["--data", "digits", "--samples", "8", "--coords", "8"],
    );
    assert_passed(&run);
}

#[test]
fn an_unlabelled_npy_batch_is_checked_against_the_models_predictions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 10, None);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let images = Array4::from_shape_fn((3, 1, 8, 8), |_| rng.gen_range(-0.5f32..0.5));
    let npy = dir.path().join("batch.npy");
    ndarray_npy::write_npy(&npy, &images).expect("write npy");
    let run = gradcheck(
        &model,
        &[
            "--data",
            npy.to_str().expect("utf-8 path"),
            "--coords",
            "all",
            "--seed",
            "7",
        ],
    );
    assert_passed(&run);
    assert!(
        run.stdout
            .contains("3 samples of 1x8x8, the model's predictions as labels"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("seed 7, all coordinates"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 10, None);
    let cases: &[&[&str]] = &[
        &[],
        &["--data", "digits", "--samples", "0"],
        &["--data", "digits", "--samples", "many"],
        &["--data", "digits", "--coords", "0"],
        &["--data", "digits", "--coords", "some"],
        &["--data", "digits", "--step", "0"],
        &["--data", "digits", "--step", "-1e-3"],
        &["--data", "digits", "--step", "nan"],
        &["--data", "digits", "--dither", "-1"],
        &["--data", "digits", "--split", "validation"],
        &["--data", "digits", "--seed", "-1"],
        &["--data", "digits", "--frobnicate"],
    ];
    for args in cases {
        let run = gradcheck(&model, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn labels_beyond_the_models_classes_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 4, None);
    let run = gradcheck(
        &model,
        &["--data", "digits", "--samples", "8", "--coords", "4"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is out of range for a model with 4 classes"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_op_without_a_gradient_rule_exits_4_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 10, Some("Sin"));
    let run = gradcheck(&model, &["--data", "digits", "--samples", "2"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let mut lines = run.stderr.lines();
    let error = lines.next().expect("an error line");
    assert!(
        error.starts_with("error: no gradient rule for op Sin in "),
        "{error}"
    );
    let hint = lines.next().expect("a hint line");
    assert!(hint.starts_with("hint: "), "{hint}");
}

#[test]
fn a_missing_dataset_exits_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dense_model(dir.path(), 10, None);
    let missing = dir.path().join("missing.npy");
    let run = gradcheck(&model, &["--data", missing.to_str().expect("utf-8")]);
    assert_eq!(run.code, 3, "{}", run.stderr);
}
