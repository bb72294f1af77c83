//! What the gradient-masking diagnosis (`diagnosis.rs`) finds about a model: each check,
//! its outcome at a budget, and the model's verdict.

use std::fmt;

use crate::attacks::Norm;

/// One sign of gradient masking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// Gradient-free attacks beat the gradient attacks at a budget.
    GradientFreeBeatsGradient,
    /// Attacks on logits beat attacks on probabilities at a budget.
    LogitsBeatProbabilities,
    /// The single-step attack beats the iterative gradient attacks at a budget.
    SingleStepBeatsIterative,
    /// An attack's success does not rise with its budget.
    SuccessFlatInEps,
    /// An attack bounded only by the value range misses images.
    UnboundedBelow100,
    /// The softmax's input gradients vanish.
    VanishingGradients,
}

impl Check {
    /// Every check, in report order.
    pub const ALL: [Check; 6] = [
        Check::GradientFreeBeatsGradient,
        Check::LogitsBeatProbabilities,
        Check::SingleStepBeatsIterative,
        Check::SuccessFlatInEps,
        Check::UnboundedBelow100,
        Check::VanishingGradients,
    ];

    /// Its name in `diagnosis.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Check::GradientFreeBeatsGradient => "gradient-free-beats-gradient",
            Check::LogitsBeatProbabilities => "logits-beat-probabilities",
            Check::SingleStepBeatsIterative => "single-step-beats-iterative",
            Check::SuccessFlatInEps => "success-flat-in-eps",
            Check::UnboundedBelow100 => "unbounded-below-100",
            Check::VanishingGradients => "vanishing-gradients",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A sign of masking.
    Flagged,
    /// Checked, no sign.
    Passed,
    /// The audit lacks what the check compares (the detail says what).
    NotApplicable,
}

impl Outcome {
    /// `flagged`, `passed` or `not-applicable`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Flagged => "flagged",
            Outcome::Passed => "passed",
            Outcome::NotApplicable => "not-applicable",
        }
    }
}

/// The conclusion for one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verdict {
    /// At least one check is flagged: failing gradient attacks do not show robustness.
    Masked,
    /// No check is flagged and, in every norm where they were compared, gradient-free
    /// attacks that evaded something did no better than the gradient attacks.
    Clear,
    /// No check is flagged, but no gradient-free comparison was possible.
    #[default]
    Inconclusive,
}

impl Verdict {
    /// `masked`, `clear` or `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Masked => "masked",
            Verdict::Clear => "clear",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One check of one model, at one budget where the check compares budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The model's name.
    pub model: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The check.
    pub check: Check,
    /// What it found.
    pub outcome: Outcome,
    /// The budget's norm, for checks made at a budget.
    pub norm: Option<Norm>,
    /// The budget.
    pub budget: Option<f64>,
    /// The evidence, in one sentence with its counts.
    pub detail: String,
}
