//! A validated ONNX model held in memory: decoding, structural checks, metadata, writing.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb::{
    tensor_proto::DataType, GraphProto, ModelProto, NodeProto, StringStringEntryProto,
};

use super::external_data::{inline_external_data, MAX_MODEL_BYTES};
use super::ir::{tensor_from_proto, tensor_to_proto, ConstTensor};
use super::node_checks::{check_nodes, check_tensor_bytes};
use super::signature::Signature;
use super::OnnxError;

/// An ONNX model whose structure has been checked: every tensor it reads is defined, every
/// initializer's bytes match its shape, every operator is one tract implements, and no
/// tensor refers to a file (external data has been inlined from the model's own folder).
#[derive(Clone, Debug)]
pub struct OnnxModel {
    path: PathBuf,
    proto: ModelProto,
    /// SHA-256 of the file it was opened from, lower-case hex; `None` when built in memory.
    file_sha256: Option<String>,
}

impl OnnxModel {
    /// Reads and validates the model at `path`.
    pub fn open(path: &Path) -> Result<Self, OnnxError> {
        let bytes =
            crate::regular_file::read(path, MAX_MODEL_BYTES).map_err(|source| OnnxError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        // The model file and its external data share one budget, checked before reading.
        let mut budget = MAX_MODEL_BYTES - bytes.len() as u64;
        let mut proto = ModelProto::decode(bytes.as_slice()).map_err(|e| OnnxError::Malformed {
            path: path.to_path_buf(),
            reason: format!("protobuf decoding failed: {e}"),
        })?;
        if let Some(graph) = proto.graph.as_mut() {
            inline_external_data(graph, path, &mut budget)?;
        }
        let mut model = Self::validated(path.to_path_buf(), proto)?;
        model.file_sha256 = Some(crate::hex::hex(&Sha256::digest(&bytes)));
        Ok(model)
    }

    /// Validates a model built in memory; `path` names it in messages and is where it will
    /// be written.
    pub(super) fn validated(path: PathBuf, proto: ModelProto) -> Result<Self, OnnxError> {
        let malformed = |reason: String| OnnxError::Malformed {
            path: path.clone(),
            reason,
        };
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| malformed("the file holds no graph".into()))?;
        let has_opset = proto
            .opset_import
            .iter()
            .any(|o| (o.domain.is_empty() || o.domain == "ai.onnx") && o.version > 0);
        if !has_opset {
            return Err(malformed(
                "no opset is declared for the default onnx domain".into(),
            ));
        }
        if graph.node.is_empty() {
            return Err(malformed("the graph has no nodes".into()));
        }
        for tensor in &graph.initializer {
            check_tensor_bytes(tensor).map_err(&malformed)?;
        }
        check_defined_before_use(graph).map_err(&malformed)?;
        check_nodes(graph).map_err(|reason| OnnxError::Invalid {
            path: path.clone(),
            reason,
        })?;
        let unsupported = unsupported_ops(&proto);
        if !unsupported.is_empty() {
            return Err(OnnxError::UnsupportedOps {
                path,
                ops: unsupported.into_iter().collect(),
            });
        }
        Ok(OnnxModel {
            path,
            proto,
            file_sha256: None,
        })
    }

    /// Where the model was read from or will be written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the file it was opened from (its bytes as read, external data apart), in
    /// lower-case hex; `None` for a model built in memory.
    pub fn file_sha256(&self) -> Option<&str> {
        self.file_sha256.as_deref()
    }

    /// The model's image input and logits output.
    pub fn signature(&self) -> Result<Signature, OnnxError> {
        Signature::of(&self.path, self.graph())
    }

    /// The `metadata_props` key-value pairs, in file order.
    pub fn metadata(&self) -> Vec<(String, String)> {
        self.proto
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    /// The value of one metadata key.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.proto
            .metadata_props
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Sets (or replaces) one metadata key.
    pub fn set_metadata(&mut self, key: &str, value: &str) {
        match self.proto.metadata_props.iter_mut().find(|e| e.key == key) {
            Some(entry) => entry.value = value.to_string(),
            None => self.proto.metadata_props.push(StringStringEntryProto {
                key: key.to_string(),
                value: value.to_string(),
            }),
        }
    }

    /// The names of the graph's initializers, in file order.
    pub fn initializer_names(&self) -> Vec<String> {
        self.graph()
            .initializer
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// The value of initializer `name`, if the model has one of a type the project reads
    /// (float or integer).
    pub fn initializer(&self, name: &str) -> Option<ConstTensor> {
        self.graph()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| tensor_from_proto(t).ok())
    }

    /// Replaces the value of initializer `name` with `value` of the same shape: how trained
    /// weights go back into an inference graph.
    pub fn set_initializer(&mut self, name: &str, value: &ConstTensor) -> Result<(), OnnxError> {
        let path = self.path.clone();
        let graph = self
            .proto
            .graph
            .as_mut()
            .ok_or_else(|| OnnxError::Malformed {
                path: path.clone(),
                reason: "the file holds no graph".into(),
            })?;
        let slot = graph
            .initializer
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| OnnxError::Malformed {
                path: path.clone(),
                reason: format!("there is no initializer '{name}'"),
            })?;
        let dims: Vec<i64> = value.dims.iter().map(|&d| d as i64).collect();
        if slot.dims != dims {
            return Err(OnnxError::Malformed {
                path,
                reason: format!(
                    "initializer '{name}' has dims {:?}, the new value {:?}",
                    slot.dims, dims
                ),
            });
        }
        *slot = tensor_to_proto(name, value);
        Ok(())
    }

