//! One shard's folder read back: `shard.csv` first, then its files checked against each
//! other and against the audit's plan (the summary rows every shard shares).

use std::path::{Path, PathBuf};

use ndarray::Array4;
use ndarray_npy::ReadNpyExt;

use super::super::digests::check;
use super::super::input_error::ReportInputError;
use super::super::read::{Row, Table};
use super::super::schema::{
    SAMPLE_COLUMNS, SENSITIVITY_COLUMNS, SHARD_COLUMNS, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
use super::super::write::example_path;
use super::super::ShardRecord;
use crate::attacks::{by_reported_name, Attack, BudgetKind, Norm, Params, Queries};
use crate::audit::{norm_of, ModelInfo, SampleRecord, SensitivityRecord, Shard, MAX_SHARDS};
use crate::error::{Error, Result};
use crate::metrics::{Distortion, Sensitivity};

/// A shard folder whose `shard.csv` has been read.
pub struct Folder {
    /// The folder.
    pub dir: PathBuf,
    /// Its `shard.csv`.
    pub record: ShardRecord,
}

/// One (model, attack, budget) of the audit, as summary.csv names it.
pub struct Entry {
    /// The model, as every shard's summary.csv describes it.
    pub model: ModelInfo,
    /// The model's position in the audit.
    pub model_index: usize,
    /// The attack, rebuilt from the registry with the summary's parameters.
    pub attack: Box<dyn Attack>,
    /// Those parameters.
    pub params: Params,
    /// The budget's norm.
    pub norm: Norm,
    /// The budget.
    pub budget: Option<f64>,
}

/// The audit's models and its (model, attack, budget) rows, in order.
pub struct Plan {
    /// The models, in audit order.
    pub models: Vec<ModelInfo>,
    /// One entry per summary row.
    pub entries: Vec<Entry>,
}

/// What one shard holds, per entry of the plan.
pub struct Contents {
    /// The records of each entry, in file order.
    pub records: Vec<Vec<SampleRecord>>,
    /// The wall-clock seconds of each entry, from timings.csv.
    pub seconds: Vec<f64>,
    /// Per model of the audit, its sensitivity on each of the shard's samples.
    pub sensitivity: Vec<Vec<SensitivityRecord>>,
    /// The candidates of each entry, when the audit kept them.
    pub examples: Option<Vec<Array4<f32>>>,
}

/// Counts of one summary.csv row that the shard's samples.csv must reproduce.
struct Counts {
    line: u64,
    samples: usize,
    runs: usize,
    successes: usize,
}

impl Folder {
    /// Reads `dir/shard.csv`.
    pub fn open(dir: &Path) -> Result<Folder> {
        if !dir.is_dir() {
            return Err(ReportInputError::NoFolder {
                dir: dir.to_path_buf(),
            }
            .into());
        }
        let path = dir.join("shard.csv");
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(ReportInputError::MixedRun {
                dir: dir.to_path_buf(),
                reason: "it has no shard.csv, which an audit writes last: the audit was cut \
                         short, or this is not its folder"
                    .into(),
            }
            .into());
        }
        let table = Table::read(&path, SHARD_COLUMNS)?;
        let row = match table.len() {
            1 => table.rows().next(),
            _ => None,
        }
        .ok_or_else(|| table.error_at(2, "shard.csv holds one row"))?;
        let record = shard_record(&row)?;
        let range = record.shard.samples(record.samples);
        if row.parse::<usize>("first_sample")? != range.start
            || row.parse::<usize>("end_sample")? != range.end
        {
            return Err(row.row_error(&format!(
                "shard {} of {} samples holds samples {range:?}, not those it names",
                record.shard, record.samples
            )));
        }
        if row.text("fingerprint")? != record.fingerprint() {
            return Err(row.error("fingerprint", "does not match the settings beside it"));
        }
        Ok(Folder {
            dir: dir.to_path_buf(),
            record,
        })
    }

    /// Checks the folder's report files against the digests its shard.csv records.
    pub fn check_digests(&self) -> Result<()> {
        Ok(check(&self.dir, &self.record.digests)?)
    }

    /// The plan of the audit from this folder's summary.csv: its (model, attack, budget)
    /// rows, attacks rebuilt from the registry, checked against shard.csv's settings.
    pub fn plan(&self) -> Result<Plan> {
        let table = Table::read(&self.dir.join("summary.csv"), SUMMARY_COLUMNS)?;
        let mut models: Vec<ModelInfo> = Vec::new();
        let mut plan = Vec::with_capacity(table.len());
        for row in table.rows() {
            let model = model_info(&row)?;
            let model_index = match models.iter().position(|m| m.name == model.name) {
                Some(i) => i,
                None => {
                    models.push(model.clone());
                    models.len() - 1
                }
            };
            let name = row.text("attack")?;
            let text = row.text("params")?;
            let (attack, params) = rebuild(name, text)
                .map_err(|e| row.row_error(&format!("attack {name} with params `{text}`: {e}")))?;
            let norm = norm(&row, "norm")?;
            if norm != norm_of(attack.budget_kind()) {
                return Err(row.error("norm", &format!("is not the norm of {name}")));
            }
            plan.push(Entry {
                model,
                model_index,
                attack,
                params,
                norm,
                budget: row.optional("budget")?,
            });
        }
        self.check_plan(&table, &plan, &models)?;
        Ok(Plan {
            models,
            entries: plan,
        })
    }

    /// The plan must be every model (in shard.csv's order) with every attack of shard.csv
    /// at each of its budgets.
    fn check_plan(&self, table: &Table, plan: &[Entry], models: &[ModelInfo]) -> Result<()> {
        let record = &self.record;
        if super::super::describe_models(models) != record.models {
            return Err(table.error_at(
                2,
                &format!("the models differ from shard.csv's `{}`", record.models),
            ));
        }
        let unreadable = |what: &str| ReportInputError::Malformed {
            path: self.dir.join("shard.csv"),
            line: Some(2),
            reason: format!("column {what} cannot be read"),
        };
        let eps = radii(&record.eps).ok_or_else(|| unreadable("eps"))?;
        let eps_l2 = radii(&record.eps_l2).ok_or_else(|| unreadable("eps_l2"))?;
        let attacks = attack_list(&record.attacks).ok_or_else(|| unreadable("attacks"))?;
        let mut expected: Vec<(usize, &str, &str, Budget)> = Vec::new();
        for model in 0..models.len() {
            for (name, params) in &attacks {
                let (attack, resolved) =
                    rebuild(name, params).map_err(|_| unreadable("attacks"))?;
                let radii = |all: &[f64]| -> Vec<Budget> {
                    let own = resolved.radii().unwrap_or(all);
                    own.iter().map(|&e| Budget::Radius(e)).collect()
                };
                let budgets: Vec<Budget> = match attack.budget_kind() {
                    BudgetKind::Radius(Norm::L2) => radii(&eps_l2),
                    BudgetKind::Radius(_) => radii(&eps),
                    BudgetKind::Features(_) => vec![Budget::Features],
                    BudgetKind::Minimal(_) => vec![Budget::Minimal],
                };
                for budget in budgets {
                    expected.push((model, name, params, budget));
                }
            }
        }
        for ((row, entry), i) in table.rows().zip(plan).zip(0..) {
            let fits = expected
                .get(i)
                .is_some_and(|(model, name, params, budget)| {
                    *model == entry.model_index
                        && *name == entry.attack.name()
                        && *params == entry.params.describe()
                        && budget.admits(entry.budget)
                });
            if !fits {
                return Err(row.row_error(
                    "the row does not follow the models, attacks and radii of shard.csv",
                ));
            }
        }
        if plan.len() != expected.len() {
            return Err(table.error_at(
                table.end_line(),
                &format!(
                    "{} rows where shard.csv's settings make {} (cut short?)",
                    plan.len(),
                    expected.len()
                ),
            ));
        }
        Ok(())
    }

    /// This folder's files, checked against `plan` (the plan of every shard) and against
    /// each other.
    pub fn contents(&self, plan: &Plan) -> Result<Contents> {
        let models = &plan.models;
        let plan = &plan.entries[..];
        let samples = self.record.shard.samples(self.record.samples);
        let counts = self.counts(plan)?;
        let table = Table::read(&self.dir.join("samples.csv"), SAMPLE_COLUMNS)?;
        let mut records: Vec<Vec<(u64, SampleRecord)>> = plan.iter().map(|_| Vec::new()).collect();
        let mut e = 0;
        for row in table.rows() {
            let model = row.text("model")?;
            let attack = row.text("attack")?;
            let norm = norm(&row, "norm")?;
            let budget: Option<f64> = row.optional("budget")?;
            while e < plan.len() && !plan[e].names(model, attack, norm, budget) {
                e += 1;
            }
            let Some(entry) = plan.get(e) else {
                return Err(row.row_error(
                    "its (model, attack, budget) is not in summary.csv, or out of order",
                ));
            };
            let record = sample_record(&row, entry)?;
            if SAMPLE_COLUMNS
                .iter()
                .map(|c| (c.value)(&record))
                .ne(row.fields())
            {
                return Err(row.row_error("the row does not read back as it is written"));
            }
            records[e].push((row.line(), record));
        }
        for ((entry, rows), counts) in plan.iter().zip(&records).zip(&counts) {
            check_coverage(&table, entry, rows, counts, &samples)?;
        }
        let mut records: Vec<Vec<SampleRecord>> = records
            .into_iter()
            .map(|rows| rows.into_iter().map(|(_, r)| r).collect())
            .collect();
        let seconds = self.timings(plan, &mut records)?;
        let sensitivity = self.sensitivity(models, &samples)?;
        let examples = if self.record.examples {
            Some(self.examples(plan, &records)?)
        } else {
            None
        };
        Ok(Contents {
            records,
            seconds,
            sensitivity,
            examples,
        })
    }

    /// This shard's summary.csv: the plan's rows, with the counts of each.
    fn counts(&self, plan: &[Entry]) -> Result<Vec<Counts>> {
        let table = Table::read(&self.dir.join("summary.csv"), SUMMARY_COLUMNS)?;
        let mut counts = Vec::with_capacity(plan.len());
        for (row, entry) in table.rows().zip(plan) {
            let same = model_info(&row)? == entry.model
                && row.text("attack")? == entry.attack.name()
                && row.text("params")? == entry.params.describe()
                && norm(&row, "norm")? == entry.norm
                && row.optional::<f64>("budget")? == entry.budget;
            if !same {
                return Err(row.row_error(
                    "the row differs from the other shards' (model, attack, params, budget)",
                ));
            }
            counts.push(Counts {
                line: row.line(),
                samples: row.parse("samples")?,
                runs: row.parse("runs")?,
                successes: row.parse("successes")?,
            });
        }
        if counts.len() != plan.len() {
            return Err(table.error_at(
                table.end_line(),
                &format!(
                    "{} rows where the other shards have {} (cut short?)",
                    counts.len(),
                    plan.len()
                ),
            ));
        }
        Ok(counts)
    }

    /// The seconds of every record (in place) and of every entry, from timings.csv.
    fn timings(&self, plan: &[Entry], records: &mut [Vec<SampleRecord>]) -> Result<Vec<f64>> {
        let table = Table::read(&self.dir.join("timings.csv"), TIMING_COLUMNS)?;
        let mut rows = table.rows();
        let mismatch =
            |row: &Row| row.row_error("the row is not that of samples.csv or summary.csv in order");
        for record in records.iter_mut().flatten() {
            let row = rows
                .next()
                .ok_or_else(|| table.error_at(table.end_line(), "rows are missing (cut short?)"))?;
            let same = row.text("scope")? == "run"
                && row.text("model")? == record.model
                && row.text("attack")? == record.attack
                && norm(&row, "norm")? == record.norm
                && row.optional::<f64>("budget")? == record.budget
                && row.optional::<usize>("sample")? == Some(record.sample)
                && row.optional::<usize>("target")? == record.target;
            if !same {
                return Err(mismatch(&row));
            }
            record.seconds = row.parse("seconds")?;
        }
        let mut seconds = Vec::with_capacity(plan.len());
        for entry in plan {
            let row = rows
                .next()
                .ok_or_else(|| table.error_at(table.end_line(), "rows are missing (cut short?)"))?;
            let same = row.text("scope")? == "total"
                && row.text("model")? == entry.model.name
                && row.text("attack")? == entry.attack.name()
                && norm(&row, "norm")? == entry.norm
                && row.optional::<f64>("budget")? == entry.budget;
            if !same {
                return Err(mismatch(&row));
            }
            seconds.push(row.parse("seconds")?);
        }
        if let Some(row) = rows.next() {
            return Err(row.row_error("a row beyond those of samples.csv and summary.csv"));
        }
        Ok(seconds)
    }

    /// sensitivity.csv: per model, one row per sample of the shard, in order.
    fn sensitivity(
        &self,
        models: &[ModelInfo],
        samples: &std::ops::Range<usize>,
    ) -> Result<Vec<Vec<SensitivityRecord>>> {
        let table = Table::read(&self.dir.join("sensitivity.csv"), SENSITIVITY_COLUMNS)?;
        let mut rows = table.rows();
        let mut per_model = Vec::with_capacity(models.len());
        for model in models {
            let mut records = Vec::with_capacity(samples.len());
            for sample in samples.clone() {
                let row = rows.next().ok_or_else(|| {
                    table.error_at(table.end_line(), "rows are missing (cut short?)")
                })?;
                let record = SensitivityRecord {
                    model: row.text("model")?.to_string(),
                    sample: row.parse("sample")?,
                    sensitivity: Sensitivity {
                        logit_sum: row.parse("sensitivity_logit_sum")?,
                        softmax_amplitude: row.parse("sensitivity_softmax")?,
                        vanished: row.parse("vanished_gradient")?,
                    },
                };
                if record.model != model.name || record.sample != sample {
                    return Err(
                        row.row_error(&format!("expected model {} sample {sample}", model.name))
                    );
                }
                if SENSITIVITY_COLUMNS
                    .iter()
                    .map(|c| (c.value)(&record))
                    .ne(row.fields())
                {
                    return Err(row.row_error("the row does not read back as it is written"));
                }
                records.push(record);
            }
            per_model.push(records);
        }
        if let Some(row) = rows.next() {
            return Err(row.row_error("a row beyond the shard's models and samples"));
        }
        Ok(per_model)
    }

    /// The kept candidates of every entry, one row per record.
    fn examples(&self, plan: &[Entry], records: &[Vec<SampleRecord>]) -> Result<Vec<Array4<f32>>> {
        plan.iter()
            .zip(records)
            .map(|(entry, records)| {
                let path = example_path(
                    &self.dir,
                    entry.model_index,
                    &entry.model.name,
                    entry.attack.name(),
                    entry.norm,
                    entry.budget,
                );
                let refuse = |reason: String| {
                    Error::from(ReportInputError::Malformed {
                        path: path.clone(),
                        line: None,
                        reason,
                    })
                };
                let file = robustaudit_graph::regular_file::open(&path)
                    .map_err(|e| refuse(e.to_string()))?;
                let images = Array4::<f32>::read_npy(file)
                    .map_err(|e| refuse(format!("not a 4-d f32 .npy batch: {e}")))?;
                if images.shape()[0] != records.len() {
                    return Err(refuse(format!(
                        "{} images for {} rows of samples.csv",
                        images.shape()[0],
                        records.len()
                    )));
                }
                Ok(images)
            })
            .collect()
    }
}

