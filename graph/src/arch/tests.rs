//! Spec parsing, validation, shape inference, parameter counts and the generated graphs.

use std::path::{Path, PathBuf};

use ndarray::Array4;
use prost::Message;

use super::*;
use crate::fixtures::{arch_folder, spec, spec_path};
use crate::onnx::OnnxModel;
use crate::test_runner::TestPlan;

fn parse(text: &str) -> Result<ArchSpec, ArchError> {
    ArchSpec::from_toml(text, Path::new("test.toml"))
}

/// The `location` and `message` of an [`ArchError::Invalid`]; fails on any other outcome.
fn invalid(text: &str) -> (String, String) {
    match parse(text) {
        Err(ArchError::Invalid {
            path,
            location,
            message,
        }) => {
            assert_eq!(path, Path::new("test.toml"));
            (location, message)
        }
        other => panic!("expected an invalid-spec error, got {other:?}"),
    }
}

/// The message of an [`ArchError::Parse`]; fails on any other outcome.
fn parse_error(text: &str) -> String {
    match parse(text) {
        Err(ArchError::Parse { path, message }) => {
            assert_eq!(path, Path::new("test.toml"));
            message
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

const HEADER: &str = "name = \"t\"\ninput = [1, 4, 4]\nclasses = 3\n";

/// A spec on a 1x4x4 input with 3 classes and the given `[[layers]]` tables.
fn with_layers(layers: &str) -> String {
    format!("{HEADER}{layers}")
}

const FLATTEN_DENSE3: &str = "
[[layers]]
kind = \"flatten\"

[[layers]]
kind = \"dense\"
units = 3
";

#[test]
fn shipped_specs_have_the_documented_parameter_counts() {
    assert_eq!(spec("mnist-paper").trainable_parameters(), 312_202);
    assert_eq!(spec("cifar-paper").trainable_parameters(), 1_147_978);
    // conv 16*1*9+16, conv 32*16*9+32, dense 128*64+64, dense 64*10+10.
    assert_eq!(
        spec("digits-small").trainable_parameters(),
        160 + 4640 + 8256 + 650
    );
}

#[test]
fn mnist_paper_shapes_after_each_layer() {
    let spec = spec("mnist-paper");
    assert_eq!(spec.name, "mnist-paper");
    assert_eq!(spec.input, [1, 28, 28]);
    assert_eq!(spec.classes, 10);
    assert_eq!(spec.origin, spec_path("mnist-paper"));
    use Shape::{Flat, Image};
    let expected = [
        Image(32, 26, 26),
        Image(32, 26, 26),
        Image(32, 24, 24),
        Image(32, 24, 24),
        Image(32, 12, 12),
        Image(64, 10, 10),
        Image(64, 10, 10),
        Image(64, 8, 8),
        Image(64, 8, 8),
        Image(64, 4, 4),
        Flat(1024),
        Flat(200),
        Flat(200),
        Flat(200),
        Flat(200),
        Flat(200),
        Flat(10),
    ];
    assert_eq!(spec.shapes(), &expected);
    assert_eq!(spec.layers.len(), expected.len());
    assert_eq!(spec.input_shape_of(0), Image(1, 28, 28));
    assert_eq!(spec.input_shape_of(11), Flat(1024));
    assert_eq!(spec.layers[13], Layer::Dropout { rate: 0.5 });
    assert_eq!(
        spec.layers[0],
        Layer::Conv {
            filters: 32,
            kernel: 3,
            stride: 1,
            padding: 0
        }
    );
    assert_eq!(
        spec.layers[4],
        Layer::Maxpool {
            kernel: 2,
            stride: None
        }
    );
    assert_eq!(Image(32, 26, 26).to_string(), "32x26x26");
    assert_eq!(Flat(1024).to_string(), "1024");
}

#[test]
fn cifar_paper_flattens_128_5x5_maps() {
    let spec = spec("cifar-paper");
    assert_eq!(spec.input, [3, 32, 32]);
    assert_eq!(spec.shapes()[9], Shape::Image(128, 5, 5));
    assert_eq!(spec.shapes()[10], Shape::Flat(3200));
    assert_eq!(spec.shapes().last(), Some(&Shape::Flat(10)));
}

#[test]
fn digits_small_parses_with_its_shapes() {
    let spec = spec("digits-small");
    assert_eq!(spec.name, "digits-small");
    assert_eq!(spec.input, [1, 8, 8]);
    assert_eq!(spec.classes, 10);
    use Shape::{Flat, Image};
    assert_eq!(
        spec.shapes(),
        &[
            Image(16, 6, 6),
            Image(16, 6, 6),
            Image(32, 4, 4),
            Image(32, 4, 4),
            Image(32, 2, 2),
            Flat(128),
            Flat(64),
            Flat(64),
            Flat(64),
            Flat(10),
        ]
    );
}

#[test]
fn defaults_strides_padding_and_epsilon() {
    let spec = parse(
        &(with_layers(
            "
[[layers]]
kind = \"conv\"
filters = 2
kernel = 3
stride = 2
padding = 1

[[layers]]
kind = \"batchnorm\"

[[layers]]
kind = \"maxpool\"
kernel = 2
stride = 1
",
        ) + FLATTEN_DENSE3),
    )
    .expect("valid spec");
    assert_eq!(
        spec.layers[0],
        Layer::Conv {
            filters: 2,
            kernel: 3,
            stride: 2,
            padding: 1
        }
    );
    assert_eq!(spec.layers[1], Layer::Batchnorm { epsilon: 1e-5 });
    // (4 + 2 - 3) / 2 + 1 = 2, then a 2x2 window with stride 1 leaves 1x1.
    assert_eq!(
        &spec.shapes()[..4],
        &[
            Shape::Image(2, 2, 2),
            Shape::Image(2, 2, 2),
            Shape::Image(2, 1, 1),
            Shape::Flat(2)
        ]
    );
    // conv 2*1*9+2, batchnorm scale and shift 2*2, dense 3*2+3.
    assert_eq!(spec.trainable_parameters(), 20 + 4 + 9);
}

#[test]
fn dense_before_flatten_names_the_layer_and_the_fix() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"relu\"

[[layers]]
kind = \"dense\"
units = 3
",
    ));
    assert_eq!(location, "layers[1] (dense)");
    assert_eq!(
        message,
        "needs flat features but receives a 1x4x4 image; add a flatten layer before it"
    );
    let err = parse(&with_layers("[[layers]]\nkind = \"dense\"\nunits = 3\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid architecture spec test.toml: layers[0] (dense): needs flat features but \
         receives a 1x4x4 image; add a flatten layer before it"
    );
    assert_eq!(err.hint(), None);
}

#[test]
fn last_layer_must_produce_one_logit_per_class() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"flatten\"

[[layers]]
kind = \"dense\"
units = 4
",
    ));
    assert_eq!(location, "layers[1] (dense)");
    assert_eq!(
        message,
        "the last layer must be dense with units = classes (3) to produce logits"
    );
    let (location, _) = invalid(&(with_layers(FLATTEN_DENSE3) + "[[layers]]\nkind = \"relu\"\n"));
    assert_eq!(location, "layers[2] (relu)");
}

