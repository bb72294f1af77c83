//! Running a classifier's logits with tract: a plan with a symbolic batch dimension (or the
//! model's fixed batch, padded), fed NCHW batches whatever the model's own layout; or, where
//! tract gathers a convolution's patches lazily in a plan for one image, that plan row by
//! row (see [`gathers_patches_lazily`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView4, Axis};
use tract_onnx::prelude::*;

use super::profile::{profile_plan, OpTime};
use super::tract_model::{gathers_patches_lazily, to_model_layout};
use robustaudit_graph::onnx::tract::{
    analyse, compile_limit, guard, guard_run, guard_within, image_fact, one_line,
    proto_with_output, registry,
};
use robustaudit_graph::onnx::{ImageInput, OnnxError, OnnxModel, Signature};

/// A compiled tract plan computing `logits = f(images)` for batches of NCHW images.
#[derive(Debug)]
pub struct TractPlan {
    path: PathBuf,
    plan: Arc<TypedSimplePlan>,
    input: ImageInput,
    fixed_batch: Option<usize>,
    classes: usize,
    /// The parsed logits graph, kept to compile the plan for one image.
    inference: InferenceModel,
    /// The plan for one image when rows run on it one at a time, compiled on first use.
    single: OnceLock<Option<Arc<TypedSimplePlan>>>,
}

impl TractPlan {
    /// Compiles `model` for tract, with a symbolic batch dimension when the graph allows
    /// it and the model's fixed batch size otherwise.
    pub fn new(model: &OnnxModel) -> Result<Self, OnnxError> {
        let signature = model.signature()?;
        let path = model.path().to_path_buf();
        // The bounded analysis at the probe batch refuses what would hang or exhaust
        // memory in tract's optimiser or kernels.
        analyse(model, &signature, signature.input.fixed_batch.unwrap_or(1))?;
        let (inference, _) = parse_logits_graph(model, &signature)?;
        let (model, input) = (inference.clone(), signature.input.clone());
        let symbolic = guard_within(&path, compile_limit(), move || {
            let batch = model.symbols.sym("batch");
            optimise(model, &input, batch.to_dim())
        });
        let (typed, fixed_batch) = match (symbolic, signature.input.fixed_batch) {
            (Ok(typed), _) => (typed, None),
            (Err(_), Some(n)) => {
                let (model, input) = (inference.clone(), signature.input.clone());
                let typed = guard_within(&path, compile_limit(), move || {
                    optimise(model, &input, n.to_dim())
                })?;
                (typed, Some(n))
            }
            (Err(e), None) => return Err(e),
        };
        let classes = output_classes(&typed).ok_or_else(|| OnnxError::NoLogits {
            path: path.clone(),
            reason: format!(
                "logits '{}' do not have a fixed number of classes per sample",
                signature.logits
            ),
        })?;
        let plan = guard(&path, || typed.into_runnable())?;
        Ok(TractPlan {
            path,
            plan,
            input: signature.input,
            fixed_batch,
            classes,
            inference,
            single: OnceLock::new(),
        })
    }

    /// The plan for one image, when rows run on it one at a time: where the batch is
    /// symbolic and tract gathers a convolution's patches lazily in that plan (compiled on
    /// the first call, and refused if it does not turn a zero image into one row of logits).
    fn row_plan(&self) -> Option<&Arc<TypedSimplePlan>> {
        if self.fixed_batch.is_some() {
            return None;
        }
        self.single
            .get_or_init(|| {
                let (model, input) = (self.inference.clone(), self.input.clone());
                let typed = guard_within(&self.path, compile_limit(), move || {
                    optimise(model, &input, 1.to_dim())
                })
                .ok()?;
                let plan = guard(&self.path, || typed.into_runnable()).ok()?;
                let [c, h, w] = self.input.chw();
                let zero = ndarray::Array4::zeros((1, c, h, w));
                let runs = self.run_on(&plan, zero.view(), 1).is_ok();
                (runs && gathers_patches_lazily(&plan)).then_some(plan)
            })
            .as_ref()
    }

    /// The image input this plan feeds.
    pub fn input(&self) -> &ImageInput {
        &self.input
    }

    /// The number of classes (logits per sample).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The model file the plan was compiled from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logits `(n, classes)` for a batch of images `(n, channels, height, width)`.
    pub fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>, OnnxError> {
        self.check_shape(images)?;
        let n = images.shape()[0];
        let mut logits = Array2::zeros((n, self.classes));
        if let Some(single) = self.row_plan() {
            for (i, row) in images.axis_chunks_iter(Axis(0), 1).enumerate() {
                logits
                    .row_mut(i)
                    .assign(&self.run_on(single, row, 1)?.row(0));
            }
            return Ok(logits);
        }
        let chunk = self.fixed_batch.unwrap_or(n.max(1));
        for (start, part) in images.axis_chunks_iter(Axis(0), chunk).enumerate() {
            let rows = part.shape()[0];
            let batch = if self.fixed_batch.is_some() {
                chunk
            } else {
                rows
            };
            let out = self.run_on(&self.plan, part, batch)?;
            let begin = start * chunk;
            logits
                .slice_mut(ndarray::s![begin..begin + rows, ..])
                .assign(&out.slice(ndarray::s![..rows, ..]));
        }
        Ok(logits)
    }

