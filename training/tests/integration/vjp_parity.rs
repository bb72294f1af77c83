//! ONNX Runtime and tract agree on the VJP graphs of the shipped specs: same logits and same
//! input gradients, to 1e-5 relative, on real images, for a random fixed seed and for seeds
//! the graph computes from its logits (cross-entropy's and the margin's), which must also
//! match the same seeds computed on the host from the logits.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array4, Ix2, Ix4};
use robustaudit::data::{load, Split};
use robustaudit::model::LogitSeeds;
use robustaudit::tract::VjpPlan;
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_graph::grad::{
    vjp_graph, GRAD_INPUT, SEED, SEED_SOFTMAX_CLASS, SEED_SOFTMAX_WEIGHT, SEED_TOP_MASK,
    SEED_TOP_WEIGHT,
};
use robustaudit_graph::onnx::OnnxModel;
use robustaudit_train::runtime::{self, Device};

use super::spec;

const BATCH: usize = 8;
/// The largest difference allowed, relative to the largest magnitude of the reference.
const TOLERANCE: f32 = 1e-5;
/// Seeds the weights of every generated network.
const WEIGHT_SEED: u64 = 17;

/// A network of dense layers only (Flatten, Gemm, Relu) on the digits' 1x8x8 input.
const GEMM_RELU: &str = r#"
name = "gemm-relu"
input = [1, 8, 8]
classes = 10

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 32

[[layers]]
kind = "relu"

[[layers]]
kind = "dense"
units = 16

[[layers]]
kind = "relu"

[[layers]]
kind = "dense"
units = 10
"#;

/// Logits and input gradient of one run of a VJP graph.
struct VjpOutputs {
    logits: Array2<f32>,
    grad: Array4<f32>,
}

/// Runs the VJP graph with tract; with `host_seeds`, the seeds evaluated on the host at the
/// logits of a forward run instead of by the graph.
fn tract_vjp(
    model: &OnnxModel,
    vjp: &OnnxModel,
    images: &Array4<f32>,
    seeds: &LogitSeeds,
    host_seeds: bool,
) -> VjpOutputs {
    let signature = model.signature().expect("model signature");
    let plan = VjpPlan::new(vjp, &signature.input, seeds.classes()).expect("tract vjp plan");
    let (logits, grad) = if host_seeds {
        let fixed = LogitSeeds::fixed(Array2::zeros((BATCH, seeds.classes())).view());
        let (logits, _) = plan
            .run_seeds(images.view(), fixed.inputs())
            .expect("logits");
        let seed = seeds.at(logits.view());
        plan.run(images.view(), seed.view()).expect("tract vjp run")
    } else {
        plan.run_seeds(images.view(), seeds.inputs())
            .expect("tract vjp run")
    };
    VjpOutputs { logits, grad }
}

/// Runs the VJP graph with ONNX Runtime on the CPU.
fn ort_vjp(
    model: &OnnxModel,
    vjp: &OnnxModel,
    images: &Array4<f32>,
    seeds: &LogitSeeds,
) -> VjpOutputs {
    let signature = model.signature().expect("model signature");
    let name = vjp.path().display().to_string();
    let mut session =
        runtime::session(&vjp.to_bytes(), Device::Cpu, 1, &name).expect("ort session");
    let tensor = |a| ort::value::TensorRef::from_array_view(a).expect("input tensor");
    let x = ort::value::TensorRef::from_array_view(images.view()).expect("image tensor");
    let parts = seeds.inputs();
    let outputs = session
        .run(ort::inputs![
            signature.input.name.as_str() => x,
            SEED => tensor(parts.fixed),
            SEED_SOFTMAX_WEIGHT => tensor(parts.softmax_weight),
            SEED_SOFTMAX_CLASS => tensor(parts.softmax_class),
            SEED_TOP_WEIGHT => tensor(parts.top_weight),
            SEED_TOP_MASK => tensor(parts.top_mask),
        ])
        .expect("ort run");
    let logits = outputs[signature.logits.as_str()]
        .try_extract_array::<f32>()
        .expect("f32 logits")
        .into_dimensionality::<Ix2>()
        .expect("2-d logits")
        .to_owned();
    let grad = outputs[GRAD_INPUT]
        .try_extract_array::<f32>()
        .expect("f32 gradient")
        .into_dimensionality::<Ix4>()
        .expect("4-d gradient")
        .to_owned();
    VjpOutputs { logits, grad }
}

fn max_abs<'a>(values: impl IntoIterator<Item = &'a f32>) -> f32 {
    values.into_iter().fold(0f32, |m, v| m.max(v.abs()))
}

