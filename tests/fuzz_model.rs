//! The model side's fuzz harness (issue 15): a bounded, seeded mutation test in the normal
//! test suite. A valid digits-sized classifier built with the project's graph builder is
//! mutated at the structure level (attribute values, dims, dtypes, index and shape
//! constants, op types, input wiring) and at the byte level, and every mutant goes through
//! the ONNX loader and its validation, tract's analysis and planning, a forward pass and
//! the VJP builder with its probe. Each case must finish within `CASE_WALL` without a
//! panic, with `Ok` or a typed error, and without an arithmetic overflow inside tract
//! (caught as a panic in this debug build, it would wrap in a release build).
//!
//! Budget: `STRUCTURE_CASES` + `BYTE_CASES` cases (override the total with
//! `ROBUSTAUDIT_FUZZ_CASES`), seeds `0..n`; a failure names its seed, and
//! `ROBUSTAUDIT_FUZZ_CASE=<seed>` replays one case. What it found is kept under
//! `tests/fixtures/hostile/` (tested in `tests/integration/hostile.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ndarray::Array4;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::model::GradientSource;
use robustaudit::tract::ModelSummary;
use robustaudit_graph::onnx::{Attr, ConstTensor, GraphBuilder, Node, OnnxModel, Values};

/// Structure-level cases in the default budget.
const STRUCTURE_CASES: u64 = 1500;
/// Byte-level cases in the default budget.
const BYTE_CASES: u64 = 1500;
/// The longest one case may take (debug build, shared machine).
const CASE_WALL: Duration = Duration::from_secs(30);

/// Integers that break code: signs, zero, off-by-ones, overflow edges.
const INTERESTING: &[i64] = &[
    0,
    -1,
    1,
    2,
    3,
    7,
    64,
    65_536,
    65_537,
    1 << 31,
    (1 << 31) - 1,
    1 << 32,
    i64::MAX,
    i64::MIN,
    -(1 << 40),
];

/// Op types a mutated node may take.
const OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "Relu",
    "Sigmoid",
    "Flatten",
    "Reshape",
    "Expand",
    "Tile",
    "ConstantOfShape",
    "Gather",
    "GatherND",
    "GatherElements",
    "ScatterND",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Gemm",
    "MatMul",
    "Softmax",
    "Pad",
    "Slice",
    "Concat",
    "Resize",
    "ReduceMean",
    "Identity",
    "Sin",
    "Add",
];

/// A graph in the project's own terms, mutated before it is built.
#[derive(Clone, Debug)]
struct Spec {
    input: Vec<Option<usize>>,
    constants: Vec<(String, ConstTensor)>,
    nodes: Vec<Node>,
    output: String,
}

/// Conv -> Relu -> MaxPool -> Reshape -> Gather -> Gemm -> Softmax on `[batch, 1, 8, 8]`.
fn base() -> Spec {
    let ramp = |n: usize, k: f32| (0..n).map(|i| ((i * 7) % 13) as f32 * k - 0.3).collect();
    let node = |op: &str, i: &[&str], o: &[&str], a: Vec<(&str, Attr)>| Node::new(op, i, o, a);
    Spec {
        input: vec![None, Some(1), Some(8), Some(8)],
        constants: vec![
            ("w".into(), ConstTensor::f32(&[4, 1, 3, 3], ramp(36, 0.05))),
            (
                "b".into(),
                ConstTensor::f32(&[4], vec![0.1, -0.1, 0.0, 0.2]),
            ),
            ("shape".into(), ConstTensor::i64(&[2], vec![-1, 64])),
            (
                "cols".into(),
                ConstTensor::i64(&[64], (0..64).rev().collect()),
            ),
            ("fc".into(), ConstTensor::f32(&[10, 64], ramp(640, 0.01))),
            ("fcb".into(), ConstTensor::f32(&[10], vec![0.0; 10])),
        ],
        nodes: vec![
            node(
                "Conv",
                &["x", "w", "b"],
                &["c"],
                vec![
                    ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                    ("strides", Attr::Ints(vec![1, 1])),
                    ("kernel_shape", Attr::Ints(vec![3, 3])),
                ],
            ),
            node("Relu", &["c"], &["r"], vec![]),
            node(
                "MaxPool",
                &["r"],
                &["p"],
                vec![
                    ("kernel_shape", Attr::Ints(vec![2, 2])),
                    ("strides", Attr::Ints(vec![2, 2])),
                ],
            ),
            node("Reshape", &["p", "shape"], &["flat"], vec![]),
            node(
                "Gather",
                &["flat", "cols"],
                &["perm"],
                vec![("axis", Attr::Int(1))],
            ),
            node(
                "Gemm",
                &["perm", "fc", "fcb"],
                &["logits"],
                vec![("transB", Attr::Int(1))],
            ),
            node(
                "Softmax",
                &["logits"],
                &["probs"],
                vec![("axis", Attr::Int(1))],
            ),
        ],
        output: "probs".into(),
    }
}