/// The budget an attack of shard.csv runs at.
enum Budget {
    /// A radius of `--eps` or `--eps-l2`.
    Radius(f64),
    /// A fraction of the image's values, which shard.csv does not record.
    Features,
    /// None: a minimal-perturbation attack.
    Minimal,
}

impl Budget {
    /// Whether a summary row's budget is this one.
    fn admits(&self, budget: Option<f64>) -> bool {
        match self {
            Budget::Radius(r) => budget == Some(*r),
            Budget::Features => budget.is_some(),
            Budget::Minimal => budget.is_none(),
        }
    }
}

impl Entry {
    /// Whether a row's (model, attack, norm, budget) is this entry's.
    fn names(&self, model: &str, attack: &str, norm: Norm, budget: Option<f64>) -> bool {
        self.model.name == model
            && self.attack.name() == attack
            && self.norm == norm
            && self.budget == budget
    }
}

/// The records of one entry must hold every sample of the shard, in order, and the runs and
/// successes that the shard's summary.csv counts.
fn check_coverage(
    table: &Table,
    entry: &Entry,
    rows: &[(u64, SampleRecord)],
    counts: &Counts,
    samples: &std::ops::Range<usize>,
) -> Result<()> {
    let mut next = samples.start;
    for (line, r) in rows {
        if r.sample == next {
            next += 1;
        } else if next == samples.start || r.sample + 1 != next {
            return Err(table.error_at(
                *line,
                &format!(
                    "sample {} is out of order or outside the shard's samples {samples:?}",
                    r.sample
                ),
            ));
        }
    }
    let what = format!(
        "{} {} {}",
        entry.model.name,
        entry.attack.name(),
        entry
            .budget
            .map_or_else(|| "minimal".to_string(), |b| format!("{} {b}", entry.norm))
    );
    if next != samples.end || counts.samples != samples.len() {
        return Err(table.error_at(
            table.end_line(),
            &format!(
                "the rows of {what} stop before sample {}, but the shard holds samples \
                 {samples:?} (cut short?)",
                next
            ),
        ));
    }
    let runs = rows.iter().filter(|(_, r)| r.attacked).count();
    let successes = rows.iter().filter(|(_, r)| r.success).count();
    if runs != counts.runs || successes != counts.successes {
        return Err(table.error_at(
            table.end_line(),
            &format!(
                "{runs} runs and {successes} successes of {what}, but summary.csv line {} \
                 counts {} and {} (cut short?)",
                counts.line, counts.runs, counts.successes
            ),
        ));
    }
    Ok(())
}

