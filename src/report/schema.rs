//! The columns of `samples.csv`, `summary.csv`, `timings.csv`, `sensitivity.csv` and
//! `shard.csv`: name, unit, meaning and how each value is written. Headers, rows and `docs/report-schema.md` all come from these
//! tables.
//!
//! Numbers are written in Rust's shortest round-trip form, so equal values give equal
//! bytes; an empty field means "not applicable". `samples.csv` and `summary.csv` hold no
//! timings, so the same command with the same seed writes them byte for byte the same;
//! every time measurement goes to `timings.csv`.

use super::ShardRecord;
use crate::attacks::Norm;
use crate::audit::{Finding, SampleRecord, SensitivityRecord, SummaryRecord};
use crate::metrics::Distortion;

/// The version of the report format; it changes whenever a column is added, removed,
/// renamed or changes meaning. Every row carries it in its first column.
pub const SCHEMA_VERSION: u32 = 4;

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
    Column { name: "gradients", unit: "-", meaning: "exact (the model's vjp graph), straight-through (the vjp graph of an int8 QDQ model, each QuantizeLinear -> DequantizeLinear pair differentiated as the identity inside its clipping range, BPDA; successes are still verified on the quantized model) or finite-differences (no vjp graph could be built)", value: |r| r.model.gradients.clone() },
    Column { name: "gradients_reason", unit: "-", meaning: "why straight-through estimates or finite differences were used; empty for exact gradients", value: |r| r.model.gradients_reason.clone() },
    Column { name: "input_range", unit: "-", meaning: "the model's input range lo,hi (and normalisation) that dataset values in [-0.5, 0.5] were mapped to", value: |r| r.model.input.clone() },
    Column { name: "attack", unit: "-", meaning: "attack name", value: |r| r.attack.to_string() },
    Column { name: "params", unit: "-", meaning: "every attack parameter as name=value", value: |r| r.params.clone() },
    Column { name: "signal", unit: "-", meaning: "what the attack learns from the model: gradient-logits, gradient-probabilities (a loss on the softmax, such as cross-entropy), scores-logits, scores-probabilities (forward passes only) or decision (the predicted class only)", value: |r| r.signal.to_string() },
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
    Column { name: "mean_l0_pairs", unit: "values", meaning: "mean l0 over successful runs, each (image, target) pair counted (the papers' per-pair average; equals mean_min_l0 for untargeted attacks)", value: |r| stat(r.mean_pairs, Norm::L0) },
    Column { name: "median_l0_pairs", unit: "values", meaning: "median of the same", value: |r| stat(r.median_pairs, Norm::L0) },
    Column { name: "mean_l2_pairs", unit: "input scale", meaning: "mean l2 over successful runs, each (image, target) pair counted (c&w's average case)", value: |r| stat(r.mean_pairs, Norm::L2) },
    Column { name: "median_l2_pairs", unit: "input scale", meaning: "median of the same", value: |r| stat(r.median_pairs, Norm::L2) },
    Column { name: "mean_linf_pairs", unit: "input scale", meaning: "mean linf over successful runs, each (image, target) pair counted", value: |r| stat(r.mean_pairs, Norm::Linf) },
    Column { name: "median_linf_pairs", unit: "input scale", meaning: "median of the same", value: |r| stat(r.median_pairs, Norm::Linf) },
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
    Column { name: "masking_verdict", unit: "-", meaning: "the model's gradient-masking verdict, the same on each of its rows: masked (a check of diagnosis.csv is flagged: failing gradient attacks do not show robustness), clear (none is, and in every l2/linf norm with a budget a gradient-free attack of that norm evaded images without beating the gradient attacks) or inconclusive (none is, but some norm lacks that comparison)", value: |r| r.masking_verdict.to_string() },
];