#[test]
fn kernel_larger_than_its_input_is_rejected() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"conv\"
filters = 2
kernel = 5
",
    ));
    assert_eq!(location, "layers[0] (conv)");
    assert_eq!(
        message,
        "kernel 5 is larger than its padded input of 4 pixels"
    );
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"maxpool\"
kernel = 2

[[layers]]
kind = \"maxpool\"
kernel = 2

[[layers]]
kind = \"maxpool\"
kernel = 2
",
    ));
    assert_eq!(location, "layers[2] (maxpool)");
    assert_eq!(
        message,
        "kernel 2 is larger than its padded input of 1 pixels"
    );
}

#[test]
fn unknown_layer_kind_is_a_parse_error_with_its_line() {
    let message = parse_error(&with_layers(
        "
[[layers]]
kind = \"attention\"
",
    ));
    // The kind is on line 6 of the text (the header is 3 lines, then a blank line).
    assert!(message.starts_with("line 6, column 8: "), "{message}");
    assert!(
        message.contains("unknown variant `attention`, expected one of `conv`, `relu`"),
        "{message}"
    );
    assert_eq!(message, message.to_lowercase());
    assert!(!message.contains('\n'));
    let err = parse(&with_layers("[[layers]]\nkind = \"attention\"\n")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid architecture spec test.toml: "),
        "{err}"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some(
            "layer kinds are conv, relu, maxpool, flatten, dense, dropout, batchnorm \
             (see models/arch/README.md)"
        )
    );
}

#[test]
fn unknown_fields_are_parse_errors() {
    let message = parse_error(&with_layers(
        "
[[layers]]
kind = \"conv\"
filters = 2
kernel = 3
dilation = 2
",
    ));
    assert!(message.contains("line 5"), "{message}");
    assert!(message.contains("unknown field `dilation`"), "{message}");
    let message = parse_error(&format!("activation = \"relu\"\n{HEADER}{FLATTEN_DENSE3}"));
    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("unknown field `activation`"), "{message}");
}

