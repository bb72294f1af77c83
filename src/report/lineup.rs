//! Which audited model stands for which kind of training at which temperature: the
//! undistilled baseline, defensive distillation (teacher -> student), the teacher-assistant
//! chain, a longer chain, and any other configured chain.
//!
//! With `models/manifest.csv` a configured chain of n networks is represented at each
//! temperature by its last hop (the network of the largest `hop` among those listing the
//! chain), and the baseline is the network of role `undistilled` (trained on hard labels at
//! T = 1). Chains are ordered by length; the first of 2, 3 and more networks are defensive
//! distillation, the teacher-assistant chain and the longer chain, and any further chain is
//! shown under its configured name. Without a manifest the same is inferred from each
//! model's `role`, `hop` and `temperature` metadata: a `student` at hop h ends a chain of
//! h + 1 networks.

use super::audited::AuditedModel;

/// The kind of training a series of models stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChainKind {
    /// Trained on hard labels at T = 1.
    Undistilled,
    /// Teacher -> student.
    Distillation,
    /// Teacher -> assistant -> student.
    TeacherAssistant,
    /// Four or more networks.
    Longer,
    /// Any other chain, or a model outside any chain.
    Other,
}

impl ChainKind {
    /// The kind's name in tables and legends.
    pub fn label(self) -> &'static str {
        match self {
            ChainKind::Undistilled => "undistilled",
            ChainKind::Distillation => "defensive distillation",
            ChainKind::TeacherAssistant => "teacher-assistant chain",
            ChainKind::Longer => "longer chain",
            ChainKind::Other => "other",
        }
    }

    /// The kind of a chain of `networks` networks.
    fn of_length(networks: u32) -> ChainKind {
        match networks {
            2 => ChainKind::Distillation,
            3 => ChainKind::TeacherAssistant,
            n if n >= 4 => ChainKind::Longer,
            _ => ChainKind::Other,
        }
    }
}

/// An sRGB colour.
pub type Rgb = (u8, u8, u8);

/// The colours of the four kinds, then of further series in turn (a colour-blind-safe
/// qualitative palette).
const KIND_COLOURS: [Rgb; 4] = [(60, 60, 60), (0, 114, 178), (230, 159, 0), (0, 158, 115)];
const OTHER_COLOURS: [Rgb; 5] = [
    (204, 121, 167),
    (86, 180, 233),
    (120, 94, 240),
    (140, 86, 75),
    (213, 94, 0),
];

/// One line of the comparison: a kind of training, drawn in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The kind.
    pub kind: ChainKind,
    /// Its name in tables and legends.
    pub label: String,
    /// The networks from the teacher down (`teacher → assistant → student`), or how it was
    /// trained.
    pub description: String,
    /// Its colour in every plot and table.
    pub colour: Rgb,
}

/// One model standing for a series at a temperature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Index into [`Lineup::series`].
    pub series: usize,
    /// Index into the audited models.
    pub model: usize,
    /// The training temperature, when known.
    pub temperature: Option<f64>,
}

/// Where the lineup came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineupSource {
    /// `models/manifest.csv`, joined by SHA-256.
    Manifest,
    /// The models' own role, hop and temperature metadata.
    Metadata,
    /// Nothing: every model is its own series.
    Models,
}

/// The series, and the model standing for each at each temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineup {
    /// The series: the baseline first, then chains by length.
    pub series: Vec<Series>,
    /// The models standing for them.
    pub entries: Vec<Entry>,
    /// Where the lineup came from.
    pub source: LineupSource,
    /// Chains whose last hop the audit did not cover, as `chain at T = t: file`.
    pub unaudited: Vec<String>,
}

impl Lineup {
    /// The distinct temperatures of the chains (the baseline's T = 1 only when it is the
    /// baseline's alone), ascending.
    pub fn chain_temperatures(&self) -> Vec<f64> {
        let mut temperatures: Vec<f64> = self
            .entries
            .iter()
            .filter(|e| self.series[e.series].kind != ChainKind::Undistilled)
            .filter_map(|e| e.temperature)
            .collect();
        temperatures.sort_by(f64::total_cmp);
        temperatures.dedup();
        temperatures
    }