/// The attack `name` with the parameters `params` (`name=value` separated by spaces),
/// which must be every parameter it has, as [`Params::describe`] writes them.
fn rebuild(name: &str, params: &str) -> Result<(Box<dyn Attack>, Params)> {
    let overrides: Vec<(String, String)> = params
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let (attack, resolved) = by_reported_name(name)?.build(&overrides)?;
    if resolved.describe() != params || attack.name() != name {
        return Err(Error::Usage {
            message: format!("they resolve to `{}`", resolved.describe()),
            hint: None,
        });
    }
    Ok((attack, resolved))
}

/// `name(params); name(params)` as [`super::super::describe_attacks`] writes it.
fn attack_list(text: &str) -> Option<Vec<(String, String)>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split("; ")
        .map(|item| {
            let (name, rest) = item.split_once('(')?;
            let params = rest.strip_suffix(')')?;
            Some((name.to_string(), params.to_string()))
        })
        .collect()
}

/// Comma-separated numbers, as [`super::super::describe_radii`] writes them.
fn radii(text: &str) -> Option<Vec<f64>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',').map(|r| r.parse().ok()).collect()
}

fn norm(row: &Row, column: &str) -> Result<Norm> {
    match row.text(column)? {
        "l0" => Ok(Norm::L0),
        "l2" => Ok(Norm::L2),
        "linf" => Ok(Norm::Linf),
        other => Err(row.error(column, &format!("`{other}` is not l0, l2 or linf"))),
    }
}

