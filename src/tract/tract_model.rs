//! What the plans ask of tract's compiled models: whether a plan gathers convolution
//! patches lazily, and a batch in the model's own input layout.

use ndarray::ArrayView4;
use tract_onnx::prelude::*;

use robustaudit_graph::onnx::Layout;

/// Whether tract gathers a convolution's patches lazily in `plan` (`LazyIm2col`: straight
/// from the image into the matrix product's panels). tract does so only in plans for one
/// image, and otherwise copies every patch into a buffer first (`Im2col`): on the MNIST
/// network that copy took about half of the forward time at batch 16 and more per image
/// than at batch 1 (`robustaudit bench --profile`), while the matrix products gained
/// nothing from the batch (a convolution multiplies image by image). Where a plan for one
/// image gathers lazily, rows therefore run one at a time on it.
pub(super) fn gathers_patches_lazily(plan: &TypedSimplePlan) -> bool {
    plan.model()
        .nodes()
        .iter()
        .any(|node| node.op().name() == "LazyIm2col")
}

/// An NCHW batch in the model's own layout, contiguous.
pub(super) fn to_model_layout(images: ArrayView4<f32>, layout: Layout) -> ndarray::Array4<f32> {
    match layout {
        Layout::Nchw => images.as_standard_layout().into_owned(),
        Layout::Nhwc => images
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned(),
    }
}
