//! A plain tract runner for this crate's tests: the logits of a forward graph and the
//! outputs of a vector-Jacobian-product graph for a batch of NCHW images, so that the graphs
//! built here are checked here (gradients against finite differences and closed forms).
//!
//! It runs each graph as it stands, compiled once with a symbolic batch. The auditor's plans
//! (`robustaudit::tract`) add what an audit of an untrusted model needs on top: the cut at
//! the logits, probes, limits, guards against tract's panics, plans per batch size.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Ix2, Ix4};
use tract_onnx::prelude::*;

use crate::onnx::tract::{image_fact, registry};
use crate::onnx::{ImageInput, Layout, OnnxModel};

/// A forward graph's plan: NCHW images in, the graph's first output (the logits) out.
pub(crate) struct TestPlan {
    plan: Arc<TypedSimplePlan>,
    input: ImageInput,
    classes: usize,
}

impl TestPlan {
    /// Compiles `model` for any batch size.
    pub(crate) fn new(model: &OnnxModel) -> TractResult<Self> {
        let input = model.signature()?.input;
        let mut inference = registry().parse(model.proto(), None)?.model;
        let batch = inference.symbols.sym("batch").to_dim();
        inference.set_input_fact(0, image_fact(&input, batch))?;
        let typed = inference.into_optimized()?;
        let classes = typed.output_fact(0)?.shape.dims()[1]
            .as_i64()
            .ok_or_else(|| TractError::msg("the logits have a symbolic width"))?
            as usize;
        Ok(TestPlan {
            plan: typed.into_runnable()?,
            input,
            classes,
        })
    }

    /// The model's image input.
    pub(crate) fn input(&self) -> &ImageInput {
        &self.input
    }

    /// The width of the logits.
    pub(crate) fn classes(&self) -> usize {
        self.classes
    }

    /// The logits `(n, classes)` of `images` `(n, c, h, w)`.
    pub(crate) fn logits(&self, images: ArrayView4<f32>) -> TractResult<Array2<f32>> {
        let outputs = self
            .plan
            .run(tvec![image_tensor(images, self.input.layout)])?;
        array(&outputs[0])
    }
}

/// A VJP graph's plan (see [`crate::grad::vjp_graph`]) run with a fixed seed: the seed
/// terms computed from the logits, where the graph takes them, are switched off.
pub(crate) struct TestVjpPlan {
    plan: Arc<TypedSimplePlan>,
    layout: Layout,
    seed_terms: bool,
}

impl TestVjpPlan {
    /// Compiles `vjp`, the VJP graph of a model with image input `input` and `classes`
    /// logits, for any batch size.
    pub(crate) fn new(vjp: &OnnxModel, input: &ImageInput, classes: usize) -> TractResult<Self> {
        let mut inference = registry().parse(vjp.proto(), None)?.model;
        let seed_terms = inference.inputs.len() == 6;
        let batch = inference.symbols.sym("batch").to_dim();
        let fact = |width: usize| {
            InferenceFact::dt_shape(f32::datum_type(), tvec![batch.clone(), width.to_dim()])
        };
        inference.set_input_fact(0, image_fact(input, batch.clone()))?;
        for (slot, width) in [classes, 1, classes, 1, classes].into_iter().enumerate() {
            if slot == 0 || seed_terms {
                inference.set_input_fact(slot + 1, fact(width))?;
            }
        }
        Ok(TestVjpPlan {
            plan: inference.into_optimized()?.into_runnable()?,
            layout: input.layout,
            seed_terms,
        })
    }

    /// The logits `(n, classes)` and the gradient `(n, c, h, w)` of `sum(seed * logits)`
    /// with respect to `images` `(n, c, h, w)`.
    pub(crate) fn run(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> TractResult<(Array2<f32>, Array4<f32>)> {
        let weights = Array2::<f32>::zeros((seed.nrows(), 1));
        let classes = Array2::<f32>::zeros(seed.raw_dim());
        let (weights, classes) = (weights.view(), classes.view());
        self.run_terms(images, [seed, weights, classes, weights, classes])
    }

    /// [`TestVjpPlan::run`] with the seed computed by the graph from its logits `z`: the
    /// fixed part `(n, classes)`, then the weight of `softmax(z) - class` `(n, 1)` and that
    /// class `(n, classes)`, the weight of the top class `(n, 1)` and the mask added to `z`
    /// before the top class is chosen `(n, classes)`; a graph that takes only the fixed seed
    /// is given only that.
    pub(crate) fn run_terms(
        &self,
        images: ArrayView4<f32>,
        terms: [ArrayView2<f32>; 5],
    ) -> TractResult<(Array2<f32>, Array4<f32>)> {
        let matrix = |a: ArrayView2<f32>| -> TValue { Tensor::from(a.to_owned()).into() };
        let mut inputs = tvec![image_tensor(images, self.layout)];
        let given = if self.seed_terms { 5 } else { 1 };
        inputs.extend(terms[..given].iter().map(|&t| matrix(t)));
        let outputs = self.plan.run(inputs)?;
        let grad = outputs[1]
            .to_plain_array_view::<f32>()?
            .into_dimensionality::<Ix4>()?;
        let grad = match self.layout {
            Layout::Nchw => grad.to_owned(),
            Layout::Nhwc => grad.permuted_axes([0, 3, 1, 2]).to_owned(),
        };
        Ok((array(&outputs[0])?, grad))
    }
}

/// `images` (NCHW) in the model's layout, as tract's input.
fn image_tensor(images: ArrayView4<f32>, layout: Layout) -> TValue {
    let images = match layout {
        Layout::Nchw => images,
        Layout::Nhwc => images.permuted_axes([0, 2, 3, 1]),
    };
    Tensor::from(images.as_standard_layout().into_owned()).into()
}

/// A rank-2 f32 output as an array.
fn array(output: &TValue) -> TractResult<Array2<f32>> {
    Ok(output
        .to_plain_array_view::<f32>()?
        .into_dimensionality::<Ix2>()?
        .to_owned())
}
