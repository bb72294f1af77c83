//! `robustaudit report` on audit folders written here: the page leads with the headline
//! table, every figure is inline, the markdown links the PNGs, and bad folders are refused
//! with the documented exit codes.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use robustaudit::report::SUMMARY_COLUMNS;

use super::{network, robustaudit, Run};

const TEMPERATURES: [u32; 2] = [20, 100];

/// One synthetic network: its file stem, manifest fields and audited values.
struct Network {
    stem: String,
    role: &'static str,
    hop: u32,
    lineage: &'static str,
    chains: &'static str,
    temperature: u32,
    /// Clean accuracy, distinct per network so that the page shows which one it picked.
    clean: f64,
    verdict: &'static str,
}

/// The baseline and, at each temperature, the networks of three chains: distillation
/// (teacher, student), teacher-assistant (teacher, assistant, student) and multi-step
/// (teacher, assistant, assistant, student).
fn networks() -> Vec<Network> {
    let mut out = vec![Network {
        stem: "undistilled-student-T1".into(),
        role: "undistilled",
        hop: 0,
        lineage: "student",
        chains: "",
        temperature: 1,
        clean: 0.99,
        verdict: "clear",
    }];
    for (k, t) in TEMPERATURES.iter().enumerate() {
        let base = 0.90 - 0.1 * k as f64;
        let specs: [(&str, &str, u32, &str, &str, &str); 6] = [
            (
                "teacher",
                "teacher",
                0,
                "teacher",
                "distillation;multi-step;teacher-assistant",
                "clear",
            ),
            (
                "teacher-student",
                "student",
                1,
                "teacher>student",
                "distillation",
                "masked",
            ),
            (
                "teacher-assistant",
                "assistant",
                1,
                "teacher>assistant",
                "multi-step;teacher-assistant",
                "clear",
            ),
            (
                "teacher-assistant-student",
                "student",
                2,
                "teacher>assistant>student",
                "teacher-assistant",
                "inconclusive",
            ),
            (
                "teacher-assistant-assistant",
                "assistant",
                2,
                "teacher>assistant>assistant",
                "multi-step",
                "clear",
            ),
            (
                "teacher-assistant-assistant-student",
                "student",
                3,
                "teacher>assistant>assistant>student",
                "multi-step",
                "masked",
            ),
        ];
        for (i, (stem, role, hop, lineage, chains, verdict)) in specs.into_iter().enumerate() {
            out.push(Network {
                stem: format!("{stem}-T{t}"),
                role,
                hop,
                lineage,
                chains,
                temperature: *t,
                clean: base + 0.01 * i as f64,
                verdict,
            });
        }
    }
    out
}

fn sha(i: usize) -> String {
    format!("{:064x}", i + 1)
}

/// The value of `column` in the summary row of network `i` for `attack` at `budget`.
fn summary_value(
    i: usize,
    n: &Network,
    column: &str,
    attack: &str,
    budget: Option<f64>,
    with_metadata: bool,
) -> String {
    let minimal = budget.is_none();
    let norm = if attack == "cw-l2" || attack == "deepfool" {
        "l2"
    } else {
        "linf"
    };
    let success = match budget {
        Some(b) => (b * 2.0).min(1.0),
        None => 0.5 + 0.01 * i as f64,
    };
    match column {
        "schema_version" => "1".into(),
        "model" => format!("/runs/a/models/{}.onnx", n.stem),
        "sha256" => sha(i),
        "role" if with_metadata => n.role.into(),
        "hop" if with_metadata => n.hop.to_string(),
        "temperature" if with_metadata => n.temperature.to_string(),
        "gradients" => "exact".into(),
        "input_range" => "-0.5,0.5".into(),
        "attack" => attack.into(),
        "params" => "steps=10".into(),
        "norm" => norm.into(),
        "budget" => budget.map_or_else(String::new, |b| b.to_string()),
        "samples" => "100".into(),
        "clean_accuracy" => n.clean.to_string(),
        "adversarial_accuracy" => (n.clean * (1.0 - success)).to_string(),
        "runs" | "successes" | "evaded" => "50".into(),
        "success_rate" => success.to_string(),
        "mean_min_l2" if minimal => (0.4 + 0.01 * i as f64).to_string(),
        "mean_min_linf" | "mean_min_l0" | "median_min_l2" if minimal => "0.2".into(),
        "sensitivity_logit_sum" => (1.0 + i as f64).to_string(),
        "sensitivity_softmax" => (10f64.powi(-(i as i32) - 2)).to_string(),
        "forward_queries" | "gradient_queries" => "10".into(),
        "masking_verdict" => n.verdict.into(),
        _ => String::new(),
    }
}