fn max_diff<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>, b: &ndarray::Array<f32, D>) -> f32 {
    a.iter()
        .zip(b.iter())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Seeds that depend on the logits, one kind per row: cross-entropy on a class, the margin
/// keeping a class, and both weights with a random fixed part.
fn logit_seeds(classes: usize) -> LogitSeeds {
    let random = uniform::<_, ndarray::Ix2>((BATCH, classes), 7, 1.0);
    let rows: Vec<LogitSeeds> = (0..BATCH)
        .map(|i| {
            let class = (3 * i) % classes;
            match i % 3 {
                0 => LogitSeeds::cross_entropy(classes, class, -1.0),
                1 => LogitSeeds::margin(classes, class, 1.0),
                _ => LogitSeeds::one(random.row(i).as_slice().expect("row"), 0.5, 2.0, None),
            }
        })
        .collect();
    LogitSeeds::concatenate(rows.iter()).expect("same classes")
}

/// Builds the VJP graph of `model` and checks, on `images`, that both engines agree for a
/// seeded random seed and for seeds computed from the logits, and that the latter match the
/// seeds computed on the host.
fn check_vjp_parity(model: &OnnxModel, images: &Array4<f32>, classes: usize) {
    let name = model.path().display().to_string();
    let vjp = vjp_graph(model).unwrap_or_else(|e| panic!("{name}: no vjp graph: {e}"));
    let fixed = LogitSeeds::fixed(uniform((BATCH, classes), 99, 1.0).view());
    let tract = tract_vjp(model, &vjp, images, &fixed, false);
    let ort = ort_vjp(model, &vjp, images, &fixed);
    check_agree(
        &format!("{name}, fixed seed"),
        images,
        classes,
        &tract,
        &ort,
    );
    let seeds = logit_seeds(classes);
    let tract = tract_vjp(model, &vjp, images, &seeds, false);
    let ort = ort_vjp(model, &vjp, images, &seeds);
    check_agree(
        &format!("{name}, logit seeds"),
        images,
        classes,
        &tract,
        &ort,
    );
    let host = tract_vjp(model, &vjp, images, &seeds, true);
    check_agree(
        &format!("{name}, graph vs host seeds"),
        images,
        classes,
        &tract,
        &host,
    );
}

/// Checks that two runs' logits and gradients agree to [`TOLERANCE`].
fn check_agree(
    name: &str,
    images: &Array4<f32>,
    classes: usize,
    tract: &VjpOutputs,
    ort: &VjpOutputs,
) {
    assert_eq!(ort.logits.shape(), &[BATCH, classes]);
    assert_eq!(ort.grad.shape(), images.shape());
    assert_eq!(tract.logits.shape(), ort.logits.shape());
    assert_eq!(tract.grad.shape(), ort.grad.shape());
    for (engine, out) in [("tract", &tract), ("ort", &ort)] {
        assert!(
            out.logits.iter().chain(&out.grad).all(|v| v.is_finite()),
            "{name}: {engine} returned non-finite values"
        );
    }

    let logit_scale = max_abs(&ort.logits).max(1.0);
    let logit_diff = max_diff(&tract.logits, &ort.logits);
    let grad_scale = max_abs(&ort.grad);
    let grad_diff = max_diff(&tract.grad, &ort.grad);
    eprintln!(
        "{name}: logits max |tract - ort| {logit_diff:.3e} (scale {logit_scale:.3e}, relative \
         {:.3e}); gradient max |tract - ort| {grad_diff:.3e} (max |grad| {grad_scale:.3e}, \
         relative {:.3e})",
        logit_diff / logit_scale,
        grad_diff / grad_scale,
    );
    assert!(grad_scale > 0.0, "{name}: the input gradient is all zeros");
    assert!(
        logit_diff <= TOLERANCE * logit_scale,
        "{name}: logits differ by {logit_diff:e}, more than {TOLERANCE:e} x {logit_scale:e}"
    );
    assert!(
        grad_diff <= TOLERANCE * grad_scale,
        "{name}: gradients differ by {grad_diff:e}, more than {TOLERANCE:e} x {grad_scale:e}"
    );
}

fn spec_graph(spec: &ArchSpec) -> OnnxModel {
    forward_graph(
        spec,
        WEIGHT_SEED,
        PathBuf::from(format!("{}.onnx", spec.name)),
    )
    .expect("forward graph")
}

fn check_spec(spec: &ArchSpec, images: &Array4<f32>) {
    let [c, h, w] = spec.input;
    assert_eq!(images.shape(), &[BATCH, c, h, w]);
    check_vjp_parity(&spec_graph(spec), images, spec.classes);
}

fn first_images(dataset: &str) -> Array4<f32> {
    let set = load(dataset, Split::Test).expect("dataset installed by scripts/setup");
    set.images.slice(s![..BATCH, .., .., ..]).to_owned()
}

/// Values uniform in [-half_width, half_width] from a fixed SplitMix64 sequence.
fn uniform<Sh, D>(shape: Sh, seed: u64, half_width: f32) -> ndarray::Array<f32, D>
where
    Sh: ndarray::ShapeBuilder<Dim = D>,
    D: ndarray::Dimension,
{
    let mut state = seed;
    ndarray::Array::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * unit - 1.0) * half_width
    })
}

#[test]
fn gemm_relu_vjp_on_digits_images() {
    let spec = ArchSpec::from_toml(GEMM_RELU, Path::new("gemm-relu.toml")).expect("valid spec");
    check_spec(&spec, &first_images("digits"));
}

#[test]
fn mnist_paper_vjp_on_mnist_images() {
    check_spec(&spec("mnist-paper"), &first_images("mnist"));
}

#[test]
fn cifar_paper_vjp_on_uniform_noise() {
    check_spec(
        &spec("cifar-paper"),
        &uniform((BATCH, 3, 32, 32), 2024, 0.5),
    );
}

#[test]
fn digits_small_vjp_on_digits_images() {
    check_spec(&spec("digits-small"), &first_images("digits"));
}
