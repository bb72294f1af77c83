//! Adversarial attacks: one [`Attack`] trait, one file per attack, a registry by name.
//!
//! An attack solves one [`Problem`]: move one image, in the dataset's value scale, so that
//! the model's prediction leaves its label (untargeted) or becomes a chosen class
//! (targeted), within the attack's budget and the valid value range. It sees the model only
//! through an [`Oracle`], which counts every forward and gradient query, and works on
//! pre-softmax logits. It returns its best candidate; whether that candidate succeeds is
//! decided afterwards by the auditor with a fresh forward pass of the unmodified model, and
//! the budget and range are checked there too, so no attack's own claim is ever reported.
//!
//! Every random choice comes from the [`rand_chacha::ChaCha8Rng`] the caller passes, so a
//! problem's result depends only on its seed.

mod adam;
mod antithetic;
mod apgd;
mod apgd_t;
mod autoattack;
mod cw_l2;
mod cw_linf;
mod deepfool;
mod dlr;
mod fab_projection;
mod fab_t;
mod fgsm;
mod hop_skip_jump;
mod jsma;
mod losses;
mod margin_queries;
mod nes;
mod oracle;
mod params;
mod pgd;
mod projection;
mod reference;
mod registry;
mod scores;
mod spsa;
mod square;
mod tanh_box;
mod zoo;

pub use oracle::{Oracle, Queries};
pub use params::{AttackParam, ParamKind, ParamSpec, Params, RADII, RADII_KIND};
pub use projection::{clip_to_range, project_l2, project_linf};
pub use reference::{by_signal, markdown_table, radius_attacks};
pub use registry::{by_listed_name, by_name, by_reported_name, names, registry, AttackInfo};

use std::fmt;

use ndarray::{Array3, ArrayView3};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// The norm in which an attack measures, and bounds, its perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Norm {
    /// The number of changed values.
    L0,
    /// The Euclidean length.
    L2,
    /// The largest absolute change of one value.
    Linf,
}

impl Norm {
    /// `l0`, `l2` or `linf`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::L0 => "l0",
            Norm::L2 => "l2",
            Norm::Linf => "linf",
        }
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an attack is bounded, which decides the budgets it runs at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetKind {
    /// Runs once per radius of the `--eps` list of this norm (`linf` or `l2`).
    Radius(Norm),
    /// Changes at most this fraction of the image's values (an L0 budget, rounded down).
    Features(f64),
    /// Looks for the smallest perturbation in this norm; bounded only by the value range.
    Minimal(Norm),
}

/// Which output of the model an attack reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// The pre-softmax logits.
    Logits,
    /// The softmax probabilities at temperature 1 (a loss on them, such as cross-entropy).
    Probabilities,
}

/// What an attack learns from the model; the gradient-masking diagnosis compares attacks
/// that learn different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Input gradients of a loss on this output (vector-Jacobian products).
    Gradient(Output),
    /// Values of a loss on this output, from forward passes only.
    Scores(Output),
    /// Only the predicted class.
    Decision,
}

impl Signal {
    /// `gradient-logits`, `gradient-probabilities`, `scores-logits`,
    /// `scores-probabilities` or `decision`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Gradient(Output::Logits) => "gradient-logits",
            Signal::Gradient(Output::Probabilities) => "gradient-probabilities",
            Signal::Scores(Output::Logits) => "scores-logits",
            Signal::Scores(Output::Probabilities) => "scores-probabilities",
            Signal::Decision => "decision",
        }
    }

    /// Whether the attack follows input gradients.
    pub fn uses_gradients(self) -> bool {
        matches!(self, Signal::Gradient(_))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an attack is asked to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Any prediction other than `label`.
    Untargeted {
        /// The true class.
        label: usize,
    },
    /// The prediction `target`.
    Targeted {
        /// The true class.
        label: usize,
        /// The class to reach (never `label`).
        target: usize,
    },
}

impl Goal {
    /// The true class of the image.
    pub fn label(self) -> usize {
        match self {
            Goal::Untargeted { label } | Goal::Targeted { label, .. } => label,
        }
    }

    /// The target class, if any.
    pub fn target(self) -> Option<usize> {
        match self {
            Goal::Untargeted { .. } => None,
            Goal::Targeted { target, .. } => Some(target),
        }
    }

