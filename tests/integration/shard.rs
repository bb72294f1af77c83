//! `robustaudit audit --shard K/N` and `robustaudit merge` driven as a job array would:
//! the merged folder is the unsharded audit's, and bad shards or shard sets are refused.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use ndarray::s;
use ndarray_npy::WriteNpyExt;
use robustaudit::data::{load, Split};

use super::{network, robustaudit, Run};

fn run(args: &[&str]) -> Run {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    robustaudit(&refs)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The digits network with seeded random weights and the first `n` test digits as an
/// unlabelled `.npy` batch, so that the network's own predictions are the labels and every
/// image is attacked.
fn setup(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let model = dir.join("digits-small.onnx");
    network("digits-small", 5, model.clone())
        .write(&model)
        .expect("write model");
    let data = load("digits", Split::Test).expect("digits");
    let batch = dir.join("digits.npy");
    let file = std::fs::File::create(&batch).expect("create");
    data.images
        .slice(s![..n, .., .., ..])
        .to_owned()
        .write_npy(file)
        .expect("write npy");
    (model, batch)
}

fn audit(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "audit",
        "--model",
        text(model),
        "--data",
        text(data),
        "--samples",
        "20",
        "--attacks",
        "fgsm,pgd,jsma",
        "--eps",
        "0.1",
        "--attack-param",
        "pgd.steps=3",
        "--attack-param",
        "pgd.restarts=2",
        "--seed",
        "4",
        "--save-examples",
        "--out",
        text(out),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn two_shards_merge_into_the_unsharded_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, data) = setup(dir.path(), 20);
    let whole = dir.path().join("whole");
    let done = audit(&model, &data, &whole, &[]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let shards: Vec<PathBuf> = (0..2)
        .map(|k| dir.path().join(format!("shard-{k}")))
        .collect();
    for (k, out) in shards.iter().enumerate() {
        let spec = format!("{k}/2");
        let done = audit(&model, &data, out, &["--shard", &spec]);
        assert_eq!(done.code, 0, "{}", done.stderr);
        let range = if k == 0 {
            "samples 0..16"
        } else {
            "samples 16..20"
        };
        assert!(done.stdout.contains(range), "{}", done.stdout);
    }
    let merged = dir.path().join("merged");
    let done = run(&[
        "merge",
        text(&shards[1]),
        text(&shards[0]),
        "--out",
        text(&merged),
    ]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.contains("merged 2 shard(s) of 20 images"),
        "{}",
        done.stdout
    );
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for file in [
        "samples.csv",
        "summary.csv",
        "diagnosis.csv",
        "sensitivity.csv",
        "shard.csv",
        "examples/0-digits-small/pgd-linf-0.1.npy",
        "examples/0-digits-small/jsma-probabilities-l0-9.npy",
    ] {
        assert!(
            read(whole.join(file)) == read(merged.join(file)),
            "{file} differs from the unsharded audit's"
        );
    }
    let summary = String::from_utf8(read(merged.join("summary.csv"))).expect("utf-8");
    assert_eq!(
        summary.lines().count(),
        1 + 3,
        "fgsm, pgd and jsma once each"
    );

    // A missing shard, a merge into a shard's folder, bad --shard values: exit 2, a hint,
    // nothing written.
    let refused = dir.path().join("refused");
    let done = run(&["merge", text(&shards[0]), "--out", text(&refused)]);
    assert_eq!(done.code, 2, "{}", done.stderr);
    assert!(
        done.stderr.contains("error: shard 1 of 2 is missing"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("hint: "), "{}", done.stderr);
    let done = run(&[
        "merge",
        text(&shards[0]),
        text(&shards[1]),
        "--out",
        text(&shards[1]),
    ]);
    assert_eq!(done.code, 2, "{}", done.stderr);
    assert!(
        done.stderr.contains("is one of the shard folders"),
        "{}",
        done.stderr
    );
    for (value, message) in [
        ("2/2", "there is no shard 2 of 2"),
        ("0/0", "into 0 shards"),
        ("1", "is not K/N"),
        ("one/2", "is not K/N"),
    ] {
        let done = audit(&model, &data, &refused, &["--shard", value]);
        assert_eq!(done.code, 2, "{value}: {}", done.stderr);
        assert!(done.stderr.contains(message), "{value}: {}", done.stderr);
        assert!(
            done.stderr.contains("hint: shards count from 0"),
            "{}",
            done.stderr
        );
    }
    assert!(!refused.exists(), "a refused command wrote reports");
}

#[test]
fn an_attack_with_radii_of_its_own_runs_at_them_and_its_shards_merge_into_the_unsharded_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, data) = setup(dir.path(), 20);
    let own = ["--attack-param", "pgd.eps=0.2,0.05"];
    let whole = dir.path().join("whole");
    let done = audit(&model, &data, &whole, &own);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let mut parts = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("shard-{k}"));
        let spec = format!("{k}/2");
        let mut extra = own.to_vec();
        extra.extend_from_slice(&["--shard", &spec]);
        let done = audit(&model, &data, &out, &extra);
        assert_eq!(done.code, 0, "{}", done.stderr);
        parts.push(out);
    }
    let merged = dir.path().join("merged");
    let done = run(&[
        "merge",
        text(&parts[0]),
        text(&parts[1]),
        "--out",
        text(&merged),
    ]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for file in ["samples.csv", "summary.csv", "shard.csv"] {
        assert!(
            read(whole.join(file)) == read(merged.join(file)),
            "{file} differs from the unsharded audit's"
        );
    }
    let summary = String::from_utf8(read(merged.join("summary.csv"))).expect("utf-8");
    let mut reader = csv::Reader::from_reader(summary.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (attack, budget, params) = (column("attack"), column("budget"), column("params"));
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[attack].into(), r[budget].into(), r[params].into())
        })
        .collect();
    let at = |name: &str| -> Vec<&str> {
        rows.iter()
            .filter(|r| r.0 == name)
            .map(|r| r.1.as_str())
            .collect()
    };
    assert_eq!(at("fgsm"), ["0.1"], "fgsm keeps --eps");
    assert_eq!(at("pgd"), ["0.2", "0.05"], "pgd runs at its own radii");
    assert!(
        rows.iter()
            .filter(|r| r.0 == "pgd")
            .all(|r| r.2.contains("eps=0.2,0.05")),
        "{rows:?}"
    );
}
