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
    /// Its defaults as its paper and reference implementation set them, in words (the
    /// literature column of `docs/attacks.md`).
    pub defaults: &'static str,
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
        defaults: "`x + eps * sign(grad)`, cross-entropy",
        params: fgsm::PARAMS,
        build: |p| Ok(Box::new(Fgsm::new(p)?)),
    },
    AttackInfo {
        name: "bim",
        summary: "basic iterative method: pgd from the clean image (linf, untargeted)",
        defaults: "10 steps from the clean image, step `2.5 * eps / steps`",
        params: BIM_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("bim", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "pgd",
        summary: "projected gradient descent with random start and restarts (linf, untargeted)",
        defaults: "40 steps, step `2.5 * eps / steps`, random start, 1 restart (`restarts`)",
        params: PGD_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("pgd", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "pgd-l2",
        summary: "projected gradient descent with normalised steps, random start and restarts (l2, untargeted)",
        defaults: "as `pgd`, steps along the unit gradient, random start in the ball",
        params: PGD_PARAMS,
        build: |p| Ok(Box::new(Pgd::new("pgd-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "apgd-ce",
        summary: "auto-pgd on cross-entropy: momentum, step halving at checkpoints (linf, untargeted)",
        defaults: "Auto-PGD on cross-entropy: 100 steps, step `2 * eps` halved at checkpoints 0.22, 0.41, 0.57, ... when fewer than rho 0.75 of the steps raised the loss (restart from the best point), momentum 0.75, random start, 1 restart",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-ce", Norm::Linf, ApgdLoss::CrossEntropy, p)?)),
    },
    AttackInfo {
        name: "apgd-ce-l2",
        summary: "auto-pgd on cross-entropy: momentum, step halving at checkpoints (l2, untargeted)",
        defaults: "as `apgd-ce`, steps along the unit gradient, random start on the sphere",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-ce-l2", Norm::L2, ApgdLoss::CrossEntropy, p)?)),
    },
    AttackInfo {
        name: "apgd-dlr",
        summary: "auto-pgd on the difference-of-logits-ratio, blind to logit scale (linf, untargeted)",
        defaults: "as `apgd-ce` on the Difference-of-Logits-Ratio loss, unchanged by shifting or scaling the logits",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-dlr", Norm::Linf, ApgdLoss::Dlr, p)?)),
    },
    AttackInfo {
        name: "apgd-dlr-l2",
        summary: "auto-pgd on the difference-of-logits-ratio, blind to logit scale (l2, untargeted)",
        defaults: "as `apgd-dlr` in l2",
        params: apgd::PARAMS,
        build: |p| Ok(Box::new(Apgd::new("apgd-dlr-l2", Norm::L2, ApgdLoss::Dlr, p)?)),
    },
    AttackInfo {
        name: "apgd-t",
        summary: "auto-pgd on the targeted dlr loss towards each of the 9 highest-scoring other classes (linf, untargeted)",
        defaults: "APGD-T: `apgd-dlr`'s schedule on the targeted DLR loss, 100 steps towards each of the 9 highest-scoring other classes (`targets`), stopping when the label is left",
        params: apgd::TARGETED_PARAMS,
        build: |p| Ok(Box::new(ApgdT::new("apgd-t", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "apgd-t-l2",
        summary: "auto-pgd on the targeted dlr loss towards each of the 9 highest-scoring other classes (l2, untargeted)",
        defaults: "as `apgd-t` in l2",
        params: apgd::TARGETED_PARAMS,
        build: |p| Ok(Box::new(ApgdT::new("apgd-t-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "fab-t",
        summary: "fab-t: projections onto the linearised boundary towards each of the 9 highest-scoring other classes, biased to the clean image, success within eps (linf, untargeted)",
        defaults: "FAB-T (targeted FAB, Croce and Hein ICML 2020): towards each of the 9 highest-scoring other classes (`targets`), 100 steps (`steps`) projecting the iterate and the clean image exactly onto the linearised boundary inside the value range, overshoot eta 1.05, bias to the clean image at most alpha_max 0.1, back to the clean image by beta 0.9 after each success, 1 restart from the clean image (later ones from random points); succeeds when the closest example found lies within eps, as in AutoAttack",
        params: fab_t::PARAMS,
        build: |p| Ok(Box::new(FabT::new("fab-t", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "fab-t-l2",
        summary: "fab-t: projections onto the linearised boundary towards each of the 9 highest-scoring other classes, biased to the clean image, success within eps (l2, untargeted)",
        defaults: "as `fab-t` in l2",
        params: fab_t::PARAMS,
        build: |p| Ok(Box::new(FabT::new("fab-t-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "cw-l2",
        summary: "carlini-wagner l2: tanh box, adam, binary search on c, early abort (minimal l2)",
        defaults: "tanh box, Adam lr 0.01, 1000 steps, 9 binary steps on c from 1e-3, early abort",
        params: cw_l2::PARAMS,
        build: |p| Ok(Box::new(CwL2::new(p)?)),
    },
    AttackInfo {
        name: "cw-linf",
        summary: "carlini-wagner linf: shrinking tau with warm starts, doubling c with adam and c carried over, towards every other class (minimal linf)",
        defaults: "shrinking tau (x0.9) warm-started from the last success, c doubled from 1e-5 to 20 without restarting Adam, the last successful c kept for the next tau, Adam lr 0.005",
        params: cw_linf::PARAMS,
        build: |p| Ok(Box::new(CwLinf::new(p)?)),
    },
    AttackInfo {
        name: "jsma",
        summary: "jacobian saliency map: raise feature pairs, at most gamma of the values (l0, every other class)",
        defaults: "saliency of the softmax probabilities (`scores=probabilities`, Papernot et al.; reported as `jsma-probabilities`) or of the logits (`scores=logits`, JSMA-Z; `jsma-logits`), feature pairs raised to the top of the range; `--attacks jsma-probabilities,jsma-logits` runs both in one audit",
        params: jsma::PARAMS,
        build: |p| Ok(Box::new(Jsma::new(p)?)),
    },
    AttackInfo {
        name: "deepfool",
        summary: "deepfool: steps to the nearest linearised boundary (minimal l2, untargeted)",
        defaults: "50 steps, overshoot 0.02",
        params: deepfool::PARAMS,
        build: |p| Ok(Box::new(DeepFool::new(p)?)),
    },
    AttackInfo {
        name: "zoo",
        summary: "zoo: zoo-adam on symmetric differences of batched coordinates, c&w margin (linf, untargeted, scores)",
        defaults: "ZOO-Adam (lr 0.01) on symmetric differences (h 1e-4) of 128 coordinates per step, C&W margin, 1000 steps from the clean image",
        params: zoo::PARAMS,
        build: |p| Ok(Box::new(Zoo::new(p)?)),
    },
    AttackInfo {
        name: "spsa",
        summary: "spsa: adam on gradient estimates from rademacher probes in antithetic pairs (linf, untargeted, scores)",
        defaults: "Adam (lr 0.01) on SPSA estimates from 128 Rademacher probes at delta 0.01, margin, 100 steps",
        params: spsa::PARAMS,
        build: |p| Ok(Box::new(Spsa::new(p)?)),
    },
    AttackInfo {
        name: "nes",
        summary: "nes: sign steps on gradient estimates from gaussian probes in antithetic pairs (linf, untargeted, scores)",
        defaults: "sign steps of 0.01 on NES estimates from 50 Gaussian probes at sigma 0.001, margin, 200 steps",
        params: nes::PARAMS,
        build: |p| Ok(Box::new(Nes::new(p)?)),
    },
    AttackInfo {
        name: "square",
        summary: "square attack: random search over square windows at the corners of the box (linf, untargeted, scores)",
        defaults: "square windows at the box's corners, vertical-stripe start, p_init 0.05, margin, 1000 queries",
        params: SQUARE_PARAMS,
        build: |p| Ok(Box::new(Square::new("square", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "square-l2",
        summary: "square attack: random search moving blob-shaped mass between square windows (l2, untargeted, scores)",
        defaults: "blob-shaped mass moved between square windows, p_init 0.1, margin, 1000 queries",
        params: SQUARE_L2_PARAMS,
        build: |p| Ok(Box::new(Square::new("square-l2", Norm::L2, p)?)),
    },
    AttackInfo {
        name: "hopskipjump",
        summary: "hopskipjump: boundary search along estimated normals from decisions only (minimal l2, untargeted)",
        defaults: "40 iterations, 100 sqrt(t) queries per gradient estimate (at most 10 000), gamma 1, geometric step search, 25 000 queries at most",
        params: hop_skip_jump::PARAMS,
        build: |p| Ok(Box::new(HopSkipJump::new(p)?)),
    },
    AttackInfo {
        name: "autoattack",
        summary: "autoattack's standard ensemble (alias aa-standard): apgd-ce, then apgd-t, fab-t and square with 5000 queries, each on the images still robust (linf, untargeted)",
        defaults: "AutoAttack's standard ensemble (`--attacks aa-standard` names it too): `apgd-ce`, then `apgd-t`, then `fab-t`, then `square` with 5000 queries, each only on the images the earlier ones left robust and each on the random stream it gets when run alone with the same `--seed`, so the ensemble evades every image a member evades alone with the same parameters; its summary row is the ensemble's robust accuracy; `--attack-param autoattack.eps=0.3` runs it at a budget of its own (the pipeline's); it takes no side in the gradient-masking diagnosis's signal comparisons, since its members read probabilities, logits and scores",
        params: autoattack::PARAMS,
        build: |p| Ok(Box::new(AutoAttack::new("autoattack", Norm::Linf, p)?)),
    },
    AttackInfo {
        name: "autoattack-l2",
        summary: "autoattack's standard ensemble in l2: apgd-ce-l2, apgd-t-l2, fab-t-l2, square-l2 (l2, untargeted)",
        defaults: "as `autoattack` with `apgd-ce-l2`, `apgd-t-l2`, `fab-t-l2`, `square-l2`",
        params: autoattack::PARAMS,
        build: |p| Ok(Box::new(AutoAttack::new("autoattack-l2", Norm::L2, p)?)),
    },
];

/// Every attack's name, in registry order.
pub fn names() -> Vec<&'static str> {
    ATTACKS.iter().map(|a| a.name).collect()
}

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
            hint: Some(format!("the attacks are {}", names().join(", "))),
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
