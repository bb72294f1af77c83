//! Building ONNX graphs node by node: the forward networks of architecture specs (and,
//! later, the graphs the autodiff emits).

use std::path::PathBuf;

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::{OnnxError, OnnxModel};

/// The default-domain opset of every graph the project writes.
pub const OPSET: i64 = 13;
/// ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 7;

/// A node attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// Accumulates inputs, initializers, nodes and outputs, then validates them as a model.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    metadata: Vec<StringStringEntryProto>,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: GraphProto {
                name: name.to_string(),
                ..Default::default()
            },
            metadata: Vec::new(),
        }
    }

    /// Declares a float input; `None` dimensions are the symbolic batch size `batch`.
    pub fn input(&mut self, name: &str, dims: &[Option<usize>]) {
        self.graph.input.push(value_info(name, dims));
    }

    /// Declares a float output; `None` dimensions are the symbolic batch size `batch`.
    pub fn output(&mut self, name: &str, dims: &[Option<usize>]) {
        self.graph.output.push(value_info(name, dims));
    }

    /// Adds a float initializer holding `values` in row-major order.
    pub fn initializer(&mut self, name: &str, dims: &[usize], values: &[f32]) {
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data,
            ..Default::default()
        });
    }

    /// Adds a `Constant` node producing the float scalar `value` as `name`.
    pub fn scalar_constant(&mut self, name: &str, value: f32) {
        let tensor = TensorProto {
            data_type: DataType::Float as i32,
            raw_data: value.to_le_bytes().to_vec(),
            ..Default::default()
        };
        self.graph.node.push(NodeProto {
            name: format!("constant_{}", self.graph.node.len()),
            op_type: "Constant".into(),
            output: vec![name.to_string()],
            attribute: vec![AttributeProto {
                name: "value".into(),
                r#type: AttributeType::Tensor as i32,
                t: Some(tensor),
                ..Default::default()
            }],
            ..Default::default()
        });
    }

    /// Appends a node of the default domain.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) {
        let name = format!("{}_{}", op.to_lowercase(), self.graph.node.len());
        self.graph.node.push(NodeProto {
            name,
            op_type: op.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs.iter().map(|(k, v)| attribute(k, v)).collect(),
            ..Default::default()
        });
    }

    /// Records one `metadata_props` entry.
    pub fn metadata(&mut self, key: &str, value: &str) {
        self.metadata.push(StringStringEntryProto {
            key: key.to_string(),
            value: value.to_string(),
        });
    }

    /// Validates the graph as a model that will be written to `path`.
    pub fn finish(self, path: PathBuf) -> Result<OnnxModel, OnnxError> {
        let proto = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "robustaudit".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph),
            metadata_props: self.metadata,
            ..Default::default()
        };
        OnnxModel::validated(path, proto)
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(match d {
                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
                None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

fn attribute(name: &str, value: &Attr) -> AttributeProto {
    let mut attr = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match value {
        Attr::Int(i) => {
            attr.r#type = AttributeType::Int as i32;
            attr.i = *i;
        }
        Attr::Ints(v) => {
            attr.r#type = AttributeType::Ints as i32;
            attr.ints = v.clone();
        }
        Attr::Float(x) => {
            attr.r#type = AttributeType::Float as i32;
            attr.f = *x;
        }
    }
    attr
}
