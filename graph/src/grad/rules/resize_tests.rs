//! Tests of Resize: nearest (the rounding modes exporters emit) and linear (each coordinate
//! transform), integer and non-integer scales, upsampling and downsampling on both spatial axes of NCHW.

use super::tests::{assert_close_discriminating, dense_head, gradients, model_at};
use crate::onnx::{Attr, ConstTensor, GraphBuilder};

/// Resize of x `[N, 2, h, w]` by scales `[1, 1, sh, sw]` to `out` `[H, W]`, then the dense
/// head. tract 0.23.9 cannot run a Resize given `sizes` (constant, computed from `Shape(x)`,
/// or with `axes`) under a symbolic batch ("undetermined symbol: batch"), with or without
/// the autodiff, so every case here gives scales.
fn resize_model(
    opset: i64,
    hw: [usize; 2],
    out: [usize; 2],
    scales: [f32; 2],
    attrs: &[(&str, &str)],
    seed: u64,
) -> crate::onnx::OnnxModel {
    let attrs: Vec<(&str, Attr)> = attrs
        .iter()
        .map(|&(k, v)| (k, Attr::Str(v.into())))
        .collect();
    model_at(opset, [2, hw[0], hw[1]], 4, |b: &mut GraphBuilder| {
        b.constant("roi", &ConstTensor::f32(&[0], vec![]));
        let [sh, sw] = scales;
        b.constant("scales", &ConstTensor::f32(&[4], vec![1.0, 1.0, sh, sw]));
        b.node("Resize", &["x", "roi", "scales"], &["y"], &attrs);
        dense_head(b, "y", 2 * out[0] * out[1], 4, seed)
    })
}

fn check(m: &crate::onnx::OnnxModel, seed: u64) {
    let (a, n) = gradients(m, 2, 1e-2, seed);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn resize_nearest_modes_exporters_emit() {
    // torch `nearest` (asymmetric + floor) at scale 2; ONNX's default (half_pixel +
    // round_prefer_floor) at 1.5; round_prefer_ceil down- and upsampling; ceil.
    let torch = [
        ("coordinate_transformation_mode", "asymmetric"),
        ("nearest_mode", "floor"),
    ];
    check(
        &resize_model(13, [3, 2], [6, 4], [2.0, 2.0], &torch, 170),
        171,
    );
    check(&resize_model(13, [4, 2], [6, 3], [1.5, 1.5], &[], 172), 173);
    let ceil = [
        ("coordinate_transformation_mode", "half_pixel"),
        ("nearest_mode", "round_prefer_ceil"),
    ];
    check(
        &resize_model(18, [5, 4], [3, 6], [0.75, 1.5], &ceil, 174),
        175,
    );
    let ceil = [
        ("coordinate_transformation_mode", "asymmetric"),
        ("nearest_mode", "ceil"),
    ];
    check(
        &resize_model(11, [4, 3], [6, 3], [1.5, 1.0], &ceil, 176),
        177,
    );
}

#[test]
fn resize_linear_each_coordinate_transform() {
    let linear = |coordinates: &'static str| {
        [
            ("mode", "linear"),
            ("coordinate_transformation_mode", coordinates),
        ]
    };
    let cases = [
        ("half_pixel", [3, 2], [6, 4], [2.0, 2.0]),
        ("half_pixel", [4, 2], [6, 3], [1.5, 1.5]),
        ("align_corners", [3, 4], [6, 8], [2.0, 2.0]),
        ("align_corners", [4, 4], [3, 6], [0.75, 1.5]),
        ("asymmetric", [4, 2], [6, 5], [1.5, 2.5]),
        ("pytorch_half_pixel", [5, 4], [3, 6], [0.75, 1.5]),
        ("pytorch_half_pixel", [4, 4], [1, 6], [0.25, 1.5]),
    ];
    for (i, (coordinates, hw, out, scales)) in cases.into_iter().enumerate() {
        let seed = 180 + 2 * i as u64;
        check(
            &resize_model(13, hw, out, scales, &linear(coordinates), seed),
            seed + 1,
        );
    }
}

#[test]
fn resize_with_axes_at_opset_18() {
    // Scales for the named axes only: W then H, by 1.5 and 2.
    let m = model_at(18, [2, 2, 4], 4, |b: &mut GraphBuilder| {
        b.constant("roi", &ConstTensor::f32(&[0], vec![]));
        b.constant("scales", &ConstTensor::f32(&[2], vec![1.5, 2.0]));
        let attrs = [
            ("mode", Attr::Str("linear".into())),
            ("axes", Attr::Ints(vec![3, -2])),
        ];
        b.node("Resize", &["x", "roi", "scales"], &["y"], &attrs);
        dense_head(b, "y", 2 * 4 * 6, 4, 200)
    });
    check(&m, 201);
}
