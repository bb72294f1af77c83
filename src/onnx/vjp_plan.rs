//! Running a vector-Jacobian-product graph with tract: inputs images and a seed
//! (d loss / d logits), outputs logits and `seed^T · d logits / d images`.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Ix4};
use tract_onnx::prelude::*;

use super::panic_guard::{compile_limit, guard, guard_run, guard_within};
use super::profile::{profile_plan, OpTime};
use super::signature::{ImageInput, Layout};
use super::tract_plan::{image_fact, one_line, to_model_layout};
use super::{OnnxError, OnnxModel};

/// A compiled tract plan of a VJP graph (see `crate::grad::vjp_graph`), batch symbolic.
#[derive(Debug)]
pub struct VjpPlan {
    path: PathBuf,
    plan: Arc<TypedSimplePlan>,
    input: ImageInput,
    classes: usize,
}

impl VjpPlan {
    /// Compiles `vjp`, whose inputs are the image input described by `input` and a seed
    /// `[batch, classes]`, and whose outputs are the logits and the input gradient.
    pub fn new(vjp: &OnnxModel, input: &ImageInput, classes: usize) -> Result<Self, OnnxError> {
        let path = vjp.path().to_path_buf();
        let parsed = guard(&path, || tract_onnx::onnx().parse(vjp.proto(), None))?;
        let mut inference = parsed.model;
        let image = input.clone();
        let plan = guard_within(&path, compile_limit(), move || {
            let batch = inference.symbols.sym("batch").to_dim();
            let seed =
                InferenceFact::dt_shape(f32::datum_type(), tvec![batch.clone(), classes.to_dim()]);
            inference.set_input_fact(0, image_fact(&image, batch))?;
            inference.set_input_fact(1, seed)?;
            inference.into_optimized()?.into_runnable()
        })?;
        Ok(VjpPlan {
            path,
            plan,
            input: input.clone(),
            classes,
        })
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
        profile_plan(&self.path, &self.plan, &tvec!(x.into(), s.into()), runs)
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
        let outputs = guard_run(&self.path, || self.plan.run(tvec!(x.into(), s.into())))?;
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
