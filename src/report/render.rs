//! `robustaudit report DIR`: the figures and pages of an audit folder, regenerated from its
//! CSV files alone (so folders merged from several machines render the same way).

use std::path::{Path, PathBuf};

use super::audited::audited_models;
use super::html::html;
use super::lineup::{lineup, LineupSource};
use super::markdown::markdown;
use super::page::{blocks, title};
use super::page_input::{check_one_run, read_folder};
use super::plots::{draw_plots, use_font};
use crate::error::{Error, Result};

/// The folder under the audit folder that holds the figures.
pub const PLOTS_FOLDER: &str = "plots";

/// Every figure the report may hold, by file stem.
const PLOT_NAMES: [&str; 4] = ["temperature", "budget", "success", "training"];

/// What [`render_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPages {
    /// `report.html`.
    pub html: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `plots/<name>.svg` and `.png` of every figure drawn.
    pub plots: Vec<PathBuf>,
    /// Models audited.
    pub models: usize,
    /// Where the kinds of training came from.
    pub source: LineupSource,
    /// Whether `diagnosis.csv` was there.
    pub diagnosed: bool,
}

/// Reads the audit folder `dir` and writes `report.html`, `report.md` and `plots/` into it,
/// each file atomically, drawing text with the font at `font`.
pub fn render_report(dir: &Path, font: &Path) -> Result<ReportPages> {
    let folder = read_folder(dir)?;
    check_one_run(dir)?;
    use_font(font)?;
    for folder in [dir.to_path_buf(), dir.join(PLOTS_FOLDER)] {
        robustaudit_graph::atomic_file::prepare_dir(&folder).map_err(|source| Error::Write {
            path: folder.clone(),
            source,
        })?;
    }
    let models = audited_models(&folder);
    let lineup = lineup(&models, folder.manifest.as_deref());
    let plots =
        draw_plots(&folder, &models, &lineup).map_err(|message| Error::Internal { message })?;
    let blocks = blocks(&folder, &models, &lineup, &plots);

    let plot_dir = dir.join(PLOTS_FOLDER);
    let mut written = Vec::new();
    for plot in &plots {
        let svg = plot_dir.join(format!("{}.svg", plot.name));
        write(&svg, plot.rendered.svg.as_bytes())?;
        let png = plot_dir.join(format!("{}.png", plot.name));
        write(&png, &plot.rendered.png)?;
        written.extend([svg, png]);
    }
    // A figure this folder no longer has data for must not linger from an earlier report.
    for name in PLOT_NAMES
        .iter()
        .filter(|n| !plots.iter().any(|p| p.name == **n))
    {
        for ext in ["svg", "png"] {
            let stale = plot_dir.join(format!("{name}.{ext}"));
            if stale.is_file() {
                std::fs::remove_file(&stale).map_err(|source| Error::Write {
                    path: stale.clone(),
                    source,
                })?;
            }
        }
    }
    let html_path = dir.join("report.html");
    write(
        &html_path,
        html(&title(&folder), &blocks, &plots).as_bytes(),
    )?;
    let markdown_path = dir.join("report.md");
    write(&markdown_path, markdown(&blocks, &plots).as_bytes())?;
    Ok(ReportPages {
        html: html_path,
        markdown: markdown_path,
        plots: written,
        models: models.len(),
        source: lineup.source,
        diagnosed: folder.diagnosis.is_some(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    robustaudit_graph::atomic_file::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