/// The columns of `diagnosis.csv`: one row per (model, check, budget).
pub const DIAGNOSIS_COLUMNS: &[Column<Finding>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.clone() },
    Column { name: "sha256", unit: "hex", meaning: "sha-256 of the model file", value: |r| r.sha256.clone() },
    Column { name: "check", unit: "-", meaning: "gradient-free-beats-gradient (attacks without gradients evade images the gradient attacks of the same norm miss), logits-beat-probabilities (attacks on logits evade images that attacks on softmax probabilities miss), single-step-beats-iterative (fgsm evades images the iterative gradient attacks miss), success-flat-in-eps (an attack's success falls, or stays flat while others do better, as its budget grows), unbounded-below-100 (an attack bounded only by the value range misses max(2, 10%) of the images), vanishing-gradients (the cross-entropy input gradient is zero in f32 on max(2, 10%) of the correctly classified images)", value: |r| r.check.to_string() },
    Column { name: "result", unit: "-", meaning: "flagged (a sign of gradient masking), passed, or not-applicable (the audit lacks the attacks the check compares)", value: |r| r.outcome.name().to_string() },
    Column { name: "norm", unit: "-", meaning: "norm of the budget the check was made at; empty for checks of the whole model", value: |r| optional(r.norm) },
    Column { name: "budget", unit: "norm units", meaning: "the budget; images count as evaded within it when a verified success of theirs lies within it, whatever budget the run had; empty for checks of the whole model and minimal-perturbation attacks", value: |r| optional(r.budget.map(number)) },
    Column { name: "detail", unit: "-", meaning: "the evidence: the attacks compared and the images each evades (a group beats another by at least max(2, 10%) of the correctly classified images)", value: |r| r.detail.clone() },
];

/// The columns of `timings.csv`: one row per attack run (`run`) and per (model, attack,
/// budget) (`total`). The only file whose values change between identical audits.
pub const TIMING_COLUMNS: &[Column<TimingRow>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "scope", unit: "-", meaning: "run: one row of samples.csv; total: one row of summary.csv (wall time, runs in flight together)", value: |r| r.scope.to_string() },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.clone() },
    Column { name: "attack", unit: "-", meaning: "attack name", value: |r| r.attack.to_string() },
    Column { name: "norm", unit: "-", meaning: "norm of the budget", value: |r| r.norm.to_string() },
    Column { name: "budget", unit: "norm units", meaning: "the budget; empty for minimal-perturbation attacks", value: |r| optional(r.budget.map(number)) },
    Column { name: "sample", unit: "index", meaning: "the image, for a run", value: |r| optional(r.sample) },
    Column { name: "target", unit: "class", meaning: "the target, for a targeted run", value: |r| optional(r.target) },
    Column { name: "seconds", unit: "s", meaning: "wall-clock time of the attack (runs: from start to end, including the time its queries waited for a batch shared with other runs; totals: including verification)", value: |r| number(r.seconds) },
];

/// The columns of `sensitivity.csv`: one row per (model, sample).
pub const SENSITIVITY_COLUMNS: &[Column<SensitivityRecord>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "model", unit: "-", meaning: "model file as given on the command line", value: |r| r.model.clone() },
    Column { name: "sample", unit: "index", meaning: "position of the image in the data split", value: |r| r.sample.to_string() },
    Column { name: "sensitivity_logit_sum", unit: "logits per input unit", meaning: "mean over input values of |d(sum of logits)/dx| on the clean image; summary.csv's value is the mean of these in sample order", value: |r| number(r.sensitivity.logit_sum) },
    Column { name: "sensitivity_softmax", unit: "probability per input unit", meaning: "mean over classes and input values of |d softmax_i/dx| at temperature 1 on the clean image; summary.csv's value is the mean of these in sample order", value: |r| number(r.sensitivity.softmax_amplitude) },
    Column { name: "vanished_gradient", unit: "0 or 1", meaning: "1 when the clean image is classified correctly and its cross-entropy input gradient at the label is zero in every value in f32 (softmax, seed and vector-jacobian product in f32): a gradient attack has nothing to follow; the masking diagnosis counts these images", value: |r| number(r.sensitivity.vanished) },
];