impl Spec {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = GraphBuilder::new("fuzz");
        b.input("x", &self.input);
        for (name, value) in &self.constants {
            b.constant(name, value);
        }
        for node in &self.nodes {
            b.add(node.clone());
        }
        b.output(&self.output, &[None, Some(10)]);
        b.to_unvalidated_bytes()
    }

    /// Every tensor name a node input may be rewired to.
    fn names(&self) -> Vec<String> {
        let mut names = vec!["x".to_string()];
        names.extend(self.constants.iter().map(|(n, _)| n.clone()));
        names.extend(self.nodes.iter().flat_map(|n| n.outputs.clone()));
        names
    }
}

fn interesting(rng: &mut ChaCha8Rng) -> i64 {
    if rng.gen_bool(0.5) {
        *INTERESTING.choose(rng).unwrap_or(&0)
    } else {
        rng.gen_range(-4..80)
    }
}

/// One structure-level mutation of `spec`.
fn mutate(spec: &mut Spec, rng: &mut ChaCha8Rng) {
    let node_count = spec.nodes.len();
    match rng.gen_range(0..9) {
        // An integer attribute or one element of an integer-list attribute.
        0 => {
            let node = &mut spec.nodes[rng.gen_range(0..node_count)];
            if node.attrs.is_empty() {
                return;
            }
            let i = rng.gen_range(0..node.attrs.len());
            let value = interesting(rng);
            match &mut node.attrs[i].1 {
                Attr::Int(v) => *v = value,
                Attr::Ints(v) if !v.is_empty() => {
                    let j = rng.gen_range(0..v.len());
                    v[j] = value;
                }
                Attr::Ints(v) => v.push(value),
                _ => {}
            }
        }
        // An attribute added, replaced or removed.
        1 => {
            let node = &mut spec.nodes[rng.gen_range(0..node_count)];
            let name = *[
                "pads",
                "strides",
                "dilations",
                "kernel_shape",
                "group",
                "axis",
                "auto_pad",
                "batch_dims",
                "output_padding",
                "keepdims",
            ]
            .choose(rng)
            .unwrap_or(&"axis");
            node.attrs.retain(|(k, _)| k != name);
            let value = match name {
                "auto_pad" => Attr::Str(
                    ["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "bogus\u{1b}"]
                        .choose(rng)
                        .unwrap_or(&"VALID")
                        .to_string(),
                ),
                "group" | "axis" | "batch_dims" | "keepdims" => Attr::Int(interesting(rng)),
                _ => Attr::Ints((0..rng.gen_range(0..5)).map(|_| interesting(rng)).collect()),
            };
            if rng.gen_bool(0.8) {
                node.attrs.push((name.to_string(), value));
            }
        }
        // A constant's dims.
        2 => {
            let (_, t) = spec.constants.choose_mut(rng).expect("constants");
            if t.dims.is_empty() || rng.gen_bool(0.2) {
                t.dims.push(rng.gen_range(0..4));
            } else {
                let j = rng.gen_range(0..t.dims.len());
                t.dims[j] = rng.gen_range(0..70);
            }
            if rng.gen_bool(0.5) {
                let n: usize = t.dims.iter().product();
                t.values = match &t.values {
                    Values::F32(_) => Values::F32(vec![0.5; n.min(4096)]),
                    Values::I64(_) => Values::I64(vec![1; n.min(4096)]),
                };
            }
        }
        // A constant's dtype.
        3 => {
            let (_, t) = spec.constants.choose_mut(rng).expect("constants");
            t.values = match &t.values {
                Values::F32(v) => Values::I64(v.iter().map(|x| (x * 10.0) as i64).collect()),
                Values::I64(v) => Values::F32(v.iter().map(|&x| x as f32).collect()),
            };
        }
        // A value of an integer constant (shapes, indices).
        4 => {
            let ints: Vec<usize> = (0..spec.constants.len())
                .filter(|&i| matches!(spec.constants[i].1.values, Values::I64(_)))
                .collect();
            if let Some(&i) = ints.choose(rng) {
                let value = interesting(rng);
                if let Values::I64(v) = &mut spec.constants[i].1.values {
                    if !v.is_empty() {
                        let j = rng.gen_range(0..v.len());
                        v[j] = value;
                    }
                }
            }
        }
        // An op type.
        5 => {
            let node = &mut spec.nodes[rng.gen_range(0..node_count)];
            node.op = OPS.choose(rng).unwrap_or(&"Relu").to_string();
        }
        // Input wiring: one input rewired, dropped or added.
        6 => {
            let names = spec.names();
            let node = &mut spec.nodes[rng.gen_range(0..node_count)];
            let name = names.choose(rng).cloned().unwrap_or_default();
            match rng.gen_range(0..3) {
                0 if !node.inputs.is_empty() => {
                    let j = rng.gen_range(0..node.inputs.len());
                    node.inputs[j] = name;
                }
                1 if !node.inputs.is_empty() => {
                    node.inputs.pop();
                }
                _ => node.inputs.push(name),
            }
        }
        // The image input's dims.
        7 => {
            let j = rng.gen_range(0..spec.input.len());
            spec.input[j] = if rng.gen_bool(0.2) {
                None
            } else {
                Some(interesting(rng).clamp(0, 1 << 20) as usize)
            };
        }
        // A new indexing or shape node with a constant second input, spliced in.
        _ => {
            let at = rng.gen_range(0..node_count);
            let source = spec.nodes[at].outputs[0].clone();
            let op = *[
                "GatherND",
                "GatherElements",
                "ScatterND",
                "Expand",
                "Tile",
                "Gather",
                "Reshape",
            ]
            .choose(rng)
            .unwrap_or(&"GatherND");
            let rank = rng.gen_range(0..3);
            let dims: Vec<usize> = (0..rank).map(|_| rng.gen_range(1..4)).collect();
            let n: usize = dims.iter().product();
            let values = (0..n).map(|_| interesting(rng)).collect();
            let name = format!("k{at}");
            spec.constants
                .push((name.clone(), ConstTensor::i64(&dims, values)));
            let out = format!("m{at}");
            let mut inputs = vec![source.as_str(), name.as_str()];
            if op == "ScatterND" {
                inputs.push(source.as_str());
            }
            let node = Node::new(op, &inputs, &[&out], vec![]);
            for later in &mut spec.nodes[at + 1..] {
                for input in &mut later.inputs {
                    if *input == source {
                        *input = out.clone();
                    }
                }
            }
            spec.nodes.insert(at + 1, node);
        }
    }
}

/// One byte-level mutation of `bytes`.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    if bytes.is_empty() {
        bytes.push(rng.gen());
        return;
    }
    let at = rng.gen_range(0..bytes.len());
    match rng.gen_range(0..5) {
        0 => bytes[at] ^= 1 << rng.gen_range(0..8),
        1 => bytes[at] = *[0x00, 0x01, 0x7f, 0x80, 0xff].choose(rng).unwrap_or(&0),
        2 => {
            bytes.remove(at);
        }
        3 => {
            // A varint that decodes to a huge or negative value.
            let varint = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
            let end = (at + varint.len()).min(bytes.len());
            bytes.splice(at..end, varint);
        }
        _ => {
            let len = rng.gen_range(1..16).min(bytes.len() - at);
            let chunk: Vec<u8> = bytes[at..at + len].to_vec();
            let to = rng.gen_range(0..bytes.len());
            bytes.splice(to..to, chunk);
        }
    }
}

