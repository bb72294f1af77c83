//! Merging a sharded audit of the digits network: the unsharded audit's files byte for
//! byte, and every kind of bad shard set refused with a usage error.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::merge;
use crate::attacks::{by_name, Domain};
use crate::audit::{self, AuditModel, AuditReport, ModelInfo, PlannedAttack, Settings, Shard};
use crate::error::Error;
use crate::exit_code::Exit;
use crate::model::{TractDifferentiable, CHUNK};
use crate::report::{
    describe_attacks, describe_models, describe_radii, write_audit, ShardRecord, SCHEMA_VERSION,
};
use robustaudit_graph::fixtures::network;

/// Samples of the test audit: two full blocks and a partial one.
const SAMPLES: usize = 2 * CHUNK + 9;

/// The digits network of `models/arch/digits-small.toml` with seeded random weights.
fn model() -> &'static TractDifferentiable {
    static MODEL: OnceLock<TractDifferentiable> = OnceLock::new();
    MODEL.get_or_init(|| {
        let graph = network("digits-small", 11, "digits-small.onnx");
        TractDifferentiable::new(graph).expect("vjp graph")
    })
}

/// Seeded images in `[-0.5, 0.5]`, many pixels at the bounds as in real digits.
fn images() -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    Array4::from_shape_fn((SAMPLES, 1, 8, 8), |_| {
        let v: f32 = rng.gen_range(-0.9..0.9);
        v.clamp(-0.5, 0.5)
    })
}

/// pgd (random starts, two restarts), jsma (every target) and deepfool, with few steps.
fn attacks() -> Vec<PlannedAttack> {
    [
        ("pgd", vec![("steps", "5"), ("restarts", "2")]),
        ("jsma", vec![]),
        ("deepfool", vec![("steps", "10")]),
    ]
    .into_iter()
    .map(|(name, overrides)| {
        let overrides: Vec<(String, String)> = overrides
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (attack, params) = by_name(name)
            .expect("registered")
            .build(&overrides)
            .expect("params");
        PlannedAttack { attack, params }
    })
    .collect()
}

fn settings() -> Settings {
    Settings {
        seed: 5,
        eps_linf: vec![0.1, 0.3],
        eps_l2: vec![1.0],
        domain: Domain::DATASET,
        keep_examples: true,
        queue: None,
    }
}

fn info() -> ModelInfo {
    ModelInfo {
        name: "digits-small.onnx".into(),
        sha256: "d1".into(),
        gradients: "exact".into(),
        input: "-0.5,0.5".into(),
        ..ModelInfo::default()
    }
}

fn record(shard: Shard, seed: u64) -> ShardRecord {
    let s = settings();
    ShardRecord {
        shard,
        samples: SAMPLES,
        data: "synthetic".into(),
        split: "test".into(),
        data_sha256: crate::report::data_sha256(images().view(), None),
        seed,
        attacks: describe_attacks(&attacks()),
        eps: describe_radii(&s.eps_linf),
        eps_l2: describe_radii(&s.eps_l2),
        models: describe_models(&[info()]),
        examples: s.keep_examples,
        digests: String::new(),
    }
}

/// The audit of `shard`, without labels (every sample is attacked).
fn audit(shard: Shard) -> AuditReport {
    let models = [AuditModel {
        info: info(),
        model: model(),
    }];
    let x = images();
    let samples = shard.samples(SAMPLES);
    audit::run_samples(
        &models,
        x.view(),
        None,
        samples,
        &attacks(),
        &settings(),
        &(),
    )
    .expect("audit")
}

