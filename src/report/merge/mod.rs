//! Joining the folders of a sharded audit (`robustaudit audit --shard K/N`) into the report
//! of the unsharded audit.
//!
//! The folders must be all N shards of one audit: one `shard.csv` fingerprint, each shard
//! once, every file of this schema version and complete. Their records are concatenated in
//! shard order within each (model, attack, budget), which is the unsharded audit's record
//! order; each summary is computed again from all records by [`SummaryRecord::of`] with the
//! attack rebuilt from the registry, and the sensitivity by [`mean_sensitivity`] of the
//! per-image values in sample order, exactly as the audit computes them, and the
//! gradient-masking diagnosis of the whole audit is made again. Written with
//! [`super::write_report`], the files are the unsharded audit's byte for byte, except the
//! times: run times are the shards', a summary's total is the sum of the shards' totals.
//! Kept examples are concatenated in record order.

mod folder;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use ndarray::{concatenate, ArrayView4, Axis};

use self::folder::{Contents, Folder, Plan};
use super::ShardRecord;
use crate::audit::{conclude, AuditReport, Examples, SampleRecord, Shard, SummaryRecord};
use crate::error::{Error, Result};
use crate::metrics::mean_sensitivity;

/// A merged audit: its report and the `shard.csv` of the whole audit.
#[derive(Debug)]
pub struct Merged {
    /// The report of the unsharded audit.
    pub report: AuditReport,
    /// Its `shard.csv` row: shard 0 of 1 with the shards' settings.
    pub record: ShardRecord,
}

/// Reads, checks and joins the shard folders `dirs` (in any order).
pub fn merge(dirs: &[PathBuf]) -> Result<Merged> {
    let folders = dirs
        .iter()
        .map(|d| Folder::open(d))
        .collect::<Result<Vec<_>>>()?;
    let folders = complete_set(folders)?;
    let plan = folders[0].plan()?;
    let contents = folders
        .iter()
        .map(|f| f.contents(&plan))
        .collect::<Result<Vec<_>>>()?;
    // After the checks that name a file and line, which say more about what is wrong; the
    // digests then catch an edit that still reads as a consistent audit.
    for folder in &folders {
        folder.check_digests()?;
    }
    // The merged files' digests are known once they are written (write_audit).
    let record = ShardRecord {
        shard: Shard::WHOLE,
        digests: String::new(),
        ..folders[0].record.clone()
    };
    Ok(Merged {
        report: assemble(&plan, contents, record.samples)?,
        record,
    })
}

/// The folders in shard order, when they are every shard of one audit exactly once.
fn complete_set(mut folders: Vec<Folder>) -> Result<Vec<Folder>> {
    let Some(first) = folders.first() else {
        return Err(Error::Usage {
            message: "no shard folders to merge".into(),
            hint: Some("robustaudit merge DIR... --out DIR".into()),
        });
    };
    let fingerprint = first.record.fingerprint();
    for other in &folders[1..] {
        if other.record.fingerprint() != fingerprint {
            let differing = first
                .record
                .settings()
                .into_iter()
                .zip(other.record.settings())
                .find(|(a, b)| a != b)
                .map_or_else(String::new, |((name, a), (_, b))| {
                    format!(": {name} `{a}` against `{b}`")
                });
            return Err(Error::Usage {
                message: format!(
                    "{} and {} are shards of different audits{differing}",
                    first.dir.display(),
                    other.dir.display()
                ),
                hint: Some(
                    "merge the shards of one audit command, all run with the same settings".into(),
                ),
            });
        }
        if other.record.shard.count != first.record.shard.count {
            return Err(Error::Usage {
                message: format!(
                    "{} is shard {} but {} is shard {}: the audit was split in two ways",
                    first.dir.display(),
                    first.record.shard,
                    other.dir.display(),
                    other.record.shard
                ),
                hint: Some("merge the shards of one --shard K/N split".into()),
            });
        }
    }
    folders.sort_by_key(|f| f.record.shard.index);
    for pair in folders.windows(2) {
        if pair[0].record.shard == pair[1].record.shard {
            return Err(Error::Usage {
                message: format!(
                    "shard {} of {} is given twice: {} and {}",
                    pair[0].record.shard.index,
                    pair[0].record.shard.count,
                    pair[0].dir.display(),
                    pair[1].dir.display()
                ),
                hint: Some("pass each shard's folder once".into()),
            });
        }
    }
    let count = folders[0].record.shard.count;
    let missing: Vec<usize> = (0..count)
        .filter(|k| !folders.iter().any(|f| f.record.shard.index == *k))
        .collect();
    if let Some(&k) = missing.first() {
        let which = if missing.len() == 1 {
            format!("shard {k} of {count} is missing")
        } else {
            let list: Vec<String> = missing.iter().map(usize::to_string).collect();
            format!("shards {} of {count} are missing", list.join(", "))
        };
        return Err(Error::Usage {
            message: which,
            hint: Some(format!(
                "add the --out folder of `robustaudit audit ... --shard {k}/{count}` (run it \
                 first if it has not run)"
            )),
        });
    }
    Ok(folders)
}

