//! The columns of `samples.csv`, `summary.csv` and `timings.csv`: name, unit, meaning and
//! how each value is written. Headers, rows and `docs/report-schema.md` all come from these
//! tables.
//!
//! Numbers are written in Rust's shortest round-trip form, so equal values give equal
//! bytes; an empty field means "not applicable". `samples.csv` and `summary.csv` hold no
//! timings, so the same command with the same seed writes them byte for byte the same;
//! every time measurement goes to `timings.csv`.

use crate::attacks::Norm;
use crate::audit::{SampleRecord, SummaryRecord};
use crate::metrics::Distortion;

/// The version of the report format; it changes whenever a column is added, removed,
/// renamed or changes meaning. Every row carries it in its first column.
pub const SCHEMA_VERSION: u32 = 1;

/// One column of a report file.
pub struct Column<R> {
    /// The header name.
    pub name: &'static str,
    /// The unit of its values (`-` for names and flags).
    pub unit: &'static str,
    /// What it means.
    pub meaning: &'static str,
    /// Its value in a row.
    pub value: fn(&R) -> String,
}

/// One row of `timings.csv`: an attack run, or a whole (model, attack, budget).
pub struct TimingRow {
    /// `run` for one attack run, `total` for a whole (model, attack, budget).
    pub scope: &'static str,
    /// The model's name.
    pub model: String,
    /// The attack's name.
    pub attack: &'static str,
    /// The budget's norm.
    pub norm: Norm,
    /// The budget.
    pub budget: Option<f64>,
    /// The sample, for a run.
    pub sample: Option<usize>,
    /// The target, for a targeted run.
    pub target: Option<usize>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn number(v: f64) -> String {
    format!("{v}")
}

fn optional<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

fn version<R>(_: &R) -> String {
    SCHEMA_VERSION.to_string()
}

fn stat(d: Option<Distortion>, norm: Norm) -> String {
    optional(d.map(|d| number(d.get(norm))))
}

const VERSION_MEANING: &str = "version of this schema (docs/report-schema.md)";

/// The columns of `samples.csv`: one row per (model, attack, budget, sample, target).
pub const SAMPLE_COLUMNS: &[Column<SampleRecord>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.clone() },
    Column { name: "attack", unit: "-", meaning: "attack name (robustaudit attacks lists them)", value: |r| r.attack.to_string() },
    Column { name: "norm", unit: "-", meaning: "norm of the budget: linf, l2 or l0", value: |r| r.norm.to_string() },
    Column { name: "budget", unit: "norm units", meaning: "largest allowed distortion in that norm (l0: values changed); empty for minimal-perturbation attacks (cw-l2, cw-linf, deepfool, hopskipjump)", value: |r| optional(r.budget.map(number)) },
    Column { name: "sample", unit: "index", meaning: "position of the image in the data split", value: |r| r.sample.to_string() },
    Column { name: "label", unit: "class", meaning: "true class (the model's clean prediction for unlabelled data)", value: |r| r.label.to_string() },
    Column { name: "clean_prediction", unit: "class", meaning: "the model's prediction on the clean image", value: |r| r.clean_prediction.to_string() },
    Column { name: "target", unit: "class", meaning: "target class of a targeted run; empty when untargeted", value: |r| optional(r.target) },
    Column { name: "attacked", unit: "bool", meaning: "whether the attack ran: only correctly classified images are attacked", value: |r| r.attacked.to_string() },
    Column { name: "adversarial_prediction", unit: "class", meaning: "prediction of the unmodified model on the returned image, from a fresh forward pass", value: |r| r.adversarial_prediction.to_string() },
    Column { name: "success", unit: "bool", meaning: "attacked and the verified prediction reaches the goal (differs from the label, or equals the target)", value: |r| r.success.to_string() },
    Column { name: "l0", unit: "values", meaning: "number of input values changed", value: |r| number(r.distortion.l0) },
    Column { name: "l2", unit: "input scale", meaning: "euclidean length of the perturbation (inputs span [-0.5, 0.5])", value: |r| number(r.distortion.l2) },
    Column { name: "linf", unit: "input scale", meaning: "largest absolute change of one value", value: |r| number(r.distortion.linf) },
    Column { name: "l0_relative", unit: "fraction", meaning: "l0 over the number of input values", value: |r| number(r.relative.l0) },
    Column { name: "l2_relative", unit: "fraction", meaning: "l2 over the l2 norm of the clean image's pixel intensities (values minus the range's bottom, in [0, 1])", value: |r| number(r.relative.l2) },
    Column { name: "linf_relative", unit: "fraction", meaning: "linf over the clean image's largest pixel intensity", value: |r| number(r.relative.linf) },
    Column { name: "forward_queries", unit: "images", meaning: "images whose logits the attack asked for", value: |r| r.queries.forward.to_string() },
    Column { name: "gradient_queries", unit: "images", meaning: "images whose logits and input gradient (one vector-jacobian product) the attack asked for; with finite-difference gradients each costs 2*c*h*w+1 forward passes", value: |r| r.queries.gradient.to_string() },
];

