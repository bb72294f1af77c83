//! Figure (c): success rate of every attack per kind of training, one bar chart per
//! temperature (the undistilled baseline in each). Attacks with budgets are shown at their
//! largest budget; minimal-perturbation attacks at any distortion.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Format, Ticked};
use super::budget::norm_symbol;
use super::figure::Figure;
use super::legend::{self, LegendItem, Stroke};
use super::panel::{DESC, TICKS, TITLE};
use super::style::{rgb, Style, GRID};
use crate::report::audited::AuditedModel;
use crate::report::lineup::{ChainKind, Lineup, Rgb};

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 320.0;

/// One attack at one budget: a group of bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The attack.
    pub attack: String,
    /// Its norm.
    pub norm: String,
    /// The budget; `None` for a minimal-perturbation attack.
    pub budget: Option<f64>,
}

impl Condition {
    /// `fgsm ε=0.3 L∞` or `cw-l2 minimal`.
    pub fn label(&self) -> String {
        match self.budget {
            Some(b) => format!("{} {} ε={b}", self.attack, norm_symbol(&self.norm)),
            None => format!("{} minimal", self.attack),
        }
    }
}

/// Every attack of the shown models at its largest budget, in file order.
pub fn conditions(models: &[AuditedModel], lineup: &Lineup) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = Vec::new();
    for e in &lineup.entries {
        for r in &models[e.model].rows {
            match conditions
                .iter_mut()
                .find(|c| c.attack == r.attack && c.norm == r.norm)
            {
                Some(c) => {
                    if let (Some(b), Some(old)) = (r.budget, c.budget) {
                        c.budget = Some(old.max(b));
                    }
                }
                None => conditions.push(Condition {
                    attack: r.attack.clone(),
                    norm: r.norm.clone(),
                    budget: r.budget,
                }),
            }
        }
    }
    conditions
}

/// One bar chart: a bar per (condition, series).
struct BarPanel {
    title: String,
    /// Per condition, per shown series: the success rate and colour.
    bars: Vec<Vec<Option<(f64, Rgb)>>>,
}

/// Figure (c).
pub struct SuccessFigure {
    legend: Vec<LegendItem>,
    labels: Vec<String>,
    panels: Vec<BarPanel>,
}

impl SuccessFigure {
    /// The figure, or `None` when nothing was attacked.
    pub fn new(models: &[AuditedModel], lineup: &Lineup) -> Option<SuccessFigure> {
        let conditions = conditions(models, lineup);
        if conditions.is_empty() {
            return None;
        }
        let temperatures: Vec<Option<f64>> = match lineup.chain_temperatures() {
            t if t.is_empty() => vec![None],
            t => t.into_iter().map(Some).collect(),
        };
        let panels = temperatures
            .iter()
            .map(|&t| {
                // The baseline, then each series' model at this temperature.
                let shown: Vec<_> = lineup
                    .entries
                    .iter()
                    .filter(|e| {
                        t.is_none()
                            || lineup.series[e.series].kind == ChainKind::Undistilled
                            || e.temperature == t
                    })
                    .collect();
                let bars = conditions
                    .iter()
                    .map(|c| {
                        shown
                            .iter()
                            .map(|e| {
                                let row = models[e.model].row(&c.attack, c.budget)?;
                                Some((row.success_rate?, lineup.series[e.series].colour))
                            })
                            .collect()
                    })
                    .collect();
                BarPanel {
                    title: match t {
                        Some(t) => format!("attack success rate, distilled at T = {t}"),
                        None => "attack success rate".into(),
                    },
                    bars,
                }
            })
            .collect();
        let legend = lineup
            .series
            .iter()
            .enumerate()
            .filter(|(i, _)| !lineup.entries_of(*i).is_empty())
            .map(|(_, s)| LegendItem {
                label: if s.kind == ChainKind::Undistilled {
                    format!("{} (T = 1)", s.label)
                } else {
                    s.label.clone()
                },
                colour: s.colour,
                stroke: Stroke::Swatch,
                marker: None,
            })
            .collect();
        Some(SuccessFigure {
            legend,
            labels: conditions.iter().map(Condition::label).collect(),
            panels,
        })
    }
}

impl Figure for SuccessFigure {
    fn size(&self) -> (u32, u32) {
        (
            WIDTH as u32,
            (legend::height(&self.legend, WIDTH) + self.panels.len() as f64 * PANEL_HEIGHT) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: &Style,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (top, rest) = root.split_vertically(style.px(legend::height(&self.legend, WIDTH)));
        legend::draw(&top, &self.legend, style)?;
        let groups = self.labels.len();
        let centres: Vec<f64> = (0..groups).map(|g| g as f64 + 0.5).collect();
        let y = Axis::linear(0.0, 1.0, Format::Percent);
        for (area, panel) in rest
            .split_evenly((self.panels.len(), 1))
            .iter()
            .zip(&self.panels)
        {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, style.text(TITLE))
                .margin(style.px(10.0))
                .x_label_area_size(style.px(36.0))
                .y_label_area_size(style.px(76.0))
                .build_cartesian_2d(
                    Ticked {
                        lo: 0.0,
                        hi: groups as f64,
                        ticks: centres.clone(),
                    },
                    y.coord(),
                )?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc("success rate (verified)")
                .axis_desc_style(style.text(DESC))
                .label_style(style.text(TICKS))
                .x_label_formatter(&|t| {
                    self.labels
                        .get(t.floor().max(0.0) as usize)
                        .cloned()
                        .unwrap_or_default()
                })
                .y_label_formatter(&|t| y.label(*t))
                .bold_line_style(GRID.stroke_width(style.upx(1.0).max(1)))
                .light_line_style(TRANSPARENT)
                .axis_style(BLACK.stroke_width(style.upx(1.0).max(1)))
                .draw()?;
            for (g, bars) in panel.bars.iter().enumerate() {
                let slot = 0.8 / bars.len().max(1) as f64;
                for (k, bar) in bars.iter().enumerate() {
                    if let Some((rate, colour)) = bar {
                        let x0 = g as f64 + 0.1 + k as f64 * slot;
                        chart.draw_series(std::iter::once(Rectangle::new(
                            [(x0 + slot * 0.06, 0.0), (x0 + slot * 0.94, *rate)],
                            rgb(*colour).filled(),
                        )))?;
                    }
                }
            }
        }
        Ok(())
    }
}