/// The report of the whole audit from every shard's contents, in shard order.
fn assemble(plan: &Plan, contents: Vec<Contents>, samples: usize) -> Result<AuditReport> {
    let mut report = AuditReport {
        models: plan.models.clone(),
        ..AuditReport::default()
    };
    for (m, model) in plan.models.iter().enumerate() {
        let per_image: Vec<_> = contents
            .iter()
            .flat_map(|c| c.sensitivity[m].iter().map(|r| r.sensitivity))
            .collect();
        let sensitivity = mean_sensitivity(&per_image);
        report.sensitivity.extend(
            contents
                .iter()
                .flat_map(|c| c.sensitivity[m].iter().cloned()),
        );
        let entries: Vec<usize> = (0..plan.entries.len())
            .filter(|&e| plan.entries[e].model_index == m)
            .collect();
        let (labels, predictions) = clean_classes(
            entries
                .iter()
                .flat_map(|&e| contents.iter().flat_map(move |c| &c.records[e])),
            samples,
            &model.name,
        )?;
        for &e in &entries {
            let entry = &plan.entries[e];
            let records: Vec<SampleRecord> = contents
                .iter()
                .flat_map(|c| c.records[e].iter().cloned())
                .collect();
            report.summaries.push(SummaryRecord::of(
                &entry.model,
                entry.attack.as_ref(),
                &entry.params,
                entry.budget,
                &records,
                &labels,
                &predictions,
                sensitivity,
                contents.iter().map(|c| c.seconds[e]).sum(),
            ));
            let kept: Option<Vec<ArrayView4<f32>>> = contents
                .iter()
                .map(|c| c.examples.as_ref().map(|x| x[e].view()))
                .collect();
            if let Some(parts) = kept {
                let images = concatenate(Axis(0), &parts).map_err(|err| Error::Usage {
                    message: format!(
                        "the examples of {} {} differ in shape between shards: {err}",
                        entry.model.name,
                        entry.attack.name()
                    ),
                    hint: None,
                })?;
                report.examples.push(Examples {
                    model: entry.model.name.clone(),
                    attack: entry.attack.name(),
                    norm: entry.norm,
                    budget: entry.budget,
                    images,
                });
            }
            report.samples.extend(records);
        }
    }
    conclude(&mut report);
    Ok(report)
}

/// Every sample's label and clean prediction, which all records of a model must agree on.
fn clean_classes<'r>(
    records: impl Iterator<Item = &'r SampleRecord>,
    samples: usize,
    model: &str,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut seen: Vec<Option<(usize, usize)>> = vec![None; samples];
    for r in records {
        let classes = (r.label, r.clean_prediction);
        match seen.get_mut(r.sample) {
            Some(slot @ None) => *slot = Some(classes),
            Some(Some(known)) if *known == classes => {}
            _ => {
                return Err(Error::Usage {
                    message: format!(
                        "the shards disagree on sample {} of {model}: label and clean \
                         prediction {:?}",
                        r.sample, classes
                    ),
                    hint: Some("merge the shards of one audit".into()),
                })
            }
        }
    }
    let known: Vec<(usize, usize)> = seen.into_iter().flatten().collect();
    if known.len() != samples {
        return Err(Error::Usage {
            message: format!(
                "the shards hold {} of the {samples} samples of {model}",
                known.len()
            ),
            hint: Some("merge the shards of one audit".into()),
        });
    }
    Ok(known.into_iter().unzip())
}
