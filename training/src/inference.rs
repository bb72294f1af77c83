//! Forward passes of an inference graph on ONNX Runtime: test accuracy after each epoch and
//! the soft labels a parent gives its child.

use ndarray::{concatenate, s, Array2, ArrayView4, Axis, Ix2};
use ort::session::Session;
use ort::value::TensorRef;

use robustaudit::error::Error;
use robustaudit::model::argmax;
use robustaudit_graph::onnx::OnnxModel;

use crate::error::{OrtContext, Result};
use crate::runtime::{session, Device};

/// Images per forward run.
const CHUNK: usize = 256;

/// An inference graph loaded in ONNX Runtime.
pub struct Inference {
    session: Session,
    input: String,
    logits: String,
    name: String,
}

impl Inference {
    /// Loads `model` on `device` with `threads` intra-op threads.
    pub fn new(model: &OnnxModel, device: Device, threads: usize) -> Result<Self> {
        let signature = model.signature().map_err(Error::from)?;
        let name = model.path().display().to_string();
        Ok(Inference {
            session: session(&model.to_bytes(), device, threads, &name)?,
            input: signature.input.name,
            logits: signature.logits,
            name,
        })
    }

    /// Logits `(n, classes)` of `images`.
    pub fn logits(&mut self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        let n = images.shape()[0];
        let mut parts = Vec::new();
        for start in (0..n).step_by(CHUNK) {
            let chunk = images.slice(s![start..(start + CHUNK).min(n), .., .., ..]);
            let during = || format!("running {} on images {start}..", self.name);
            let x = TensorRef::from_array_view(chunk).during(during)?;
            let outputs = self
                .session
                .run(ort::inputs![self.input.as_str() => x])
                .during(during)?;
            let logits = outputs
                .get(&self.logits)
                .ok_or_else(|| Error::Internal {
                    message: format!("{} has no output {}", self.name, self.logits),
                })?
                .try_extract_array::<f32>()
                .during(during)?
                .into_dimensionality::<Ix2>()
                .map_err(|e| Error::Internal {
                    message: format!("{} gave logits of another rank: {e}", self.name),
                })?
                .to_owned();
            parts.push(logits);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        concatenate(Axis(0), &views).map_err(|e| {
            Error::Internal {
                message: format!("{} gave logits of varying shapes: {e}", self.name),
            }
            .into()
        })
    }

    /// The fraction of `images` whose predicted class is their label.
    pub fn accuracy(&mut self, images: ArrayView4<f32>, labels: &[usize]) -> Result<f32> {
        let logits = self.logits(images)?;
        let correct = logits
            .rows()
            .into_iter()
            .zip(labels)
            .filter(|(row, &label)| argmax(row.iter().copied()) == label)
            .count();
        Ok(correct as f32 / labels.len().max(1) as f32)
    }

    /// `softmax(logits / temperature)` of `images`: the soft labels of distillation.
    pub fn soft_labels(
        &mut self,
        images: ArrayView4<f32>,
        temperature: f32,
    ) -> Result<Array2<f32>> {
        let mut p = self.logits(images)?;
        for mut row in p.rows_mut() {
            row.mapv_inplace(|z| z / temperature);
            let max = row.fold(f32::NEG_INFINITY, |m, &z| m.max(z));
            row.mapv_inplace(|z| (z - max).exp());
            let total = row.sum();
            row.mapv_inplace(|e| e / total);
        }
        Ok(p)
    }
}
