//! Every attack by name: what it is, its parameters, and how to build it.

use super::apgd::{self, Apgd, ApgdLoss};
use super::apgd_t::ApgdT;
use super::autoattack::{self, AutoAttack};
use super::cw_l2::{self, CwL2};
use super::cw_linf::{self, CwLinf};
use super::deepfool::{self, DeepFool};
use super::fab_t::{self, FabT};
use super::fgsm::{self, Fgsm};
use super::hop_skip_jump::{self, HopSkipJump};
use super::jsma::{self, Jsma};
use super::nes::{self, Nes};
use super::params::{ParamSpec, Params, RADII};
use super::pgd::{Pgd, BIM_PARAMS, PGD_PARAMS};
use super::spsa::{self, Spsa};
use super::square::{Square, L2_PARAMS as SQUARE_L2_PARAMS, LINF_PARAMS as SQUARE_PARAMS};
use super::zoo::{self, Zoo};
use super::{Attack, BudgetKind, Norm};
use crate::error::{Error, Result};

/// One registered attack.
#[derive(Debug, Clone, Copy)]
pub struct AttackInfo {
    /// The name used on the command line and in reports.
    pub name: &'static str,
    /// One line: what it does, its norm and its goals.
    pub summary: &'static str,
    /// Its parameters with their defaults.
    pub params: &'static [ParamSpec],
    build: fn(&Params) -> Result<Box<dyn Attack>>,
}

impl AttackInfo {
    /// The attack with the defaults of its parameters, overridden by `overrides`
    /// (`(param, value)` pairs; unknown names and bad values are usage errors, and so are
    /// radii of its own, [`RADII`], for an attack without a radius budget).
    pub fn build(&self, overrides: &[(String, String)]) -> Result<(Box<dyn Attack>, Params)> {
        let params = Params::resolve(self.name, self.params, overrides)?;
        let attack = (self.build)(&params)?;
        if params.radii().is_some() && !matches!(attack.budget_kind(), BudgetKind::Radius(_)) {
            return Err(Error::Usage {
                message: format!(
                    "--attack-param {}.{RADII}: {} has no radius budget",
                    self.name, self.name
                ),
                hint: Some(format!(
                    "{RADII} sets the radii of an attack that runs at --eps or --eps-l2"
                )),
            });
        }
        Ok((attack, params))
    }
}

