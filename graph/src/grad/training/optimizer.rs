//! Parameter updates as ONNX nodes: SGD with momentum, Nesterov, weight decay and
//! learning-rate decay, and Adam. The step counter is graph state, so the decayed learning
//! rate and Adam's bias correction are computed inside the graph too.

use super::emitter::Emitter;
use super::{next_name, StateRole, StateTensor, LEARNING_RATE, STEP};
use crate::onnx::GraphBuilder;

/// How parameters are updated from their gradients. Every variant decays the learning rate
/// as `lr / (1 + lr_decay * step)`, `step` counting the updates already made, and adds
/// `weight_decay * p` to each gradient (L2 regularisation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent: `v = momentum v - lr g`, then `p = p + momentum v - lr g`
    /// (Nesterov) or `p = p + v`.
    Sgd {
        /// The momentum coefficient (0 for plain SGD).
        momentum: f32,
        /// Nesterov's look-ahead form of momentum.
        nesterov: bool,
        /// L2 weight decay.
        weight_decay: f32,
        /// Learning-rate decay per step.
        lr_decay: f32,
    },
    /// Adam (Kingma and Ba) with bias-corrected moments.
    Adam {
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the second moment's root.
        epsilon: f32,
        /// L2 weight decay.
        weight_decay: f32,
        /// Learning-rate decay per step.
        lr_decay: f32,
    },
}

impl Optimizer {
    /// The paper's optimiser: SGD, momentum 0.9, Nesterov, learning-rate decay 1e-6 (its
    /// learning rate is 0.01, given per step).
    pub const PAPER_SGD: Optimizer = Optimizer::Sgd {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.0,
        lr_decay: 1e-6,
    };

    /// Adam with the usual defaults (beta1 0.9, beta2 0.999, epsilon 1e-7).
    pub const ADAM: Optimizer = Optimizer::adam(0.0, 0.0);

    /// Adam with the usual moments and epsilon, and the given decays.
    pub const fn adam(weight_decay: f32, lr_decay: f32) -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            weight_decay,
            lr_decay,
        }
    }

    /// The optimiser's name in metadata and logs.
    pub fn describe(&self) -> String {
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
                lr_decay,
            } => format!(
                "sgd(momentum={momentum}, nesterov={nesterov}, weight_decay={weight_decay}, lr_decay={lr_decay})"
            ),
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                lr_decay,
            } => format!(
                "adam(beta1={beta1}, beta2={beta2}, epsilon={epsilon}, weight_decay={weight_decay}, lr_decay={lr_decay})"
            ),
        }
    }

    fn weight_decay(&self) -> f32 {
        match *self {
            Optimizer::Sgd { weight_decay, .. } | Optimizer::Adam { weight_decay, .. } => {
                weight_decay
            }
        }
    }

    fn lr_decay(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr_decay, .. } | Optimizer::Adam { lr_decay, .. } => lr_decay,
        }
    }
}

/// A parameter, its dims and the tensor holding its gradient.
pub(super) struct Trainable<'a> {
    pub name: &'a str,
    pub dims: &'a [usize],
    pub grad: &'a str,
}

