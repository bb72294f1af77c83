//! Tests of the selection rules (Slice, Split, Squeeze, Unsqueeze, Gather, GatherElements)
//! with their inputs-or-attributes forms across opsets.

use super::tests::{assert_close_discriminating, dense_head, gradients, ints, model_at};
use crate::onnx::{Attr, ConstTensor, GraphBuilder};

fn i64s(b: &mut GraphBuilder, name: &str, v: &[i64]) {
    b.constant(name, &ConstTensor::i64(&[v.len()], v.to_vec()));
}

#[test]
fn slice_with_steps_negative_steps_and_clamped_ends() {
    // x [N, 2, 3, 4]: axis 3 every second from 1 (1, 3); axis 2 backwards from the end
    // with a clamped end (2, 1, 0); axis 1 from -1 to a huge end (1).
    let m = model_at(13, [2, 3, 4], 4, |b| {
        i64s(b, "starts", &[1, -1, -1]);
        i64s(b, "ends", &[100, i64::MIN, i64::MAX]);
        i64s(b, "axes", &[3, 2, 1]);
        i64s(b, "steps", &[2, -1, 1]);
        b.node(
            "Slice",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
            &[],
        );
        dense_head(b, "y", 6, 4, 100)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 101);
    assert_close_discriminating(&a, &n, 1e-3);
    // Unselected elements get exactly zero: x[:, 0] is never read.
    assert!(a.iter().take(12).all(|&v| v == 0.0));
}

#[test]
fn slice_without_axes_and_steps_and_with_attributes_at_opset_9() {
    let m = model_at(18, [2, 3, 4], 4, |b| {
        i64s(b, "starts", &[0, 0, 1]);
        i64s(b, "ends", &[i64::MAX, 2, 3]);
        b.node("Slice", &["x", "starts", "ends"], &["y"], &[]);
        dense_head(b, "y", 16, 4, 102)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 103);
    assert_close_discriminating(&a, &n, 1e-3);
    let m = model_at(9, [2, 3, 4], 4, |b| {
        let attrs = [
            ("starts", ints(&[1, -3])),
            ("ends", ints(&[3, 100])),
            ("axes", ints(&[2, 3])),
        ];
        b.node("Slice", &["x"], &["y"], &attrs);
        dense_head(b, "y", 12, 4, 104)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 105);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn split_sizes_as_input_attribute_and_num_outputs() {
    // Only the first and last parts are read: the middle one's gradient is zero.
    let build = |opset: i64, features: usize, split: &dyn Fn(&mut GraphBuilder)| {
        model_at(opset, [2, 3, 4], 4, |b| {
            split(b);
            b.node("Flatten", &["p0"], &["f0"], &[]);
            b.node("Flatten", &["p2"], &["f2"], &[]);
            b.node("Concat", &["f0", "f2"], &["y"], &[("axis", Attr::Int(1))]);
            dense_head(b, "y", features, 4, 106)
        })
    };
    let outputs = ["p0", "p1", "p2"];
    let by_input = build(13, 12, &|b| {
        i64s(b, "split", &[1, 2, 1]);
        b.node(
            "Split",
            &["x", "split"],
            &outputs,
            &[("axis", Attr::Int(3))],
        );
    });
    let by_attr = build(11, 12, &|b| {
        let attrs = [("axis", Attr::Int(-1)), ("split", ints(&[1, 2, 1]))];
        b.node("Split", &["x"], &outputs, &attrs);
    });
    let by_count = build(18, 16, &|b| {
        // 3 parts of a 3-long axis 2: 1 row each.
        let attrs = [("axis", Attr::Int(2)), ("num_outputs", Attr::Int(3))];
        b.node("Split", &["x"], &outputs, &attrs);
    });
    for (i, m) in [by_input, by_attr, by_count].iter().enumerate() {
        let (a, n) = gradients(m, 2, 1e-2, 107 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn squeeze_and_unsqueeze_axes_as_input_and_attribute() {
    for (i, opset) in [11i64, 13].into_iter().enumerate() {
        let m = model_at(opset, [1, 3, 4], 4, |b| {
            if opset >= 13 {
                i64s(b, "sq", &[1]);
                b.node("Squeeze", &["x", "sq"], &["s"], &[]);
                i64s(b, "un", &[-1]);
                b.node("Unsqueeze", &["s", "un"], &["y"], &[]);
            } else {
                b.node("Squeeze", &["x"], &["s"], &[("axes", ints(&[1]))]);
                b.node("Unsqueeze", &["s"], &["y"], &[("axes", ints(&[3]))]);
            }
            dense_head(b, "y", 12, 4, 110)
        });
        let (a, n) = gradients(&m, 2, 1e-2, 111 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn gather_constant_indices_negative_repeated_and_scalar() {
    // The class token of a ViT: Gather(x, 0, axis=1) with a scalar index; and a 2-D index
    // tensor with a negative and a repeated index along the last axis.
    let m = model_at(13, [2, 3, 4], 4, |b| {
        b.constant("token", &ConstTensor::i64(&[], vec![0]));
        b.node("Gather", &["x", "token"], &["t"], &[("axis", Attr::Int(1))]);
        b.constant("idx", &ConstTensor::i64(&[2, 2], vec![-1, 0, 2, -1]));
        b.node("Gather", &["x", "idx"], &["u"], &[("axis", Attr::Int(3))]);
        b.node("Flatten", &["t"], &["tf"], &[]);
        b.node("Flatten", &["u"], &["uf"], &[]);
        b.node("Concat", &["tf", "uf"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", 12 + 24, 4, 113)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 114);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn gather_elements_with_repeated_indices() {
    let m = model_at(13, [2, 3, 4], 4, |b| {
        let idx: Vec<i64> = (0..24).map(|i| (i * 7 % 5) % 4).collect();
        b.constant("idx", &ConstTensor::i64(&[1, 2, 3, 4], idx));
        b.node("Shape", &["x"], &["xs"], &[]);
        b.node("Expand", &["idx", "xs"], &["idx_n"], &[]);
        b.node(
            "GatherElements",
            &["x", "idx_n"],
            &["y"],
            &[("axis", Attr::Int(3))],
        );
        dense_head(b, "y", 24, 4, 115)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 116);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn gather_indices_computed_from_the_shape() {
    // The last column, its index computed as Shape(x)[3] - 1 (concrete once the input's shape
    // is), as dynamo exports `x[..., -1]`.
    let m = model_at(13, [2, 3, 4], 4, |b| {
        b.node("Shape", &["x"], &["xs"], &[]);
        b.constant("three", &ConstTensor::i64(&[], vec![3]));
        b.node(
            "Gather",
            &["xs", "three"],
            &["w"],
            &[("axis", Attr::Int(0))],
        );
        b.constant("one", &ConstTensor::i64(&[], vec![1]));
        b.node("Sub", &["w", "one"], &["last"], &[]);
        b.node("Gather", &["x", "last"], &["y"], &[("axis", Attr::Int(3))]);
        dense_head(b, "y", 6, 4, 117)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 118);
    assert_close_discriminating(&a, &n, 1e-3);
}