/// The unsharded audit and its shards `0/3`, `1/3`, `2/3`, and a folder holding their
/// files in `whole` and `shard-K`; run once per test binary.
struct Fixture {
    dir: tempfile::TempDir,
    whole: AuditReport,
    shards: Vec<AuditReport>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let whole = audit(Shard::WHOLE);
        write_audit(&dir.path().join("whole"), &whole, &record(Shard::WHOLE, 5)).expect("write");
        let mut shards = Vec::new();
        for index in 0..3 {
            let shard = Shard { index, count: 3 };
            let report = audit(shard);
            write_audit(
                &dir.path().join(format!("shard-{index}")),
                &report,
                &record(shard, 5),
            )
            .expect("write");
            shards.push(report);
        }
        Fixture { dir, whole, shards }
    })
}

fn folders() -> &'static Path {
    fixture().dir.path()
}

fn shard_dirs(indices: &[usize]) -> Vec<PathBuf> {
    indices
        .iter()
        .map(|k| folders().join(format!("shard-{k}")))
        .collect()
}

/// Every file of `from` (recursively) copied into `to`.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Merging `dirs` fails with exit code `exit` and a message that contains `expected`: 2 for
/// folders that are not the shards of one audit or of another schema version, 3 for a
/// folder whose own files are missing, cut short or edited.
fn refused(dirs: &[PathBuf], exit: Exit, expected: &str) -> Error {
    let err = merge(dirs).expect_err(expected);
    assert_eq!(err.exit_code(), exit, "{err}");
    assert!(
        err.to_string().contains(expected),
        "wanted `{expected}`, got: {err}"
    );
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    err
}

#[test]
fn three_shards_merge_into_the_unsharded_audit_byte_for_byte() {
    let root = folders();
    let out = tempfile::tempdir().expect("tempdir");
    let merged = merge(&shard_dirs(&[2, 0, 1])).expect("merge");
    assert_eq!(merged.record.shard, Shard::WHOLE);
    write_audit(out.path(), &merged.report, &merged.record).expect("write");
    let whole = root.join("whole");
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for file in [
        "samples.csv",
        "summary.csv",
        "diagnosis.csv",
        "sensitivity.csv",
        "shard.csv",
    ] {
        assert!(
            read(whole.join(file)) == read(out.path().join(file)),
            "{file} of the merge differs from the unsharded audit's"
        );
    }
    let examples = std::fs::read_dir(whole.join("examples/0-digits-small"))
        .expect("examples")
        .count();
    // pgd at two radii, jsma once, deepfool once.
    assert_eq!(examples, 4);
    for entry in std::fs::read_dir(whole.join("examples/0-digits-small")).expect("examples") {
        let name = entry.expect("entry").file_name();
        let path = Path::new("examples/0-digits-small").join(&name);
        assert!(
            read(whole.join(&path)) == read(out.path().join(&path)),
            "{name:?}"
        );
    }
    let lines = |p: PathBuf| String::from_utf8(read(p)).expect("utf-8").lines().count();
    assert_eq!(
        lines(whole.join("timings.csv")),
        lines(out.path().join("timings.csv"))
    );

    // The audit the files hold is one worth merging: every attack ran on every sample, the
    // targeted one once per other class, and some runs failed.
    let report = &merged.report;
    assert_eq!(report.sensitivity.len(), SAMPLES);
    let jsma: Vec<_> = report
        .samples
        .iter()
        .filter(|r| r.attack == "jsma-probabilities")
        .collect();
    assert_eq!(jsma.len(), 9 * SAMPLES);
    let successes: usize = report.summaries.iter().map(|s| s.successes).sum();
    let runs: usize = report.summaries.iter().map(|s| s.runs).sum();
    assert!(successes > 0 && successes < runs, "{successes} of {runs}");
    // Merging the merge (or the unsharded folder) gives it back.
    let again = merge(&[out.path().to_path_buf()]).expect("merge of one folder");
    assert_eq!(again.record, merged.record);
    let mut a = again.report;
    let mut b = merged.report;
    for r in a.samples.iter_mut().chain(b.samples.iter_mut()) {
        r.seconds = 0.0;
    }
    for s in a.summaries.iter_mut().chain(b.summaries.iter_mut()) {
        s.wall_seconds = 0.0;
    }
    assert_eq!(a, b);
}

