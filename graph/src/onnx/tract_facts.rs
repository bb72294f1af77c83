//! Handing a graph to tract's analysis: the graph cut at one output, the image input's fact
//! at a batch size, and tract's errors on one line.

use tract_onnx::pb::{type_proto, ModelProto, TypeProto, ValueInfoProto};
use tract_onnx::prelude::*;

use super::signature::{ImageInput, Layout};

/// `proto` with `output` as its only (float) output and no declared intermediate shapes.
pub fn proto_with_output(proto: &ModelProto, output: &str) -> ModelProto {
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
pub fn image_fact(input: &ImageInput, batch: TDim) -> InferenceFact {
    let [c, h, w] = input.chw();
    let shape: TVec<TDim> = match input.layout {
        Layout::Nchw => tvec![batch, c.to_dim(), h.to_dim(), w.to_dim()],
        Layout::Nhwc => tvec![batch, h.to_dim(), w.to_dim(), c.to_dim()],
    };
    InferenceFact::dt_shape(f32::datum_type(), shape)
}

/// tract's error chain on one line, lowercase-first.
pub fn one_line(e: &TractError) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
