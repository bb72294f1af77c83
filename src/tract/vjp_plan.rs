//! Running a vector-Jacobian-product graph with tract: inputs images and a seed
//! (d loss / d logits, given as [`SeedInputs`]), outputs logits and
//! `seed^T · d logits / d images`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ndarray::{s, Array2, Array4, ArrayView2, ArrayView4, Axis, Ix4};
use tract_onnx::prelude::*;

use super::profile::{profile_plan, OpTime};
use super::tract_model::{gathers_patches_lazily, to_model_layout};
use robustaudit_graph::onnx::tract::{
    compile_limit, guard, guard_run, guard_within, image_fact, one_line, registry,
};
use robustaudit_graph::onnx::{ImageInput, Layout, OnnxError, OnnxModel};

/// The seed inputs of a VJP graph, one row per image (see `robustaudit_graph::grad::vjp_graph`): the
/// seed's fixed part `(n, classes)`, the weight of `softmax(logits) - softmax_class` `(n, 1)`
/// and its one-hot class `(n, classes)`, the weight of the top class's one-hot vector
/// `(n, 1)`, and the mask added to the logits before the top class is chosen `(n, classes)`.
#[derive(Debug, Clone, Copy)]
pub struct SeedInputs<'a> {
    /// The part of the seed that does not depend on the logits.
    pub fixed: ArrayView2<'a, f32>,
    /// The weight of `softmax(logits) - softmax_class`.
    pub softmax_weight: ArrayView2<'a, f32>,
    /// The one-hot class (or zero) subtracted from the softmax.
    pub softmax_class: ArrayView2<'a, f32>,
    /// The weight of the top class's one-hot vector.
    pub top_weight: ArrayView2<'a, f32>,
    /// Added to the logits before the top class is chosen.
    pub top_mask: ArrayView2<'a, f32>,
}

impl<'a> SeedInputs<'a> {
    /// The seeds of row `i` alone.
    fn row(&self, i: usize) -> SeedInputs<'a> {
        let row = |a: ArrayView2<'a, f32>| a.slice_move(s![i..=i, ..]);
        SeedInputs {
            fixed: row(self.fixed),
            softmax_weight: row(self.softmax_weight),
            softmax_class: row(self.softmax_class),
            top_weight: row(self.top_weight),
            top_mask: row(self.top_mask),
        }
    }

    /// Whether the seed does not depend on the logits.
    pub fn is_fixed(&self) -> bool {
        self.softmax_weight
            .iter()
            .chain(self.top_weight.iter())
            .all(|&w| w == 0.0)
    }
}

/// tract plans of a VJP graph (see `robustaudit_graph::grad::vjp_graph`), each compiled on first use: one
/// with a symbolic batch, and plans for concrete batch sizes (see
/// [`VjpPlan::with_concrete_batches`]). Where concrete plans serve every batch, the symbolic
/// one is never compiled, which keeps it out of a model's load time. Where tract gathers a
/// convolution's patches lazily in the plan for one image, every batch runs row by row on it
/// (see `gathers_patches_lazily`).
#[derive(Debug)]
pub struct VjpPlan {
    path: PathBuf,
    /// The plan with a symbolic batch, or why it did not compile.
    symbolic: OnceLock<Result<Arc<TypedSimplePlan>, String>>,
    input: ImageInput,
    classes: usize,
    /// Whether the graph takes the logit-dependent seed inputs (graphs built for one test
    /// take only the fixed seed).
    seed_terms: bool,
    /// The parsed graph, kept to compile plans.
    inference: InferenceModel,
    /// Batch sizes up to this one run on a plan compiled for their size.
    concrete_up_to: usize,
    /// The plans compiled per batch size; `None` where compiling failed (the symbolic plan
    /// serves that size).
    concrete: Mutex<HashMap<usize, Option<Arc<TypedSimplePlan>>>>,
    /// The plan for one image when rows run on it one at a time, decided on first use.
    single: OnceLock<Option<Arc<TypedSimplePlan>>>,
}

