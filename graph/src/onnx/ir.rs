//! The project's own view of ONNX graph pieces (nodes, attributes, constant tensors, shapes),
//! so that code outside this module can read and emit graphs without protobuf types.

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto,
};

/// A node attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string (e.g. `auto_pad`).
    Str(String),
    /// A constant tensor (e.g. `Constant`'s `value`).
    Tensor(ConstTensor),
}

/// Values of a constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit integers (shapes, axes, indices).
    I64(Vec<i64>),
}

/// A constant tensor: an initializer or a `Constant` node's value.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstTensor {
    /// Its shape.
    pub dims: Vec<usize>,
    /// Its values in row-major order.
    pub values: Values,
}

impl ConstTensor {
    /// A float tensor.
    pub fn f32(dims: &[usize], values: Vec<f32>) -> Self {
        ConstTensor {
            dims: dims.to_vec(),
            values: Values::F32(values),
        }
    }

    /// An int64 tensor.
    pub fn i64(dims: &[usize], values: Vec<i64>) -> Self {
        ConstTensor {
            dims: dims.to_vec(),
            values: Values::I64(values),
        }
    }

    /// The values as integers, if the tensor holds int64.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.values {
            Values::I64(v) => Some(v),
            Values::F32(_) => None,
        }
    }

    /// The values as floats, if the tensor holds f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            Values::I64(_) => None,
        }
    }
}

/// One dimension of a tensor whose batch size is symbolic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// `k` times the batch size (`k = 1` for the batch axis itself).
    Batch(usize),
}

impl Dim {
    /// The size when it does not depend on the batch.
    pub fn fixed(self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(n),
            Dim::Batch(_) => None,
        }
    }
}

/// A graph node in the project's own terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Operator type, e.g. `Conv`.
    pub op: String,
    /// Input tensor names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    /// Attributes in file order.
    pub attrs: Vec<(String, Attr)>,
}

impl Node {
    /// A node of operator `op`.
    pub fn new(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> Self {
        Node {
            op: op.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// An integer attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attr(name) {
            Some(Attr::Int(i)) => *i,
            _ => default,
        }
    }

    /// A float attribute, or `default` when absent.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attr(name) {
            Some(Attr::Float(x)) => *x,
            _ => default,
        }
    }

    /// An integer-list attribute, if present.
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attr(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// A string attribute, if present.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.attr(name) {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `i`-th input's name, if present and not omitted.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

pub(super) fn node_from_proto(node: &NodeProto) -> Result<Node, String> {
    let attrs = node
        .attribute
        .iter()
        .map(|a| Ok((a.name.clone(), attr_from_proto(a)?)))
        .collect::<Result<_, String>>()
        .map_err(|e| format!("node '{}' ({}): {e}", node.name, node.op_type))?;
    Ok(Node {
        op: node.op_type.clone(),
        inputs: node.input.clone(),
        outputs: node.output.clone(),
        attrs,
    })
}

pub(super) fn node_to_proto(node: &Node, name: String) -> NodeProto {
    NodeProto {
        name,
        op_type: node.op.clone(),
        input: node.inputs.clone(),
        output: node.outputs.clone(),
        attribute: node
            .attrs
            .iter()
            .map(|(k, v)| attr_to_proto(k, v))
            .collect(),
        ..Default::default()
    }
}

fn attr_from_proto(a: &AttributeProto) -> Result<Attr, String> {
    let kind = AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined);
    Ok(match kind {
        AttributeType::Int => Attr::Int(a.i),
        AttributeType::Ints => Attr::Ints(a.ints.clone()),
        AttributeType::Float => Attr::Float(a.f),
        AttributeType::Floats => Attr::Floats(a.floats.clone()),
        AttributeType::String => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        AttributeType::Tensor => {
            let t = a.t.as_ref().ok_or("tensor attribute without a tensor")?;
            Attr::Tensor(tensor_from_proto(t)?)
        }
        other => {
            return Err(format!(
                "attribute '{}' of kind {other:?} is not supported",
                a.name
            ))
        }
    })
}

fn attr_to_proto(name: &str, value: &Attr) -> AttributeProto {
    let mut attr = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    let kind = match value {
        Attr::Int(i) => {
            attr.i = *i;
            AttributeType::Int
        }
        Attr::Ints(v) => {
            attr.ints = v.clone();
            AttributeType::Ints
        }
        Attr::Float(x) => {
            attr.f = *x;
            AttributeType::Float
        }
        Attr::Floats(v) => {
            attr.floats = v.clone();
            AttributeType::Floats
        }
        Attr::Str(s) => {
            attr.s = s.as_bytes().to_vec();
            AttributeType::String
        }
        Attr::Tensor(t) => {
            attr.t = Some(tensor_to_proto("", t));
            AttributeType::Tensor
        }
    };
    attr.r#type = kind as i32;
    attr
}

/// Decodes a float or integer tensor (raw bytes or typed fields).
pub(super) fn tensor_from_proto(t: &TensorProto) -> Result<ConstTensor, String> {
    let dims = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| format!("tensor '{}' has dims {:?}", t.name, t.dims))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kind = DataType::try_from(t.data_type).unwrap_or(DataType::Undefined);
    let raw = &t.raw_data;
    let values = match kind {
        DataType::Float if !raw.is_empty() => Values::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DataType::Float => Values::F32(t.float_data.clone()),
        DataType::Int64 if !raw.is_empty() => Values::I64(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        DataType::Int64 => Values::I64(t.int64_data.clone()),
        DataType::Int32 if !raw.is_empty() => Values::I64(
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
        ),
        DataType::Int32 => Values::I64(t.int32_data.iter().map(|&v| v as i64).collect()),
        other => {
            return Err(format!(
                "tensor '{}' of type {other:?} is not supported",
                t.name
            ))
        }
    };
    Ok(ConstTensor { dims, values })
}

pub(super) fn tensor_to_proto(name: &str, t: &ConstTensor) -> TensorProto {
    let (data_type, raw_data) = match &t.values {
        Values::F32(v) => (
            DataType::Float,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        Values::I64(v) => (
            DataType::Int64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    };
    TensorProto {
        name: name.to_string(),
        dims: t.dims.iter().map(|&d| d as i64).collect(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    }
}

/// Bytes per element of an ONNX data type whose values can be stored as raw bytes.
pub(super) fn element_size(data_type: i32) -> Option<usize> {
    let size = match DataType::try_from(data_type).ok()? {
        DataType::Uint8 | DataType::Int8 | DataType::Bool => 1,
        DataType::Uint16 | DataType::Int16 | DataType::Float16 | DataType::Bfloat16 => 2,
        DataType::Float | DataType::Int32 | DataType::Uint32 => 4,
        DataType::Double | DataType::Int64 | DataType::Uint64 => 8,
        _ => return None,
    };
    Some(size)
}
