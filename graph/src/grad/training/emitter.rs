//! Emitting the nodes of a training-step graph: each output gets a fresh name under a
//! prefix (`loss.3`, `opt.17`) unless the graph's interface names it.

use crate::onnx::{Attr, ConstTensor, GraphBuilder, Node};

/// Adds nodes and constants to a graph under fresh names `<prefix>.<n>`.
pub(super) struct Emitter<'a> {
    b: &'a mut GraphBuilder,
    prefix: &'static str,
    counter: usize,
}

impl<'a> Emitter<'a> {
    /// An emitter into `b` whose names start with `prefix`.
    pub(super) fn new(b: &'a mut GraphBuilder, prefix: &'static str) -> Self {
        Emitter {
            b,
            prefix,
            counter: 0,
        }
    }

    fn fresh(&mut self) -> String {
        self.counter += 1;
        format!("{}.{}", self.prefix, self.counter)
    }

    /// A node with one output under a fresh name; returns that name.
    pub(super) fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh();
        self.b.add(Node::new(op, inputs, &[&out], attrs));
        out
    }

    /// A node whose one output is `out`, a name of the graph's interface; returns `out`.
    pub(super) fn node_into(
        &mut self,
        op: &str,
        inputs: &[&str],
        out: &str,
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        self.b.add(Node::new(op, inputs, &[out], attrs));
        out.to_string()
    }

    /// A constant under a fresh name; returns that name.
    pub(super) fn constant(&mut self, value: &ConstTensor) -> String {
        let name = self.fresh();
        self.b.constant(&name, value);
        name
    }

    /// A float scalar constant.
    pub(super) fn scalar(&mut self, value: f32) -> String {
        self.constant(&ConstTensor::f32(&[], vec![value]))
    }
}
