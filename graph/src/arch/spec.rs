//! The spec format: parsing, validation and shape inference.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ArchError;

/// One layer of a spec, in the order the network applies them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Layer {
    /// 2-D convolution with bias; `padding` pixels of zeros on every side.
    Conv {
        /// Output channels.
        filters: usize,
        /// Square kernel size.
        kernel: usize,
        /// Step between windows.
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side ("valid" convolution when 0).
        #[serde(default)]
        padding: usize,
    },
    /// Rectified linear unit.
    Relu,
    /// Max pooling over square windows.
    Maxpool {
        /// Window size.
        kernel: usize,
        /// Step between windows; defaults to the window size.
        stride: Option<usize>,
    },
    /// Flattens `[C, H, W]` into `C * H * W` features.
    Flatten,
    /// Fully connected layer with bias.
    Dense {
        /// Output features.
        units: usize,
    },
    /// Dropout: zeroes a fraction `rate` of activations while training; identity at inference.
    Dropout {
        /// Fraction dropped, in [0, 1).
        rate: f32,
    },
    /// Batch normalisation with learned scale and shift and running statistics.
    Batchnorm {
        /// Added to the variance before the square root.
        #[serde(default = "default_epsilon")]
        epsilon: f32,
    },
}

fn one() -> usize {
    1
}

fn default_epsilon() -> f32 {
    1e-5
}

impl Layer {
    /// The layer's `kind` as written in specs.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv { .. } => "conv",
            Layer::Relu => "relu",
            Layer::Maxpool { .. } => "maxpool",
            Layer::Flatten => "flatten",
            Layer::Dense { .. } => "dense",
            Layer::Dropout { .. } => "dropout",
            Layer::Batchnorm { .. } => "batchnorm",
        }
    }
}

/// The shape of one sample's activations between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Channels, height, width.
    Image(usize, usize, usize),
    /// A feature vector.
    Flat(usize),
}

impl Shape {
    /// Channels of an image, features of a flat vector (what batch norm normalises over).
    pub fn channels(&self) -> usize {
        match *self {
            Shape::Image(c, _, _) => c,
            Shape::Flat(n) => n,
        }
    }

    /// Values per sample.
    pub fn size(&self) -> usize {
        match *self {
            Shape::Image(c, h, w) => c * h * w,
            Shape::Flat(n) => n,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Image(c, h, w) => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: String,
    #[serde(default)]
    description: String,
    input: [usize; 3],
    classes: usize,
    layers: Vec<Layer>,
}

/// A validated architecture: every layer fits the shape it receives and the last layer
/// produces one logit per class.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchSpec {
    /// Short name, e.g. `mnist-paper`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Input image `[channels, height, width]`.
    pub input: [usize; 3],
    /// Number of classes (logits).
    pub classes: usize,
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// The file the spec came from, for messages.
    pub origin: PathBuf,
    shapes: Vec<Shape>,
}

impl ArchSpec {
    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<Self, ArchError> {
        let text = std::fs::read_to_string(path).map_err(|source| ArchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates spec text; `origin` names it in messages.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ArchError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| ArchError::Parse {
            path: origin.to_path_buf(),
            message: parse_message(&e, text),
        })?;
        let mut spec = ArchSpec {
            name: raw.name,
            description: raw.description,
            input: raw.input,
            classes: raw.classes,
            layers: raw.layers,
            origin: origin.to_path_buf(),
            shapes: Vec::new(),
        };
        spec.shapes = spec.infer_shapes()?;
        Ok(spec)
    }

    /// The activation shape after each layer (same length as `layers`).
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// The shape entering layer `index`.
    pub fn input_shape_of(&self, index: usize) -> Shape {
        match index {
            0 => Shape::Image(self.input[0], self.input[1], self.input[2]),
            i => self.shapes[i - 1],
        }
    }

