//! Figure (b): accuracy under attack against the budget, one panel per attack with a
//! budget, one line per kind of training and temperature (colour: kind; marker:
//! temperature). Each line starts at budget 0 with the clean accuracy.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Format};
use super::figure::Figure;
use super::legend::{self, LegendItem, Stroke};
use super::panel::{self, Line, Panel};
use super::style::{Marker, Style, MARKERS};
use crate::report::audited::AuditedModel;
use crate::report::lineup::{ChainKind, Lineup};

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 340.0;
/// Dark grey of the temperature markers in the legend.
const MARKER_KEY: (u8, u8, u8) = (70, 70, 70);

/// Figure (b).
pub struct BudgetFigure {
    legend: Vec<LegendItem>,
    panels: Vec<Panel>,
}

/// `linf` as `L∞`, `l2` as `L2`, `l0` as `L0`.
pub fn norm_symbol(norm: &str) -> String {
    match norm {
        "linf" => "L∞".into(),
        "l2" => "L2".into(),
        "l0" => "L0".into(),
        other => other.to_string(),
    }
}

/// The attacks with a budget among the shown models' rows, as (attack, norm), in file order.
pub fn budgeted_attacks(models: &[AuditedModel], lineup: &Lineup) -> Vec<(String, String)> {
    let mut attacks: Vec<(String, String)> = Vec::new();
    for e in &lineup.entries {
        for r in models[e.model].rows.iter().filter(|r| r.budget.is_some()) {
            let key = (r.attack.clone(), r.norm.clone());
            if !attacks.contains(&key) {
                attacks.push(key);
            }
        }
    }
    attacks
}

impl BudgetFigure {
    /// The figure, or `None` when no attack has a budget.
    pub fn new(models: &[AuditedModel], lineup: &Lineup) -> Option<BudgetFigure> {
        let attacks = budgeted_attacks(models, lineup);
        if attacks.is_empty() {
            return None;
        }
        let temperatures = lineup.chain_temperatures();
        let marker_of = |t: Option<f64>| {
            t.and_then(|t| temperatures.iter().position(|x| *x == t))
                .map_or(MARKERS[0], |i| MARKERS[i % MARKERS.len()])
        };
        let panels = attacks
            .iter()
            .map(|(attack, norm)| {
                let mut lines = Vec::new();
                let mut max_budget: f64 = 0.0;
                for e in &lineup.entries {
                    let model = &models[e.model];
                    let mut rows: Vec<(f64, f64)> = model
                        .rows
                        .iter()
                        .filter(|r| &r.attack == attack && &r.norm == norm)
                        .filter_map(|r| Some((r.budget?, r.adversarial_accuracy)))
                        .collect();
                    if rows.is_empty() {
                        continue;
                    }
                    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
                    max_budget = rows.iter().fold(max_budget, |m, r| m.max(r.0));
                    let series = &lineup.series[e.series];
                    let baseline = series.kind == ChainKind::Undistilled;
                    let mut points = vec![(0.0, model.clean_accuracy)];
                    points.extend(rows);
                    lines.push(Line {
                        points,
                        colour: series.colour,
                        dashed: baseline,
                        marker: Some(if baseline {
                            Marker::Ring
                        } else {
                            marker_of(e.temperature)
                        }),
                    });
                }
                let symbol = norm_symbol(norm);
                Panel {
                    title: format!("{attack} ({symbol} budget)"),
                    x: Axis::linear(0.0, max_budget * 1.05, Format::Number),
                    y: Axis::linear(0.0, 1.0, Format::Percent),
                    x_desc: format!("budget ε, {symbol} (input scale)"),
                    y_desc: "accuracy under attack".into(),
                    lines,
                }
            })
            .collect();
        let mut legend = legend::kinds(lineup, |baseline| baseline.then_some(Marker::Ring));
        if temperatures.len() > 1 {
            legend.extend(temperatures.iter().map(|t| LegendItem {
                label: format!("T = {t}"),
                colour: MARKER_KEY,
                stroke: Stroke::None,
                marker: Some(marker_of(Some(*t))),
            }));
        }
        Some(BudgetFigure { legend, panels })
    }
}

impl Figure for BudgetFigure {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(columns(self.panels.len())) as f64;
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
        let columns = columns(self.panels.len());
        let rows = self.panels.len().div_ceil(columns);
        for (area, panel) in rest.split_evenly((rows, columns)).iter().zip(&self.panels) {
            panel::draw(area, panel, style)?;
        }
        Ok(())
    }
}

fn columns(panels: usize) -> usize {
    if panels == 1 {
        1
    } else {
        2
    }
}