const ATTACKS: &[AttackInfo] = &[
    AttackInfo {
        name: "fgsm",
        summary: "fast gradient sign method: one step of eps along the gradient sign (linf, untargeted)",
        params: fgsm::PARAMS,
        build: |p| Ok(Box::new(Fgsm::new(p)?)),
    },
    AttackInfo {
        name: "bim",
        summary: "basic iterative method: pgd from the clean image (linf, untargeted)",
        params: BIM_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("bim", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "pgd",
        summary: "projected gradient descent with random start and restarts (linf, untargeted)",
        params: PGD_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("pgd", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "pgd-l2",
        summary: "projected gradient descent with normalised steps, random start and restarts (l2, untargeted)",
        params: PGD_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("pgd-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "apgd-ce",
        summary: "auto-pgd on cross-entropy: momentum, step halving at checkpoints (linf, untargeted)",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-ce", Norm::Linf, ApgdLoss::CrossEntropy, p)?)),
    },
    AttackInfo {
        name: "apgd-ce-l2",
        summary: "auto-pgd on cross-entropy: momentum, step halving at checkpoints (l2, untargeted)",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-ce-l2", Norm::L2, ApgdLoss::CrossEntropy, p)?)),
    },
    AttackInfo {
        name: "apgd-dlr",
        summary: "auto-pgd on the difference-of-logits-ratio, blind to logit scale (linf, untargeted)",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-dlr", Norm::Linf, ApgdLoss::Dlr, p)?)),
    },
    AttackInfo {
        name: "apgd-dlr-l2",
        summary: "auto-pgd on the difference-of-logits-ratio, blind to logit scale (l2, untargeted)",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-dlr-l2", Norm::L2, ApgdLoss::Dlr, p)?)),
    },
    AttackInfo {
        name: "apgd-t",
        summary: "auto-pgd on the targeted dlr loss towards each of the 9 highest-scoring other classes (linf, untargeted)",
        params: apgd::TARGETED_PARAMS,
        build: |p| Ok(Box::new(ApgdT::new("apgd-t", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "apgd-t-l2",
        summary: "auto-pgd on the targeted dlr loss towards each of the 9 highest-scoring other classes (l2, untargeted)",
        params: apgd::TARGETED_PARAMS,
        build: |p| Ok(Box::new(ApgdT::new("apgd-t-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "fab-t",
        summary: "fab-t: projections onto the linearised boundary towards each of the 9 highest-scoring other classes, biased to the clean image, success within eps (linf, untargeted)",
        params: fab_t::PARAMS,
        build: |p| Ok(Box::new(FabT::new("fab-t", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "fab-t-l2",
        summary: "fab-t: projections onto the linearised boundary towards each of the 9 highest-scoring other classes, biased to the clean image, success within eps (l2, untargeted)",
        params: fab_t::PARAMS,
        build: |p| Ok(Box::new(FabT::new("fab-t-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "cw-l2",
        summary: "carlini-wagner l2: tanh box, adam, binary search on c, early abort (minimal l2)",
        params: cw_l2::PARAMS,
        build: |p| Ok(Box::new(CwL2::new(p)?)),
    },
    AttackInfo {
        name: "cw-linf",
        summary: "carlini-wagner linf: shrinking tau with warm starts, doubling c with adam and c carried over, towards every other class (minimal linf)",
        params: cw_linf::PARAMS,
        build: |p| Ok(Box::new(CwLinf::new(p)?)),
    },
    AttackInfo {
        name: "jsma",
        summary: "jacobian saliency map: raise feature pairs, at most gamma of the values (l0, every other class)",
        params: jsma::PARAMS,
        build: |p| Ok(Box::new(Jsma::new(p)?)),
    },
    AttackInfo {
        name: "deepfool",
        summary: "deepfool: steps to the nearest linearised boundary (minimal l2, untargeted)",
        params: deepfool::PARAMS,
        build: |p| Ok(Box::new(DeepFool::new(p)?)),
    },
    AttackInfo {
        name: "zoo",
        summary: "zoo: zoo-adam on symmetric differences of batched coordinates, c&w margin (linf, untargeted, scores)",
        params: zoo::PARAMS,
        build: |p| Ok(Box::new(Zoo::new(p)?)),
    },
    AttackInfo {
        name: "spsa",
        summary: "spsa: adam on gradient estimates from rademacher probes in antithetic pairs (linf, untargeted, scores)",
        params: spsa::PARAMS,
        build: |p| Ok(Box::new(Spsa::new(p)?)),
    },
    AttackInfo {
        name: "nes",
        summary: "nes: sign steps on gradient estimates from gaussian probes in antithetic pairs (linf, untargeted, scores)",
        params: nes::PARAMS,
        build: |p| Ok(Box::new(Nes::new(p)?)),
    },
    AttackInfo {
        name: "square",
        summary: "square attack: random search over square windows at the corners of the box (linf, untargeted, scores)",
        params: SQUARE_PARAMS,
        build: |p| Ok(Box::new(Square::new("square", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "square-l2",
        summary: "square attack: random search moving blob-shaped mass between square windows (l2, untargeted, scores)",
        params: SQUARE_L2_PARAMS,
        build: |p| Ok(Box::new(Square::new("square-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "hopskipjump",
        summary: "hopskipjump: boundary search along estimated normals from decisions only (minimal l2, untargeted)",
        params: hop_skip_jump::PARAMS,
        build: |p| Ok(Box::new(HopSkipJump::new(p)?)),
    },
    AttackInfo {
        name: "autoattack",
        summary: "autoattack's standard ensemble (alias aa-standard): apgd-ce, then apgd-t, fab-t and square with 5000 queries, each on the images still robust (linf, untargeted)",
        params: autoattack::PARAMS,
        build: |p| Ok(Box::new(AutoAttack::new("autoattack", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "autoattack-l2",
        summary: "autoattack's standard ensemble in l2: apgd-ce-l2, apgd-t-l2, fab-t-l2, square-l2 (l2, untargeted)",
        params: autoattack::PARAMS,
        build: |p| Ok(Box::new(AutoAttack::new("autoattack-l2", Norm::L2, p)?)),
    },
];

/// Every attack's name, in registry order.
pub const NAMES: [&str; 24] = [
    "fgsm",
    "bim",
    "pgd",
    "pgd-l2",
    "apgd-ce",
    "apgd-ce-l2",
    "apgd-dlr",
    "apgd-dlr-l2",
    "apgd-t",
    "apgd-t-l2",
    "fab-t",
    "fab-t-l2",
    "cw-l2",
    "cw-linf",
    "jsma",
    "deepfool",
    "zoo",
    "spsa",
    "nes",
    "square",
    "square-l2",
    "hopskipjump",
    "autoattack",
    "autoattack-l2",
];

/// Every registered attack.
pub fn registry() -> &'static [AttackInfo] {
    ATTACKS
}

/// The attack called `name`; an unknown name is a usage error listing the known ones.
pub fn by_name(name: &str) -> Result<&'static AttackInfo> {
    ATTACKS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Error::Usage {
            message: format!("unknown attack `{name}`"),
            hint: Some(format!("the attacks are {}", NAMES.join(", "))),
        })
}

/// The attack whose runs are reported as `reported`: its registry name, or a name an
/// attack reports to say which variant ran (`jsma-probabilities`, `jsma-logits`).
pub fn by_reported_name(reported: &str) -> Result<&'static AttackInfo> {
    by_listed_name(reported).map(|(info, _)| info)
}

/// The attack a name in `--attacks` runs, and the parameters that name fixes: a registry
/// name fixes none; a variant's reported name fixes the parameter that selects the variant
/// (`jsma-logits` is `jsma` with `scores=logits`), so both variants can run in one audit;
/// `aa-standard`, the reference's name for its standard version, is `autoattack`.
pub fn by_listed_name(
    name: &str,
) -> Result<(&'static AttackInfo, &'static [(&'static str, &'static str)])> {
    match name {
        "jsma-probabilities" => Ok((by_name("jsma")?, &[("scores", "probabilities")])),
        "jsma-logits" => Ok((by_name("jsma")?, &[("scores", "logits")])),
        "aa-standard" => Ok((by_name("autoattack")?, &[])),
        _ => Ok((by_name(name)?, &[])),
    }
}
