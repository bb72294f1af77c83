//! `robustaudit report`: render an audit folder's figures and pages.

use robustaudit::error::Result;
use robustaudit::report::{render_report, LineupSource};

use crate::cli::ReportArgs;

/// Renders the report and prints what was written.
pub fn run(args: &ReportArgs) -> Result<()> {
    let pages = render_report(&args.dir, &args.font)?;
    let source = match pages.source {
        LineupSource::Manifest => "kinds of training from models/manifest.csv",
        LineupSource::Metadata => {
            "no matching models/manifest.csv: kinds of training from model metadata"
        }
        LineupSource::Models => "no chain information: each model on its own",
    };
    println!(
        "report of {} model(s); {source}; {}",
        pages.models,
        if pages.diagnosed {
            "masking diagnosis from diagnosis.csv"
        } else {
            "not diagnosed (no diagnosis.csv)"
        }
    );
    for path in &pages.plots {
        println!("wrote {}", path.display());
    }
    println!("wrote {}", pages.html.display());
    println!("wrote {}", pages.markdown.display());
    Ok(())
}
