//! The Adam optimiser (Kingma and Ba 2015) on a flat f64 vector, for the Carlini-Wagner
//! attacks, which optimise in the tanh-space variable `w`, and SPSA, which optimises the
//! image itself.

/// Adam state for one variable vector.
#[derive(Debug, Clone)]
pub(super) struct Adam {
    rate: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

impl Adam {
    /// Fresh state for `n` variables with learning rate `rate`.
    pub(super) fn new(n: usize, rate: f64) -> Self {
        Adam {
            rate,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One descent step of `w` along `grad`, with bias-corrected moments.
    pub(super) fn step(&mut self, w: &mut [f64], grad: &[f64]) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t);
        let c2 = 1.0 - BETA2.powi(self.t);
        for (((w, &g), m), v) in w.iter_mut().zip(grad).zip(&mut self.m).zip(&mut self.v) {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *w -= self.rate * (*m / c1) / ((*v / c2).sqrt() + EPSILON);
        }
    }
}
