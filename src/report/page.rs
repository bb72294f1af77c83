//! What the report page says, in order: the headline table, how to read it, every model's
//! results, the gradient-masking diagnosis and the figures.

use super::audited::AuditedModel;
use super::document::{Block, Cell, Table, Tone};
use super::format::{or_dash, percent, significant};
use super::headline::{headline_table, verdict_cell};
use super::lineup::{Lineup, LineupSource};
use super::page_input::AuditFolder;
use super::plots::{norm_symbol, Plot};

/// The page's title.
pub fn title(folder: &AuditFolder) -> String {
    let name = folder
        .dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| folder.dir.display().to_string());
    format!("Robustness audit: {name}")
}

/// The blocks of the page.
pub fn blocks(
    folder: &AuditFolder,
    models: &[AuditedModel],
    lineup: &Lineup,
    plots: &[Plot],
) -> Vec<Block> {
    let mut out = vec![Block::Heading(1, title(folder), "sec-top".into())];
    out.push(Block::Heading(2, "Headline".into(), "sec-headline".into()));
    out.push(Block::Table(headline_table(models, lineup)));
    out.push(Block::Paragraph(overview(models)));
    out.push(Block::List(lineup_notes(folder, models, lineup)));
    out.push(Block::Heading(
        2,
        "How to read this".into(),
        "sec-how-to-read".into(),
    ));
    out.extend(how_to_read().into_iter().map(Block::Paragraph));
    out.push(Block::Heading(2, "Models".into(), "sec-models".into()));
    out.push(Block::Table(models_table(models, lineup)));
    for (i, model) in models.iter().enumerate() {
        out.push(Block::Heading(
            3,
            model.name.clone(),
            format!("sec-model-{i}"),
        ));
        out.push(Block::List(facts(model)));
        out.push(Block::Table(attacks_table(model, i)));
    }
    out.push(Block::Heading(
        2,
        "Gradient-masking diagnosis".into(),
        "sec-diagnosis".into(),
    ));
    out.extend(diagnosis(folder, models));
    out.push(Block::Heading(2, "Plots".into(), "sec-plots".into()));
    if plots.is_empty() {
        out.push(Block::Paragraph(
            "No figure: the audit holds no temperatures, budgets or training logs to plot.".into(),
        ));
    }
    out.extend((0..plots.len()).map(Block::Figure));
    out
}