    /// The entries of `series`, by temperature.
    pub fn entries_of(&self, series: usize) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| e.series == series)
            .copied()
            .collect();
        entries.sort_by(|a, b| {
            a.temperature
                .unwrap_or(f64::NAN)
                .total_cmp(&b.temperature.unwrap_or(f64::NAN))
        });
        entries
    }

    /// The series of the model `model`, if it stands for one.
    pub fn series_of_model(&self, model: usize) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| e.model == model)
            .map(|e| e.series)
    }
}

/// The lineup of `models`: from their manifest rows when any has one, else from their
/// metadata, else one series per model.
pub fn lineup(models: &[AuditedModel], manifest: Option<&[super::ManifestRow]>) -> Lineup {
    if let Some(manifest) = manifest.filter(|_| models.iter().any(|m| m.manifest.is_some())) {
        return from_manifest(models, manifest);
    }
    let from_metadata = from_metadata(models);
    if !from_metadata.entries.is_empty() {
        return from_metadata;
    }
    let series = models
        .iter()
        .enumerate()
        .map(|(i, m)| Series {
            kind: ChainKind::Other,
            label: m.name.clone(),
            description: m.path.clone(),
            colour: colour(ChainKind::Other, i),
        })
        .collect();
    let entries = models
        .iter()
        .enumerate()
        .map(|(i, m)| Entry {
            series: i,
            model: i,
            temperature: m.temperature(),
        })
        .collect();
    Lineup {
        series,
        entries,
        source: LineupSource::Models,
        unaudited: Vec::new(),
    }
}

fn from_manifest(models: &[AuditedModel], manifest: &[super::ManifestRow]) -> Lineup {
    let model_of = |sha256: &str| models.iter().position(|m| m.sha256 == sha256);
    let mut series = Vec::new();
    let mut entries = Vec::new();
    let mut unaudited = Vec::new();
    let baselines: Vec<_> = manifest
        .iter()
        .filter(|m| m.role == "undistilled")
        .collect();
    if !baselines.is_empty() {
        series.push(baseline_series());
        for b in baselines {
            match model_of(&b.sha256) {
                Some(model) => entries.push(Entry {
                    series: 0,
                    model,
                    temperature: Some(b.temperature),
                }),
                None => unaudited.push(format!("undistilled baseline: {}", b.file)),
            }
        }
    }
    // Every configured chain with its last hop at each temperature.
    let mut chains: Vec<(String, u32, Vec<&super::ManifestRow>)> = Vec::new();
    for row in manifest.iter().filter(|m| m.role != "undistilled") {
        for chain in row.chain_names() {
            if !chains.iter().any(|(name, ..)| name == chain) {
                chains.push((chain.to_string(), 0, Vec::new()));
            }
        }
    }
    for (name, networks, ends) in &mut chains {
        let members: Vec<_> = manifest
            .iter()
            .filter(|m| m.chain_names().any(|c| c == name))
            .collect();
        let mut temperatures: Vec<f64> = members.iter().map(|m| m.temperature).collect();
        temperatures.sort_by(f64::total_cmp);
        temperatures.dedup();
        for t in temperatures {
            let last = members
                .iter()
                .filter(|m| m.temperature == t)
                .max_by_key(|m| m.hop);
            if let Some(last) = last {
                *networks = (*networks).max(last.hop + 1);
                ends.push(last);
            }
        }
    }
    chains.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut others = 0;
    for (name, networks, ends) in chains {
        let mut kind = ChainKind::of_length(networks);
        if series.iter().any(|s: &Series| s.kind == kind) {
            kind = ChainKind::Other;
        }
        let description = ends
            .first()
            .map(|e| lineage_text(&e.lineage))
            .unwrap_or_default();
        let label = match kind {
            ChainKind::Other => name.clone(),
            kind => kind.label().to_string(),
        };
        let colour = colour(kind, others);
        if kind == ChainKind::Other {
            others += 1;
        }
        let index = series.len();
        series.push(Series {
            kind,
            label,
            description: format!("{description} (chain \"{name}\")"),
            colour,
        });
        for end in ends {
            match model_of(&end.sha256) {
                Some(model) => entries.push(Entry {
                    series: index,
                    model,
                    temperature: Some(end.temperature),
                }),
                None => unaudited.push(format!("{name} at T = {}: {}", end.temperature, end.file)),
            }
        }
    }
    Lineup {
        series,
        entries,
        source: LineupSource::Manifest,
        unaudited,
    }
}