/// The mutant of case `seed`.
fn case(seed: u64, structure_cases: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if seed < structure_cases {
        let mut spec = base();
        for _ in 0..rng.gen_range(1..4) {
            mutate(&mut spec, &mut rng);
        }
        spec.to_bytes()
    } else {
        let mut bytes = base().to_bytes();
        for _ in 0..rng.gen_range(1..6) {
            mutate_bytes(&mut bytes, &mut rng);
        }
        bytes
    }
}

/// The pipeline a model goes through in `inspect` and `audit`; only typed errors may
/// come out of it.
fn pipeline(path: &Path) -> robustaudit::error::Result<()> {
    let model = OnnxModel::open(path)?;
    ModelSummary::of(&model)?;
    let source = GradientSource::new(model)?;
    let [c, h, w] = source.model().input_chw();
    if c * h * w <= 1 << 16 {
        let images = Array4::<f32>::zeros((2, c, h, w));
        source.model().logits(images.view())?;
    }
    Ok(())
}

/// Runs case `seed` in a thread of its own: whether the model went through the whole
/// pipeline (`false`: a typed error), or `Err` with what went wrong on a panic or when it
/// runs past [`CASE_WALL`].
fn run_case(seed: u64, bytes: Vec<u8>, dir: &Path) -> Result<bool, String> {
    let path = dir.join(format!("case-{seed}.onnx"));
    std::fs::write(&path, &bytes).map_err(|e| format!("write: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let worker_path = path.clone();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| pipeline(&worker_path)));
        let _ = tx.send(outcome.map(|r| r.map_err(|e| e.to_string())));
    });
    let outcome = rx.recv_timeout(CASE_WALL);
    let _ = std::fs::remove_file(&path);
    match outcome {
        // Debug builds check arithmetic: an overflow tract's guard caught here would wrap
        // in a release build and could loop or allocate for ever.
        Ok(Ok(Err(e))) if e.contains("with overflow") => {
            Err(format!("case {seed}: tract overflowed: {e}"))
        }
        Ok(Ok(result)) => Ok(result.is_ok()),
        Ok(Err(_)) => Err(format!("case {seed} panicked")),
        Err(_) => Err(format!("case {seed} ran past {CASE_WALL:?}")),
    }
}

