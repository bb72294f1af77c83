//! AutoAttack's standard ensemble (Croce and Hein, ICML 2020) as one attack: APGD-CE, then
//! APGD-T, then FAB-T, then the Square Attack with 5000 queries, each run only when the
//! ones before it left the image robust, as the reference runs them. The audit verifies the
//! returned candidate with a fresh forward pass, as for every attack, so the ensemble's
//! robust accuracy is the fraction of images that no member evades.
//!
//! Each member draws from the random stream it gets when run alone with the same seed (see
//! [`Attack::run_on_streams`]; with a single generator, each member starts from a copy of
//! it), so a member finds inside the ensemble exactly what it finds alone with the same
//! parameters (Square's `queries` is 5000 here, 1000 alone by default), and the ensemble's
//! robust accuracy is at most each such member's. The ensemble's signal is
//! `gradient-logits` (APGD-T's and FAB-T's); run the members on their own for the
//! gradient-masking diagnosis's comparisons.

use ndarray::Array3;
use rand_chacha::ChaCha8Rng;

use super::params::{ParamKind, ParamSpec, Params};
use super::{by_name, Attack, Description, Norm, Oracle, Output, Problem, Signal};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `autoattack`, with the standard version's defaults.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "100",
        doc: "apgd and fab-t steps per restart and per target",
    },
    ParamSpec {
        name: "targets",
        kind: ParamKind::Count,
        default: "9",
        doc: "target classes of apgd-t and fab-t",
    },
    ParamSpec {
        name: "queries",
        kind: ParamKind::Count,
        default: "5000",
        doc: "forward queries of the square attack",
    },
];

/// The ensemble in L-infinity or L2.
pub struct AutoAttack {
    name: &'static str,
    norm: Norm,
    members: Vec<Box<dyn Attack>>,
}

impl AutoAttack {
    /// Builds the ensemble called `name` in `norm` (`Linf` or `L2`) from its parameters.
    pub fn new(name: &'static str, norm: Norm, params: &Params) -> Result<Self> {
        let steps = ("steps".to_string(), params.integer("steps")?.to_string());
        let targets = (
            "targets".to_string(),
            params.integer("targets")?.to_string(),
        );
        let queries = (
            "queries".to_string(),
            params.integer("queries")?.to_string(),
        );
        let suffix = if norm == Norm::L2 { "-l2" } else { "" };
        let member = |name: String, overrides: &[(String, String)]| -> Result<Box<dyn Attack>> {
            Ok(by_name(&name)?.build(overrides)?.0)
        };
        Ok(AutoAttack {
            name,
            norm,
            members: vec![
                member(format!("apgd-ce{suffix}"), std::slice::from_ref(&steps))?,
                member(format!("apgd-t{suffix}"), &[steps.clone(), targets.clone()])?,
                member(format!("fab-t{suffix}"), &[steps, targets])?,
                member(format!("square{suffix}"), &[queries])?,
            ],
        })
    }
}

impl Attack for AutoAttack {
    fn describe(&self) -> Description {
        Description::untargeted_radius(self.name, self.norm, Signal::Gradient(Output::Logits))
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        self.run_on_streams(oracle, problem, &|_| rng.clone())
    }

    fn run_on_streams(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        streams: &dyn Fn(&'static str) -> ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let mut candidate = problem.image.to_owned();
        for member in &self.members {
            candidate = member.run_on_streams(oracle, problem, streams)?;
            let logits = oracle.logits_one(candidate.view())?;
            if problem.goal.reached_by(argmax(logits.iter().copied())) {
                break;
            }
        }
        Ok(candidate)
    }
}
