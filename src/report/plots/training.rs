//! Figure (d): the training curves of `models/*.log.csv`, one row per training temperature
//! (test accuracy and training loss per epoch), one line per network. A network that stands
//! for a kind of training takes that kind's colour; teachers and assistants are dashed.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Format};
use super::figure::Figure;
use super::legend::{self, LegendItem, Stroke};
use super::panel::{self, Line, Panel};
use super::style::Style;
use super::temperature::linear_axis;
use crate::report::audited::AuditedModel;
use crate::report::lineup::{extra_colour, Lineup};
use crate::report::page_input::TrainingLog;
use crate::report::ManifestRow;

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 300.0;

/// One row: the networks trained at one temperature.
struct Row {
    legend: Vec<LegendItem>,
    accuracy: Panel,
    loss: Panel,
}

/// Figure (d).
pub struct TrainingFigure {
    rows: Vec<Row>,
}

/// The temperature of a network: its manifest row's, else the `-T<t>` end of its name.
fn temperature_of(network: &str, manifest: Option<&[ManifestRow]>) -> Option<f64> {
    manifest
        .and_then(|m| m.iter().find(|e| e.stem() == network))
        .map(|e| e.temperature)
        .or_else(|| network.rsplit_once("-T").and_then(|(_, t)| t.parse().ok()))
}

impl TrainingFigure {
    /// The figure, or `None` without logs.
    pub fn new(
        logs: &[TrainingLog],
        manifest: Option<&[ManifestRow]>,
        models: &[AuditedModel],
        lineup: &Lineup,
    ) -> Option<TrainingFigure> {
        let logs: Vec<&TrainingLog> = logs.iter().filter(|l| !l.epochs.is_empty()).collect();
        if logs.is_empty() {
            return None;
        }
        let mut temperatures: Vec<Option<f64>> = logs
            .iter()
            .map(|l| temperature_of(&l.network, manifest))
            .collect();
        temperatures.sort_by(|a, b| match (a, b) {
            (Some(a), Some(b)) => a.total_cmp(b),
            (a, b) => b.is_some().cmp(&a.is_some()),
        });
        temperatures.dedup();
        // The series a network stands for, through its manifest row's SHA-256.
        let series_of = |network: &str| {
            let sha = manifest?
                .iter()
                .find(|e| e.stem() == network)?
                .sha256
                .as_str();
            let model = models.iter().position(|m| m.sha256 == sha)?;
            lineup.series_of_model(model)
        };
        let rows = temperatures
            .iter()
            .map(|&t| {
                let members: Vec<&&TrainingLog> = logs
                    .iter()
                    .filter(|l| temperature_of(&l.network, manifest) == t)
                    .collect();
                let mut extra = 0;
                let styled: Vec<(&TrainingLog, (u8, u8, u8), bool)> = members
                    .iter()
                    .map(|l| match series_of(&l.network) {
                        Some(s) => (**l, lineup.series[s].colour, false),
                        None => {
                            extra += 1;
                            (**l, extra_colour(extra - 1), true)
                        }
                    })
                    .collect();
                let last_epoch = styled
                    .iter()
                    .flat_map(|(l, ..)| l.epochs.iter().map(|e| e.epoch))
                    .max()
                    .unwrap_or(1);
                let x = Axis::linear(0.0, f64::from(last_epoch), Format::Number);
                let lines = |value: fn(&crate::report::EpochRow) -> f64| -> Vec<Line> {
                    styled
                        .iter()
                        .map(|(l, colour, dashed)| Line {
                            points: l
                                .epochs
                                .iter()
                                .map(|e| (f64::from(e.epoch), value(e)))
                                .collect(),
                            colour: *colour,
                            dashed: *dashed,
                            marker: None,
                        })
                        .collect()
                };
                let accuracy = lines(|e| e.test_accuracy);
                let loss = lines(|e| e.loss);
                let accuracies: Vec<f64> = accuracy
                    .iter()
                    .flat_map(|l| l.points.iter().map(|p| p.1))
                    .collect();
                let losses: Vec<f64> = loss
                    .iter()
                    .flat_map(|l| l.points.iter().map(|p| p.1))
                    .collect();
                let loss_axis = if losses.iter().all(|v| *v > 0.0) {
                    Axis::log(&losses, Format::Number)
                } else {
                    None
                };
                let loss_log = loss_axis.is_some();
                let at = t.map_or_else(String::new, |t| format!(", T = {t}"));
                Row {
                    legend: styled
                        .iter()
                        .map(|(l, colour, dashed)| LegendItem {
                            label: l.network.clone(),
                            colour: *colour,
                            stroke: if *dashed {
                                Stroke::Dashed
                            } else {
                                Stroke::Solid
                            },
                            marker: None,
                        })
                        .collect(),
                    accuracy: Panel {
                        title: format!("test accuracy{at}"),
                        x: x.clone(),
                        y: linear_axis(&accuracies, Format::Percent),
                        x_desc: "epoch".into(),
                        y_desc: "test accuracy".into(),
                        lines: accuracy,
                    },
                    loss: Panel {
                        title: format!("training loss{at}"),
                        x,
                        y: loss_axis.unwrap_or_else(|| linear_axis(&losses, Format::Number)),
                        x_desc: "epoch".into(),
                        y_desc: format!(
                            "mean loss at the training T{}",
                            if loss_log { ", log scale" } else { "" }
                        ),
                        lines: loss,
                    },
                }
            })
            .collect();
        Some(TrainingFigure { rows })
    }
}

impl Figure for TrainingFigure {
    fn size(&self) -> (u32, u32) {
        let height: f64 = self
            .rows
            .iter()
            .map(|r| legend::height(&r.legend, WIDTH) + PANEL_HEIGHT)
            .sum();
        (WIDTH as u32, height as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: &Style,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let mut rest = root.clone();
        for row in &self.rows {
            let legend_height = legend::height(&row.legend, WIDTH);
            let (this, below) = rest.split_vertically(style.px(legend_height + PANEL_HEIGHT));
            let (top, panels) = this.split_vertically(style.px(legend_height));
            legend::draw(&top, &row.legend, style)?;
            let (left, right) = panels.split_horizontally(style.px(WIDTH / 2.0));
            panel::draw(&left, &row.accuracy, style)?;
            panel::draw(&right, &row.loss, style)?;
            rest = below;
        }
        Ok(())
    }
}