    /// Whether predicting `class` reaches the goal.
    pub fn reached_by(self, class: usize) -> bool {
        match self {
            Goal::Untargeted { label } => class != label,
            Goal::Targeted { target, .. } => class == target,
        }
    }
}

/// Which goals an attack pursues for one correctly classified image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// One untargeted goal.
    Untargeted,
    /// One targeted goal per class other than the label.
    All,
}

impl Targets {
    /// The goals for an image of class `label` among `classes`.
    pub fn goals(self, label: usize, classes: usize) -> Vec<Goal> {
        match self {
            Targets::Untargeted => vec![Goal::Untargeted { label }],
            Targets::All => (0..classes)
                .filter(|&t| t != label)
                .map(|target| Goal::Targeted { label, target })
                .collect(),
        }
    }
}

/// The closed interval of valid input values, in the dataset's scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Domain {
    /// The smallest valid value.
    pub lo: f32,
    /// The largest valid value.
    pub hi: f32,
}

impl Domain {
    /// The range every dataset reader yields: `[-0.5, 0.5]`.
    pub const DATASET: Domain = Domain { lo: -0.5, hi: 0.5 };
}

/// One attack run: an image, what to reach, and how far the image may move.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    /// The clean image `(c, h, w)`, inside `domain`.
    pub image: ArrayView3<'a, f32>,
    /// What to reach.
    pub goal: Goal,
    /// The bound on the perturbation in the attack's norm (a radius, or a number of changed
    /// values for an L0 budget); `None` for minimal-perturbation attacks.
    pub budget: Option<f64>,
    /// The valid value range.
    pub domain: Domain,
}

impl Problem<'_> {
    /// The radius of a radius-bounded problem; a radius attack run without one is a bug.
    pub fn radius(&self) -> Result<f64> {
        self.budget.ok_or_else(|| crate::error::Error::Internal {
            message: "a radius-bounded attack was run without a radius".into(),
        })
    }
}

/// What an attack is, as the registry, the audit and the reports see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Description {
    /// The registry name, such as `pgd` or `cw-l2` (or the variant that runs, such as
    /// `jsma-logits`).
    pub name: &'static str,
    /// How the attack is bounded.
    pub budget: BudgetKind,
    /// Which goals it pursues per image.
    pub targets: Targets,
    /// What it learns from the model.
    pub signal: Signal,
}

impl Description {
    /// An untargeted attack that runs once per radius of `norm`.
    pub fn untargeted_radius(name: &'static str, norm: Norm, signal: Signal) -> Self {
        Description {
            name,
            budget: BudgetKind::Radius(norm),
            targets: Targets::Untargeted,
            signal,
        }
    }
}

/// An adversarial attack on one image.
pub trait Attack: Send + Sync {
    /// Its name, budget, goals and what it learns from the model.
    fn describe(&self) -> Description;

    /// The registry name, such as `pgd` or `cw-l2`.
    fn name(&self) -> &'static str {
        self.describe().name
    }

    /// How the attack is bounded.
    fn budget_kind(&self) -> BudgetKind {
        self.describe().budget
    }

    /// Which goals it pursues per image.
    fn targets(&self) -> Targets {
        self.describe().targets
    }

    /// What it learns from the model.
    fn signal(&self) -> Signal {
        self.describe().signal
    }

    /// Its best candidate for `problem`: an image of the same shape, which the caller
    /// verifies. Attacks keep their candidate within `problem.budget` and
    /// `problem.domain`; the caller checks that too. When nothing better is found, the
    /// clean image (or the last iterate) is returned.
    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>>;

    /// [`Attack::run`] with the random stream of each attack it runs taken from `streams`,
    /// which gives, for a registry name, the stream the caller would hand that attack
    /// alone on this problem. A single attack draws from its own name's stream; an ensemble
    /// runs each member on the member's, so that a member finds inside the ensemble exactly
    /// what it finds run alone.
    fn run_on_streams(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        streams: &dyn Fn(&'static str) -> ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        self.run(oracle, problem, &mut streams(self.name()))
    }
}

#[cfg(test)]
mod apgd_tests;
#[cfg(test)]
mod fab_tests;
#[cfg(test)]
mod gradient_free_tests;
#[cfg(test)]
pub(crate) mod tests;