/// Emits the update of every parameter (outputs `next.<name>`) and of the step counter;
/// returns the optimiser's state tensors (its slots, then the step).
pub(super) fn emit_update(
    b: &mut GraphBuilder,
    optimizer: &Optimizer,
    params: &[Trainable],
) -> Vec<StateTensor> {
    let mut e = Emitter::new(b, "opt");
    let mut state = Vec::new();
    let one = e.scalar(1.0);
    let decay = e.scalar(optimizer.lr_decay());
    let decayed_steps = e.node("Mul", &[STEP, &decay], vec![]);
    let divisor = e.node("Add", &[&one, &decayed_steps], vec![]);
    let lr = e.node("Div", &[LEARNING_RATE, &divisor], vec![]);
    let next_step = e.node("Add", &[STEP, &one], vec![]);
    let weight_decay = optimizer.weight_decay();
    let weight_decay = (weight_decay != 0.0).then(|| e.scalar(weight_decay));
    // Adam's bias correction sqrt(1 - beta2^t) / (1 - beta1^t) with t = step + 1.
    let adam_lr = match *optimizer {
        Optimizer::Adam { beta1, beta2, .. } => {
            let power = |e: &mut Emitter, beta: f32| {
                let log_beta = e.scalar(beta.ln());
                let exponent = e.node("Mul", &[&next_step, &log_beta], vec![]);
                let pow = e.node("Exp", &[&exponent], vec![]);
                e.node("Sub", &[&one, &pow], vec![])
            };
            let first = power(&mut e, beta1);
            let second = power(&mut e, beta2);
            let root = e.node("Sqrt", &[&second], vec![]);
            let correction = e.node("Div", &[&root, &first], vec![]);
            Some(e.node("Mul", &[&lr, &correction], vec![]))
        }
        Optimizer::Sgd { .. } => None,
    };
    for p in params {
        let g = match &weight_decay {
            Some(wd) => {
                let decay = e.node("Mul", &[p.name, wd], vec![]);
                e.node("Add", &[p.grad, &decay], vec![])
            }
            None => p.grad.to_string(),
        };
        let step = e.node("Mul", &[&lr, &g], vec![]);
        let slot = |kind: &str| StateTensor {
            name: format!("{kind}.{}", p.name),
            dims: p.dims.to_vec(),
            role: StateRole::OptimizerSlot,
            initial: vec![0.0; p.dims.iter().product()],
        };
        match *optimizer {
            Optimizer::Sgd {
                momentum, nesterov, ..
            } => {
                if momentum == 0.0 {
                    e.node_into("Sub", &[p.name, &step], &next_name(p.name), vec![]);
                    continue;
                }
                let velocity = slot("sgd.velocity");
                let m = e.scalar(momentum);
                let kept = e.node("Mul", &[&velocity.name, &m], vec![]);
                let v = e.node_into("Sub", &[&kept, &step], &next_name(&velocity.name), vec![]);
                if nesterov {
                    let ahead = e.node("Mul", &[&v, &m], vec![]);
                    let moved = e.node("Add", &[p.name, &ahead], vec![]);
                    e.node_into("Sub", &[&moved, &step], &next_name(p.name), vec![]);
                } else {
                    e.node_into("Add", &[p.name, &v], &next_name(p.name), vec![]);
                }
                state.push(velocity);
            }
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                let (first, second) = (slot("adam.m"), slot("adam.v"));
                let moment = |e: &mut Emitter, slot: &str, beta: f32, value: &str| {
                    let beta_c = e.scalar(beta);
                    let rest = e.scalar(1.0 - beta);
                    let kept = e.node("Mul", &[slot, &beta_c], vec![]);
                    let added = e.node("Mul", &[value, &rest], vec![]);
                    e.node_into("Add", &[&kept, &added], &next_name(slot), vec![])
                };
                let m = moment(&mut e, &first.name, beta1, &g);
                let g2 = e.node("Mul", &[&g, &g], vec![]);
                let v = moment(&mut e, &second.name, beta2, &g2);
                let root = e.node("Sqrt", &[&v], vec![]);
                let eps = e.scalar(epsilon);
                let denominator = e.node("Add", &[&root, &eps], vec![]);
                let ratio = e.node("Div", &[&m, &denominator], vec![]);
                let adam_lr = adam_lr.as_deref().unwrap_or(&lr);
                let update = e.node("Mul", &[adam_lr, &ratio], vec![]);
                e.node_into("Sub", &[p.name, &update], &next_name(p.name), vec![]);
                state.push(first);
                state.push(second);
            }
        }
    }
    e.node_into("Identity", &[&next_step], &next_name(STEP), vec![]);
    state.push(StateTensor {
        name: STEP.to_string(),
        dims: Vec::new(),
        role: StateRole::Step,
        initial: vec![0.0],
    });
    state
}
