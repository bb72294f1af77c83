//! The digests that bind an audit folder's files to one run: `shard.csv`, written last,
//! records the SHA-256 of each deterministic report file, and `merge` and `report` recompute
//! them. A file edited after the audit, or left from another run by a crash between two
//! renames, no longer matches, and the folder is refused naming the file.
//!
//! A digest detects edits and mix-ups, not a forger: whoever edits a file can edit
//! `shard.csv` too.

use std::path::Path;

use robustaudit_graph::hex::hex;
use sha2::{Digest, Sha256};

use super::input_error::ReportInputError;

/// The files whose digests `shard.csv` records: those the same audit writes byte for byte
/// the same, so a merge reproduces the unsharded audit's `shard.csv` too (`timings.csv`
/// holds wall times and is left out).
pub const DIGESTED: [&str; 4] = [
    "samples.csv",
    "summary.csv",
    "diagnosis.csv",
    "sensitivity.csv",
];

/// The largest file digested back, in bytes: far above any audit's CSV.
const MAX_BYTES: u64 = 1 << 32;

/// `name=hex` for each `(name, bytes)`, separated by `; `.
pub fn describe(files: &[(&str, &[u8])]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("{name}={}", sha256(bytes)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks the files of `dir` against the digests `recorded` in its `shard.csv`: a file
/// that does not match makes the folder a [`ReportInputError::MixedRun`], recorded text
/// that cannot be read a [`ReportInputError::Malformed`] `shard.csv`.
pub fn check(dir: &Path, recorded: &str) -> Result<(), ReportInputError> {
    let changed = mismatches(dir, recorded).map_err(|reason| ReportInputError::Malformed {
        path: dir.join("shard.csv"),
        line: Some(2),
        reason: format!("column digests: {reason}"),
    })?;
    if changed.is_empty() {
        return Ok(());
    }
    Err(ReportInputError::MixedRun {
        dir: dir.to_path_buf(),
        reason: format!(
            "{} {} not match the digests in shard.csv (edited, or left from another run)",
            changed.join(", "),
            if changed.len() == 1 { "does" } else { "do" }
        ),
    })
}

/// The files of `dir` that do not match the digests `recorded` (as [`describe`] writes
/// them), each with why: changed, missing or unreadable. Recorded text that is not
/// `name=hex; ...` over [`DIGESTED`] is an `Err`.
fn mismatches(dir: &Path, recorded: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut named = Vec::new();
    for part in recorded.split("; ") {
        let (name, digest) = part
            .split_once('=')
            .filter(|(name, _)| DIGESTED.contains(name))
            .ok_or_else(|| format!("`{part}` is not FILE=SHA256 of a report file"))?;
        named.push(name);
        match robustaudit_graph::regular_file::read(&dir.join(name), MAX_BYTES) {
            Ok(bytes) if sha256(&bytes) == digest => {}
            Ok(_) => found.push(format!("{name} (changed)")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                found.push(format!("{name} (missing)"))
            }
            Err(e) => found.push(format!("{name} ({e})")),
        }
    }
    if let Some(missing) = DIGESTED.iter().find(|n| !named.contains(n)) {
        return Err(format!("no digest of {missing}"));
    }
    Ok(found)
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_or_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(&str, Vec<u8>)> = DIGESTED
            .iter()
            .map(|n| (*n, format!("{n} rows\n").into_bytes()))
            .collect();
        for (name, bytes) in &files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let pairs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let recorded = describe(&pairs);
        assert_eq!(mismatches(dir.path(), &recorded), Ok(vec![]));
        std::fs::write(dir.path().join("summary.csv"), b"summary.csv rowz\n").unwrap();
        std::fs::remove_file(dir.path().join("sensitivity.csv")).unwrap();
        assert_eq!(
            mismatches(dir.path(), &recorded),
            Ok(vec![
                "summary.csv (changed)".to_string(),
                "sensitivity.csv (missing)".to_string()
            ])
        );
        assert!(mismatches(dir.path(), "samples.csv=00").is_err());
        assert!(mismatches(dir.path(), "../etc/passwd=00").is_err());
    }
}