#[test]
fn every_shard_holds_exactly_the_unsharded_records_of_its_samples() {
    let Fixture { whole, shards, .. } = fixture();
    let strip = |r: &crate::audit::SampleRecord| crate::audit::SampleRecord {
        seconds: 0.0,
        ..r.clone()
    };
    for (index, part) in shards.iter().enumerate() {
        let samples = Shard { index, count: 3 }.samples(SAMPLES);
        assert_eq!(samples.start, index * CHUNK);
        let expected: Vec<_> = whole
            .samples
            .iter()
            .filter(|r| samples.contains(&r.sample))
            .map(strip)
            .collect();
        let got: Vec<_> = part.samples.iter().map(strip).collect();
        assert!(got == expected, "shard {index}");
        let expected: Vec<_> = whole
            .sensitivity
            .iter()
            .filter(|r| samples.contains(&r.sample))
            .cloned()
            .collect();
        assert_eq!(part.sensitivity, expected, "shard {index}");
    }
}

#[test]
fn ranges_that_split_a_block_are_refused() {
    let models = [AuditModel {
        info: info(),
        model: model(),
    }];
    let x = images();
    for range in [1..CHUNK, 0..CHUNK + 1, CHUNK..SAMPLES + 1] {
        let err = audit::run_samples(
            &models,
            x.view(),
            None,
            range.clone(),
            &[],
            &settings(),
            &(),
        )
        .expect_err("refused");
        assert!(matches!(err, Error::Internal { .. }), "{range:?}: {err}");
    }
}

#[test]
fn an_empty_shard_merges_with_the_others() {
    // Four shards of three blocks: shard 0 is empty.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dirs = Vec::new();
    for index in 0..4 {
        let shard = Shard { index, count: 4 };
        let path = dir.path().join(format!("{index}"));
        let report = audit(shard);
        if index == 0 {
            assert!(report.samples.is_empty() && report.sensitivity.is_empty());
        }
        write_audit(&path, &report, &record(shard, 5)).expect("write");
        dirs.push(path);
    }
    let merged = merge(&dirs).expect("merge");
    write_audit(&dir.path().join("merged"), &merged.report, &merged.record).expect("write");
    for file in ["samples.csv", "summary.csv", "sensitivity.csv"] {
        let a = std::fs::read(folders().join("whole").join(file)).expect("read");
        let b = std::fs::read(dir.path().join("merged").join(file)).expect("read");
        assert!(a == b, "{file}");
    }
}

#[test]
fn missing_repeated_foreign_and_differently_split_shards_are_refused() {
    let err = refused(&shard_dirs(&[0, 2]), Exit::Usage, "shard 1 of 3 is missing");
    assert!(
        err.hint().is_some_and(|h| h.contains("--shard 1/3")),
        "{err}"
    );
    refused(
        &shard_dirs(&[0]),
        Exit::Usage,
        "shards 1, 2 of 3 are missing",
    );
    refused(
        &shard_dirs(&[0, 1, 1, 2]),
        Exit::Usage,
        "shard 1 of 3 is given twice",
    );

    let dir = tempfile::tempdir().expect("tempdir");
    // Shard 1 of an audit with another seed.
    let foreign = dir.path().join("foreign");
    let shard = Shard { index: 1, count: 3 };
    write_audit(&foreign, &audit(shard), &record(shard, 6)).expect("write");
    let mut dirs = shard_dirs(&[0, 2]);
    dirs.push(foreign);
    refused(
        &dirs,
        Exit::Usage,
        "are shards of different audits: seed `5` against `6`",
    );

    // The whole audit beside a shard of three.
    let mut dirs = shard_dirs(&[0, 1, 2]);
    dirs.push(folders().join("whole"));
    refused(&dirs, Exit::Usage, "the audit was split in two ways");

    refused(&[dir.path().join("nowhere")], Exit::Data, "no audit folder");
    refused(&[dir.path().to_path_buf()], Exit::Data, "has no shard.csv");
}