#[test]
fn dropout_rate_must_be_below_one() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"dropout\"
rate = 1.0
",
    ));
    assert_eq!(location, "layers[0] (dropout)");
    assert_eq!(message, "rate 1 must be in [0, 1)");
    let (_, message) = invalid(&with_layers(
        "[[layers]]\nkind = \"dropout\"\nrate = -0.1\n",
    ));
    assert_eq!(message, "rate -0.1 must be in [0, 1)");
    parse(&(with_layers("[[layers]]\nkind = \"dropout\"\nrate = 0.0\n") + FLATTEN_DENSE3))
        .expect("rate 0 is valid");
}

#[test]
fn zero_sizes_are_rejected() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"conv\"
filters = 0
kernel = 3
",
    ));
    assert_eq!(location, "layers[0] (conv)");
    assert_eq!(message, "filters must be positive");
    let (location, message) = invalid(&with_layers(
        "[[layers]]\nkind = \"conv\"\nfilters = 2\nkernel = 3\nstride = 0\n",
    ));
    assert_eq!(location, "layers[0] (conv)");
    assert_eq!(message, "kernel and stride must be positive");
    let (location, message) = invalid(&with_layers(
        "[[layers]]\nkind = \"flatten\"\n\n[[layers]]\nkind = \"dense\"\nunits = 0\n",
    ));
    assert_eq!(location, "layers[1] (dense)");
    assert_eq!(message, "units must be positive");
    let (location, message) =
        invalid("name = \"t\"\ninput = [1, 0, 4]\nclasses = 3\nlayers = []\n");
    assert_eq!(location, "input");
    assert_eq!(message, "[1, 0, 4] has a zero dimension");
    let (location, message) =
        invalid("name = \"t\"\ninput = [1, 4, 4]\nclasses = 1\nlayers = []\n");
    assert_eq!(location, "classes");
    assert_eq!(message, "1 must be at least 2");
}

#[test]
fn a_spec_without_layers_is_rejected() {
    let (location, message) = invalid(&format!("{HEADER}layers = []\n"));
    assert_eq!(location, "layers");
    assert_eq!(message, "the spec has no layers");
    let message = parse_error(HEADER);
    assert!(message.contains("missing field `layers`"), "{message}");
}

#[test]
fn image_layers_after_flatten_are_rejected() {
    let (location, message) = invalid(&with_layers(
        "
[[layers]]
kind = \"flatten\"

[[layers]]
kind = \"maxpool\"
kernel = 2
",
    ));
    assert_eq!(location, "layers[1] (maxpool)");
    assert_eq!(message, "needs an image input but receives flat features");
}