fn flag(row: &Row, column: &str) -> Result<bool> {
    row.parse(column)
}

fn model_info(row: &Row) -> Result<ModelInfo> {
    let text = |c: &str| row.text(c).map(str::to_string);
    Ok(ModelInfo {
        name: text("model")?,
        sha256: text("sha256")?,
        role: text("role")?,
        hop: text("hop")?,
        temperature: text("temperature")?,
        gradients: text("gradients")?,
        gradients_reason: text("gradients_reason")?,
        input: text("input_range")?,
    })
}

fn sample_record(row: &Row, entry: &Entry) -> Result<SampleRecord> {
    Ok(SampleRecord {
        model: entry.model.name.clone(),
        attack: entry.attack.name(),
        norm: entry.norm,
        budget: entry.budget,
        sample: row.parse("sample")?,
        label: row.parse("label")?,
        clean_prediction: row.parse("clean_prediction")?,
        target: row.optional("target")?,
        attacked: flag(row, "attacked")?,
        adversarial_prediction: row.parse("adversarial_prediction")?,
        success: flag(row, "success")?,
        distortion: Distortion {
            l0: row.parse("l0")?,
            l2: row.parse("l2")?,
            linf: row.parse("linf")?,
        },
        relative: Distortion {
            l0: row.parse("l0_relative")?,
            l2: row.parse("l2_relative")?,
            linf: row.parse("linf_relative")?,
        },
        queries: Queries {
            forward: row.parse("forward_queries")?,
            gradient: row.parse("gradient_queries")?,
        },
        seconds: 0.0,
    })
}

fn shard_record(row: &Row) -> Result<ShardRecord> {
    let index: usize = row.parse("shard")?;
    let count: usize = row.parse("shards")?;
    if count > MAX_SHARDS {
        return Err(row.error(
            "shards",
            &format!("{count} is more than the {MAX_SHARDS} shards an audit can have"),
        ));
    }
    if index >= count {
        return Err(row.error("shard", &format!("{index} is not below shards {count}")));
    }
    let text = |c: &str| row.text(c).map(str::to_string);
    Ok(ShardRecord {
        shard: Shard { index, count },
        samples: row.parse("samples")?,
        data: text("data")?,
        split: text("split")?,
        data_sha256: text("data_sha256")?,
        seed: row.parse("seed")?,
        attacks: text("attacks")?,
        eps: text("eps")?,
        eps_l2: text("eps_l2")?,
        models: text("models")?,
        examples: flag(row, "examples")?,
        digests: text("digests")?,
    })
}
