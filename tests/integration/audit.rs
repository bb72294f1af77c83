//! `robustaudit audit` driven as a user would: reproducible reports, finite differences for
//! models without gradient rules, saved examples, and bad command lines refused.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use ndarray::Array4;
use ndarray_npy::ReadNpyExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::attacks::{BudgetKind, Norm, RADII};
use robustaudit::report::{SAMPLE_COLUMNS, SUMMARY_COLUMNS, TIMING_COLUMNS};
use robustaudit_graph::onnx::{Attr, GraphBuilder};

use super::{network, robustaudit, Run};

fn audit(args: &[&OsStr]) -> Run {
    let mut all: Vec<&OsStr> = vec![OsStr::new("audit")];
    all.extend_from_slice(args);
    robustaudit(&all)
}

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

fn refs(items: &[OsString]) -> Vec<&OsStr> {
    items.iter().map(OsString::as_os_str).collect()
}

/// The digits network of `models/arch/digits-small.toml` with seeded random weights.
fn digits_model(dir: &Path) -> PathBuf {
    let path = dir.join("digits-small.onnx");
    network("digits-small", 5, path.clone())
        .write(&path)
        .expect("write model");
    path
}

/// A dense network on `[batch, 1, 8, 8]` with a `Sin` (no backward rule) between its
/// layers, and no metadata.
fn sine_model(dir: &Path) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let mut b = GraphBuilder::new("sine");
    b.input("input", &[None, Some(1), Some(8), Some(8)]);
    b.initializer("w1", &[16, 64], &uniform(16 * 64));
    b.initializer("b1", &[16], &uniform(16));
    b.initializer("w2", &[10, 16], &uniform(10 * 16));
    b.initializer("b2", &[10], &uniform(10));
    let t = [("transB", Attr::Int(1))];
    b.node("Flatten", &["input"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node("Gemm", &["flat", "w1", "b1"], &["z1"], &t);
    b.node("Sin", &["z1"], &["a1"], &[]);
    b.node("Gemm", &["a1", "w2", "b2"], &["logits"], &t);
    b.output("logits", &[None, Some(10)]);
    let path = dir.join("sine.onnx");
    b.finish(path.clone())
        .expect("valid model")
        .write(&path)
        .expect("write model");
    path
}

fn rows(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader.records().collect::<Result<_, _>>().expect("rows");
    (header, rows)
}

fn names<R>(columns: &[robustaudit::report::Column<R>]) -> Vec<String> {
    columns.iter().map(|c| c.name.to_string()).collect()
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn audit_writes_the_documented_reports_byte_identical_for_the_same_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let run = |out: &str| {
        let args = os(&[
            "--model",
            model.to_str().expect("utf-8"),
            "--data",
            "digits",
            "--samples",
            "6",
            "--attacks",
            "fgsm,pgd,deepfool,jsma",
            "--eps",
            "0.1,0.3",
            "--attack-param",
            "pgd.steps=5",
            "--attack-param",
            "pgd.restarts=2",
            "--seed",
            "3",
            "--save-examples",
            "--out",
            dir.path().join(out).to_str().expect("utf-8"),
        ]);
        let run = audit(&refs(&args));
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        run
    };
    let first = run("a");
    run("b");
    for file in ["samples.csv", "summary.csv"] {
        let a = std::fs::read(dir.path().join("a").join(file)).expect("read");
        let b = std::fs::read(dir.path().join("b").join(file)).expect("read");
        assert!(a == b, "{file} differs between identical runs");
    }
    let out = dir.path().join("a");
    let (header, samples) = rows(&out.join("samples.csv"));
    assert_eq!(header, names(SAMPLE_COLUMNS));
    let (summary_header, summaries) = rows(&out.join("summary.csv"));
    assert_eq!(summary_header, names(SUMMARY_COLUMNS));
    let (timing_header, timings) = rows(&out.join("timings.csv"));
    assert_eq!(timing_header, names(TIMING_COLUMNS));
    // fgsm and pgd at two radii, deepfool and jsma once.
    assert_eq!(summaries.len(), 6);
    assert_eq!(timings.len(), samples.len() + summaries.len());
    let (attack, attacked, target) = (
        column(&header, "attack"),
        column(&header, "attacked"),
        column(&header, "target"),
    );
    let attacked_jsma = samples
        .iter()
        .filter(|r| &r[attack] == "jsma-probabilities" && &r[attacked] == "true")
        .count();
    assert!(samples
        .iter()
        .filter(|r| &r[attack] == "jsma-probabilities" && &r[attacked] == "true")
        .all(|r| !r[target].is_empty()));
    let correct: usize = summaries[0][column(&summary_header, "runs")]
        .parse()
        .expect("runs");
    assert_eq!(attacked_jsma, 9 * correct, "jsma runs once per other class");
    assert!(first.stdout.contains("fgsm"), "{}", first.stdout);
    let gradients = column(&summary_header, "gradients");
    assert!(summaries.iter().all(|r| &r[gradients] == "exact"));

    // Saved examples: one batch per summary row, rows in samples.csv order.
    let budget = column(&header, "budget");
    let pgd_rows = samples
        .iter()
        .filter(|r| &r[attack] == "pgd" && &r[budget] == "0.3")
        .count();
    let batch = out.join("examples/0-digits-small/pgd-linf-0.3.npy");
    let images = Array4::<f32>::read_npy(std::fs::File::open(&batch).expect("npy")).expect("read");
    assert_eq!(images.shape(), &[pgd_rows, 1, 8, 8]);
    assert!(images.iter().all(|v| (-0.5..=0.5).contains(v)));
}

#[test]
fn a_model_without_gradient_rules_is_attacked_through_finite_differences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = sine_model(dir.path());
    let out = dir.path().join("out");
    let base = [
        "--model",
        model.to_str().expect("utf-8"),
        "--data",
        "digits",
        "--samples",
        "3",
        "--attacks",
        "fgsm",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    let run = audit(&refs(&os(&base)));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not record its input range"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: pass --input-range"),
        "{}",
        run.stderr
    );

    let mut args = base.to_vec();
    args.extend(["--input-range", "-0.5,0.5"]);
    let run = audit(&refs(&os(&args)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (header, summaries) = rows(&out.join("summary.csv"));
    let row = &summaries[0];
    assert_eq!(&row[column(&header, "gradients")], "finite-differences");
    assert!(
        row[column(&header, "gradients_reason")].contains("Sin"),
        "{:?}",
        row
    );
    let (sample_header, samples) = rows(&out.join("samples.csv"));
    let queries = column(&sample_header, "gradient_queries");
    let attacked = column(&sample_header, "attacked");
    for r in samples.iter().filter(|r| &r[attacked] == "true") {
        assert_eq!(&r[queries], "1", "fgsm takes one gradient");
    }
}

#[test]
fn bad_audit_flags_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let out = dir.path().join("out");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--attacks", "fgsm,no-such-attack"],
            "unknown attack `no-such-attack`",
        ),
        (&["--eps", "0"], "`0` is not a positive number"),
        (&["--eps", "0.1,-0.2"], "is not a positive number"),
        (&["--eps-l2", "nan"], "`nan` is not a positive number"),
        (&["--input-range", "1,0"], "is not a range"),
        (&["--input-range", "0"], "is not a range"),
        (
            &["--attack-param", "fgsm.steps=3"],
            "attack fgsm has no parameter `steps`",
        ),
        (
            &["--attack-param", "fgsm.loss=mse"],
            "`mse` is not a valid value",
        ),
        (&["--attack-param", "pgd.steps=3"], "not among --attacks"),
        (
            &["--attack-param", "fgsm.eps=0.1,0"],
            "fgsm.eps: `0.1,0` is not a valid value",
        ),
        (
            &[
                "--attacks",
                "deepfool",
                "--attack-param",
                "deepfool.eps=0.1",
            ],
            "deepfool.eps: deepfool has no radius budget",
        ),
        (&["--attack-param", "steps=3"], "is not ATTACK.PARAM=VALUE"),
        (&["--attacks", "fgsm,fgsm"], "listed twice"),
        (
            &["--attacks", "jsma,jsma-probabilities"],
            "runs jsma-probabilities, which --attacks already runs",
        ),
        (
            &[
                "--attacks",
                "jsma-logits",
                "--attack-param",
                "jsma-logits.scores=probabilities",
            ],
            "sets scores, which the name jsma-logits fixes",
        ),
        (&["--std", "0"], "--std 0 is not a positive number"),
        (&["--mean", "0,0"], "--mean has 2 values"),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "--model",
            model.to_str().expect("utf-8"),
            "--data",
            "digits",
            "--samples",
            "2",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        if !extra.contains(&"--attacks") {
            args.extend(["--attacks", "fgsm"]);
        }
        args.extend_from_slice(extra);
        let run = audit(&refs(&os(&args)));
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{extra:?}: {}", run.stderr);
    }
    assert!(!out.exists(), "a refused command wrote reports");
}

