//! `robustaudit report`: render an audit folder's figures and pages.

use robustaudit::error::Result;
use robustaudit::report::{default_font, render_report, LineupSource};

use crate::cli::ReportArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Renders the report and prints what was written.
pub fn run(args: &ReportArgs) -> Result<()> {
    let font = args.font.clone().unwrap_or_else(default_font);
    let pages = render_report(&args.dir, &font)?;
    let source = match pages.source {
        LineupSource::Manifest => "kinds of training from models/manifest.csv",
        LineupSource::Metadata => {
            "no matching models/manifest.csv: kinds of training from model metadata"
        }
        LineupSource::Models => "no chain information: each model on its own",
    };
    let mut lines = vec![format!(
        "report of {} model(s); {source}; {}",
        pages.models,
        if pages.diagnosed {
            "masking diagnosis from diagnosis.csv"
        } else {
            "not diagnosed (no diagnosis.csv)"
        }
    )];
    lines.extend(
        pages
            .plots
            .iter()
            .chain([&pages.html, &pages.markdown])
            .map(|p| format!("wrote {}", p.display())),
    );
    let mut out = Stdout::new();
    for line in lines {
        outln!(out, "{line}")?;
    }
    out.finish()
}
