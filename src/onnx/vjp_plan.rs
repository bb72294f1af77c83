//! Running a vector-Jacobian-product graph with tract: inputs images and a seed
//! (d loss / d logits), outputs logits and `seed^T · d logits / d images`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Ix4};
use tract_onnx::prelude::*;

use super::panic_guard::{compile_limit, guard, guard_run, guard_within};
use super::profile::{profile_plan, OpTime};
use super::signature::{ImageInput, Layout};
use super::tract_plan::{image_fact, one_line, to_model_layout};
use super::{OnnxError, OnnxModel};

/// tract plans of a VJP graph (see `crate::grad::vjp_graph`), each compiled on first use: one
/// with a symbolic batch, and plans for concrete batch sizes (see
/// [`VjpPlan::with_concrete_batches`]). Where concrete plans serve every batch, the symbolic
/// one is never compiled, which keeps it out of a model's load time.
#[derive(Debug)]
pub struct VjpPlan {
    path: PathBuf,
    /// The plan with a symbolic batch, or why it did not compile.
    symbolic: OnceLock<Result<Arc<TypedSimplePlan>, String>>,
    input: ImageInput,
    classes: usize,
    /// The parsed graph, kept to compile plans.
    inference: InferenceModel,
    /// Batch sizes up to this one run on a plan compiled for their size.
    concrete_up_to: usize,
    /// The plans compiled per batch size; `None` where compiling failed (the symbolic plan
    /// serves that size).
    concrete: Mutex<HashMap<usize, Option<Arc<TypedSimplePlan>>>>,
}

impl VjpPlan {
    /// Parses `vjp`, whose inputs are the image input described by `input` and a seed
    /// `[batch, classes]`, and whose outputs are the logits and the input gradient; tract
    /// compiles it on first use, and an error there is an error of that run.
    pub fn new(vjp: &OnnxModel, input: &ImageInput, classes: usize) -> Result<Self, OnnxError> {
        let path = vjp.path().to_path_buf();
        let parsed = guard(&path, || tract_onnx::onnx().parse(vjp.proto(), None))?;
        Ok(VjpPlan {
            path,
            symbolic: OnceLock::new(),
            input: input.clone(),
            classes,
            inference: parsed.model,
            concrete_up_to: 0,
            concrete: Mutex::new(HashMap::new()),
        })
    }

    /// The same plan, running batches of 1 to `up_to` images on plans compiled for their
    /// size, each on first use.
    ///
    /// tract lowers the products of a transposed convolution (a convolution's input
    /// gradient) with the largest axis as the matrix width, and counts a symbolic batch as
    /// the largest: the symbolic plan multiplies once per output position with the batch as
    /// the width (a matrix-vector product per position at batch 1), where a plan for a
    /// concrete batch multiplies once per image with the positions as the width.
    pub fn with_concrete_batches(mut self, up_to: usize) -> Self {
        self.concrete_up_to = up_to;
        self
    }

    /// The batch sizes that have a concrete plan so far, in order.
    #[cfg(test)]
    pub(super) fn concrete_sizes(&self) -> Vec<usize> {
        let plans = self
            .concrete
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sizes: Vec<usize> = plans
            .iter()
            .filter_map(|(&n, plan)| plan.as_ref().map(|_| n))
            .collect();
        sizes.sort_unstable();
        sizes
    }

    /// Whether the plan with a symbolic batch has been compiled (or tried).
    #[cfg(test)]
    pub(super) fn symbolic_compiled(&self) -> bool {
        self.symbolic.get().is_some()
    }

    /// The plan that runs a batch of `n` images.
    fn plan_for(&self, n: usize) -> Result<Arc<TypedSimplePlan>, OnnxError> {
        if n == 0 || n > self.concrete_up_to {
            return self.symbolic_plan();
        }
        let concrete = {
            // A thread that panicked while holding the lock left the map consistent: each
            // entry is inserted whole.
            let mut plans = self
                .concrete
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            plans
                .entry(n)
                .or_insert_with(|| self.concrete_plan(n))
                .clone()
        };
        concrete.map_or_else(|| self.symbolic_plan(), Ok)
    }

    /// The plan with a symbolic batch, compiled on the first call.
    fn symbolic_plan(&self) -> Result<Arc<TypedSimplePlan>, OnnxError> {
        let compiled = self.symbolic.get_or_init(|| {
            let batch = self.inference.symbols.sym("batch").to_dim();
            let inference = self.inference.clone();
            compile(&self.path, inference, &self.input, self.classes, batch).map_err(|e| match e {
                OnnxError::Tract { reason, .. } => reason,
                other => other.to_string(),
            })
        });
        compiled.clone().map_err(|reason| OnnxError::Tract {
            path: self.path.clone(),
            reason,
        })
    }