    /// The ONNX opset of the default domain.
    pub fn opset(&self) -> i64 {
        self.proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0)
    }

    /// The name and version of the program that wrote the file.
    pub fn producer(&self) -> String {
        format!(
            "{} {}",
            self.proto.producer_name, self.proto.producer_version
        )
        .trim()
        .to_string()
    }

    /// Nodes in the top-level graph.
    pub fn node_count(&self) -> usize {
        self.graph().node.len()
    }

    /// The serialised protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Writes the model to `path` atomically (a temporary file in the same folder, renamed).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::atomic_file::write(path, &self.to_bytes())
    }

    /// The model's graph.
    pub fn graph(&self) -> &GraphProto {
        // `validated` guarantees the graph exists; an empty one only arises if it did not.
        self.proto.graph.as_ref().unwrap_or(&EMPTY_GRAPH)
    }

    /// Keeps only the first `count` nodes: the part of the graph that computes what a later
    /// node reads.
    pub fn truncate_nodes(&mut self, count: usize) {
        if let Some(graph) = self.proto.graph.as_mut() {
            graph.node.truncate(count);
        }
    }

    /// Replaces every node by what `f` makes of it (none, itself, or others).
    pub fn map_nodes(&mut self, f: impl Fn(&NodeProto) -> Vec<NodeProto>) {
        if let Some(graph) = self.proto.graph.as_mut() {
            graph.node = graph.node.iter().flat_map(&f).collect();
        }
    }

    /// The whole model as protobuf (external data inlined).
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }
}

static EMPTY_GRAPH: GraphProto = GraphProto {
    node: Vec::new(),
    name: String::new(),
    initializer: Vec::new(),
    sparse_initializer: Vec::new(),
    doc_string: String::new(),
    input: Vec::new(),
    output: Vec::new(),
    value_info: Vec::new(),
    quantization_annotation: Vec::new(),
};

/// Whether a data type holds floating-point values (a trainable parameter's type).
pub fn is_float(data_type: i32) -> bool {
    matches!(
        DataType::try_from(data_type),
        Ok(DataType::Float | DataType::Double | DataType::Float16 | DataType::Bfloat16)
    )
}

/// Every node input must be a graph input, an initializer or an earlier node's output, and
/// every graph output must be produced: a truncated file usually fails here.
fn check_defined_before_use(graph: &GraphProto) -> Result<(), String> {
    let mut defined: HashSet<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
    defined.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            if !defined.contains(input.as_str()) {
                return Err(format!(
                    "node '{}' ({}) reads '{input}', which nothing defines before it",
                    node.name, node.op_type
                ));
            }
        }
        defined.extend(node.output.iter().map(String::as_str));
    }
    if graph.output.is_empty() {
        return Err("the graph has no outputs".into());
    }
    for output in &graph.output {
        if !defined.contains(output.name.as_str()) {
            return Err(format!(
                "graph output '{}' is produced by no node",
                output.name
            ));
        }
    }
    Ok(())
}

/// Operators (in the graph and its subgraphs) that tract has no implementation for.
fn unsupported_ops(proto: &ModelProto) -> BTreeSet<String> {
    let onnx = super::tract_registry::registry();
    let mut unsupported = BTreeSet::new();
    let mut stack: Vec<&GraphProto> = proto.graph.iter().collect();
    while let Some(graph) = stack.pop() {
        for node in &graph.node {
            let standard = node.domain.is_empty() || node.domain == "ai.onnx";
            if !standard {
                unsupported.insert(format!("{}:{}", node.domain, node.op_type));
            } else if !onnx.op_register.0.contains_key(&node.op_type) {
                unsupported.insert(node.op_type.clone());
            }
            for attr in &node.attribute {
                stack.extend(attr.g.iter());
                stack.extend(attr.graphs.iter());
            }
        }
    }
    unsupported
}
