//! Hostile model files (issue 15): each is built here from the project's own graph builder,
//! kept byte for byte under `tests/fixtures/hostile/`, and must give a one-line error with
//! the model exit code (or the right result) within seconds: never a hang, an unbounded
//! allocation or a panic message.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use robustaudit_graph::onnx::{Attr, ConstTensor, GraphBuilder};

use super::Run;

/// A run that takes longer than this is a hang.
const WALL: Duration = Duration::from_secs(60);

/// A function that makes a hostile model's bytes.
type Generator = fn() -> Vec<u8>;

/// The committed hostile fixtures and the generators that make them.
fn generators() -> Vec<(&'static str, Generator)> {
    vec![
        ("gathernd-float-index.onnx", gathernd_float_index),
        ("conv-huge-pads.onnx", conv_huge_pads),
        ("conv-same-upper-with-pads.onnx", conv_same_upper_with_pads),
        ("nan-logits.onnx", nan_logits),
        ("squeeze-logits.onnx", squeeze_logits),
        ("ansi-metadata.onnx", ansi_metadata),
        ("ansi-op-type.onnx", ansi_op_type),
        ("maxpool-on-flat-input.onnx", maxpool_on_flat_input),
        ("softmax-of-nothing.onnx", softmax_of_nothing),
        (
            "computed-constant-of-shape.onnx",
            computed_constant_of_shape,
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(name)
}

/// A digits-sized image input `[batch, 1, 8, 8]`.
fn digits_input(b: &mut GraphBuilder) {
    b.input("x", &[None, Some(1), Some(8), Some(8)]);
}

/// Flatten -> GatherND whose indices are one float scalar: tract allocated without bound.
fn gathernd_float_index() -> Vec<u8> {
    let mut b = GraphBuilder::new("gathernd-float-index");
    digits_input(&mut b);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.constant("idx", &ConstTensor::f32(&[], vec![3.0]));
    b.node("GatherND", &["flat", "idx"], &["logits"], &[]);
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A Conv whose pads are 2^63 - 1: `inspect` passed it and `audit` spun for ever.
fn conv_huge_pads() -> Vec<u8> {
    let mut b = GraphBuilder::new("conv-huge-pads");
    digits_input(&mut b);
    b.initializer("w", &[10, 1, 8, 8], &[0.01; 640]);
    b.node(
        "Conv",
        &["x", "w"],
        &["y"],
        &[("pads", Attr::Ints(vec![i64::MAX, i64::MAX, 0, 0]))],
    );
    b.node("Flatten", &["y"], &["logits"], &[("axis", Attr::Int(1))]);
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A Conv with `auto_pad=SAME_UPPER` and explicit pads: its VJP graph disagreed with the
/// forward pass, fgsm and pgd panicked in worker threads and `inspect` said "exact".
fn conv_same_upper_with_pads() -> Vec<u8> {
    let mut b = GraphBuilder::new("conv-same-upper-with-pads");
    digits_input(&mut b);
    let w: Vec<f32> = (0..90)
        .map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5)
        .collect();
    b.initializer("w", &[10, 1, 3, 3], &w);
    b.node(
        "Conv",
        &["x", "w"],
        &["y"],
        &[
            ("auto_pad", Attr::Str("SAME_UPPER".into())),
            ("pads", Attr::Ints(vec![1, 1, 0, 0])),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    b.node(
        "ReduceMean",
        &["y"],
        &["logits"],
        &[("axes", Attr::Ints(vec![2, 3])), ("keepdims", Attr::Int(0))],
    );
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A linear model with one NaN weight: audit exited 1, "internal error, please report".
fn nan_logits() -> Vec<u8> {
    let mut b = GraphBuilder::new("nan-logits");
    digits_input(&mut b);
    let mut w: Vec<f32> = (0..640)
        .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
        .collect();
    w[5] = f32::NAN;
    b.initializer("w", &[10, 64], &w);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node(
        "Gemm",
        &["flat", "w"],
        &["logits"],
        &[("transB", Attr::Int(1))],
    );
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// Logits `[batch, 10, 1, 1]` squeezed to `[batch, 10]` by a Squeeze without axes:
/// `inspect` and `audit` disagreed on the class count.
fn squeeze_logits() -> Vec<u8> {
    let mut b = GraphBuilder::new("squeeze-logits");
    digits_input(&mut b);
    let w: Vec<f32> = (0..640)
        .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
        .collect();
    b.initializer("w", &[10, 1, 8, 8], &w);
    b.node("Conv", &["x", "w"], &["y"], &[]);
    b.node("Squeeze", &["y"], &["logits"], &[]);
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// Text that clears the screen and forges an output line.
const FORGED: &str = "\u{1b}[2J\u{1b}[31mok\ngradients   exact";

/// A valid linear model whose metadata and tensor names carry [`FORGED`] text.
fn ansi_metadata() -> Vec<u8> {
    let mut b = GraphBuilder::new("ansi-metadata");
    digits_input(&mut b);
    let w: Vec<f32> = (0..640)
        .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
        .collect();
    b.initializer("w", &[10, 64], &w);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    let logits = format!("logits{FORGED}");
    b.node(
        "Gemm",
        &["flat", "w"],
        &[&logits],
        &[("transB", Attr::Int(1))],
    );
    b.output(&logits, &[None, Some(10)]);
    b.metadata(FORGED, FORGED);
    b.to_unvalidated_bytes()
}

/// An op type carrying [`FORGED`] text, which the unsupported-op error quotes.
fn ansi_op_type() -> Vec<u8> {
    let mut b = GraphBuilder::new("ansi-op-type");
    digits_input(&mut b);
    b.node(&format!("Evil{FORGED}"), &["x"], &["logits"], &[]);
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A MaxPool reading a rank-2 tensor, found by `tests/fuzz_model.rs`: tract's shape rules
/// computed `rank - 2` unchecked (an overflow panic in debug builds, a wrapped rank in
/// release builds).
fn maxpool_on_flat_input() -> Vec<u8> {
    let mut b = GraphBuilder::new("maxpool-on-flat-input");
    digits_input(&mut b);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node(
        "MaxPool",
        &["flat"],
        &["pooled"],
        &[("kernel_shape", Attr::Ints(vec![2, 2]))],
    );
    b.node(
        "Flatten",
        &["pooled"],
        &["logits"],
        &[("axis", Attr::Int(1))],
    );
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A trailing Softmax whose input is omitted, found by `tests/fuzz_model.rs`: tract
/// panics while parsing, and its panic message reached stderr before the error line.
fn softmax_of_nothing() -> Vec<u8> {
    let mut b = GraphBuilder::new("softmax-of-nothing");
    digits_input(&mut b);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node("Softmax", &["", "flat"], &["probs"], &[]);
    b.output("probs", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// A ConstantOfShape whose shape is computed from the input's: 2^46 elements, which
/// tract's analysis evaluates eagerly whatever the size.
fn computed_constant_of_shape() -> Vec<u8> {
    let mut b = GraphBuilder::new("computed-constant-of-shape");
    digits_input(&mut b);
    b.node("Shape", &["x"], &["s"], &[]);
    b.constant(
        "k",
        &ConstTensor::i64(&[4], vec![1, 1 << 20, 1 << 10, 1 << 10]),
    );
    b.node("Mul", &["s", "k"], &["big"], &[]);
    b.node("ConstantOfShape", &["big"], &["zeros"], &[]);
    b.node(
        "Flatten",
        &["zeros"],
        &["logits"],
        &[("axis", Attr::Int(1))],
    );
    b.output("logits", &[None, Some(10)]);
    b.to_unvalidated_bytes()
}

/// Runs `robustaudit` with `args`, killing it after [`WALL`]; same checks as
/// [`super::robustaudit`] plus: it ended in time.
fn bounded(args: &[&OsStr]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_robustaudit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn robustaudit");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > WALL {
            child.kill().expect("kill");
            panic!("robustaudit {args:?} ran past {WALL:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// Asserts a run failed with the model exit code and exactly one `error:` line (plus an
/// optional `hint:` line) containing `needle`.
fn assert_model_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 4, "stdout {}\nstderr {}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("error: ")),
        "{}",
        run.stderr
    );
    assert!(lines.len() <= 2, "{}", run.stderr);
    assert!(
        lines[1..].iter().all(|l| l.starts_with("hint: ")),
        "{}",
        run.stderr
    );
    assert!(lines[0].contains(needle), "{}", run.stderr);
}

fn inspect(path: &Path) -> Run {
    bounded(&[OsStr::new("inspect"), path.as_os_str()])
}

fn audit(path: &Path, out: &Path, attack: &str) -> Run {
    bounded(&[
        OsStr::new("audit"),
        OsStr::new("--model"),
        path.as_os_str(),
        OsStr::new("--input-range=-0.5,0.5"),
        OsStr::new("--data"),
        OsStr::new("digits"),
        OsStr::new("--samples"),
        OsStr::new("8"),
        OsStr::new("--attacks"),
        OsStr::new(attack),
        OsStr::new("--out"),
        out.as_os_str(),
    ])
}

/// Regenerates every fixture and checks the committed bytes; with
/// `ROBUSTAUDIT_BLESS=1` it writes them instead.
#[test]
fn hostile_fixtures_match_their_generators() {
    let bless = std::env::var_os("ROBUSTAUDIT_BLESS").is_some();
    for (name, make) in generators() {
        let bytes = make();
        if bless {
            std::fs::write(fixture(name), &bytes).expect("write fixture");
        }
        let committed = std::fs::read(fixture(name)).expect("committed fixture");
        assert_eq!(committed, bytes, "{name} differs from its generator");
    }
}

#[test]
fn gathernd_with_a_float_index_is_refused_before_tract_allocates() {
    let path = fixture("gathernd-float-index.onnx");
    assert_model_error(&inspect(&path), "indices");
    let out = tempfile::tempdir().expect("tempdir");
    assert_model_error(&audit(&path, out.path(), "fgsm"), "indices");
}

#[test]
fn conv_with_huge_pads_is_refused_before_audit_spins() {
    let path = fixture("conv-huge-pads.onnx");
    assert_model_error(&inspect(&path), "pads");
    let out = tempfile::tempdir().expect("tempdir");
    assert_model_error(&audit(&path, out.path(), "fgsm"), "pads");
}

#[test]
fn conv_with_auto_pad_and_pads_is_refused_not_differentiated_wrongly() {
    let path = fixture("conv-same-upper-with-pads.onnx");
    assert_model_error(
        &inspect(&path),
        "auto_pad=SAME_UPPER and explicit pads conflict",
    );
    for attack in ["fgsm", "pgd", "deepfool"] {
        let out = tempfile::tempdir().expect("tempdir");
        assert_model_error(&audit(&path, out.path(), attack), "auto_pad");
    }
}

#[test]
fn nan_logits_are_a_model_error_not_an_internal_error() {
    let path = fixture("nan-logits.onnx");
    let out = tempfile::tempdir().expect("tempdir");
    let run = audit(&path, out.path(), "fgsm");
    assert_model_error(&run, "gives logits that are not finite");
    assert!(run.stderr.contains("nan-logits.onnx"), "{}", run.stderr);
}

#[test]
fn inspect_and_audit_agree_on_the_class_count_of_a_squeezed_model() {
    let path = fixture("squeeze-logits.onnx");
    let run = inspect(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("logits      logits (10 classes)\n"),
        "{}",
        run.stdout
    );
    // digits has labels up to 9: audit refuses them unless it also sees 10 classes.
    let out = tempfile::tempdir().expect("tempdir");
    let run = audit(&path, out.path(), "fgsm");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn newlines_and_ansi_escapes_from_model_text_do_not_reach_the_terminal() {
    let run = inspect(&fixture("ansi-metadata.onnx"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("\\u{1b}[2J\\u{1b}[31mok\\ngradients   exact"),
        "{}",
        run.stdout
    );
    let gradient_lines = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("gradients"))
        .count();
    assert_eq!(gradient_lines, 1, "{}", run.stdout);
    let run = inspect(&fixture("ansi-op-type.onnx"));
    assert_model_error(&run, "unsupported op");
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}

#[test]
fn a_pool_over_a_rank_2_tensor_is_refused_before_tract_underflows() {
    let path = fixture("maxpool-on-flat-input.onnx");
    assert_model_error(&inspect(&path), "has rank 2");
}

#[test]
fn a_panic_inside_tract_prints_only_the_error_line() {
    let path = fixture("softmax-of-nothing.onnx");
    let run = inspect(&path);
    assert_model_error(&run, "tract failed");
    assert!(!run.stderr.contains("backtrace"), "{}", run.stderr);
}

#[test]
fn a_computed_constant_of_shape_is_bounded_before_tract_evaluates_it() {
    let path = fixture("computed-constant-of-shape.onnx");
    assert_model_error(&inspect(&path), "would make a tensor of");
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_given_as_the_model_exits_4_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("model.onnx");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for path in [
        fifo.as_path(),
        Path::new("/dev/zero"),
        Path::new("/dev/urandom"),
    ] {
        assert_model_error(&inspect(path), "not a regular file");
        let out = tempfile::tempdir().expect("tempdir");
        assert_model_error(&audit(path, out.path(), "fgsm"), "not a regular file");
    }
}