fn from_metadata(models: &[AuditedModel]) -> Lineup {
    let mut series: Vec<Series> = Vec::new();
    let mut lengths: Vec<Option<u32>> = Vec::new();
    let mut entries = Vec::new();
    let mut ends: Vec<(u32, usize)> = Vec::new();
    for (i, model) in models.iter().enumerate() {
        if model.role == "undistilled" {
            if !lengths.contains(&None) {
                series.push(baseline_series());
                lengths.push(None);
            }
            let index = lengths.iter().position(Option::is_none).unwrap_or(0);
            entries.push(Entry {
                series: index,
                model: i,
                temperature: model.temperature(),
            });
        } else if model.role == "student" {
            if let Ok(hop) = model.hop.parse::<u32>() {
                ends.push((hop + 1, i));
            }
        }
    }
    let mut distinct: Vec<u32> = ends.iter().map(|(n, _)| *n).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut others = 0;
    for networks in distinct {
        let mut kind = ChainKind::of_length(networks);
        if series.iter().any(|s| s.kind == kind) {
            kind = ChainKind::Other;
        }
        let label = match kind {
            ChainKind::Other => format!("chain of {networks}"),
            kind => kind.label().to_string(),
        };
        let colour = colour(kind, others);
        if kind == ChainKind::Other {
            others += 1;
        }
        let index = series.len();
        series.push(Series {
            kind,
            label,
            description: format!("students at hop {}", networks - 1),
            colour,
        });
        lengths.push(Some(networks));
        for &(_, model) in ends.iter().filter(|(n, _)| *n == networks) {
            entries.push(Entry {
                series: index,
                model,
                temperature: models[model].temperature(),
            });
        }
    }
    Lineup {
        series,
        entries,
        source: LineupSource::Metadata,
        unaudited: Vec::new(),
    }
}

fn baseline_series() -> Series {
    Series {
        kind: ChainKind::Undistilled,
        label: ChainKind::Undistilled.label().to_string(),
        description: "hard labels at T = 1".to_string(),
        colour: colour(ChainKind::Undistilled, 0),
    }
}

/// The colour of a kind; the `n`th series of kind `Other` takes the `n`th further colour.
fn colour(kind: ChainKind, n: usize) -> Rgb {
    match kind {
        ChainKind::Undistilled => KIND_COLOURS[0],
        ChainKind::Distillation => KIND_COLOURS[1],
        ChainKind::TeacherAssistant => KIND_COLOURS[2],
        ChainKind::Longer => KIND_COLOURS[3],
        ChainKind::Other => OTHER_COLOURS[n % OTHER_COLOURS.len()],
    }
}

/// The `n`th colour outside the four kinds (for networks that stand for no series).
pub fn extra_colour(n: usize) -> Rgb {
    OTHER_COLOURS[n % OTHER_COLOURS.len()]
}

