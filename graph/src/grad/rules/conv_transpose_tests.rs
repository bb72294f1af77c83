//! Tests of ConvTranspose's input gradient: strides with output padding and asymmetric pads,
//! dilations, a bias, and depthwise groups.

use super::tests::{assert_close_discriminating, dense_head, gradients, ints, model, uniform};
use crate::onnx::Attr;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// ConvTranspose of x `[N, 2, 3, 3]` by a seeded weight `w_dims` with `attrs` (output
/// `[out_c, out_h, out_w]`, worked out by hand), then the dense head. No case has a dilation
/// equal to its stride: tract 0.23.9's declutter then rewrites the gradient's Conv with a
/// Downsample that it fails to pull over the head's Reshape ("Invalid axis"), or over any
/// Expand.
fn check(w_dims: [usize; 4], attrs: &[(&str, Attr)], bias: bool, out: [usize; 3], seed: u64) {
    let m = model([2, 3, 3], 4, |b| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = w_dims.iter().product();
        b.initializer("w", &w_dims, &uniform(&mut rng, n, -1.0, 1.0));
        let mut inputs = vec!["x", "w"];
        if bias {
            b.initializer("bias", &[out[0]], &uniform(&mut rng, out[0], -1.0, 1.0));
            inputs.push("bias");
        }
        b.node("ConvTranspose", &inputs, &["y"], attrs);
        dense_head(b, "y", out.iter().product(), 4, seed + 1)
    });
    let (a, n) = gradients(&m, 2, 1e-2, seed + 2);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn conv_transpose_stride_2_output_padding_and_asymmetric_pads() {
    // H: 2 (3 - 1) + 1 + 3 - 1 - 1 = 6; W: 2 (3 - 1) + 0 + 3 - 0 - 1 = 6.
    let attrs = [
        ("strides", ints(&[2, 2])),
        ("pads", ints(&[1, 0, 1, 1])),
        ("output_padding", ints(&[1, 0])),
    ];
    check([2, 3, 3, 3], &attrs, true, [3, 6, 6], 200);
}

#[test]
fn conv_transpose_dilation_3_with_stride_2_and_output_padding() {
    // Extent 4 (2x2 kernel, dilation 3). H: 2 (3 - 1) + 0 + 4 - 1 - 1 = 6;
    // W: 2 (3 - 1) + 1 + 4 - 0 - 0 = 9.
    let attrs = [
        ("strides", ints(&[2, 2])),
        ("dilations", ints(&[3, 3])),
        ("pads", ints(&[1, 0, 1, 0])),
        ("output_padding", ints(&[0, 1])),
    ];
    check([2, 2, 2, 2], &attrs, false, [2, 6, 9], 210);
}

#[test]
fn conv_transpose_depthwise() {
    // group 2, one output channel per group; H = W = 2 (3 - 1) + 3 = 7.
    let attrs = [("strides", ints(&[2, 2])), ("group", Attr::Int(2))];
    check([2, 1, 3, 3], &attrs, true, [2, 7, 7], 220);
}
