//! Tests of Pad: constant, reflect and edge, in 1-D and 2-D,
//! pads as input and as attribute (opset 2). tract 0.23.9's analysis leaves the output shape
//! of a Pad with an `axes` input (opset 18) unresolved, so that form cannot be tested here.

use super::tests::{assert_close_discriminating, dense_head, gradients, ints, model_at};
use crate::onnx::{Attr, ConstTensor, GraphBuilder};

fn pad_input(b: &mut GraphBuilder, pads: &[i64]) {
    b.constant("pads", &ConstTensor::i64(&[pads.len()], pads.to_vec()));
}

#[test]
fn pad_constant_slices_the_gradient_pads_as_input_and_as_attribute() {
    // x [N, 2, 4, 5]: H +1 before (5 rows); W +2 after (7 cols). tract 0.23.9 cannot run
    // negative (cropping) pads: its Pad holds them as unsigned and overflows.
    let pads = [0, 0, 1, 0, 0, 0, 0, 2];
    let by_input = model_at(13, [2, 4, 5], 4, |b| {
        pad_input(b, &pads);
        b.constant("value", &ConstTensor::f32(&[], vec![0.5]));
        b.node("Pad", &["x", "pads", "value"], &["y"], &[]);
        dense_head(b, "y", 70, 4, 150)
    });
    let by_attr = model_at(2, [2, 4, 5], 4, |b| {
        let attrs = [("pads", ints(&pads)), ("value", Attr::Float(0.5))];
        b.node("Pad", &["x"], &["y"], &attrs);
        dense_head(b, "y", 70, 4, 150)
    });
    for (i, m) in [by_input, by_attr].iter().enumerate() {
        let (a, n) = gradients(m, 3, 1e-2, 151 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn pad_reflect_and_edge_fold_the_borders_back_in_1d_and_2d() {
    for (i, mode) in ["reflect", "edge"].into_iter().enumerate() {
        let mode = ("mode", Attr::Str(mode.into()));
        // 1-D: W of 5 padded by 3 and 2 -> 10.
        let one = model_at(13, [1, 2, 5], 4, |b| {
            pad_input(b, &[0, 0, 0, 3, 0, 0, 0, 2]);
            b.node("Pad", &["x", "pads"], &["y"], std::slice::from_ref(&mode));
            dense_head(b, "y", 20, 4, 153)
        });
        // 2-D: H of 4 padded by 2 and 1 -> 7, W of 4 by 1 and 3 -> 8.
        let two = model_at(13, [2, 4, 4], 4, |b| {
            pad_input(b, &[0, 0, 2, 1, 0, 0, 1, 3]);
            b.node("Pad", &["x", "pads"], &["y"], std::slice::from_ref(&mode));
            dense_head(b, "y", 112, 4, 154)
        });
        for (j, m) in [one, two].iter().enumerate() {
            let (a, n) = gradients(m, 2, 1e-2, 155 + 2 * i as u64 + j as u64);
            assert_close_discriminating(&a, &n, 1e-3);
        }
    }
}