/// A change to a file's text.
type Edit = fn(String) -> String;

/// Shard 1 copied into a fresh folder, with `file` rewritten by `edit`.
fn edited(dir: &Path, file: &str, edit: impl Fn(String) -> String) -> Vec<PathBuf> {
    let copy = dir.join("shard-1");
    copy_folder(&folders().join("shard-1"), &copy);
    let path = copy.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, edit(text)).expect("write");
    let mut dirs = shard_dirs(&[0, 2]);
    dirs.push(copy);
    dirs
}

#[test]
fn truncated_edited_and_other_version_files_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, Edit, &str)] = &[
        // Cut in the middle of a row.
        (
            "samples.csv",
            |t| t[..t.len() - 30].to_string(),
            "ends inside a row",
        ),
        // Cut in the middle of a row, then a line break.
        (
            "samples.csv",
            |t| format!("{}\n", &t[..t.len() - 30]),
            "fields where the header has",
        ),
        // Cut after a whole row.
        (
            "samples.csv",
            |t| {
                let mut lines: Vec<&str> = t.lines().collect();
                lines.pop();
                format!("{}\n", lines.join("\n"))
            },
            "(cut short?)",
        ),
        (
            "samples.csv",
            |_| String::new(),
            "samples.csv, line 1: the file is empty",
        ),
        (
            "timings.csv",
            |t| t.replace(",run,", ",walk,"),
            "timings.csv, line 2",
        ),
        (
            "sensitivity.csv",
            |t| {
                let mut lines: Vec<&str> = t.lines().collect();
                lines.remove(3);
                format!("{}\n", lines.join("\n"))
            },
            "sensitivity.csv, line 4: expected model digits-small.onnx sample 18",
        ),
        (
            "shard.csv",
            |t| t.replace(",5,", ",6,"),
            "column fingerprint does not match",
        ),
        (
            "summary.csv",
            |t| t.replace("steps=5", "steps=6"),
            "the row differs from the other shards'",
        ),
    ];
    for (i, (file, edit, expected)) in cases.iter().enumerate() {
        let case = dir.path().join(i.to_string());
        let err = refused(&edited(&case, file, edit), Exit::Data, expected);
        assert!(err.to_string().contains(file), "{err}");
    }
    // Rows of another schema version, in a shard's file or in all of them.
    let (this, next) = (SCHEMA_VERSION, SCHEMA_VERSION + 1);
    let other = |t: String| t.replace(&format!("\n{this},"), &format!("\n{next},"));
    let expected =
        format!(", line 2: schema version `{next}`, but this robustaudit reads version {this}");
    for file in ["samples.csv", "summary.csv", "shard.csv"] {
        let case = dir.path().join(file);
        let err = refused(&edited(&case, file, other), Exit::Usage, &expected);
        assert!(err.to_string().contains(file), "{err}");
    }
    // The last summary row cut from an unsharded folder: shard.csv's settings tell.
    let single = dir.path().join("single");
    copy_folder(&folders().join("whole"), &single);
    let summary = single.join("summary.csv");
    let text = std::fs::read_to_string(&summary).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(&summary, format!("{}\n", lines.join("\n"))).expect("write");
    refused(
        &[single],
        Exit::Data,
        "summary.csv, line 5: 3 rows where shard.csv's settings make 4 (cut short?)",
    );
    let case = dir.path().join("examples");
    let dirs = edited(&case, "shard.csv", |t| t);
    std::fs::remove_file(case.join("shard-1/examples/0-digits-small/jsma-probabilities-l0-9.npy"))
        .expect("rm");
    refused(&dirs, Exit::Data, "jsma-probabilities-l0-9.npy");
}