/// Writes an audit folder of the synthetic networks: summary.csv (the documented columns
/// plus `masking_verdict`), and with `full` diagnosis.csv, models/manifest.csv and one
/// training log per network.
fn write_folder(dir: &Path, full: bool) {
    let nets = networks();
    let mut header: Vec<&str> = SUMMARY_COLUMNS.iter().map(|c| c.name).collect();
    if !header.contains(&"masking_verdict") {
        header.push("masking_verdict");
    }
    let mut summary = csv::Writer::from_path(dir.join("summary.csv")).expect("summary");
    summary.write_record(&header).expect("header");
    let attacks: [(&str, Option<f64>); 6] = [
        ("fgsm", Some(0.1)),
        ("fgsm", Some(0.3)),
        ("pgd", Some(0.1)),
        ("pgd", Some(0.3)),
        ("deepfool", None),
        ("cw-l2", None),
    ];
    for (i, n) in nets.iter().enumerate() {
        for (attack, budget) in attacks {
            summary
                .write_record(
                    header
                        .iter()
                        .map(|c| summary_value(i, n, c, attack, budget, true)),
                )
                .expect("row");
        }
    }
    summary.flush().expect("flush");
    if !full {
        return;
    }
    let mut diagnosis = csv::Writer::from_path(dir.join("diagnosis.csv")).expect("diagnosis");
    diagnosis
        .write_record([
            "schema_version",
            "model",
            "sha256",
            "check",
            "result",
            "norm",
            "budget",
            "detail",
        ])
        .expect("header");
    for (i, n) in nets.iter().enumerate() {
        let flagged = if n.verdict == "masked" {
            "flagged"
        } else {
            "passed"
        };
        diagnosis
            .write_record([
                "1",
                &format!("/runs/a/models/{}.onnx", n.stem),
                &sha(i),
                "gradient-free-beats-gradient",
                flagged,
                "linf",
                "0.3",
                "deepfool evades more images than pgd",
            ])
            .expect("row");
    }
    diagnosis.flush().expect("flush");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).expect("models");
    let mut manifest = csv::Writer::from_path(models.join("manifest.csv")).expect("manifest");
    manifest
        .write_record([
            "file",
            "role",
            "hop",
            "lineage",
            "chains",
            "temperature",
            "parent",
            "parent_sha256",
            "sha256",
            "arch",
            "dataset",
            "test_accuracy",
            "epochs",
            "seconds",
        ])
        .expect("header");
    for (i, n) in nets.iter().enumerate() {
        manifest
            .write_record([
                &format!("{}.onnx", n.stem),
                n.role,
                &n.hop.to_string(),
                n.lineage,
                n.chains,
                &format!("{}.0", n.temperature),
                "",
                "",
                &sha(i),
                "digits-small",
                "digits",
                &n.clean.to_string(),
                "5",
                "1.5",
            ])
            .expect("row");
        let mut log =
            String::from("epoch,loss,train_accuracy,test_accuracy,seconds,images_per_second\n");
        for epoch in 1..=5 {
            let e = f64::from(epoch);
            log.push_str(&format!(
                "{epoch},{},{},{},0.2,5000\n",
                2.3 / e,
                n.clean * e / 5.0,
                n.clean * e / 5.0
            ));
        }
        std::fs::write(models.join(format!("{}.log.csv", n.stem)), log).expect("log");
    }
    manifest.flush().expect("flush");
}

/// Rewrites the CSV file at `path`, setting in row `r` (0-based, after the header) the
/// field `edit(r, header)` names, if any.
fn edit_csv(
    path: &Path,
    edit: impl Fn(usize, &csv::StringRecord) -> Option<(usize, &'static str)>,
) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header = reader.headers().expect("header").clone();
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    let mut writer = csv::Writer::from_path(path).expect("rewrite");
    writer.write_record(&header).expect("header");
    for (r, row) in rows.iter().enumerate() {
        let mut fields: Vec<&str> = row.iter().collect();
        if let Some((column, value)) = edit(r, &header) {
            fields[column] = value;
        }
        writer.write_record(fields).expect("row");
    }
    writer.flush().expect("flush");
}

/// Rewrites the CSV file at `path` without its column `name`.
fn drop_column(path: &Path, name: &str) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header = reader.headers().expect("header").clone();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| &header[i] != name).collect();
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    let mut writer = csv::Writer::from_path(path).expect("rewrite");
    for record in std::iter::once(&header).chain(&rows) {
        writer
            .write_record(keep.iter().map(|&i| &record[i]))
            .expect("row");
    }
    writer.flush().expect("flush");
}