#[test]
fn missing_spec_file_is_a_read_error() {
    let path = arch_folder().join("no-such-spec.toml");
    match ArchSpec::from_file(&path) {
        Err(ArchError::Read { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn forward_graph_is_deterministic_per_seed() {
    let spec = spec("mnist-paper");
    let a = forward_graph(&spec, 7, PathBuf::from("a.onnx")).expect("graph");
    let b = forward_graph(&spec, 7, PathBuf::from("b.onnx")).expect("graph");
    let c = forward_graph(&spec, 8, PathBuf::from("a.onnx")).expect("graph");
    let (a, b, c) = (a.to_bytes(), b.to_bytes(), c.to_bytes());
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Same structure, different draws: the encodings have the same length (the seed's
    // metadata entry is one digit in both).
    assert_eq!(a.len(), c.len());
    // At least the 312202 float parameters, as raw little-endian bytes.
    assert!(a.len() > 4 * 312_202, "{}", a.len());
}

#[test]
fn forward_graph_records_its_origin_in_metadata() {
    let spec = spec("digits-small");
    let model = forward_graph(&spec, 42, PathBuf::from("x/d.onnx")).expect("graph");
    assert_eq!(model.path(), Path::new("x/d.onnx"));
    assert_eq!(
        model.metadata(),
        [
            ("arch", "digits-small"),
            ("seed", "42"),
            ("input_range", "-0.5,0.5"),
            ("layout", "nchw"),
            ("classes", "10"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let signature = model.signature().expect("signature");
    assert_eq!(signature.input.chw(), [1, 8, 8]);
    assert_eq!(signature.logits, LOGITS);
}

/// The parts of the ONNX protobuf the weight checks read; other fields are skipped.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Model {
        #[prost(message, optional, tag = "7")]
        pub graph: Option<Graph>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Graph {
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<Tensor>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }
}

fn initializers(model: &OnnxModel) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let decoded = proto::Model::decode(model.to_bytes().as_slice()).expect("decode");
    decoded
        .graph
        .expect("graph")
        .initializer
        .into_iter()
        .map(|t| {
            assert_eq!(t.data_type, 1, "{} is float", t.name);
            let values = t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let dims = t.dims.iter().map(|&d| d as usize).collect();
            (t.name, dims, values)
        })
        .collect()
}

#[test]
fn weights_are_glorot_uniform_and_biases_zero() {
    let spec = spec("mnist-paper");
    let model = forward_graph(&spec, 3, PathBuf::from("m.onnx")).expect("graph");
    let tensors = initializers(&model);
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "layer0.weight",
            "layer0.bias",
            "layer2.weight",
            "layer2.bias",
            "layer5.weight",
            "layer5.bias",
            "layer7.weight",
            "layer7.bias",
            "layer11.weight",
            "layer11.bias",
            "layer14.weight",
            "layer14.bias",
            "layer16.weight",
            "layer16.bias",
        ]
    );
    let total: usize = tensors.iter().map(|t| t.2.len()).sum();
    assert_eq!(total, spec.trainable_parameters());
    // (dims, fan_in, fan_out) of each weight in order.
    let expected = [
        (vec![32, 1, 3, 3], 9, 288),
        (vec![32, 32, 3, 3], 288, 288),
        (vec![64, 32, 3, 3], 288, 576),
        (vec![64, 64, 3, 3], 576, 576),
        (vec![200, 1024], 1024, 200),
        (vec![200, 200], 200, 200),
        (vec![10, 200], 200, 10),
    ];
    for (pair, (dims, fan_in, fan_out)) in tensors.chunks(2).zip(expected) {
        let (name, weight_dims, weights) = &pair[0];
        let (_, bias_dims, biases) = &pair[1];
        assert_eq!(weight_dims, &dims, "{name}");
        assert_eq!(weights.len(), dims.iter().product::<usize>(), "{name}");
        assert_eq!(bias_dims, &[dims[0]], "{name}");
        assert!(biases.iter().all(|&b| b == 0.0), "{name} biases");
        let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
        let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
        assert!(max <= limit, "{name}: {max} > {limit}");
        // Uniform on [-limit, limit]: with at least 288 draws the extremes come close to
        // the limit and the mean is near zero.
        assert!(max > 0.9 * limit, "{name}: {max} far below {limit}");
        let mean = weights.iter().sum::<f32>() / weights.len() as f32;
        assert!(mean.abs() < 0.2 * limit, "{name}: mean {mean}");
        let positive = weights.iter().filter(|&&w| w > 0.0).count() as f32;
        let share = positive / weights.len() as f32;
        assert!((0.4..0.6).contains(&share), "{name}: {share} positive");
    }
}

#[test]
fn batchnorm_starts_as_the_identity_statistics() {
    let spec = parse(
        &(with_layers(
            "
[[layers]]
kind = \"conv\"
filters = 2
kernel = 3

[[layers]]
kind = \"batchnorm\"
epsilon = 0.001
",
        ) + FLATTEN_DENSE3),
    )
    .expect("valid spec");
    let model = forward_graph(&spec, 0, PathBuf::from("bn.onnx")).expect("graph");
    let tensors = initializers(&model);
    let bn: Vec<(&str, &[usize], &[f32])> = tensors
        .iter()
        .filter(|t| t.0.starts_with("layer1."))
        .map(|t| (t.0.as_str(), t.1.as_slice(), t.2.as_slice()))
        .collect();
    assert_eq!(
        bn,
        [
            ("layer1.scale", &[2usize][..], &[1.0f32, 1.0][..]),
            ("layer1.shift", &[2], &[0.0, 0.0]),
            ("layer1.mean", &[2], &[0.0, 0.0]),
            ("layer1.var", &[2], &[1.0, 1.0]),
        ]
    );
}

#[test]
fn zero_input_gives_zero_logits_because_biases_are_zero() {
    let spec = spec("mnist-paper");
    let model = forward_graph(&spec, 11, PathBuf::from("m.onnx")).expect("graph");
    let plan = TestPlan::new(&model).expect("plan");
    assert_eq!(plan.classes(), 10);
    let zeros = Array4::<f32>::zeros((2, 1, 28, 28));
    let logits = plan.logits(zeros.view()).expect("run");
    assert_eq!(logits.shape(), &[2, 10]);
    assert!(logits.iter().all(|&v| v == 0.0), "{logits}");
    // A non-zero input does reach the logits, so the check above can fail.
    let ones = Array4::<f32>::from_elem((1, 1, 28, 28), 0.5);
    let logits = plan.logits(ones.view()).expect("run");
    assert!(logits.iter().any(|&v| v != 0.0), "{logits}");
}
