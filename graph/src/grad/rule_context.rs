//! What a backward rule sees while the VJP graph is built: the forward graph's shapes and
//! constants, which tensors need gradients, and emitters for new nodes and constants.

use std::collections::{HashMap, HashSet};

use crate::onnx::{Attr, ConstTensor, Dim, GraphBuilder, GraphView, Node};

/// What a backward rule may use: shapes of forward tensors, which ones need gradients, and
/// emitters for new nodes and constants (named `grad.<n>`).
pub(super) struct Ctx<'a> {
    b: &'a mut GraphBuilder,
    view: &'a GraphView,
    needs: HashSet<String>,
    constants: HashMap<String, ConstTensor>,
    /// Shapes of the tensors that QOperator twins add (see `opset::twin_shapes`).
    twin_shapes: HashMap<String, Vec<Dim>>,
    counter: usize,
}

impl<'a> Ctx<'a> {
    /// A context emitting into `b` for the forward graph `view`: `needs` are the tensors
    /// whose gradients are wanted, `constants` the constants the opset normalisation added,
    /// `twin_shapes` the shapes of the tensors QOperator twins add.
    pub(super) fn new(
        b: &'a mut GraphBuilder,
        view: &'a GraphView,
        needs: HashSet<String>,
        constants: HashMap<String, ConstTensor>,
        twin_shapes: HashMap<String, Vec<Dim>>,
    ) -> Self {
        Ctx {
            b,
            view,
            needs,
            constants,
            twin_shapes,
            counter: 0,
        }
    }

    /// Whether the gradient of `tensor` is wanted.
    pub fn needs(&self, tensor: &str) -> bool {
        self.needs.contains(tensor)
    }

    /// The shape of forward tensor `tensor`.
    pub fn shape(&self, tensor: &str) -> Result<Vec<Dim>, String> {
        self.view
            .shape(tensor)
            .map(<[Dim]>::to_vec)
            .or_else(|| self.twin_shapes.get(tensor).cloned())
            .ok_or_else(|| format!("the shape of '{tensor}' is unknown"))
    }

    /// The shape of `tensor` when no dimension depends on the batch size.
    pub fn fixed_shape(&self, tensor: &str) -> Result<Vec<usize>, String> {
        self.shape(tensor)?
            .iter()
            .map(|d| d.fixed())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("'{tensor}' depends on the batch size"))
    }

    fn constant(&self, tensor: &str) -> Option<&ConstTensor> {
        self.constants
            .get(tensor)
            .or_else(|| self.view.constant(tensor))
    }

    /// The integer values of `tensor` if it is a small constant of the forward graph.
    pub fn const_ints(&self, tensor: &str) -> Option<Vec<i64>> {
        self.constant(tensor)
            .and_then(|t| t.as_i64())
            .map(<[i64]>::to_vec)
    }

    /// The float values of `tensor` if it is a small constant of the forward graph.
    pub fn const_floats(&self, tensor: &str) -> Option<Vec<f32>> {
        self.constant(tensor)
            .and_then(|t| t.as_f32())
            .map(<[f32]>::to_vec)
    }

    /// The rank of forward tensor `tensor`.
    pub fn rank(&self, tensor: &str) -> Result<usize, String> {
        Ok(self.shape(tensor)?.len())
    }

    fn fresh(&mut self) -> String {
        self.counter += 1;
        format!("grad.{}", self.counter)
    }

    /// Emits a one-output node and returns its output's name.
    pub fn emit(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh();
        self.b.add(Node::new(op, inputs, &[&out], attrs));
        out
    }

    /// A 1-D int64 constant (axes, shapes, starts and ends).
    pub fn ints(&mut self, values: &[i64]) -> String {
        let name = self.fresh();
        self.b
            .constant(&name, &ConstTensor::i64(&[values.len()], values.to_vec()));
        name
    }

    /// A float constant of any shape.
    pub fn floats(&mut self, dims: &[usize], values: Vec<f32>) -> String {
        let name = self.fresh();
        self.b.constant(&name, &ConstTensor::f32(dims, values));
        name
    }

    /// A float scalar constant.
    pub fn scalar(&mut self, value: f32) -> String {
        self.floats(&[], vec![value])
    }

    /// The sum of gradient contributions (itself when there is one).
    pub fn sum(&mut self, mut parts: Vec<String>) -> String {
        if parts.len() == 1 {
            return parts.remove(0);
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.emit("Sum", &refs, vec![])
    }
}