    /// Learned parameters (weights, biases, batch-norm scale and shift).
    pub fn trainable_parameters(&self) -> usize {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, layer)| match (layer, self.input_shape_of(i)) {
                (
                    Layer::Conv {
                        filters, kernel, ..
                    },
                    Shape::Image(c, _, _),
                ) => filters * c * kernel * kernel + filters,
                (Layer::Dense { units }, Shape::Flat(n)) => units * n + units,
                (Layer::Batchnorm { .. }, shape) => 2 * shape.channels(),
                _ => 0,
            })
            .sum()
    }

    fn invalid(&self, location: String, message: String) -> ArchError {
        ArchError::Invalid {
            path: self.origin.clone(),
            location,
            message,
        }
    }

    fn infer_shapes(&self) -> Result<Vec<Shape>, ArchError> {
        if self.input.contains(&0) {
            return Err(self.invalid(
                "input".into(),
                format!("{:?} has a zero dimension", self.input),
            ));
        }
        if self.classes < 2 {
            return Err(self.invalid(
                "classes".into(),
                format!("{} must be at least 2", self.classes),
            ));
        }
        let mut shape = Shape::Image(self.input[0], self.input[1], self.input[2]);
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let at = || format!("layers[{i}] ({})", layer.kind());
            shape = next_shape(layer, shape).map_err(|m| self.invalid(at(), m))?;
            shapes.push(shape);
        }
        match (self.layers.last(), shapes.last()) {
            (Some(Layer::Dense { .. }), Some(Shape::Flat(n))) if *n == self.classes => Ok(shapes),
            (Some(last), _) => Err(self.invalid(
                format!("layers[{}] ({})", self.layers.len() - 1, last.kind()),
                format!(
                    "the last layer must be dense with units = classes ({}) to produce logits",
                    self.classes
                ),
            )),
            (None, _) => Err(self.invalid("layers".into(), "the spec has no layers".into())),
        }
    }
}

/// `line L, column C: <what>` for a TOML or schema error, on one line.
fn parse_message(e: &toml::de::Error, text: &str) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// Output size of a sliding window, or an error when the window does not fit.
fn window_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize, String> {
    if kernel == 0 || stride == 0 {
        return Err("kernel and stride must be positive".into());
    }
    let padded = size + 2 * padding;
    if kernel > padded {
        return Err(format!(
            "kernel {kernel} is larger than its padded input of {padded} pixels"
        ));
    }
    Ok((padded - kernel) / stride + 1)
}

fn next_shape(layer: &Layer, shape: Shape) -> Result<Shape, String> {
    match (layer, shape) {
        (
            Layer::Conv {
                filters,
                kernel,
                stride,
                padding,
            },
            Shape::Image(_, h, w),
        ) => {
            if *filters == 0 {
                return Err("filters must be positive".into());
            }
            Ok(Shape::Image(
                *filters,
                window_out(h, *kernel, *stride, *padding)?,
                window_out(w, *kernel, *stride, *padding)?,
            ))
        }
        (Layer::Maxpool { kernel, stride }, Shape::Image(c, h, w)) => {
            let stride = stride.unwrap_or(*kernel);
            Ok(Shape::Image(
                c,
                window_out(h, *kernel, stride, 0)?,
                window_out(w, *kernel, stride, 0)?,
            ))
        }
        (Layer::Conv { .. } | Layer::Maxpool { .. }, Shape::Flat(_)) => {
            Err("needs an image input but receives flat features".into())
        }
        (Layer::Flatten, shape) => Ok(Shape::Flat(shape.size())),
        (Layer::Dense { units }, Shape::Flat(_)) => {
            if *units == 0 {
                return Err("units must be positive".into());
            }
            Ok(Shape::Flat(*units))
        }
        (Layer::Dense { .. }, Shape::Image(..)) => Err(format!(
            "needs flat features but receives a {shape} image; add a flatten layer before it"
        )),
        (Layer::Dropout { rate }, shape) => {
            if !(0.0..1.0).contains(rate) {
                return Err(format!("rate {rate} must be in [0, 1)"));
            }
            Ok(shape)
        }
        (Layer::Batchnorm { epsilon }, shape) => {
            if epsilon.is_nan() || *epsilon <= 0.0 {
                return Err(format!("epsilon {epsilon} must be positive"));
            }
            Ok(shape)
        }
        (Layer::Relu, shape) => Ok(shape),
    }
}
