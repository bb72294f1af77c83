//! Figure (a): clean accuracy, the two sensitivities and the minimal L2 perturbation
//! against the distillation temperature, one line per kind of training; the undistilled
//! baseline (trained at T = 1) is a dashed horizontal line.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Format};
use super::figure::Figure;
use super::legend::{self, LegendItem};
use super::panel::{self, Line, Panel};
use super::style::{Marker, Style};
use crate::report::audited::AuditedModel;
use crate::report::lineup::{ChainKind, Lineup};

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 330.0;

/// Figure (a).
pub struct TemperatureFigure {
    legend: Vec<LegendItem>,
    panels: Vec<Panel>,
}

/// One quantity plotted against the temperature.
struct Metric {
    title: String,
    y_desc: &'static str,
    log: bool,
    format: Format,
    value: fn(&AuditedModel) -> Option<f64>,
}

/// The name of the minimal-perturbation L2 attack behind the robustness panel: `C&W L2`,
/// `DeepFool`, or both when some models lack a C&W run.
pub fn robustness_attack(models: &[&AuditedModel]) -> &'static str {
    let attacks: Vec<&str> = models
        .iter()
        .filter_map(|m| m.l2_robustness().map(|r| r.attack.as_str()))
        .collect();
    if attacks.iter().all(|a| *a == "cw-l2") {
        "C&W L2"
    } else if attacks.iter().all(|a| *a == "deepfool") {
        "DeepFool"
    } else {
        "C&W L2 (DeepFool where C&W did not run)"
    }
}

impl TemperatureFigure {
    /// The figure for `lineup`, or `None` when no chain has a temperature.
    pub fn new(models: &[AuditedModel], lineup: &Lineup) -> Option<TemperatureFigure> {
        let temperatures = lineup.chain_temperatures();
        let x = Axis::log_at(&temperatures)?;
        let shown: Vec<&AuditedModel> = lineup.entries.iter().map(|e| &models[e.model]).collect();
        let metrics = [
            Metric {
                title: "clean accuracy".into(),
                y_desc: "clean accuracy",
                log: false,
                format: Format::Percent,
                value: |m| Some(m.clean_accuracy),
            },
            Metric {
                title: "sensitivity of the logits".into(),
                y_desc: "mean |∂Σ logits / ∂x|",
                log: true,
                format: Format::Number,
                value: |m| Some(m.sensitivity_logit_sum),
            },
            Metric {
                title: "sensitivity of the softmax (at T = 1)".into(),
                y_desc: "mean |∂ softmax / ∂x|",
                log: true,
                format: Format::Number,
                value: |m| Some(m.sensitivity_softmax),
            },
            Metric {
                title: format!(
                    "robustness: {} minimal perturbation",
                    robustness_attack(&shown)
                ),
                y_desc: "mean min L2 (input scale)",
                log: false,
                format: Format::Number,
                value: |m| m.l2_robustness().and_then(|r| r.mean_min_l2),
            },
        ];
        let panels = metrics
            .iter()
            .map(|metric| metric_panel(metric, models, lineup, &x))
            .collect();
        let legend = legend::kinds(lineup, |baseline| (!baseline).then_some(Marker::Circle));
        Some(TemperatureFigure { legend, panels })
    }
}

fn metric_panel(metric: &Metric, models: &[AuditedModel], lineup: &Lineup, x: &Axis) -> Panel {
    let values: Vec<f64> = lineup
        .entries
        .iter()
        .filter_map(|e| (metric.value)(&models[e.model]))
        .collect();
    let y = if metric.log {
        Axis::log(&values, metric.format)
    } else {
        None
    }
    .unwrap_or_else(|| linear_axis(&values, metric.format));
    let (x_lo, x_hi) = (x.value(x.lo), x.value(x.hi));
    // Series at one temperature are drawn a little apart, so that equal values stay visible.
    let chains: Vec<usize> = (0..lineup.series.len())
        .filter(|&i| lineup.series[i].kind != ChainKind::Undistilled)
        .collect();
    let dodge = |i: usize| {
        let k = chains.iter().position(|&c| c == i).unwrap_or(0) as f64;
        10f64.powf((k - (chains.len() as f64 - 1.0) / 2.0) * (x.hi - x.lo) * 0.025)
    };
    let mut lines = Vec::new();
    for (i, series) in lineup.series.iter().enumerate() {
        let entries = lineup.entries_of(i);
        if series.kind == ChainKind::Undistilled {
            for e in entries {
                if let Some(v) = (metric.value)(&models[e.model]) {
                    lines.push(Line {
                        points: vec![(x_lo, v), (x_hi, v)],
                        colour: series.colour,
                        dashed: true,
                        marker: None,
                    });
                }
            }
            continue;
        }
        let points: Vec<(f64, f64)> = entries
            .iter()
            .filter_map(|e| Some((e.temperature? * dodge(i), (metric.value)(&models[e.model])?)))
            .collect();
        if !points.is_empty() {
            lines.push(Line {
                points,
                colour: series.colour,
                dashed: false,
                marker: Some(Marker::Circle),
            });
        }
    }
    Panel {
        title: metric.title.clone(),
        x: x.clone(),
        y,
        x_desc: "distillation temperature T (log scale)".into(),
        y_desc: format!(
            "{}{}",
            metric.y_desc,
            if metric.log { ", log scale" } else { "" }
        ),
        lines,
    }
}

/// A linear axis over `values` with a margin; from 0 for distances, within [0, 1] for
/// fractions.
pub fn linear_axis(values: &[f64], format: Format) -> Axis {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let min = finite.iter().copied().reduce(f64::min).unwrap_or(0.0);
    let max = finite.iter().copied().reduce(f64::max).unwrap_or(1.0);
    match format {
        Format::Percent => {
            let room = ((max - min) * 0.15).max(0.02);
            Axis::linear((min - room).max(0.0), (max + room).min(1.0), format)
        }
        Format::Number => Axis::linear(0.0, if max > 0.0 { max * 1.12 } else { 1.0 }, format),
    }
}

impl Figure for TemperatureFigure {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(2) as f64;
        (
            WIDTH as u32,
            (legend::height(&self.legend, WIDTH) + rows * PANEL_HEIGHT) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: &Style,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (top, rest) = root.split_vertically(style.px(legend::height(&self.legend, WIDTH)));
        legend::draw(&top, &self.legend, style)?;
        let rows = self.panels.len().div_ceil(2);
        for (area, panel) in rest.split_evenly((rows, 2)).iter().zip(&self.panels) {
            panel::draw(area, panel, style)?;
        }
        Ok(())
    }
}