/// The columns of `summary.csv`: one row per (model, attack, budget).
pub const SUMMARY_COLUMNS: &[Column<SummaryRecord>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.name.clone() },
    Column { name: "sha256", unit: "hex", meaning: "sha-256 of the model file", value: |r| r.model.sha256.clone() },
    Column { name: "role", unit: "-", meaning: "metadata role (teacher, assistant, student...); empty when absent", value: |r| r.model.role.clone() },
    Column { name: "hop", unit: "count", meaning: "metadata hop: distillation steps from the teacher; empty when absent", value: |r| r.model.hop.clone() },
    Column { name: "temperature", unit: "-", meaning: "metadata temperature the model was trained at; empty when absent", value: |r| r.model.temperature.clone() },
    Column { name: "gradients", unit: "-", meaning: "exact (the model's vjp graph) or finite-differences (no vjp graph could be built)", value: |r| r.model.gradients.clone() },
    Column { name: "gradients_reason", unit: "-", meaning: "why finite differences were used; empty for exact gradients", value: |r| r.model.gradients_reason.clone() },
    Column { name: "input_range", unit: "-", meaning: "the model's input range lo,hi (and normalisation) that dataset values in [-0.5, 0.5] were mapped to", value: |r| r.model.input.clone() },
    Column { name: "attack", unit: "-", meaning: "attack name", value: |r| r.attack.to_string() },
    Column { name: "params", unit: "-", meaning: "every attack parameter as name=value", value: |r| r.params.clone() },
    Column { name: "norm", unit: "-", meaning: "norm of the budget and of the minimal-distortion target: linf, l2 or l0", value: |r| r.norm.to_string() },
    Column { name: "budget", unit: "norm units", meaning: "largest allowed distortion (l0: values changed); empty for minimal-perturbation attacks", value: |r| optional(r.budget.map(number)) },
    Column { name: "samples", unit: "images", meaning: "images audited", value: |r| r.samples.to_string() },
    Column { name: "clean_accuracy", unit: "fraction", meaning: "clean images classified correctly", value: |r| number(r.clean_accuracy()) },
    Column { name: "adversarial_accuracy", unit: "fraction", meaning: "images classified correctly clean and on every returned image of theirs (all targets)", value: |r| number(r.adversarial_accuracy()) },
    Column { name: "runs", unit: "runs", meaning: "attack runs: correctly classified images times targets per image", value: |r| r.runs.to_string() },
    Column { name: "successes", unit: "runs", meaning: "runs whose verified prediction reaches the goal", value: |r| r.successes.to_string() },
    Column { name: "success_rate", unit: "fraction", meaning: "successes over runs (targeted: over (image, target) pairs); empty when nothing was attacked", value: |r| optional(r.success_rate().map(number)) },
    Column { name: "evaded", unit: "images", meaning: "images with at least one successful run", value: |r| r.evaded.to_string() },
    Column { name: "mean_min_l0", unit: "values", meaning: "mean over evaded images of the smallest successful l0 (per norm, over targets); for minimal-perturbation attacks in their norm this is the rho_adv estimate", value: |r| stat(r.mean_minimal, Norm::L0) },
    Column { name: "median_min_l0", unit: "values", meaning: "median of the same", value: |r| stat(r.median_minimal, Norm::L0) },
    Column { name: "mean_min_l2", unit: "input scale", meaning: "mean over evaded images of the smallest successful l2", value: |r| stat(r.mean_minimal, Norm::L2) },
    Column { name: "median_min_l2", unit: "input scale", meaning: "median of the same", value: |r| stat(r.median_minimal, Norm::L2) },
    Column { name: "mean_min_linf", unit: "input scale", meaning: "mean over evaded images of the smallest successful linf", value: |r| stat(r.mean_minimal, Norm::Linf) },
    Column { name: "median_min_linf", unit: "input scale", meaning: "median of the same", value: |r| stat(r.median_minimal, Norm::Linf) },
    Column { name: "mean_min_l0_relative", unit: "fraction", meaning: "mean of the smallest successful l0_relative", value: |r| stat(r.mean_minimal_relative, Norm::L0) },
    Column { name: "median_min_l0_relative", unit: "fraction", meaning: "median of the same", value: |r| stat(r.median_minimal_relative, Norm::L0) },
    Column { name: "mean_min_l2_relative", unit: "fraction", meaning: "mean of the smallest successful l2_relative (papernot's normalised rho_adv for l2 attacks)", value: |r| stat(r.mean_minimal_relative, Norm::L2) },
    Column { name: "median_min_l2_relative", unit: "fraction", meaning: "median of the same", value: |r| stat(r.median_minimal_relative, Norm::L2) },
    Column { name: "mean_min_linf_relative", unit: "fraction", meaning: "mean of the smallest successful linf_relative", value: |r| stat(r.mean_minimal_relative, Norm::Linf) },
    Column { name: "median_min_linf_relative", unit: "fraction", meaning: "median of the same", value: |r| stat(r.median_minimal_relative, Norm::Linf) },
    Column { name: "sensitivity_logit_sum", unit: "logits per input unit", meaning: "mean over images and input values of |d(sum of logits)/dx| (the distillation papers' sensitivity)", value: |r| number(r.sensitivity.logit_sum) },
    Column { name: "sensitivity_softmax", unit: "probability per input unit", meaning: "mean over images, classes and input values of |d softmax_i/dx| at temperature 1 (papernot's adversarial gradient amplitude)", value: |r| number(r.sensitivity.softmax_amplitude) },
    Column { name: "forward_queries", unit: "images", meaning: "forward queries of all runs", value: |r| r.queries.forward.to_string() },
    Column { name: "gradient_queries", unit: "images", meaning: "gradient queries of all runs", value: |r| r.queries.gradient.to_string() },
];

