//! `--out` folders: an unwritable one is refused before any attack runs, no `.tmp-*` file is
//! left in one after a run, even one an interrupted run left there, and `merge` and `report`
//! refuse a folder whose files are damaged or of two runs alike.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{network, robustaudit};

fn audit(model: &Path, out: &Path) -> super::Run {
    let args = [
        OsStr::new("audit"),
        OsStr::new("--model"),
        model.as_os_str(),
        OsStr::new("--data"),
        OsStr::new("digits"),
        OsStr::new("--samples"),
        OsStr::new("4"),
        OsStr::new("--attacks"),
        OsStr::new("fgsm"),
        OsStr::new("--input-range"),
        OsStr::new("-0.5,0.5"),
        OsStr::new("--out"),
        out.as_os_str(),
    ];
    robustaudit(&args)
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

#[test]
fn an_unwritable_out_is_refused_before_the_audit_and_stale_temporary_files_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("digits-small.onnx");
    network("digits-small", 5, model.clone())
        .write(&model)
        .expect("write model");

    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").expect("write");
    let out = blocker.join("out");
    let run = audit(&model, &out);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The folder itself is named, not a report file: the check came before the attacks.
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("error: cannot write {}: ", out.display())),
        "{first}"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join(".tmp-Interrupted"), b"half a report").expect("write");
    let run = audit(&model, &out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(out.join("shard.csv").is_file());
    assert_eq!(temporary_files(&out), Vec::<String>::new());

    std::fs::write(out.join(".tmp-Interrupted"), b"half a page").expect("write");
    let run = robustaudit(&[OsStr::new("report"), out.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(temporary_files(&out), Vec::<String>::new());
    assert_eq!(temporary_files(&out.join("plots")), Vec::<String>::new());
}

/// A seeded digits network written into `dir` and the folder of its finished audit.
fn audited(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("digits-small.onnx");
    network("digits-small", 5, model.clone())
        .write(&model)
        .expect("write model");
    let out = dir.join("out");
    assert_eq!(audit(&model, &out).code, 0);
    (model, out)
}

#[test]
fn a_folder_mixing_files_of_two_runs_or_an_edited_shard_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, out) = audited(dir.path());
    let report = |dir: &Path| robustaudit(&[OsStr::new("report"), dir.as_os_str()]);
    assert_eq!(report(&out).code, 0);

    // A crash between two renames of a second run: its samples.csv, the first run's rest.
    let first_samples = std::fs::read(out.join("samples.csv")).expect("read");
    let edited = String::from_utf8(first_samples.clone())
        .expect("utf-8")
        .replacen(",fgsm,", ",fgsm ,", 1);
    std::fs::write(out.join("samples.csv"), edited).expect("write");
    let run = report(&out);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not hold one finished audit: samples.csv (changed) does not match the digests in shard.csv"),
        "{}",
        run.stderr
    );
    std::fs::write(out.join("samples.csv"), &first_samples).expect("write");
    std::fs::remove_file(out.join("shard.csv")).expect("remove");
    let run = report(&out);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("the audit was cut short"),
        "{}",
        run.stderr
    );

    // merge recomputes each shard's digests too.
    assert_eq!(audit(&model, &out).code, 0);
    // An edit that still reads as a consistent audit: one image's sensitivity.
    let sensitivity = std::fs::read_to_string(out.join("sensitivity.csv")).expect("read");
    let mut lines: Vec<String> = sensitivity.lines().map(str::to_string).collect();
    let cut = lines[1].rfind(',').expect("fields");
    lines[1] = format!("{},0.5", &lines[1][..cut]);
    std::fs::write(out.join("sensitivity.csv"), lines.join("\n") + "\n").expect("write");
    let run = robustaudit(&[
        OsStr::new("merge"),
        out.as_os_str(),
        OsStr::new("--out"),
        dir.path().join("merged").as_os_str(),
    ]);
    // The same refusal, and exit code, as report's.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "does not hold one finished audit: sensitivity.csv (changed) does not match the \
             digests in shard.csv"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn merge_and_report_refuse_a_damaged_file_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, out) = audited(dir.path());
    let merged = dir.path().join("merged");
    let both = || {
        [
            robustaudit(&[
                OsStr::new("merge"),
                out.as_os_str(),
                OsStr::new("--out"),
                merged.as_os_str(),
            ]),
            robustaudit(&[OsStr::new("report"), out.as_os_str()]),
        ]
    };
    let shard = out.join("shard.csv");
    let written = std::fs::read_to_string(&shard).expect("read");

    // Cut short inside its row: exit 3 from both, the same line, the same hint.
    std::fs::write(&shard, written.trim_end_matches('\n')).expect("write");
    for run in both() {
        assert_eq!(run.code, 3, "{}", run.stderr);
        let expected = format!(
            "error: {}, line 2: the file ends inside a row (cut short?)\nhint: the file was cut \
             short or edited",
            shard.display()
        );
        assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    }

    // Another schema version: exit 2 from both, each naming the versions it reads (a report
    // renders older folders, a merge joins shards of its own version only).
    let version = robustaudit::report::SCHEMA_VERSION;
    let other = written.replacen(&format!("\n{version},"), "\n99,", 1);
    assert_ne!(other, written);
    std::fs::write(&shard, other).expect("write");
    let reads = [
        format!("version {version}"),
        format!("versions 1 to {version}"),
    ];
    for (run, reads) in both().iter().zip(reads) {
        assert_eq!(run.code, 2, "{}", run.stderr);
        let expected = format!(
            "error: {}, line 2: schema version `99`, but this robustaudit reads {reads}\n",
            shard.display()
        );
        assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    }
    assert!(!merged.exists());
}
