//! One chart of lines: a title, two axes with labelled ticks and units, and lines with
//! markers; the building block of the temperature, budget and training figures.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::style::{draw_marker, Marker, Style, GRID};
use crate::report::lineup::Rgb;

/// One line of a panel, in data space.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Its points, in order.
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub colour: Rgb,
    /// Dashed (the undistilled baseline) or solid.
    pub dashed: bool,
    /// The marker at each point, if any.
    pub marker: Option<Marker>,
}

/// A chart of lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The title above it.
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// The horizontal axis' label, with its unit.
    pub x_desc: String,
    /// The vertical axis' label, with its unit.
    pub y_desc: String,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// Title, tick and axis-label sizes in CSS pixels.
pub const TITLE: f64 = 17.0;
/// Tick label size.
pub const TICKS: f64 = 14.0;
/// Axis label size.
pub const DESC: f64 = 15.0;

/// Draws `panel` into `area`.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    style: &Style,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, style.text(TITLE))
        .margin(style.px(10.0))
        .x_label_area_size(style.px(46.0))
        .y_label_area_size(style.px(76.0))
        .build_cartesian_2d(panel.x.coord(), panel.y.coord())?;
    let (x, y) = (&panel.x, &panel.y);
    chart
        .configure_mesh()
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        .axis_desc_style(style.text(DESC))
        .label_style(style.text(TICKS))
        .x_label_formatter(&|t| x.label(*t))
        .y_label_formatter(&|t| y.label(*t))
        .bold_line_style(GRID.stroke_width(style.upx(1.0).max(1)))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(style.upx(1.0).max(1)))
        .draw()?;
    for line in &panel.lines {
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|&(px, py)| (x.map(px), y.map(py)))
            .collect();
        let stroke = style.line(line.colour, 2.2);
        if line.dashed {
            chart.draw_series(DashedLineSeries::new(
                points.clone(),
                style.px(7.0),
                style.px(5.0),
                stroke,
            ))?;
        } else if points.len() > 1 {
            chart.draw_series(LineSeries::new(points.clone(), stroke))?;
        }
        if let Some(shape) = line.marker {
            for &p in &points {
                draw_marker(chart.plotting_area(), p, shape, line.colour, style)?;
            }
        }
    }
    Ok(())
}
