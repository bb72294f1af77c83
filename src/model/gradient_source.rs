//! Choosing how a model's gradients are computed: its VJP graph when every op on the
//! gradient path has a backward rule (exact, or straight-through across the quantizers of an
//! int8 QDQ model) and the graph agrees with the forward pass on a probe batch, else finite
//! differences, with the reason recorded so
//! that reports can say which one was used.

use std::path::Path;

use super::vjp_agreement::vjp_disagreement;
use super::{Differentiable, FiniteDifference, TractClassifier, TractDifferentiable};
use crate::error::{Error, Result};
use robustaudit_graph::grad::straight_through;
use robustaudit_graph::onnx::OnnxModel;

/// How gradient attacks are to get input gradients (`audit --gradients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GradientMethod {
    /// Exact gradients where a VJP graph can be built, else finite differences.
    Auto,
    /// Finite differences for every model.
    FiniteDifferences,
}

/// A model ready for gradient attacks, and how its gradients are obtained.
pub enum GradientSource {
    /// Exact gradients from the generated VJP graph.
    Exact(Box<TractDifferentiable>),
    /// Central finite differences of forward passes, because no VJP graph could be built.
    FiniteDifference {
        /// The wrapped forward model.
        model: Box<FiniteDifference<TractClassifier>>,
        /// Why the VJP graph could not be built (e.g. an op without a rule), one line.
        reason: String,
    },
}

impl GradientSource {
    /// Opens the model at `path` (the file read, hashed and validated once) with gradients
    /// by `method`: exact if possible, else finite differences (`Auto`), or finite
    /// differences whatever the model. Only a model that cannot even run forward is an
    /// error.
    pub fn open(path: &Path, method: GradientMethod) -> Result<Self> {
        let model = OnnxModel::open(path)?;
        match method {
            GradientMethod::Auto => Self::new(model),
            GradientMethod::FiniteDifferences => {
                Self::finite_difference(model, "asked for with --gradients finite-differences")
            }
        }
    }

    /// The validated model, as opened.
    pub fn onnx(&self) -> &OnnxModel {
        match self {
            GradientSource::Exact(m) => m.classifier().model(),
            GradientSource::FiniteDifference { model, .. } => model.inner().model(),
        }
    }

    /// Exact gradients for an already validated model when every op on the gradient path
    /// has a backward rule and the VJP graph agrees with the forward pass on a probe batch
    /// (see `vjp_disagreement`), else finite differences with the reason.
    pub fn new(model: OnnxModel) -> Result<Self> {
        let finite = |model: OnnxModel, reason: String| -> Result<Self> {
            Ok(GradientSource::FiniteDifference {
                model: Box::new(FiniteDifference::new(TractClassifier::new(model)?)),
                reason,
            })
        };
        let exact = match TractDifferentiable::new(model.clone()) {
            Ok(exact) => exact,
            Err(Error::Grad(e)) => return finite(model, e.to_string()),
            // The forward plan compiles (or fails) on its own: a VJP graph tract cannot
            // parse only costs the exact gradients (one it cannot compile fails the probe
            // below, with the same outcome).
            Err(Error::Onnx(e)) if TractClassifier::new(model.clone()).is_ok() => {
                return finite(model, format!("vjp graph cannot be compiled: {e}"))
            }
            Err(other) => return Err(other),
        };
        let directional = straight_through(exact.vjp_model()).is_none();
        match vjp_disagreement(exact.classifier(), &exact, directional)? {
            None => Ok(GradientSource::Exact(Box::new(exact))),
            Some(why) => finite(model, why),
        }
    }

    /// Finite-difference gradients for an already validated model even where a VJP graph
    /// could be built (to compare the two, or to time them); `reason` is recorded.
    pub fn finite_difference(model: OnnxModel, reason: &str) -> Result<Self> {
        Ok(GradientSource::FiniteDifference {
            model: Box::new(FiniteDifference::new(TractClassifier::new(model)?)),
            reason: reason.to_string(),
        })
    }

    /// The model behind whichever gradient method was chosen.
    pub fn model(&self) -> &dyn Differentiable {
        match self {
            GradientSource::Exact(m) => m.as_ref(),
            GradientSource::FiniteDifference { model, .. } => model.as_ref(),
        }
    }

    /// The report's `gradients` value (`exact`, `straight-through` for quantized models
    /// differentiated through their quantizers, `finite-differences`) and its reason (empty
    /// for `exact`).
    pub fn kind(&self) -> (&'static str, String) {
        match self {
            GradientSource::Exact(m) => match straight_through(m.vjp_model()) {
                Some(reason) => ("straight-through", reason.to_string()),
                None => ("exact", String::new()),
            },
            GradientSource::FiniteDifference { reason, .. } => {
                ("finite-differences", reason.clone())
            }
        }
    }

    /// `exact`, `straight-through: <reason>` or `finite differences: <reason>`, for reports
    /// and logs.
    pub fn describe(&self) -> String {
        match self.kind() {
            (kind, reason) if reason.is_empty() => kind.into(),
            ("finite-differences", reason) => format!("finite differences: {reason}"),
            (kind, reason) => format!("{kind}: {reason}"),
        }
    }
}