fn overview(models: &[AuditedModel]) -> String {
    let mut attacks: Vec<&str> = Vec::new();
    for r in models.iter().flat_map(|m| &m.rows) {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let mut samples: Vec<u64> = models.iter().map(|m| m.samples).collect();
    samples.sort_unstable();
    samples.dedup();
    let samples = match samples.as_slice() {
        [n] => format!("{n} images"),
        many => format!(
            "{} to {} images",
            many.first().copied().unwrap_or(0),
            many.last().copied().unwrap_or(0)
        ),
    };
    format!(
        "{} model{} audited on {samples} each with {}. Every number below is read from \
         summary.csv{}; every adversarial example was re-classified by a fresh forward pass of \
         the unmodified model.",
        models.len(),
        if models.len() == 1 { "" } else { "s" },
        attacks.join(", "),
        ", diagnosis.csv and models/ where present"
    )
}

fn lineup_notes(folder: &AuditFolder, models: &[AuditedModel], lineup: &Lineup) -> Vec<String> {
    let mut notes = Vec::new();
    notes.push(match lineup.source {
        LineupSource::Manifest => {
            "Kinds of training from models/manifest.csv (joined by sha-256): \
             each chain is shown by its last network, the student."
                .to_string()
        }
        LineupSource::Metadata => "No models/manifest.csv matched the audited models: kinds of \
             training are inferred from each model's role, hop and temperature metadata (a \
             student at hop h ends a chain of h + 1 networks; role undistilled is the \
             baseline)."
            .to_string(),
        LineupSource::Models => "No models/manifest.csv and no chain metadata: each model is \
             shown on its own."
            .to_string(),
    });
    for s in &lineup.series {
        notes.push(format!("{}: {}.", s.label, s.description));
    }
    for u in &lineup.unaudited {
        notes.push(format!("Not in summary.csv, so not shown: {u}."));
    }
    if folder.manifest.is_some() {
        let outside: Vec<&str> = models
            .iter()
            .filter(|m| m.manifest.is_none())
            .map(|m| m.name.as_str())
            .collect();
        if !outside.is_empty() {
            notes.push(format!(
                "Audited but not in models/manifest.csv: {}.",
                outside.join(", ")
            ));
        }
    }
    notes
}

/// The "how to read this" paragraphs.
pub fn how_to_read() -> Vec<String> {
    vec![
        "Clean accuracy is the fraction of the audited test images the model classifies \
         correctly. Only those images are attacked. Inputs span [-0.5, 0.5] and distances are \
         in that scale: an L2 distance d spread evenly over n input values moves each by \
         d/√n."
            .into(),
        "Sensitivity Σ logits is the mean absolute gradient of the sum of the logits with \
         respect to each input value; sensitivity softmax is the mean absolute gradient of the \
         class probabilities at T = 1 (the adversarial gradient amplitude of the distillation \
         papers). Defensive distillation makes the softmax saturate, so the softmax sensitivity \
         falls by orders of magnitude; that hides the gradient from attacks on probabilities \
         without moving the decision boundary."
            .into(),
        "Mean min L2 is the mean, over the images the minimal-perturbation attack evaded, of \
         the smallest L2 perturbation that changed the prediction (larger is more robust; \
         compare it together with the success rate, the fraction of runs that found an \
         adversarial example). Accuracy under attack at a budget ε is the fraction of images \
         classified correctly before and after the attack."
            .into(),
        "The gradient-masking verdict comes from the audit's diagnosis: masked means at least \
         one check found the signs of masking (a gradient-free attack beats a gradient attack, \
         success that does not grow with ε, an unbounded attack that does not reach 100%, \
         vanishing gradients, or attacks on logits beating attacks on probabilities); clear \
         means no check did; inconclusive means the attacks run could not decide. A model \
         flagged for masking is not shown robust by gradient attacks failing: trust the \
         gradient-free and logit attacks (C&W on logits, DeepFool) instead. Not diagnosed \
         means the audit wrote no verdict."
            .into(),
    ]
}

fn models_table(models: &[AuditedModel], lineup: &Lineup) -> Table {
    let rows = models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let series = lineup.series_of_model(i).map(|s| &lineup.series[s]);
            let kind = match series {
                Some(s) => Cell::text(s.label.clone()).swatch(s.colour),
                None => Cell::text("–").tone(Tone::Muted),
            };
            (
                false,
                vec![
                    Cell::text(m.name.clone()),
                    kind,
                    Cell::text(or_dash(
                        m.manifest
                            .as_ref()
                            .map(|e| e.role.clone())
                            .or_else(|| Some(m.role.to_string()).filter(|r| !r.is_empty())),
                    )),
                    Cell::number(or_dash(m.temperature().map(|t| t.to_string()))),
                    Cell::number(percent(m.clean_accuracy)),
                    Cell::number(significant(m.sensitivity_logit_sum)),
                    Cell::number(significant(m.sensitivity_softmax)),
                    Cell::text(m.gradients.to_string()),
                    verdict_cell(m),
                ],
            )
        })
        .collect();
    Table {
        id: "models".into(),
        header: [
            "model",
            "shown as",
            "role",
            "T",
            "clean accuracy",
            "sensitivity Σ logits",
            "sensitivity softmax",
            "gradients",
            "gradient masking",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

fn facts(model: &AuditedModel) -> Vec<String> {
    let mut facts = vec![format!("file {} (sha-256 {})", model.path, model.sha256)];
    match &model.manifest {
        Some(m) => {
            let mut line = format!(
                "role {}, hop {}, trained at T = {}, lineage {}",
                m.role,
                m.hop,
                m.temperature,
                m.lineage.replace('>', " → ")
            );
            if !m.chains.is_empty() {
                line.push_str(&format!(", chains {}", m.chains.replace(';', ", ")));
            }
            if let Some(acc) = m.test_accuracy {
                line.push_str(&format!(", test accuracy after training {}", percent(acc)));
            }
            facts.push(line);
        }
        None if !model.role.is_empty() => facts.push(format!(
            "metadata: role {}, hop {}, temperature {}",
            model.role,
            or_dash(Some(model.hop.to_string()).filter(|h| !h.is_empty())),
            or_dash(model.temperature().map(|t| t.to_string()))
        )),
        None => {}
    }
    facts.push(format!(
        "clean accuracy {} on {} images; {} gradients",
        percent(model.clean_accuracy),
        model.samples,
        model.gradients
    ));
    facts
}

fn attacks_table(model: &AuditedModel, index: usize) -> Table {
    let rows = model
        .rows
        .iter()
        .map(|r| {
            (
                false,
                vec![
                    Cell::text(r.attack.clone()),
                    Cell::text(norm_symbol(&r.norm)),
                    Cell::number(r.budget.map_or_else(|| "minimal".into(), |b| b.to_string())),
                    Cell::number(percent(r.adversarial_accuracy)),
                    Cell::number(or_dash(r.success_rate.map(percent))),
                    Cell::number(or_dash(r.mean_min_distortion().map(significant))),
                    Cell::number(or_dash(r.mean_min_l2.map(significant))),
                ],
            )
        })
        .collect();
    Table {
        id: format!("attacks-{index}"),
        header: [
            "attack",
            "norm",
            "budget ε",
            "accuracy under attack",
            "success rate",
            "mean min distortion (its norm)",
            "mean min L2",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

fn diagnosis(folder: &AuditFolder, models: &[AuditedModel]) -> Vec<Block> {
    if folder.diagnosis.is_none() {
        return vec![Block::Paragraph(
            "Not diagnosed: the audit folder holds no diagnosis.csv, so no model has a \
             gradient-masking verdict."
                .into(),
        )];
    }
    let mut out = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let verdict = model.verdict.as_deref().unwrap_or("not diagnosed");
        out.push(Block::Heading(
            3,
            format!("{}: {verdict}", model.name),
            format!("sec-diagnosis-{i}"),
        ));
        if model.diagnosis.is_empty() {
            out.push(Block::Paragraph("No check recorded for this model.".into()));
            continue;
        }
        let rows = model
            .diagnosis
            .iter()
            .map(|d| {
                let tone = match d.result.as_str() {
                    "flagged" => Tone::Bad,
                    "passed" => Tone::Good,
                    _ => Tone::Muted,
                };
                (
                    false,
                    vec![
                        Cell::text(d.check.clone()),
                        Cell::text(d.result.clone()).tone(tone),
                        Cell::text(or_dash(
                            Some(norm_symbol(&d.norm)).filter(|n| !n.is_empty()),
                        )),
                        Cell::number(or_dash(Some(d.budget.clone()).filter(|b| !b.is_empty()))),
                        Cell::text(d.detail.clone()),
                    ],
                )
            })
            .collect();
        out.push(Block::Table(Table {
            id: format!("checks-{i}"),
            header: ["check", "result", "norm", "budget", "detail"]
                .map(String::from)
                .to_vec(),
            rows,
        }));
    }
    out
}