/// The columns of `timings.csv`: one row per attack run (`run`) and per (model, attack,
/// budget) (`total`). The only file whose values change between identical audits.
pub const TIMING_COLUMNS: &[Column<TimingRow>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "scope", unit: "-", meaning: "run: one row of samples.csv; total: one row of summary.csv (wall time, runs in parallel)", value: |r| r.scope.to_string() },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.clone() },
    Column { name: "attack", unit: "-", meaning: "attack name", value: |r| r.attack.to_string() },
    Column { name: "norm", unit: "-", meaning: "norm of the budget", value: |r| r.norm.to_string() },
    Column { name: "budget", unit: "norm units", meaning: "the budget; empty for minimal-perturbation attacks", value: |r| optional(r.budget.map(number)) },
    Column { name: "sample", unit: "index", meaning: "the image, for a run", value: |r| optional(r.sample) },
    Column { name: "target", unit: "class", meaning: "the target, for a targeted run", value: |r| optional(r.target) },
    Column { name: "seconds", unit: "s", meaning: "wall-clock time of the attack (runs: one thread; totals: including verification)", value: |r| number(r.seconds) },
];

/// `docs/report-schema.md`: every file's columns with unit and meaning.
pub fn markdown() -> String {
    let mut out = format!(
        "# Audit report schema, version {SCHEMA_VERSION}\n\n\
         Generated by `robustaudit schema` from `src/report/schema.rs`; do not edit by hand.\n\n\
         `robustaudit audit --out DIR` writes `samples.csv`, `summary.csv` and `timings.csv` \
         (and, with `--save-examples`, `examples/*.npy`). Every row starts with \
         `schema_version`. Numbers use the shortest form that reads back exactly; an empty \
         field means \"not applicable\". Distortions are measured in f64 from the f32 images \
         in the datasets' value scale [-0.5, 0.5]. The same command and seed give \
         byte-identical `samples.csv` and `summary.csv`; times are only in `timings.csv`.\n"
    );
    section(
        &mut out,
        "samples.csv",
        "One row per (model, attack, budget, sample, target).",
        SAMPLE_COLUMNS,
    );
    section(
        &mut out,
        "summary.csv",
        "One row per (model, attack, budget).",
        SUMMARY_COLUMNS,
    );
    section(
        &mut out,
        "timings.csv",
        "One row per attack run and one per (model, attack, budget).",
        TIMING_COLUMNS,
    );
    out
}

fn section<R>(out: &mut String, file: &str, rows: &str, columns: &[Column<R>]) {
    out.push_str(&format!(
        "\n## {file}\n\n{rows}\n\n| column | unit | meaning |\n|---|---|---|\n"
    ));
    for c in columns {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.name, c.unit, c.meaning));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_schema_is_the_generated_one() {
        let documented = include_str!("../../docs/report-schema.md");
        assert_eq!(
            documented,
            markdown(),
            "docs/report-schema.md is stale: run `robustaudit schema > docs/report-schema.md`"
        );
    }

    #[test]
    fn column_names_are_unique_per_file() {
        fn unique<R>(columns: &[Column<R>]) {
            let mut names: Vec<&str> = columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len());
        }
        unique(SAMPLE_COLUMNS);
        unique(SUMMARY_COLUMNS);
        unique(TIMING_COLUMNS);
    }
}