/// `teacher>assistant>student` as `teacher → assistant → student`.
fn lineage_text(lineage: &str) -> String {
    lineage.split('>').collect::<Vec<_>>().join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::audited::audited_models;
    use crate::report::page_input::{AuditFolder, SummaryRow};
    use crate::report::ManifestRow;

    fn row(model: &str, sha256: &str, role: &str, hop: &str, temperature: &str) -> SummaryRow {
        SummaryRow {
            model: format!("models/{model}.onnx"),
            sha256: sha256.into(),
            role: role.into(),
            hop: hop.into(),
            temperature: temperature.into(),
            gradients: "exact".into(),
            attack: "cw-l2".into(),
            params: String::new(),
            norm: "l2".into(),
            budget: None,
            samples: 10,
            clean_accuracy: 0.9,
            adversarial_accuracy: 0.5,
            success_rate: Some(0.5),
            mean_min_l2: Some(0.4),
            mean_l2_pairs: None,
            mean_min_linf: None,
            mean_min_l0: None,
            sensitivity_logit_sum: 1.0,
            sensitivity_softmax: 0.01,
            masking_verdict: None,
        }
    }

    fn entry(stem: &str, role: &str, hop: u32, chains: &str, temperature: f64) -> ManifestRow {
        ManifestRow {
            file: format!("{stem}.onnx"),
            role: role.into(),
            hop,
            lineage: String::new(),
            chains: chains.into(),
            temperature,
            parent: String::new(),
            parent_sha256: String::new(),
            sha256: format!("sha-{stem}"),
            arch: String::new(),
            dataset: String::new(),
            test_accuracy: None,
            epochs: None,
            seconds: None,
        }
    }

    fn folder(summary: Vec<SummaryRow>, manifest: Option<Vec<ManifestRow>>) -> AuditFolder {
        AuditFolder {
            dir: "audit".into(),
            summary,
            diagnosis: None,
            manifest,
            logs: Vec::new(),
        }
    }

    #[test]
    fn a_shortened_cw_search_is_headlined_as_an_upper_bound() {
        for (params, bound) in [
            ("steps=100 binary_steps=5 learning_rate=0.05", true),
            ("steps=1000 binary_steps=9 learning_rate=0.01", false),
            (
                "steps=200 binary_steps=6 initial_const=0.1 learning_rate=0.05",
                false,
            ),
            (
                "steps=200 binary_steps=5 initial_const=0.1 learning_rate=0.05",
                true,
            ),
            (
                "steps=200 binary_steps=6 initial_const=0.001 learning_rate=0.05",
                true,
            ),
        ] {
            let mut r = row("base", "sha-base", "undistilled", "", "");
            r.params = params.into();
            let folder = folder(vec![r], None);
            let models = audited_models(&folder);
            let lineup = lineup(&models, None);
            let table = crate::report::headline::headline_table(&models, &lineup);
            assert_eq!(
                table
                    .header
                    .iter()
                    .any(|h| h == "C&W L2: mean min L2 (upper bound)"),
                bound,
                "{params}: {:?}",
                table.header
            );
        }
    }

    #[test]
    fn the_headline_shows_the_per_pair_mean_where_the_summary_has_it() {
        let mut r = row("base", "sha-base", "undistilled", "", "");
        r.mean_l2_pairs = Some(0.7);
        let folder = folder(vec![r], None);
        let models = audited_models(&folder);
        let lineup = lineup(&models, None);
        let table = crate::report::headline::headline_table(&models, &lineup);
        let column = table
            .header
            .iter()
            .position(|h| h == "C&W L2: mean L2 per successful pair")
            .expect("per-pair header");
        assert_eq!(table.rows[0].1[column].text, "0.700");
    }

    #[test]
    fn the_headline_gives_robust_accuracy_under_autoattack_per_network_at_each_radius() {
        let mut ensemble = row("base", "sha-base", "undistilled", "", "");
        ensemble.attack = "autoattack".into();
        ensemble.params = "eps=0.3 queries=5000 steps=100 targets=9".into();
        ensemble.norm = "linf".into();
        ensemble.budget = Some(0.3);
        ensemble.adversarial_accuracy = 0.125;
        let rows = vec![
            row("base", "sha-base", "undistilled", "", ""),
            ensemble,
            row("other", "sha-other", "undistilled", "", ""),
        ];
        let models = audited_models(&folder(rows.clone(), None));
        let shown = lineup(&models, None);
        let table = crate::report::headline::headline_table(&models, &shown);
        let column = table
            .header
            .iter()
            .position(|h| h == "AutoAttack ε = 0.3: robust accuracy")
            .unwrap_or_else(|| panic!("no autoattack column in {:?}", table.header));
        assert_eq!(
            table.header.last().map(String::as_str),
            Some("gradient masking")
        );
        let shown: Vec<(&str, &str)> = table
            .rows
            .iter()
            .map(|(_, cells)| (cells[2].text.as_str(), cells[column].text.as_str()))
            .collect();
        assert!(
            shown.contains(&("base", &crate::report::format::percent(0.125))),
            "{shown:?}"
        );
        assert!(shown.contains(&("other", "–")), "{shown:?}");
        for (_, cells) in &table.rows {
            assert_eq!(cells.len(), table.header.len());
        }

        let without: Vec<SummaryRow> = rows
            .into_iter()
            .filter(|r| r.attack != "autoattack")
            .collect();
        let models = audited_models(&folder(without, None));
        let shown = lineup(&models, None);
        let table = crate::report::headline::headline_table(&models, &shown);
        assert!(
            !table.header.iter().any(|h| h.contains("AutoAttack")),
            "{:?}",
            table.header
        );
    }

    #[test]
    fn chains_are_shown_by_their_last_network_and_named_by_length() {
        // Chains a (2 networks), b and z (3 each), d (5), at T = 10; the baseline at T = 1.
        let manifest = vec![
            entry("base", "undistilled", 0, "", 1.0),
            entry("t", "teacher", 0, "a;b;d;z", 10.0),
            entry("t-s", "student", 1, "a", 10.0),
            entry("t-a", "assistant", 1, "b;d", 10.0),
            entry("t-a-s", "student", 2, "b", 10.0),
            entry("t-x", "assistant", 1, "z", 10.0),
            entry("t-x-s", "student", 2, "z", 10.0),
            entry("t-a-a", "assistant", 2, "d", 10.0),
            entry("t-a-a-a", "assistant", 3, "d", 10.0),
            entry("t-a-a-a-s", "student", 4, "d", 10.0),
        ];
        // Every network but the last of chain d was audited.
        let summary: Vec<SummaryRow> = manifest
            .iter()
            .filter(|m| m.file != "t-a-a-a-s.onnx")
            .map(|m| row(m.stem(), &m.sha256, &m.role, "", ""))
            .collect();
        let folder = folder(summary, Some(manifest.clone()));
        let models = audited_models(&folder);
        let lineup = lineup(&models, Some(&manifest));
        assert_eq!(lineup.source, LineupSource::Manifest);
        let kinds: Vec<(ChainKind, &str)> = lineup
            .series
            .iter()
            .map(|s| (s.kind, s.label.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChainKind::Undistilled, "undistilled"),
                (ChainKind::Distillation, "defensive distillation"),
                (ChainKind::TeacherAssistant, "teacher-assistant chain"),
                (ChainKind::Other, "z"),
                (ChainKind::Longer, "longer chain"),
            ]
        );
        let shown: Vec<(&str, &str)> = lineup
            .entries
            .iter()
            .map(|e| {
                (
                    lineup.series[e.series].label.as_str(),
                    models[e.model].name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("undistilled", "base"),
                ("defensive distillation", "t-s"),
                ("teacher-assistant chain", "t-a-s"),
                ("z", "t-x-s"),
            ]
        );
        assert_eq!(lineup.unaudited, ["d at T = 10: t-a-a-a-s.onnx"]);
        assert_eq!(lineup.chain_temperatures(), [10.0]);
    }

    #[test]
    fn without_a_manifest_a_student_at_hop_h_ends_a_chain_of_h_plus_one() {
        let summary = vec![
            row("u", "1", "undistilled", "0", "1"),
            row("t", "2", "teacher", "0", "20"),
            row("s1", "3", "student", "1", "20"),
            row("s2", "4", "student", "2", "20"),
            row("s5", "5", "student", "5", "20"),
            row("s1-100", "6", "student", "1", "100"),
        ];
        let models = audited_models(&folder(summary, None));
        let lineup = lineup(&models, None);
        assert_eq!(lineup.source, LineupSource::Metadata);
        let shown: Vec<(ChainKind, &str, Option<f64>)> = lineup
            .entries
            .iter()
            .map(|e| {
                (
                    lineup.series[e.series].kind,
                    models[e.model].name.as_str(),
                    e.temperature,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (ChainKind::Undistilled, "u", Some(1.0)),
                (ChainKind::Distillation, "s1", Some(20.0)),
                (ChainKind::Distillation, "s1-100", Some(100.0)),
                (ChainKind::TeacherAssistant, "s2", Some(20.0)),
                (ChainKind::Longer, "s5", Some(20.0)),
            ]
        );
        assert_eq!(lineup.chain_temperatures(), [20.0, 100.0]);
    }

    #[test]
    fn models_without_chain_metadata_stand_alone() {
        let summary = vec![row("a", "1", "", "", ""), row("b", "2", "", "", "")];
        let models = audited_models(&folder(summary, None));
        let lineup = lineup(&models, None);
        assert_eq!(lineup.source, LineupSource::Models);
        let labels: Vec<&str> = lineup.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["a", "b"]);
        assert!(lineup.chain_temperatures().is_empty());
        assert_ne!(lineup.series[0].colour, lineup.series[1].colour);
    }
}
