//! The forward ONNX graph of a spec, with seeded Glorot-uniform weights and zero biases
//! (the initialisation of the Keras code the paper's networks come from).

use std::path::PathBuf;

use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{ArchSpec, Layer};
use crate::onnx::{Attr, GraphBuilder, OnnxError, OnnxModel};

/// Name of the image input of every generated graph.
pub const INPUT: &str = "input";
/// Name of the logits output of every generated graph.
pub const LOGITS: &str = "logits";

/// Builds the inference graph of `spec` with weights drawn from `seed`; `path` is where
/// the model will be written (it names the model in messages). The same spec and seed
/// give the same bytes.
pub fn forward_graph(spec: &ArchSpec, seed: u64, path: PathBuf) -> Result<OnnxModel, OnnxError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = GraphBuilder::new(&spec.name);
    let [c, h, w] = spec.input;
    b.input(INPUT, &[None, Some(c), Some(h), Some(w)]);
    let mut x = INPUT.to_string();
    let last = spec.layers.len() - 1;
    for (i, layer) in spec.layers.iter().enumerate() {
        let out = if i == last {
            LOGITS.to_string()
        } else {
            format!("layer{i}.out")
        };
        let weight = format!("layer{i}.weight");
        let bias = format!("layer{i}.bias");
        let shape = spec.input_shape_of(i);
        match layer {
            Layer::Conv {
                filters,
                kernel,
                stride,
                padding,
            } => {
                let cin = shape.channels();
                let dims = [*filters, cin, *kernel, *kernel];
                let fan_in = cin * kernel * kernel;
                let fan_out = filters * kernel * kernel;
                b.initializer(&weight, &dims, &glorot(&mut rng, &dims, fan_in, fan_out));
                b.initializer(&bias, &[*filters], &vec![0.0; *filters]);
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                b.node(
                    "Conv",
                    &[&x, &weight, &bias],
                    &[&out],
                    &[
                        ("kernel_shape", Attr::Ints(vec![k, k])),
                        ("strides", Attr::Ints(vec![s, s])),
                        ("pads", Attr::Ints(vec![p, p, p, p])),
                    ],
                );
            }
            Layer::Dense { units } => {
                let n = shape.size();
                let dims = [*units, n];
                b.initializer(&weight, &dims, &glorot(&mut rng, &dims, n, *units));
                b.initializer(&bias, &[*units], &vec![0.0; *units]);
                b.node(
                    "Gemm",
                    &[&x, &weight, &bias],
                    &[&out],
                    &[("transB", Attr::Int(1))],
                );
            }
            Layer::Relu => b.node("Relu", &[&x], &[&out], &[]),
            Layer::Maxpool { kernel, stride } => {
                let (k, s) = (*kernel as i64, stride.unwrap_or(*kernel) as i64);
                b.node(
                    "MaxPool",
                    &[&x],
                    &[&out],
                    &[
                        ("kernel_shape", Attr::Ints(vec![k, k])),
                        ("strides", Attr::Ints(vec![s, s])),
                    ],
                );
            }
            Layer::Flatten => b.node("Flatten", &[&x], &[&out], &[("axis", Attr::Int(1))]),
            Layer::Dropout { rate } => {
                // The rate travels with the graph (for training) as a Constant, not an
                // initializer, so it is not mistaken for a parameter.
                let ratio = format!("layer{i}.ratio");
                b.scalar_constant(&ratio, *rate);
                b.node("Dropout", &[&x, &ratio], &[&out], &[]);
            }
            Layer::Batchnorm { epsilon } => {
                let channels = shape.channels();
                let names = ["scale", "shift", "mean", "var"].map(|s| format!("layer{i}.{s}"));
                for (name, value) in names.iter().zip([1.0, 0.0, 0.0, 1.0]) {
                    b.initializer(name, &[channels], &vec![value; channels]);
                }
                let inputs: Vec<&str> = std::iter::once(x.as_str())
                    .chain(names.iter().map(String::as_str))
                    .collect();
                b.node(
                    "BatchNormalization",
                    &inputs,
                    &[&out],
                    &[("epsilon", Attr::Float(*epsilon))],
                );
            }
        }
        x = out;
    }
    b.output(LOGITS, &[None, Some(spec.classes)]);
    b.metadata("arch", &spec.name);
    b.metadata("seed", &seed.to_string());
    b.metadata("input_range", "-0.5,0.5");
    b.metadata("layout", "nchw");
    b.metadata("classes", &spec.classes.to_string());
    b.finish(path)
}

fn glorot(rng: &mut ChaCha8Rng, dims: &[usize], fan_in: usize, fan_out: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
    let uniform = Uniform::new_inclusive(-limit, limit);
    (0..dims.iter().product::<usize>())
        .map(|_| uniform.sample(rng))
        .collect()
}