#[test]
fn both_jsma_variants_run_in_one_audit_under_their_own_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let out = dir.path().join("out");
    let args = os(&[
        "--model",
        model.to_str().expect("utf-8"),
        "--data",
        "digits",
        "--samples",
        "2",
        "--attacks",
        "jsma-probabilities,jsma-logits",
        "--attack-param",
        "jsma-logits.gamma=0.1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let run = audit(&refs(&args));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (header, summaries) = rows(&out.join("summary.csv"));
    let (attack, params) = (column(&header, "attack"), column(&header, "params"));
    let listed: Vec<(&str, &str)> = summaries.iter().map(|r| (&r[attack], &r[params])).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].0, "jsma-probabilities");
    assert!(listed[0].1.contains("scores=probabilities"), "{listed:?}");
    assert_eq!(listed[1].0, "jsma-logits");
    assert!(listed[1].1.contains("scores=logits"), "{listed:?}");
    assert!(listed[1].1.contains("gamma=0.1"), "{listed:?}");
}

#[test]
fn schema_prints_the_documented_columns_and_attacks_lists_every_parameter() {
    let run = robustaudit(&[OsStr::new("schema")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let documented = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.md"),
    )
    .expect("docs/report-schema.md");
    assert_eq!(run.stdout, documented);

    let run = robustaudit(&[OsStr::new("attacks")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for info in robustaudit::attacks::registry() {
        for p in info.params {
            let line = format!("{}.{}={}", info.name, p.name, p.default);
            assert!(run.stdout.contains(&line), "no {line} in\n{}", run.stdout);
        }
        let (attack, _) = info.build(&[]).expect("defaults");
        let own = match attack.budget_kind() {
            BudgetKind::Radius(Norm::L2) => Some("--eps-l2"),
            BudgetKind::Radius(_) => Some("--eps"),
            _ => None,
        };
        let listed = run.stdout.lines().find(|l| {
            l.trim_start()
                .starts_with(&format!("{}.{RADII}=", info.name))
        });
        match (own, listed) {
            (Some(flag), Some(line)) => {
                assert!(line.contains(&format!("={flag} ")), "{}: {line}", info.name)
            }
            (None, None) => {}
            _ => panic!("{}: radii of its own listed as {listed:?}", info.name),
        }
    }
}

#[test]
fn gradients_finite_differences_replaces_an_exact_vjp_graph_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model(dir.path());
    let out = dir.path().join("out");
    let args = os(&[
        "--model",
        model.to_str().expect("utf-8"),
        "--data",
        "digits",
        "--samples",
        "4",
        "--attacks",
        "fgsm",
        "--gradients",
        "finite-differences",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let run = audit(&refs(&args));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (header, summaries) = rows(&out.join("summary.csv"));
    let row = &summaries[0];
    assert_eq!(&row[column(&header, "gradients")], "finite-differences");
    assert!(
        row[column(&header, "gradients_reason")].contains("--gradients finite-differences"),
        "{row:?}"
    );

    let run = audit(&refs(&os(&[
        "--model",
        model.to_str().expect("utf-8"),
        "--data",
        "digits",
        "--gradients",
        "numeric",
        "--out",
        out.to_str().expect("utf-8"),
    ])));
    assert_eq!(run.code, 2, "{}", run.stderr);
}
