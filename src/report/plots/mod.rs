//! The report's figures, each drawn as SVG and PNG with plotters: (a) accuracy, sensitivity
//! and robustness against the temperature, (b) accuracy under attack against the budget,
//! (c) success rates per attack, (d) training curves.

mod axis;
mod budget;
mod figure;
mod font;
mod legend;
mod panel;
mod png;
mod style;
mod success;
mod temperature;
mod training;

pub use budget::norm_symbol;
pub use figure::{Rendered, PNG_SCALE};
pub use font::{default_font, use_font};
pub use temperature::robustness_attack;

use super::audited::AuditedModel;
use super::lineup::Lineup;
use super::page_input::AuditFolder;
use budget::BudgetFigure;
use figure::{render, Figure};
use success::SuccessFigure;
use temperature::TemperatureFigure;
use training::TrainingFigure;

/// One figure of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// Its file stem under `plots/`.
    pub name: &'static str,
    /// Its title.
    pub title: &'static str,
    /// What it shows, one paragraph.
    pub caption: String,
    /// The drawings.
    pub rendered: Rendered,
}

/// Draws every figure the folder has data for (a figure without data is left out; the
/// font must have been chosen with [`use_font`]).
pub fn draw_plots(
    folder: &AuditFolder,
    models: &[AuditedModel],
    lineup: &Lineup,
) -> Result<Vec<Plot>, String> {
    let mut plots = Vec::new();
    if let Some(figure) = TemperatureFigure::new(models, lineup) {
        plots.push(plot(
            "temperature",
            "Accuracy, sensitivity and robustness against the temperature",
            format!(
                "Each kind of training at each distillation temperature (its last network); the \
                 undistilled baseline, trained at T = 1, is the dashed line. Sensitivities are \
                 mean absolute input gradients on the audited images (log scale); robustness is \
                 the mean smallest L2 perturbation that {} found over the images it evaded \
                 (larger is more robust). Markers at one temperature are set slightly apart so that \
                 equal values stay visible.",
                robustness_attack(&lineup.entries.iter().map(|e| &models[e.model]).collect::<Vec<_>>())
            ),
            &figure,
        )?);
    }
    if let Some(figure) = BudgetFigure::new(models, lineup) {
        plots.push(plot(
            "budget",
            "Accuracy under attack against the budget",
            "Fraction of the audited images classified correctly clean and after the attack, at \
             each budget ε (at ε = 0: clean accuracy). Colour: kind of training; marker: \
             distillation temperature."
                .into(),
            &figure,
        )?);
    }
    if let Some(figure) = SuccessFigure::new(models, lineup) {
        plots.push(plot(
            "success",
            "Attack success rates",
            "Fraction of attack runs on correctly classified images whose adversarial image the \
             unmodified model misclassifies (re-verified by a fresh forward pass). Attacks with a \
             budget at their largest budget; minimal-perturbation attacks (C&W, DeepFool) with \
             no bound on the distortion."
                .into(),
            &figure,
        )?);
    }
    if let Some(figure) =
        TrainingFigure::new(&folder.logs, folder.manifest.as_deref(), models, lineup)
    {
        plots.push(plot(
            "training",
            "Training curves",
            "Test accuracy after each epoch and mean training loss over the epoch (at the \
             training temperature, so rows are not comparable in loss), from models/*.log.csv. \
             Solid lines: the networks shown above; dashed: teachers, assistants and \
             initialisations."
                .into(),
            &figure,
        )?);
    }
    Ok(plots)
}

fn plot<F: Figure>(
    name: &'static str,
    title: &'static str,
    caption: String,
    figure: &F,
) -> Result<Plot, String> {
    let rendered = render(figure).map_err(|e| format!("drawing plots/{name}: {e}"))?;
    Ok(Plot {
        name,
        title,
        caption,
        rendered,
    })
}