    /// The plan compiled for batches of `n`, if it compiles and runs a batch of zeros into
    /// outputs of the symbolic plan's shapes: a graph may treat a batch of one differently
    /// (a Squeeze without axes drops it), and then the symbolic plan serves.
    fn concrete_plan(&self, n: usize) -> Option<Arc<TypedSimplePlan>> {
        let inference = self.inference.clone();
        let plan = compile(&self.path, inference, &self.input, self.classes, n.to_dim()).ok()?;
        let [c, h, w] = self.input.chw();
        let (x, s) = self
            .inputs(
                Array4::zeros((n, c, h, w)).view(),
                Array2::zeros((n, self.classes)).view(),
            )
            .ok()?;
        let outputs = guard_run(&self.path, || plan.run(tvec!(x.clone().into(), s.into()))).ok()?;
        let fits = outputs.len() == 2
            && outputs[0].shape() == [n, self.classes]
            && outputs[1].shape() == x.shape();
        fits.then_some(plan)
    }

    /// The VJP graph's file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// tract's time per op kind over `runs` runs of the plan on `images` and `seed` (one
    /// chunk), on the calling thread.
    pub fn profile(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
        runs: usize,
    ) -> Result<Vec<OpTime>, OnnxError> {
        let (x, s) = self.inputs(images, seed)?;
        let plan = self.plan_for(images.shape()[0])?;
        profile_plan(&self.path, &plan, &tvec!(x.into(), s.into()), runs)
    }

    /// The plan's input tensors, after checking their shapes.
    fn inputs(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Tensor, Tensor), OnnxError> {
        let n = images.shape()[0];
        let [c, h, w] = self.input.chw();
        if images.shape()[1..] != [c, h, w] || seed.shape() != [n, self.classes] {
            return Err(OnnxError::InputShape {
                path: self.path.clone(),
                expected: format!("images [n, {c}, {h}, {w}] and seed [n, {}]", self.classes),
                got: images.shape().iter().chain(seed.shape()).copied().collect(),
            });
        }
        let x: Tensor = to_model_layout(images, self.input.layout).into();
        let s: Tensor = seed.as_standard_layout().into_owned().into();
        Ok((x, s))
    }

    /// Logits `(n, classes)` and the gradient `(n, c, h, w)` of `sum(seed * logits)` with
    /// respect to `images` `(n, c, h, w)`.
    pub fn run(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>), OnnxError> {
        let run_err = |e: TractError| OnnxError::Run {
            path: self.path.clone(),
            reason: one_line(&e),
        };
        let (x, s) = self.inputs(images, seed)?;
        let plan = self.plan_for(images.shape()[0])?;
        let outputs = guard_run(&self.path, || plan.run(tvec!(x.into(), s.into())))?;
        let logits = outputs[0]
            .to_plain_array_view::<f32>()
            .and_then(|v| Ok(v.into_dimensionality::<ndarray::Ix2>()?.to_owned()))
            .map_err(run_err)?;
        let grad = outputs[1]
            .to_plain_array_view::<f32>()
            .and_then(|v| Ok(v.into_dimensionality::<Ix4>()?.to_owned()))
            .map_err(run_err)?;
        OnnxError::check_finite(&self.path, logits.iter())?;
        let grad = match self.input.layout {
            Layout::Nchw => grad,
            Layout::Nhwc => grad
                .permuted_axes([0, 3, 1, 2])
                .as_standard_layout()
                .into_owned(),
        };
        Ok((logits, grad))
    }
}

/// The optimised, runnable plan of the VJP graph `inference` for image batches of `batch`
/// (symbolic or concrete).
fn compile(
    path: &Path,
    mut inference: InferenceModel,
    input: &ImageInput,
    classes: usize,
    batch: TDim,
) -> Result<Arc<TypedSimplePlan>, OnnxError> {
    let image = input.clone();
    guard_within(path, compile_limit(), move || {
        let seed =
            InferenceFact::dt_shape(f32::datum_type(), tvec![batch.clone(), classes.to_dim()]);
        inference.set_input_fact(0, image_fact(&image, batch))?;
        inference.set_input_fact(1, seed)?;
        inference.into_optimized()?.into_runnable()
    })
}
