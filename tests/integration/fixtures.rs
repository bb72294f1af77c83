//! The PyTorch-exported fixtures of `tests/fixtures/` (written by `scripts/make-fixtures`,
//! described in its README): every model loads, `inspect` reports how its gradients are
//! computed, tract's input gradients match torch autograd's, and fgsm + pgd audit it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array4, ArrayD, Axis, Ix2, Ix4};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use robustaudit::model::{Differentiable, GradientMethod, GradientSource, TractDifferentiable};

use super::robustaudit;

/// How a fixture's gradients are expected to be computed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Exact,
    /// Straight-through through QuantizeLinear -> DequantizeLinear pairs (QDQ models, and
    /// QOperator ones through their dequantized float twins).
    StraightThrough,
}

/// Every fixture model: folder, file, expected gradients, layout is NHWC.
const FIXTURES: &[(&str, &str, Expect, bool)] = &[
    ("mobilenetv2", "classic-opset13.onnx", Expect::Exact, false),
    ("mobilenetv2", "classic-opset17.onnx", Expect::Exact, false),
    ("mobilenetv2", "dynamo-opset18.onnx", Expect::Exact, false),
    ("resnet", "classic-opset13.onnx", Expect::Exact, false),
    ("resnet", "classic-opset17.onnx", Expect::Exact, false),
    (
        "resnet",
        "classic-opset17-unfolded.onnx",
        Expect::Exact,
        false,
    ),
    ("resnet", "dynamo-opset18.onnx", Expect::Exact, false),
    ("vit", "classic-opset13.onnx", Expect::Exact, false),
    ("vit", "classic-opset17.onnx", Expect::Exact, false),
    ("vit", "dynamo-opset18.onnx", Expect::Exact, false),
    (
        "mobilenetv2-qdq-b1",
        "model.onnx",
        Expect::StraightThrough,
        false,
    ),
    (
        "resnet-qdq-nhwc",
        "model.onnx",
        Expect::StraightThrough,
        true,
    ),
    (
        "resnet-qoperator",
        "model.onnx",
        Expect::StraightThrough,
        false,
    ),
];

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn npy(folder_name: &str, file: &str) -> ArrayD<f32> {
    let path = folder(folder_name).join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ArrayD::<f32>::read_npy(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture's images as the model input `images / 255`, NCHW (the library's layout).
fn images(folder_name: &str, nhwc: bool) -> Array4<f32> {
    let path = folder(folder_name).join("images.npy");
    let f = std::fs::File::open(&path).expect("images.npy");
    let pixels = ArrayD::<u8>::read_npy(f).expect("u8 images");
    let x = pixels
        .mapv(|p| p as f32 / 255.0)
        .into_dimensionality::<Ix4>()
        .expect("rank 4");
    if nhwc {
        x.permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .into_owned()
    } else {
        x
    }
}

/// A gradient file in NCHW.
fn gradient(folder_name: &str, file: &str, nhwc: bool) -> Array4<f32> {
    let g = npy(folder_name, file)
        .into_dimensionality::<Ix4>()
        .expect("rank 4");
    if nhwc {
        g.permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .into_owned()
    } else {
        g
    }
}

fn labels(folder_name: &str) -> Array1<i64> {
    let f = std::fs::File::open(folder(folder_name).join("labels.npy")).expect("labels.npy");
    Array1::<i64>::read_npy(f).expect("i64 labels")
}

/// The cross-entropy seed `softmax(z) - onehot(label)`: d/dz of `sum_b CE(z_b, label_b)`.
fn cross_entropy_seed(logits: &Array2<f32>, labels: &Array1<i64>) -> Array2<f32> {
    let mut seed = logits.clone();
    for (mut row, &label) in seed.rows_mut().into_iter().zip(labels) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let total: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        row.mapv_inplace(|v| (((v - max) as f64).exp() / total) as f32);
        row[label as usize] -= 1.0;
    }
    seed
}

/// The error measure: the median over coordinates j of `|a_j - t_j| / max(|t_j|, floor)`
/// with `floor = 1e-6 * max_k |t_k|` (so exact zeros of torch's gradient do not divide by
/// zero), where `a` is tract's gradient and `t` torch's.
fn median_relative_error(a: &Array4<f32>, t: &Array4<f32>) -> f64 {
    let scale = t.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
    assert!(
        scale > 0.0,
        "torch's gradient is zero: the check would be empty"
    );
    let floor = 1e-6 * scale;
    let mut errors: Vec<f64> = a
        .iter()
        .zip(t)
        .map(|(&a, &t)| (a as f64 - t as f64).abs() / (t.abs() as f64).max(floor))
        .collect();
    errors.sort_by(f64::total_cmp);
    errors[errors.len() / 2]
}

