//! `robustaudit report`: render an audit folder's figures and pages, or, in a build without
//! the `report` feature (the edge build), say that it is not there.

#[cfg(not(feature = "report"))]
use robustaudit::error::Error;
use robustaudit::error::Result;
#[cfg(feature = "report")]
use robustaudit::report::{default_font, render_report, LineupSource};

use crate::cli::ReportArgs;
#[cfg(feature = "report")]
use robustaudit::outln;
#[cfg(feature = "report")]
use robustaudit::stdout::Stdout;

/// Refuses: this build has no renderer (the folder is not even looked at).
#[cfg(not(feature = "report"))]
pub fn run(_args: &ReportArgs) -> Result<()> {
    Err(Error::Dependency {
        message: "robustaudit report is not in this build (built without the `report` feature)"
            .to_string(),
        hint: Some(
            "render on a machine with the default build (cargo build --release -p robustaudit), \
             from the audit folder's csv files"
                .to_string(),
        ),
    })
}

/// Renders the report and prints what was written.
#[cfg(feature = "report")]
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
