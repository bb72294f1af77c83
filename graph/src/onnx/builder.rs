//! Building ONNX graphs node by node: the forward networks of architecture specs and the
//! graphs the autodiff derives from models.

use std::path::PathBuf;

use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
    OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::ir::{node_to_proto, tensor_to_proto, Attr, ConstTensor, Node};
use super::{OnnxError, OnnxModel};

/// The default-domain opset of every graph the project writes.
pub const OPSET: i64 = 17;
/// ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 8;

/// Accumulates inputs, initializers, nodes and outputs, then validates them as a model.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    metadata: Vec<StringStringEntryProto>,
    opset: i64,
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
            opset: OPSET,
        }
    }

    /// Declares the default-domain opset the nodes follow ([`OPSET`] unless set).
    pub fn set_opset(&mut self, opset: i64) {
        self.opset = opset;
    }

    /// A graph that starts with `model`'s name, initializers and metadata, but no inputs,
    /// nodes or outputs: the base of graphs derived from a model.
    pub fn from_model(model: &OnnxModel) -> Self {
        let source = model.graph();
        GraphBuilder {
            graph: GraphProto {
                name: source.name.clone(),
                initializer: source.initializer.clone(),
                ..Default::default()
            },
            metadata: model.proto().metadata_props.clone(),
            opset: OPSET,
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
        self.constant(name, &ConstTensor::f32(dims, values.to_vec()));
    }

    /// Adds an initializer holding `tensor`.
    pub fn constant(&mut self, name: &str, tensor: &ConstTensor) {
        self.graph.initializer.push(tensor_to_proto(name, tensor));
    }

    /// Removes initializer `name` (a weight that becomes a graph input); whether it existed.
    pub fn remove_initializer(&mut self, name: &str) -> bool {
        let before = self.graph.initializer.len();
        self.graph.initializer.retain(|t| t.name != name);
        self.graph.initializer.len() != before
    }

    /// Adds a `Constant` node producing the float scalar `value` as `name`.
    pub fn scalar_constant(&mut self, name: &str, value: f32) {
        let value = Attr::Tensor(ConstTensor::f32(&[], vec![value]));
        self.add(Node::new("Constant", &[], &[name], vec![("value", value)]));
    }

    /// Appends a node of the default domain.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) {
        self.add(Node::new(op, inputs, outputs, attrs.to_vec()));
    }

    /// Appends `node`, naming it after its operator and position.
    pub fn add(&mut self, node: Node) {
        let name = format!("{}_{}", node.op.to_lowercase(), self.graph.node.len());
        self.graph.node.push(node_to_proto(&node, name));
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
        OnnxModel::validated(path, self.into_proto())
    }

    /// The serialised model without any validation: how tests and the fuzz harness make
    /// the hostile files that [`OnnxModel::open`] must refuse.
    pub fn to_unvalidated_bytes(self) -> Vec<u8> {
        use prost::Message;
        self.into_proto().encode_to_vec()
    }

    fn into_proto(self) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "robustaudit".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph),
            metadata_props: self.metadata,
            ..Default::default()
        }
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
