//! What makes a graph an image classifier: one image input and one logits output.

use std::fmt;
use std::path::Path;

use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as DimValue, type_proto,
    GraphProto, ValueInfoProto,
};

use super::OnnxError;

/// The largest fixed batch a model may declare: every call runs that many images (the
/// auditor pads smaller batches up to it), so a model declaring millions would make every
/// forward pass, the first probe included, cost as much.
pub const MAX_FIXED_BATCH: usize = 4096;

/// Memory order of an image input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[batch, channels, height, width]`.
    Nchw,
    /// `[batch, height, width, channels]`.
    Nhwc,
}

/// The graph input that receives a batch of images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInput {
    /// The input's name in the graph.
    pub name: String,
    /// Colour channels.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// How the graph lays out the image axes.
    pub layout: Layout,
    /// The batch size if the graph fixes it, `None` if it is symbolic.
    pub fixed_batch: Option<usize>,
}

impl ImageInput {
    /// `(channels, height, width)`.
    pub fn chw(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }
}

impl fmt::Display for ImageInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let batch = self
            .fixed_batch
            .map_or_else(|| "batch".to_string(), |b| b.to_string());
        match self.layout {
            Layout::Nchw => write!(
                f,
                "[{batch}, {}, {}, {}] (nchw)",
                self.channels, self.height, self.width
            ),
            Layout::Nhwc => write!(
                f,
                "[{batch}, {}, {}, {}] (nhwc)",
                self.height, self.width, self.channels
            ),
        }
    }
}

/// A classifier's interface: where images go in and where logits come out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The image input.
    pub input: ImageInput,
    /// The graph output the model declares (possibly probabilities).
    pub output: String,
    /// The tensor holding pre-softmax logits.
    pub logits: String,
    /// The trailing `Softmax` or `LogSoftmax` between logits and output, bypassed.
    pub bypassed: Option<String>,
}

impl Signature {
    /// Finds the image input and the logits of `graph`.
    pub(super) fn of(path: &Path, graph: &GraphProto) -> Result<Self, OnnxError> {
        let input = image_input(path, graph)?;
        let output = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| OnnxError::NoLogits {
                path: path.to_path_buf(),
                reason: "the graph has no outputs".into(),
            })?;
        let producer = graph.node.iter().find(|n| n.output.contains(&output));
        let (logits, bypassed) = match producer {
            Some(node) if matches!(node.op_type.as_str(), "Softmax" | "LogSoftmax") => {
                let logits = node.input.first().cloned().unwrap_or_default();
                (logits, Some(node.op_type.clone()))
            }
            _ => (output.clone(), None),
        };
        Ok(Signature {
            input,
            output,
            logits,
            bypassed,
        })
    }
}

fn image_input(path: &Path, graph: &GraphProto) -> Result<ImageInput, OnnxError> {
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let describe = || {
        if inputs.is_empty() {
            "the graph has no inputs".to_string()
        } else {
            inputs
                .iter()
                .map(|i| format!("'{}' {}", i.name, describe_type(i)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let no_image = |found: String| OnnxError::NoImageInput {
        path: path.to_path_buf(),
        found,
    };
    let [input] = inputs.as_slice() else {
        return Err(no_image(format!(
            "expected exactly one input, found {}",
            describe()
        )));
    };
    let Some((elem_type, dims)) = tensor_type(input) else {
        return Err(no_image(format!("input {}", describe())));
    };
    if elem_type != DataType::Float as i32 || dims.len() != 4 {
        return Err(no_image(format!(
            "expected a float tensor of rank 4, found input {}",
            describe()
        )));
    }
    let fixed = |d: &Option<i64>| d.and_then(|v| usize::try_from(v).ok()).filter(|v| *v > 0);
    let [batch, a, b, c] = [
        fixed(&dims[0]),
        fixed(&dims[1]),
        fixed(&dims[2]),
        fixed(&dims[3]),
    ];
    let (Some(a), Some(b), Some(c)) = (a, b, c) else {
        return Err(no_image(format!(
            "the image axes must have fixed sizes, found input {}",
            describe()
        )));
    };
    if let Some(n) = batch.filter(|&n| n > MAX_FIXED_BATCH) {
        return Err(OnnxError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "input '{}' has a fixed batch of {n}, above the limit of {MAX_FIXED_BATCH} images per call",
                input.name
            ),
        });
    }
    let looks_like_channels = |n: usize| (1..=4).contains(&n);
    let (layout, channels, height, width) = if !looks_like_channels(a) && looks_like_channels(c) {
        (Layout::Nhwc, c, a, b)
    } else {
        (Layout::Nchw, a, b, c)
    };
    Ok(ImageInput {
        name: input.name.clone(),
        channels,
        height,
        width,
        layout,
        fixed_batch: batch,
    })
}

/// Element type and dims (`None` for a symbolic or unknown dimension).
fn tensor_type(info: &ValueInfoProto) -> Option<(i32, Vec<Option<i64>>)> {
    let type_proto::Value::TensorType(t) = info.r#type.as_ref()?.value.as_ref()?;
    let dims = t
        .shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(DimValue::DimValue(v)) => Some(v),
            _ => None,
        })
        .collect();
    Some((t.elem_type, dims))
}

/// `float32[batch, 1, 28, 28]`-style text for messages and summaries.
pub fn describe_type(info: &ValueInfoProto) -> String {
    let Some(type_proto::Value::TensorType(t)) =
        info.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return "(no tensor type)".into();
    };
    let elem = DataType::try_from(t.elem_type)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type#{}", t.elem_type));
    let Some(shape) = t.shape.as_ref() else {
        return format!("{elem}[?]");
    };
    let dims: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(v)) => v.to_string(),
            Some(DimValue::DimParam(p)) if !p.is_empty() => p.clone(),
            _ => "?".into(),
        })
        .collect();
    format!("{elem}[{}]", dims.join(", "))
}