    /// tract's time per op kind over `runs` passes over `images` (one chunk: at most the
    /// model's fixed batch) of the plans that run them, on the calling thread.
    pub fn profile(&self, images: ArrayView4<f32>, runs: usize) -> Result<Vec<OpTime>, OnnxError> {
        self.check_shape(images)?;
        if let Some(single) = self.row_plan() {
            let rows: Vec<TVec<TValue>> = images
                .axis_chunks_iter(Axis(0), 1)
                .map(|row| tvec!(self.padded_input(row, 1).into()))
                .collect();
            return profile_plan(&self.path, single, &rows, runs);
        }
        let batch = self.fixed_batch.unwrap_or(images.shape()[0]);
        let rows = images.shape()[0].min(batch);
        let tensor = self.padded_input(images.slice(ndarray::s![..rows, .., .., ..]), batch);
        profile_plan(&self.path, &self.plan, &[tvec!(tensor.into())], runs)
    }

    /// Whether rows run one at a time on a plan for one image (see
    /// `gathers_patches_lazily`); compiles that plan if it was not yet.
    pub fn runs_row_by_row(&self) -> bool {
        self.row_plan().is_some()
    }

    /// Checks that `images` have the model's image shape; the error names the whole batch.
    pub fn check_shape(&self, images: ArrayView4<f32>) -> Result<(), OnnxError> {
        let [c, h, w] = self.input.chw();
        let shape = images.shape();
        if shape[1..] != [c, h, w] {
            return Err(OnnxError::InputShape {
                path: self.path.clone(),
                expected: format!("[n, {c}, {h}, {w}]"),
                got: shape.to_vec(),
            });
        }
        Ok(())
    }

    /// `part` in the model's layout, padded with zero images to `batch` rows.
    fn padded_input(&self, part: ArrayView4<f32>, batch: usize) -> Tensor {
        let rows = part.shape()[0];
        let mut padded = ndarray::Array4::<f32>::zeros((
            batch,
            part.shape()[1],
            part.shape()[2],
            part.shape()[3],
        ));
        padded
            .slice_mut(ndarray::s![..rows, .., .., ..])
            .assign(&part);
        to_model_layout(padded.view(), self.input.layout).into()
    }

    /// The logits `(batch, classes)` of `part` padded to `batch` rows, run by `plan`.
    fn run_on(
        &self,
        plan: &Arc<TypedSimplePlan>,
        part: ArrayView4<f32>,
        batch: usize,
    ) -> Result<Array2<f32>, OnnxError> {
        let run_err = |e: TractError| OnnxError::Run {
            path: self.path.clone(),
            reason: one_line(&e),
        };
        let rows = part.shape()[0];
        let tensor = self.padded_input(part, batch);
        let outputs = guard_run(&self.path, || plan.run(tvec!(tensor.into())))?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(run_err)?;
        let flat = view
            .to_shape((batch, self.classes))
            .map_err(|e| OnnxError::Run {
                path: self.path.clone(),
                reason: format!(
                    "logits of shape {:?} are not [{batch}, {}]: {e}",
                    view.shape(),
                    self.classes
                ),
            })?;
        // Padding rows of a fixed batch are zeros the model never sees as images: only
        // the real rows must be finite.
        OnnxError::check_finite(&self.path, flat.slice(ndarray::s![..rows, ..]).iter())?;
        Ok(flat.into_owned())
    }
}

/// The model with its declared outputs replaced by the logits tensor, parsed by tract
/// (no file access: external data was inlined when the model was opened), plus the outlet
/// of every named tensor.
pub(super) fn parse_logits_graph(
    model: &OnnxModel,
    signature: &Signature,
) -> Result<(InferenceModel, HashMap<String, OutletId>), OnnxError> {
    let proto = proto_with_output(model.proto(), &signature.logits);
    let parsed = guard(model.path(), || registry().parse(&proto, None))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(OnnxError::Tract {
            path: model.path().to_path_buf(),
            reason: format!("unresolved inputs {:?}", parsed.unresolved_inputs),
        });
    }
    Ok((parsed.model, parsed.outlets_by_name))
}

fn optimise(model: InferenceModel, input: &ImageInput, batch: TDim) -> TractResult<TypedModel> {
    model
        .with_input_fact(0, image_fact(input, batch))?
        .into_optimized()
}

fn output_classes(model: &TypedModel) -> Option<usize> {
    let fact = model.output_fact(0).ok()?;
    let dims = fact.shape.dims();
    dims.iter()
        .skip(1)
        .try_fold(1usize, |acc, d| {
            d.as_i64()
                .and_then(|d| usize::try_from(d).ok())
                .map(|d| acc * d)
        })
        .filter(|c| *c > 0)
}
