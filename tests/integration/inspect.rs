//! `robustaudit inspect` on generated models and on broken files.

use std::ffi::OsStr;
use std::path::Path;

use super::{network, robustaudit, Run};

fn inspect(path: &Path) -> Run {
    robustaudit(&[OsStr::new("inspect"), path.as_os_str()])
}

#[test]
fn inspect_summarises_the_mnist_paper_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mnist.onnx");
    network("mnist-paper", 0, path.clone())
        .write(&path)
        .expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let expected = [
        format!("model       {}", path.display()),
        format!("producer    robustaudit {}", env!("CARGO_PKG_VERSION")),
        "opset       17".into(),
        "input       input: float[batch, 1, 28, 28]".into(),
        "output      logits: float[batch, 10]".into(),
        "image       1x28x28 (channels x height x width), layout nchw".into(),
        "logits      logits (10 classes)".into(),
        "parameters  312202".into(),
        "flops       19904800 per image (19.90 M)".into(),
        "ops         18 nodes: Constant 1, Conv 4, Dropout 1, Flatten 1, Gemm 3, MaxPool 2, Relu 6"
            .into(),
        "metadata    arch = mnist-paper".into(),
        "            seed = 0".into(),
        "            input_range = -0.5,0.5".into(),
        "            layout = nchw".into(),
        "            classes = 10".into(),
        "gradients   exact: vjp graph of 72 nodes".into(),
    ];
    assert_eq!(lines, expected, "{}", run.stdout);
}

#[test]
fn inspect_names_the_ops_that_force_finite_differences() {
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
    let run = inspect(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = run.stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        last,
        format!(
            "gradients   finite differences: no gradient rule for op Sin in {}",
            path.display()
        )
    );
}

#[test]
fn inspect_summarises_the_cifar_paper_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cifar.onnx");
    network("cifar-paper", 5, path.clone())
        .write(&path)
        .expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "input       input: float[batch, 3, 32, 32]",
        "image       3x32x32 (channels x height x width), layout nchw",
        "logits      logits (10 classes)",
        "parameters  1147978",
        // 2 * (1555200 + 28901376 + 10616832 + 14745600 + 887296) multiply-adds.
        "flops       113412608 per image (113.41 M)",
        "metadata    arch = cifar-paper",
        "            seed = 5",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn missing_model_file_exits_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.onnx");
    let run = inspect(&path);
    assert_eq!(run.code, 4);
    assert_eq!(run.stdout, "");
    let expected = format!("error: cannot read model {}: ", path.display());
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
}

#[test]
fn truncated_model_exits_4_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("half.onnx");
    let bytes = network("digits-small", 0, path.clone()).to_bytes();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    let expected = format!("error: malformed onnx model {}: ", path.display());
    assert!(lines[0].starts_with(&expected), "{}", run.stderr);
    assert_eq!(
        lines[1],
        "hint: the file may be truncated or not an onnx model; re-export or re-copy it"
    );
}

#[test]
fn garbage_bytes_exit_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.onnx");
    std::fs::write(&path, b"this is not an onnx model\n").expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let expected = format!("error: malformed onnx model {}: ", path.display());
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("\nhint: "), "{}", run.stderr);
}

#[test]
fn empty_file_exits_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.onnx");
    std::fs::write(&path, b"").expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let expected = format!(
        "error: malformed onnx model {}: the file holds no graph\n",
        path.display()
    );
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
}

#[test]
fn unknown_flag_exits_2() {
    let run = robustaudit(&[OsStr::new("inspect"), OsStr::new("--bogus")]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error: unexpected argument '--bogus' found"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_model_argument_exits_2() {
    let run = robustaudit(&[OsStr::new("inspect")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("<MODEL>"), "{}", run.stderr);
}

#[test]
fn inspect_reports_exact_gradients_for_an_exporter_like_model() {
    // Opset 18, as the dynamo exporter writes: ReLU6 as Clip with bound inputs, Erf, layer
    // normalization, and a global average pool as ReduceMean with its axes as an input.
    use robustaudit_graph::onnx::{Attr, ConstTensor, GraphBuilder};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exported.onnx");
    let mut b = GraphBuilder::new("exported");
    b.set_opset(18);
    b.input("x", &[None, Some(2), Some(4), Some(4)]);
    b.constant("lo", &ConstTensor::f32(&[], vec![0.0]));
    b.constant("hi", &ConstTensor::f32(&[], vec![6.0]));
    b.node("Clip", &["x", "lo", "hi"], &["r"], &[]);
    b.node("Erf", &["r"], &["e"], &[]);
    b.initializer("ln.s", &[4], &[1.0, 0.5, 2.0, 1.5]);
    b.initializer("ln.b", &[4], &[0.0, 0.1, -0.1, 0.2]);
    b.node("LayerNormalization", &["e", "ln.s", "ln.b"], &["n"], &[]);
    b.constant("axes", &ConstTensor::i64(&[2], vec![-1, -2]));
    b.node(
        "ReduceMean",
        &["n", "axes"],
        &["logits"],
        &[("keepdims", Attr::Int(0))],
    );
    b.output("logits", &[None, Some(2)]);
    b.finish(path.clone())
        .expect("valid")
        .write(&path)
        .expect("write");
    let run = inspect(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("gradients   exact: vjp graph of "),
        "{}",
        run.stdout
    );
}