#[test]
fn every_fixture_loads_and_inspect_says_how_its_gradients_are_computed() {
    let mut wrong = Vec::new();
    for &(name, file, expect, _) in FIXTURES {
        let path = folder(name).join(file);
        let run = robustaudit(&[OsStr::new("inspect"), path.as_os_str()]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("gradients"))
            .expect("a gradients line");
        let ok = match expect {
            Expect::Exact => line.starts_with("gradients   exact: vjp graph"),
            Expect::StraightThrough => {
                line.starts_with("gradients   straight-through: vjp graph")
                    && line.contains("QuantizeLinear -> DequantizeLinear pairs")
                    && (!name.contains("qoperator")
                        || line.contains("9 QLinearConv as their dequantized float twins"))
            }
        };
        if !ok {
            wrong.push(format!("{name}/{file}: {line}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected gradients:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn tract_input_gradients_match_torch_autograd() {
    let mut failures = Vec::new();
    for &(name, file, expect, nhwc) in FIXTURES {
        let path = folder(name).join(file);
        let model = match TractDifferentiable::open(&path) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}/{file}: no vjp graph: {e}"));
                continue;
            }
        };
        let x = images(name, nhwc);
        let seed = npy(name, "seed.npy")
            .into_dimensionality::<Ix2>()
            .expect("rank 2");
        let (logits, grad_seed) = model.vjp(x.view(), seed.view()).expect("vjp");
        let reference = npy(name, "logits.npy")
            .into_dimensionality::<Ix2>()
            .expect("rank 2");
        // Float models: torch's logits. Quantized ones: onnxruntime's, whose int8 kernels
        // may round an activation one step apart from tract's.
        let logit_tolerance = if expect == Expect::Exact { 1e-4 } else { 2e-2 };
        let worst = logits
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0f32, f32::max);
        if worst > logit_tolerance {
            failures.push(format!("{name}/{file}: logits differ by {worst}"));
        }
        // The QOperator fixture has no reference gradients (torch cannot run its graph).
        if !folder(name).join("grad_seed.npy").exists() {
            continue;
        }
        let mut checks = vec![("seed", grad_seed)];
        if folder(name).join("grad_ce.npy").exists() {
            let ce = cross_entropy_seed(&logits, &labels(name));
            checks.push(("ce", model.vjp(x.view(), ce.view()).expect("vjp").1));
        }
        for (loss, grad) in checks {
            let torch = gradient(name, &format!("grad_{loss}.npy"), nhwc);
            let error = median_relative_error(&grad, &torch);
            eprintln!("{name}/{file}: loss {loss}: median relative gradient error {error:.2e}");
            if error > 1e-4 {
                failures.push(format!("{name}/{file}: loss {loss}: error {error:.2e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fgsm_and_pgd_audit_every_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for &(name, file, expect, nhwc) in FIXTURES {
        let model = folder(name).join(file);
        let want = match expect {
            Expect::Exact => "exact",
            Expect::StraightThrough => "straight-through",
        };
        // A model that unexpectedly falls back to finite differences fails here rather than
        // spending minutes on 2 * c * h * w forward passes per gradient.
        let (kind, reason) = GradientSource::open(&model, GradientMethod::Auto)
            .expect("opens")
            .kind();
        if kind != want {
            failures.push(format!("{name}/{file}: gradients `{kind}` ({reason})"));
            continue;
        }
        // The dataset: the fixture's images in NCHW, labelled with the model's own
        // predictions so that every image is attacked.
        let data = dir.path().join(format!("{name}-{file}.npy"));
        let x = images(name, nhwc);
        let pixels = x.mapv(|v| (v * 255.0).round() as u8);
        pixels
            .write_npy(std::fs::File::create(&data).expect("create"))
            .expect("write images");
        let logits = npy(name, "logits.npy")
            .into_dimensionality::<Ix2>()
            .expect("rank 2");
        let predicted: Array1<i64> = logits
            .axis_iter(Axis(0))
            .map(|row| {
                let best = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                row.iter().position(|&v| v == best).expect("a maximum") as i64
            })
            .collect();
        predicted
            .write_npy(std::fs::File::create(data.with_extension("labels.npy")).expect("create"))
            .expect("write labels");
        let out = dir.path().join(format!("{name}-{file}"));
        let samples = x.shape()[0];
        let run = robustaudit(&[
            OsStr::new("audit"),
            OsStr::new("--model"),
            model.as_os_str(),
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--samples"),
            OsStr::new(&samples.to_string()),
            OsStr::new("--attacks"),
            OsStr::new("fgsm,pgd"),
            OsStr::new("--eps"),
            OsStr::new("0.03"),
            OsStr::new("--attack-param"),
            OsStr::new("pgd.steps=3"),
            OsStr::new("--out"),
            out.as_os_str(),
        ]);
        if run.code != 0 {
            failures.push(format!("{name}/{file}: exit {}: {}", run.code, run.stderr));
            continue;
        }
        let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
        let mut reader = csv::Reader::from_reader(summary.as_bytes());
        let header = reader.headers().expect("header").clone();
        let at = |col: &str| header.iter().position(|h| h == col).expect(col);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 2, "{name}/{file}: fgsm and pgd at one radius");
        for row in &rows {
            if &row[at("gradients")] != want {
                failures.push(format!(
                    "{name}/{file}: gradients `{}` ({})",
                    &row[at("gradients")],
                    &row[at("gradients_reason")]
                ));
            }
            assert_eq!(
                row[at("runs")].parse::<usize>().expect("count"),
                samples,
                "{name}/{file}: every image is classified as labelled, so attacked"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
