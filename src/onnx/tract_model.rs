//! Handing a model to tract: the shared operator registry, the graph cut at the logits, the
//! image input's fact, the model's input layout, and tract's errors and plans as the rest of
//! the module reads them.

use ndarray::ArrayView4;
use tract_onnx::pb::{type_proto, ModelProto, TypeProto, ValueInfoProto};
use tract_onnx::prelude::*;

use super::signature::{ImageInput, Layout};

/// tract's ONNX operator registry, built once per process and shared by the model checks
/// and every parse.
pub(super) fn registry() -> &'static tract_onnx::Onnx {
    static REGISTRY: std::sync::OnceLock<tract_onnx::Onnx> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(tract_onnx::onnx)
}

/// `proto` with `output` as its only (float) output and no declared intermediate shapes.
pub(super) fn proto_with_output(proto: &ModelProto, output: &str) -> ModelProto {
    let mut proto = proto.clone();
    if let Some(graph) = proto.graph.as_mut() {
        graph.output = vec![ValueInfoProto {
            name: output.to_string(),
            r#type: Some(TypeProto {
                denotation: String::new(),
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
                    shape: None,
                })),
            }),
            doc_string: String::new(),
        }];
        graph.value_info.clear();
    }
    proto
}

/// The image input's fact with the given batch dimension, in the model's own layout.
pub(super) fn image_fact(input: &ImageInput, batch: TDim) -> InferenceFact {
    let [c, h, w] = input.chw();
    let shape: TVec<TDim> = match input.layout {
        Layout::Nchw => tvec![batch, c.to_dim(), h.to_dim(), w.to_dim()],
        Layout::Nhwc => tvec![batch, h.to_dim(), w.to_dim(), c.to_dim()],
    };
    InferenceFact::dt_shape(f32::datum_type(), shape)
}

/// Whether tract gathers a convolution's patches lazily in `plan` (`LazyIm2col`: straight
/// from the image into the matrix product's panels). tract does so only in plans for one
/// image, and otherwise copies every patch into a buffer first (`Im2col`): on the MNIST
/// network that copy took about half of the forward time at batch 16 and more per image
/// than at batch 1 (`robustaudit bench --profile`), while the matrix products gained
/// nothing from the batch (a convolution multiplies image by image). Where a plan for one
/// image gathers lazily, rows therefore run one at a time on it.
pub(super) fn gathers_patches_lazily(plan: &TypedSimplePlan) -> bool {
    plan.model()
        .nodes()
        .iter()
        .any(|node| node.op().name() == "LazyIm2col")
}

/// An NCHW batch in the model's own layout, contiguous.
pub(super) fn to_model_layout(images: ArrayView4<f32>, layout: Layout) -> ndarray::Array4<f32> {
    match layout {
        Layout::Nchw => images.as_standard_layout().into_owned(),
        Layout::Nhwc => images
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned(),
    }
}

/// tract's error chain on one line, lowercase-first.
pub(super) fn one_line(e: &TractError) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