fn report(dir: &Path) -> Run {
    robustaudit(&[OsStr::new("report"), dir.as_os_str()])
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the HTML table with `id`.
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + html[start..].find("</table>").expect("closed table");
    &html[start..end]
}

/// The rows of an HTML table as lists of cell texts (tags stripped).
fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .split("<tr")
        .skip(2)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').expect("td") + 1..];
                    let inner = &inner[..inner.find("</td>").expect("closed td")];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text
                })
                .collect()
        })
        .collect()
}

/// Width and height of a PNG file, after checking its signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("png");
    assert_eq!(
        bytes[..8],
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n']
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().expect("width"));
    let h = u32::from_be_bytes(bytes[20..24].try_into().expect("height"));
    (w, h)
}

/// The `width` attribute of an SVG document's root.
fn svg_width(svg: &str) -> u32 {
    let start = svg.find("<svg").expect("svg root");
    let attr = &svg[start..][svg[start..].find("width=\"").expect("width") + 7..];
    attr[..attr.find('"').expect("quote")]
        .parse()
        .expect("number")
}

const PLOTS: [&str; 4] = ["temperature", "budget", "success", "training"];

#[test]
fn report_leads_with_the_headline_table_and_inlines_every_plot() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), true);
    let run = report(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let html = read(&dir.path().join("report.html"));
    let markdown = read(&dir.path().join("report.md"));

    // The headline comes first, then how to read it, the models, the diagnosis, the plots.
    let order = [
        "<table id=\"headline\">",
        "id=\"sec-how-to-read\"",
        "id=\"sec-models\"",
        "id=\"sec-diagnosis\"",
        "<figure id=\"plot-temperature\">",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|s| html.find(s).unwrap_or_else(|| panic!("no {s}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(
        !html[..positions[0]].contains("<table"),
        "a table before the headline"
    );

    // At each temperature: the baseline, then each chain by its last network.
    let rows = cells(table(&html, "headline"));
    let expected = [
        ("undistilled (T = 1)", "undistilled-student-T1"),
        ("defensive distillation", "teacher-student-T{t}"),
        ("teacher-assistant chain", "teacher-assistant-student-T{t}"),
        ("longer chain", "teacher-assistant-assistant-student-T{t}"),
    ];
    assert_eq!(rows.len(), TEMPERATURES.len() * expected.len(), "{rows:?}");
    let nets = networks();
    for (k, t) in TEMPERATURES.iter().enumerate() {
        for (j, (kind, model)) in expected.iter().enumerate() {
            let row = &rows[k * expected.len() + j];
            let model = model.replace("{t}", &t.to_string());
            let (i, net) = nets
                .iter()
                .enumerate()
                .find(|(_, n)| n.stem == model)
                .expect("network");
            assert_eq!(row[0], t.to_string());
            assert_eq!(row[1], *kind);
            assert_eq!(row[2], model);
            assert_eq!(row[3], format!("{:.1}%", net.clean * 100.0), "{model}");
            assert_eq!(
                row[6],
                format!("{:.3}", 0.4 + 0.01 * i as f64),
                "{model} mean min l2"
            );
            assert_eq!(
                row[7],
                format!("{:.1}%", (0.5 + 0.01 * i as f64) * 100.0),
                "{model} success"
            );
            assert_eq!(row[8], net.verdict, "{model} verdict");
        }
    }
    assert!(table(&html, "headline").contains("<td class=\"bad\">masked</td>"));

    // Every figure inline as SVG, and nothing fetched from anywhere.
    assert_eq!(html.matches("<svg").count(), PLOTS.len());
    for name in PLOTS {
        let at = html
            .find(&format!("<figure id=\"plot-{name}\">"))
            .expect("figure");
        assert!(html[at..].trim_start_matches(|c| c != '<').contains("<svg"));
        let svg = read(&dir.path().join(format!("plots/{name}.svg")));
        let (w, h) = png_size(&dir.path().join(format!("plots/{name}.png")));
        assert_eq!(
            w,
            2 * svg_width(&svg),
            "{name}.png is the svg at twice its size"
        );
        assert!(h > 200, "{name}.png is {w}x{h}");
        assert!(
            markdown.contains(&format!("](plots/{name}.png)")),
            "report.md links {name}.png"
        );
    }
    for forbidden in ["<script", "src=", "href=\"http", "url(", "@import", "<link"] {
        assert!(!html.contains(forbidden), "report.html holds {forbidden}");
    }

    // The markdown leads with the same table.
    let md_table = markdown
        .find("| T | training | model |")
        .expect("md headline");
    assert!(md_table < markdown.find("## How to read this").expect("how to read"));
    assert!(markdown.contains("| 100 | longer chain | teacher-assistant-assistant-student-T100 |"));
    assert!(markdown.contains("**masked**"));

    // The diagnosis names the flagged check.
    assert!(html.contains("gradient-free-beats-gradient"));
    assert!(html.contains("<td class=\"bad\">flagged</td>"));
}

#[test]
fn report_is_byte_identical_when_rendered_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), true);
    let files = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut paths = vec![d.join("report.html"), d.join("report.md")];
        for name in PLOTS {
            paths.push(d.join(format!("plots/{name}.svg")));
            paths.push(d.join(format!("plots/{name}.png")));
        }
        paths
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(&p).expect("output")))
            .collect()
    };
    assert_eq!(report(dir.path()).code, 0);
    let first = files(dir.path());
    assert_eq!(report(dir.path()).code, 0);
    for ((path, a), (_, b)) in first.iter().zip(files(dir.path())) {
        assert!(*a == b, "{} changed", path.display());
    }
}