/// The columns of `shard.csv`: one row saying which part of which audit the folder holds.
pub const SHARD_COLUMNS: &[Column<ShardRecord>] = &[
    Column { name: "schema_version", unit: "-", meaning: VERSION_MEANING, value: version },
    Column { name: "fingerprint", unit: "hex", meaning: "sha-256 of the settings in the columns from samples on: equal for all shards of one audit", value: |r| r.fingerprint() },
    Column { name: "shard", unit: "index", meaning: "which shard, from 0 (--shard K/N: K); 0 for an unsharded audit or a merge", value: |r| r.shard.index.to_string() },
    Column { name: "shards", unit: "count", meaning: "how many shards the samples are split into (N); 1 for an unsharded audit or a merge", value: |r| r.shard.count.to_string() },
    Column { name: "first_sample", unit: "index", meaning: "first sample of this shard", value: |r| r.shard.samples(r.samples).start.to_string() },
    Column { name: "end_sample", unit: "index", meaning: "one past the last sample of this shard (equal to first_sample for an empty shard)", value: |r| r.shard.samples(r.samples).end.to_string() },
    Column { name: "samples", unit: "images", meaning: "images of the whole audit (all shards)", value: |r| r.samples.to_string() },
    Column { name: "data", unit: "-", meaning: "--data as given", value: |r| r.data.clone() },
    Column { name: "split", unit: "-", meaning: "--split", value: |r| r.split.clone() },
    Column { name: "data_sha256", unit: "hex", meaning: "sha-256 of the audit's images (shape and f32 values) and labels, all shards'", value: |r| r.data_sha256.clone() },
    Column { name: "seed", unit: "-", meaning: "--seed", value: |r| r.seed.to_string() },
    Column { name: "attacks", unit: "-", meaning: "every attack as name(param=value ...), separated by `; `", value: |r| r.attacks.clone() },
    Column { name: "eps", unit: "input scale", meaning: "--eps, comma-separated", value: |r| r.eps.clone() },
    Column { name: "eps_l2", unit: "input scale", meaning: "--eps-l2, comma-separated", value: |r| r.eps_l2.clone() },
    Column { name: "models", unit: "-", meaning: "every model as name (sha-256, input range), separated by `; `", value: |r| r.models.clone() },
    Column { name: "examples", unit: "bool", meaning: "whether candidates were saved (--save-examples)", value: |r| r.examples.to_string() },
    Column { name: "digests", unit: "hex", meaning: "sha-256 of samples.csv, summary.csv, diagnosis.csv and sensitivity.csv as FILE=HEX separated by `; ` (schema 4 on; timings.csv holds wall times and is left out): merge and report refuse a folder whose files do not match, as edited or left from another run", value: |r| r.digests.clone() },
];

/// `docs/report-schema.md`: every file's columns with unit and meaning.
pub fn markdown() -> String {
    let mut out = format!(
        "# Audit report schema, version {SCHEMA_VERSION}\n\n\
         Generated by `robustaudit schema` from `src/report/schema.rs`; do not edit by hand.\n\n\
         `robustaudit audit --out DIR` writes `samples.csv`, `summary.csv`, `diagnosis.csv`, \
         `timings.csv`, `sensitivity.csv` (and, with `--save-examples`, `examples/*.npy`), then `shard.csv`. \
         Every row starts with `schema_version`. Numbers use the shortest form that reads \
         back exactly; an empty field means \"not applicable\". Distortions are measured in \
         f64 from the f32 images in the datasets' value scale [-0.5, 0.5]. The same command \
         and seed give byte-identical `samples.csv`, `summary.csv`, `diagnosis.csv`, \
         `sensitivity.csv` and `shard.csv`; times are only in `timings.csv`.\n\n\
         Text cells can hold what a model or a user supplied (file names, metadata, \
         `--data`). Against CSV formula injection (OWASP's rule), a cell that begins with \
         `=`, `+`, `-`, `@`, a tab or a carriage return and is not a number is written with \
         a single quote `'` before it, which spreadsheets show as text; so is a cell that \
         begins with `'`. Numbers such as `-0.5` stay as they are. Reading a file back \
         removes one leading `'`. A line break or quote inside a cell is quoted as RFC 4180 \
         says, so it cannot end a row.\n\n\
         With `--shard K/N` the folder holds one shard: every file covers that shard's \
         samples only (`summary.csv` summarises them alone) and keeps the samples' indices \
         in the split. `robustaudit merge` joins the N folders into the files of the \
         unsharded audit, byte for byte except `timings.csv`, whose `total` rows become the \
         sum of the shards' (docs/distributed.md).\n"
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
        "diagnosis.csv",
        "One row per (model, check, budget): the signs of gradient masking of Athalye, \
         Carlini and Wagner (2018), checked on what the audit found. A model's verdict is in \
         `summary.csv`'s `masking_verdict`.",
        DIAGNOSIS_COLUMNS,
    );
    section(
        &mut out,
        "timings.csv",
        "One row per attack run and one per (model, attack, budget).",
        TIMING_COLUMNS,
    );
    section(
        &mut out,
        "sensitivity.csv",
        "One row per (model, sample): the per-image values behind summary.csv's sensitivity.",
        SENSITIVITY_COLUMNS,
    );
    section(
        &mut out,
        "shard.csv",
        "One row: which shard of which audit the folder holds, written last, so a folder \
         with a shard.csv is complete. An unsharded audit and a merge write shard 0 of 1.",
        SHARD_COLUMNS,
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
        unique(DIAGNOSIS_COLUMNS);
        unique(TIMING_COLUMNS);
        unique(SENSITIVITY_COLUMNS);
        unique(SHARD_COLUMNS);
    }
}
