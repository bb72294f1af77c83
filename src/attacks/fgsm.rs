//! The fast gradient sign method (Goodfellow et al. 2015): one step of size `eps` along the
//! sign of the loss gradient, `x' = clip(x + eps * sign(grad_x J))`.

use ndarray::{Array3, Zip};
use rand_chacha::ChaCha8Rng;

use super::losses::Loss;
use super::params::{ParamKind, ParamSpec, Params};
use super::{project_linf, Attack, Description, Norm, Oracle, Problem, Signal};
use crate::error::Result;

/// The parameters of `fgsm`.
pub const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "loss",
    kind: ParamKind::Choice(Loss::CHOICES),
    default: "ce",
    doc: "loss whose gradient sign is followed: cross-entropy (ce) or the C&W logit margin",
}];

/// FGSM, untargeted, in L-infinity.
#[derive(Debug, Clone)]
pub struct Fgsm {
    loss: Loss,
}

impl Fgsm {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Fgsm {
            loss: Loss::from_choice(params.choice("loss")?),
        })
    }
}

impl Attack for Fgsm {
    fn describe(&self) -> Description {
        Description::untargeted_radius("fgsm", Norm::Linf, Signal::Gradient(self.loss.output()))
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let eps = problem.radius()?;
        let seeds = self.loss.seeds(problem.goal, oracle.classes());
        let (_, grad) = oracle.loss_gradient_one(problem.image, &seeds)?;
        let mut adv = problem.image.to_owned();
        // The loss is minimised: step against its gradient.
        let step = eps as f32;
        Zip::from(&mut adv).and(&grad).for_each(|a, &g| {
            if g > 0.0 {
                *a -= step;
            } else if g < 0.0 {
                *a += step;
            }
        });
        project_linf(adv.view_mut(), problem.image, eps, problem.domain);
        Ok(adv)
    }
}