impl VjpPlan {
    /// Parses `vjp`, whose inputs are the image input described by `input` and the
    /// [`SeedInputs`] (or only their fixed part), and whose outputs are the logits and the
    /// input gradient; tract compiles it on first use, and an error there is an error of
    /// that run.
    pub fn new(vjp: &OnnxModel, input: &ImageInput, classes: usize) -> Result<Self, OnnxError> {
        let path = vjp.path().to_path_buf();
        let parsed = guard(&path, || registry().parse(vjp.proto(), None))?;
        let seed_terms = match parsed.model.inputs.len() {
            2 => false,
            6 => true,
            n => {
                return Err(OnnxError::Run {
                    path,
                    reason: format!(
                    "a vjp graph takes the images and 1 or 5 seed inputs, this one has {n} inputs"
                ),
                })
            }
        };
        Ok(VjpPlan {
            path,
            symbolic: OnceLock::new(),
            input: input.clone(),
            classes,
            seed_terms,
            inference: parsed.model,
            concrete_up_to: 0,
            concrete: Mutex::new(HashMap::new()),
            single: OnceLock::new(),
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
        self.concrete_for(n)
            .map_or_else(|| self.symbolic_plan(), Ok)
    }

    /// The plan compiled for batches of `n` (on the first call), if it compiled and fits.
    fn concrete_for(&self, n: usize) -> Option<Arc<TypedSimplePlan>> {
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
    }

    /// The plan for one image, when rows run on it one at a time: where plans for concrete
    /// batches are used and tract gathers a convolution's patches lazily in that one.
    fn row_plan(&self) -> Option<Arc<TypedSimplePlan>> {
        self.single
            .get_or_init(|| {
                let plan = (self.concrete_up_to > 0)
                    .then(|| self.concrete_for(1))
                    .flatten()?;
                gathers_patches_lazily(&plan).then_some(plan)
            })
            .clone()
    }

    /// Whether rows run one at a time on the plan for one image; compiles that plan if it
    /// was not yet.
    pub fn runs_row_by_row(&self) -> bool {
        self.row_plan().is_some()
    }

    /// The plan with a symbolic batch, compiled on the first call.
    fn symbolic_plan(&self) -> Result<Arc<TypedSimplePlan>, OnnxError> {
        let compiled = self.symbolic.get_or_init(|| {
            let batch = self.inference.symbols.sym("batch").to_dim();
            self.compile(batch).map_err(|e| match e {
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
        let plan = self.compile(n.to_dim()).ok()?;
        let [c, h, w] = self.input.chw();
        let seed = Array2::zeros((n, self.classes));
        let inputs = self
            .inputs(
                Array4::zeros((n, c, h, w)).view(),
                zero_terms(seed.view()).as_inputs(seed.view()),
            )
            .ok()?;
        let image_shape = inputs[0].shape().to_vec();
        let outputs = guard_run(&self.path, || plan.run(inputs)).ok()?;
        let fits = outputs.len() == 2
            && outputs[0].shape() == [n, self.classes]
            && outputs[1].shape() == image_shape.as_slice();
        fits.then_some(plan)
    }

    /// The VJP graph's file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// tract's time per op kind over `runs` runs of the plan on `images` and the fixed
    /// `seed` (one chunk), on the calling thread.
    pub fn profile(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
        runs: usize,
    ) -> Result<Vec<OpTime>, OnnxError> {
        let terms = zero_terms(seed);
        let seeds = terms.as_inputs(seed);
        if let Some(single) = self.row_plan() {
            let rows = (0..images.shape()[0])
                .map(|i| self.inputs(images.slice(s![i..=i, .., .., ..]), seeds.row(i)))
                .collect::<Result<Vec<_>, _>>()?;
            return profile_plan(&self.path, &single, &rows, runs);
        }
        let inputs = self.inputs(images, seeds)?;
        let plan = self.plan_for(images.shape()[0])?;
        profile_plan(&self.path, &plan, &[inputs], runs)
    }

    /// The plan's input tensors, after checking their shapes.
    fn inputs(
        &self,
        images: ArrayView4<f32>,
        seeds: SeedInputs,
    ) -> Result<TVec<TValue>, OnnxError> {
        let n = images.shape()[0];
        let [c, h, w] = self.input.chw();
        let k = self.classes;
        let shapes_fit = images.shape()[1..] == [c, h, w]
            && seeds.fixed.shape() == [n, k]
            && seeds.softmax_weight.shape() == [n, 1]
            && seeds.softmax_class.shape() == [n, k]
            && seeds.top_weight.shape() == [n, 1]
            && seeds.top_mask.shape() == [n, k];
        if !shapes_fit {
            return Err(OnnxError::InputShape {
                path: self.path.clone(),
                expected: format!(
                    "images [n, {c}, {h}, {w}], seed, softmax class and mask [n, {k}], weights [n, 1]"
                ),
                got: images.shape().iter().chain(seeds.fixed.shape()).copied().collect(),
            });
        }
        let tensor = |a: ArrayView2<f32>| -> TValue {
            Tensor::from(a.as_standard_layout().into_owned()).into()
        };
        let mut inputs: TVec<TValue> = tvec![
            Tensor::from(to_model_layout(images, self.input.layout)).into(),
            tensor(seeds.fixed),
        ];
        if self.seed_terms {
            inputs.extend([
                tensor(seeds.softmax_weight),
                tensor(seeds.softmax_class),
                tensor(seeds.top_weight),
                tensor(seeds.top_mask),
            ]);
        } else if !seeds.is_fixed() {
            return Err(OnnxError::Run {
                path: self.path.clone(),
                reason: "this vjp graph takes only a fixed seed".into(),
            });
        }
        Ok(inputs)
    }

    /// Logits `(n, classes)` and the gradient `(n, c, h, w)` of `sum(seed * logits)` with
    /// respect to `images` `(n, c, h, w)`, for a fixed `seed` `(n, classes)`.
    pub fn run(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>), OnnxError> {
        self.run_seeds(images, zero_terms(seed).as_inputs(seed))
    }

    /// Logits `(n, classes)` and the gradient `(n, c, h, w)` of `sum(seed(z) * logits)`
    /// with respect to `images` `(n, c, h, w)`, the seed computed by the graph from its
    /// logits `z` (see [`SeedInputs`]).
    pub fn run_seeds(
        &self,
        images: ArrayView4<f32>,
        seeds: SeedInputs,
    ) -> Result<(Array2<f32>, Array4<f32>), OnnxError> {
        let n = images.shape()[0];
        if let Some(single) = self.row_plan().filter(|_| n > 1) {
            let [c, h, w] = self.input.chw();
            let mut logits = Array2::zeros((n, self.classes));
            let mut grad = Array4::zeros((n, c, h, w));
            for i in 0..n {
                let inputs = self.inputs(images.slice(s![i..=i, .., .., ..]), seeds.row(i))?;
                let (z, g) = self.run_plan(&single, inputs)?;
                logits.row_mut(i).assign(&z.row(0));
                grad.index_axis_mut(Axis(0), i)
                    .assign(&g.index_axis(Axis(0), 0));
            }
            return Ok((logits, grad));
        }
        let inputs = self.inputs(images, seeds)?;
        let plan = self.plan_for(n)?;
        self.run_plan(&plan, inputs)
    }

    /// The logits and the input gradient (NCHW) `plan` computes from `inputs`.
    fn run_plan(
        &self,
        plan: &Arc<TypedSimplePlan>,
        inputs: TVec<TValue>,
    ) -> Result<(Array2<f32>, Array4<f32>), OnnxError> {
        let run_err = |e: TractError| OnnxError::Run {
            path: self.path.clone(),
            reason: one_line(&e),
        };
        let outputs = guard_run(&self.path, || plan.run(inputs))?;
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

    /// The optimised, runnable plan of the graph for image batches of `batch` (symbolic or
    /// concrete).
    fn compile(&self, batch: TDim) -> Result<Arc<TypedSimplePlan>, OnnxError> {
        let mut inference = self.inference.clone();
        let (image, classes, seed_terms) = (self.input.clone(), self.classes, self.seed_terms);
        guard_within(&self.path, compile_limit(), move || {
            let fact = |width: usize| {
                InferenceFact::dt_shape(f32::datum_type(), tvec![batch.clone(), width.to_dim()])
            };
            inference.set_input_fact(0, image_fact(&image, batch.clone()))?;
            inference.set_input_fact(1, fact(classes))?;
            if seed_terms {
                inference.set_input_fact(2, fact(1))?;
                inference.set_input_fact(3, fact(classes))?;
                inference.set_input_fact(4, fact(1))?;
                inference.set_input_fact(5, fact(classes))?;
            }
            inference.into_optimized()?.into_runnable()
        })
    }
}

/// The logit-dependent seed terms switched off, for a fixed seed like `seed`.
struct ZeroTerms {
    weights: Array2<f32>,
    mask: Array2<f32>,
}

impl ZeroTerms {
    fn as_inputs<'a>(&'a self, seed: ArrayView2<'a, f32>) -> SeedInputs<'a> {
        SeedInputs {
            fixed: seed,
            softmax_weight: self.weights.view(),
            softmax_class: self.mask.view(),
            top_weight: self.weights.view(),
            top_mask: self.mask.view(),
        }
    }
}

fn zero_terms(seed: ArrayView2<f32>) -> ZeroTerms {
    ZeroTerms {
        weights: Array2::zeros((seed.shape()[0], 1)),
        mask: Array2::zeros(seed.raw_dim()),
    }
}