#[test]
fn report_without_manifest_or_diagnosis_infers_chains_and_says_not_diagnosed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), false);
    // The same folder without verdicts: an audit that did not diagnose.
    drop_column(&dir.path().join("summary.csv"), "masking_verdict");
    let run = report(dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("kinds of training from model metadata"),
        "{}",
        run.stdout
    );
    let html = read(&dir.path().join("report.html"));
    assert!(html.contains("inferred from each model"));
    assert!(html.contains("Not diagnosed: the audit folder holds no diagnosis.csv"));
    let rows = cells(table(&html, "headline"));
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(rows.iter().all(|r| r[8] == "not diagnosed"));
    assert!(rows
        .iter()
        .any(|r| r[1] == "longer chain" && r[2] == "teacher-assistant-assistant-student-T20"));
    // No training logs: three figures.
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!dir.path().join("plots/training.png").exists());
}

#[test]
fn report_of_a_real_audit_without_chains_shows_each_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<std::ffi::OsString> = vec!["audit".into()];
    for seed in [1, 2] {
        let path = dir.path().join(format!("digits-{seed}.onnx"));
        network("digits-small", seed, path.clone())
            .write(&path)
            .expect("write model");
        args.extend(["--model".into(), path.into_os_string()]);
    }
    for a in [
        "--data",
        "digits",
        "--samples",
        "4",
        "--attacks",
        "fgsm,deepfool",
        "--eps",
        "0.1,0.2",
    ] {
        args.push(a.into());
    }
    args.extend(["--out".into(), dir.path().join("audit").into_os_string()]);
    let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let run = robustaudit(&refs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = report(&dir.path().join("audit"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = read(&dir.path().join("audit/report.html"));
    let rows = cells(table(&html, "headline"));
    let names: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names, ["digits-1", "digits-2"]);
    assert!(html.contains("each model is shown on its own"));
    // Budget and success figures; no temperatures, no training logs.
    assert!(html.contains("<figure id=\"plot-budget\">"));
    assert!(html.contains("<figure id=\"plot-success\">"));
    assert!(!html.contains("<figure id=\"plot-temperature\">"));
}

#[test]
fn report_refuses_a_schema_version_it_does_not_know() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), true);
    edit_csv(&dir.path().join("diagnosis.csv"), |row, _| {
        (row == 1).then_some((0, "99"))
    });
    let run = report(dir.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("diagnosis.csv, line 3: schema version `99`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
}

#[test]
fn report_names_the_file_line_and_column_of_a_malformed_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), false);
    // Line 4 of the file is its third row.
    edit_csv(&dir.path().join("summary.csv"), |row, header| {
        if row == 2 {
            Some((
                header
                    .iter()
                    .position(|c| c == "clean_accuracy")
                    .expect("column"),
                "most",
            ))
        } else {
            None
        }
    });
    let run = report(dir.path());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("summary.csv, line 4: column clean_accuracy"),
        "{}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[1].starts_with("hint: the file was cut short or edited"),
        "{}",
        run.stderr
    );
}

#[test]
fn report_of_a_missing_folder_or_summary_exits_3_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = report(&dir.path().join("nowhere"));
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.starts_with("error: no audit folder"),
        "{}",
        run.stderr
    );
    let run = report(dir.path());
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.starts_with("error: no summary.csv in"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: give the folder"),
        "{}",
        run.stderr
    );
}

#[test]
fn report_without_its_font_exits_5_and_names_the_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_folder(dir.path(), false);
    let font = dir.path().join("missing.ttf");
    let run = robustaudit(&[
        OsStr::new("report"),
        dir.path().as_os_str(),
        OsStr::new("--font"),
        font.as_os_str(),
    ]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot load the font"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("scripts/setup"), "{}", run.stderr);
    assert!(!dir.path().join("report.html").exists());
}