#[test]
fn mutated_models_never_panic_or_hang_in_the_loader_tract_or_the_vjp_builder() {
    let total = std::env::var("ROBUSTAUDIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STRUCTURE_CASES + BYTE_CASES);
    let structure_cases = total * STRUCTURE_CASES / (STRUCTURE_CASES + BYTE_CASES);
    let seeds: Vec<u64> = match std::env::var("ROBUSTAUDIT_FUZZ_CASE") {
        Ok(one) => vec![one.parse().expect("ROBUSTAUDIT_FUZZ_CASE is a seed")],
        Err(_) => (0..total).collect(),
    };
    let base_bytes = base().to_bytes();
    let dir = tempfile::tempdir().expect("tempdir");
    // The unmutated model must pass: otherwise every case would fail early and test nothing.
    let path = dir.path().join("base.onnx");
    std::fs::write(&path, &base_bytes).expect("write base");
    pipeline(&path).expect("the base model is valid");

    let start = Instant::now();
    let (mut ok, mut refused) = (0u64, 0u64);
    let mut failures = Vec::new();
    for &seed in &seeds {
        let bytes = case(seed, structure_cases);
        match run_case(seed, bytes, dir.path()) {
            Ok(true) => ok += 1,
            Ok(false) => refused += 1,
            Err(failure) => {
                failures.push(failure);
                if failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    eprintln!(
        "fuzz_model: {} cases in {:.1?}: {ok} ran, {refused} refused with an error, {} failures",
        seeds.len(),
        start.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
