//! `robustaudit merge`: join the folders of a sharded audit into its reports.

use robustaudit::error::{Error, Result};
use robustaudit::report::{merge, write_audit};

use crate::cli::MergeArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Reads and checks the shard folders, writes the merged reports and prints the summary.
pub fn run(args: &MergeArgs) -> Result<()> {
    if let Some(dir) = args.dirs.iter().find(|d| same_folder(d, &args.out)) {
        return Err(Error::Usage {
            message: format!(
                "--out {} is one of the shard folders ({})",
                args.out.display(),
                dir.display()
            ),
            hint: Some("merge into a new folder".into()),
        });
    }
    let merged = merge(&args.dirs)?;
    super::audit::prepare_out(&args.out)?;
    let (files, shard_file) = write_audit(&args.out, &merged.report, &merged.record)?;
    let mut out = Stdout::new();
    outln!(
        out,
        "merged {} shard(s) of {} images into {}",
        args.dirs.len(),
        merged.record.samples,
        args.out.display()
    )?;
    super::audit::print_summaries(&mut out, &merged.report.summaries)?;
    super::audit::print_verdicts(&mut out, &merged.report)?;
    super::audit::print_written(&mut out, &args.out, &files, &shard_file)?;
    out.finish()
}

/// Whether two paths name the same existing folder.
fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
