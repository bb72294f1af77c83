//! ONNX Runtime and tract agree on the forward graphs of every spec.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array4};
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, TractClassifier};
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_train::runtime::{self, Device};

use super::spec;

const BATCH: usize = 16;

/// Every layer kind, with a strided and padded convolution, an overlapping max-pool and
/// batch normalisation of both an image and flat features, on the digits' 1x8x8 input.
const ALL_KINDS: &str = r#"
name = "all-kinds"
input = [1, 8, 8]
classes = 10

[[layers]]
kind = "conv"
filters = 6
kernel = 3
stride = 2
padding = 1

[[layers]]
kind = "batchnorm"

[[layers]]
kind = "relu"

[[layers]]
kind = "maxpool"
kernel = 2
stride = 1

[[layers]]
kind = "flatten"

[[layers]]
kind = "batchnorm"
epsilon = 0.001

[[layers]]
kind = "dense"
units = 24

[[layers]]
kind = "relu"

[[layers]]
kind = "dropout"
rate = 0.3

[[layers]]
kind = "dense"
units = 10
"#;

/// Logits of `model` for `images` from ONNX Runtime on the CPU.
fn ort_logits(spec: &ArchSpec, seed: u64, images: &Array4<f32>) -> Array2<f32> {
    let model = forward_graph(spec, seed, PathBuf::from(format!("{}.onnx", spec.name)))
        .expect("forward graph");
    let mut session =
        runtime::session(&model.to_bytes(), Device::Cpu, 1, &spec.name).expect("ort session");
    let input = ort::value::TensorRef::from_array_view(images.view()).expect("input tensor");
    let outputs = session
        .run(ort::inputs!["input" => input])
        .expect("ort run");
    let logits = outputs["logits"]
        .try_extract_array::<f32>()
        .expect("f32 logits");
    logits
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-d logits")
        .to_owned()
}

/// Logits of the same graph from tract.
fn tract_logits(spec: &ArchSpec, seed: u64, images: &Array4<f32>) -> Array2<f32> {
    let model = forward_graph(spec, seed, PathBuf::from(format!("{}.onnx", spec.name)))
        .expect("forward graph");
    TractClassifier::new(model)
        .expect("tract plan")
        .logits(images.view())
        .expect("tract run")
}

/// Runs both engines and checks they agree to 1e-4 on logits that carry information.
fn check_parity(spec: &ArchSpec, images: &Array4<f32>) {
    let [c, h, w] = spec.input;
    assert_eq!(images.shape(), &[BATCH, c, h, w]);
    let seed = 17;
    let tract = tract_logits(spec, seed, images);
    let ort = ort_logits(spec, seed, images);
    assert_eq!(tract.shape(), &[BATCH, spec.classes]);
    assert_eq!(ort.shape(), &[BATCH, spec.classes]);
    assert!(ort.iter().all(|v| v.is_finite()), "{ort}");
    let diff = (&tract - &ort).iter().fold(0f32, |m, d| m.max(d.abs()));
    assert!(
        diff <= 1e-4,
        "{}: tract and ort differ by {diff}",
        spec.name
    );
    // The comparison is meaningful only if the logits vary across classes and samples.
    let spread = |values: &mut dyn Iterator<Item = f32>| {
        let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        hi - lo
    };
    assert!(
        spread(&mut ort.row(0).iter().copied()) > 1e-2,
        "{}: constant logits {ort}",
        spec.name
    );
    assert!(
        spread(&mut ort.column(0).iter().copied()) > 1e-3,
        "{}: every sample has the same logits {ort}",
        spec.name
    );
}

fn first_images(dataset: &str) -> Array4<f32> {
    let set = load(dataset, Split::Test).expect("dataset installed by scripts/setup");
    set.images.slice(s![..BATCH, .., .., ..]).to_owned()
}

/// Uniform values in [-0.5, 0.5] from a fixed SplitMix64 sequence.
fn uniform_images(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
    let mut state = seed;
    Array4::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    })
}

#[test]
fn mnist_paper_on_mnist_images() {
    check_parity(&spec("mnist-paper"), &first_images("mnist"));
}

#[test]
fn cifar_paper_on_uniform_noise() {
    let images = uniform_images((BATCH, 3, 32, 32), 2024);
    let (lo, hi) = images
        .iter()
        .fold((1f32, -1f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(
        (-0.5..-0.49).contains(&lo) && (0.49..0.5).contains(&hi),
        "{lo} {hi}"
    );
    check_parity(&spec("cifar-paper"), &images);
}

#[test]
fn digits_small_on_digits_images() {
    check_parity(&spec("digits-small"), &first_images("digits"));
}

#[test]
fn every_layer_kind_on_digits_images() {
    let spec = ArchSpec::from_toml(ALL_KINDS, Path::new("all-kinds.toml")).expect("valid spec");
    let kinds: Vec<&str> = spec.layers.iter().map(|l| l.kind()).collect();
    for kind in [
        "conv",
        "relu",
        "maxpool",
        "flatten",
        "dense",
        "dropout",
        "batchnorm",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing");
    }
    // 8x8 -> conv stride 2 pad 1 -> 4x4 -> 2x2 pool stride 1 -> 3x3.
    assert_eq!(
        spec.shapes()[3],
        robustaudit_graph::arch::Shape::Image(6, 3, 3)
    );
    assert_eq!(spec.shapes()[5], robustaudit_graph::arch::Shape::Flat(54));
    check_parity(&spec, &first_images("digits"));
}
