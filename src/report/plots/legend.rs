//! One legend for a whole figure (or one row of it), laid out left to right and wrapped:
//! each item a short line and/or marker in its colour, then its label.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{draw_marker, rgb, Marker, Style};
use crate::report::lineup::{ChainKind, Lineup, Rgb};

/// How an item's line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// No line: a marker or swatch alone.
    None,
    /// A solid line.
    Solid,
    /// A dashed line (the undistilled baseline).
    Dashed,
    /// A filled square swatch (bars).
    Swatch,
}

/// One entry of a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendItem {
    /// Its text.
    pub label: String,
    /// Its colour.
    pub colour: Rgb,
    /// Its line.
    pub stroke: Stroke,
    /// Its marker, if any.
    pub marker: Option<Marker>,
}

/// One item per kind of training in `lineup` that has models: the undistilled baseline
/// dashed and labelled with its temperature, the chains solid; `marker(baseline)` gives
/// each item's marker.
pub fn kinds(lineup: &Lineup, marker: impl Fn(bool) -> Option<Marker>) -> Vec<LegendItem> {
    lineup
        .series
        .iter()
        .enumerate()
        .filter(|(i, _)| !lineup.entries_of(*i).is_empty())
        .map(|(_, s)| {
            let baseline = s.kind == ChainKind::Undistilled;
            LegendItem {
                label: if baseline {
                    format!("{} (T = 1)", s.label)
                } else {
                    s.label.clone()
                },
                colour: s.colour,
                stroke: if baseline {
                    Stroke::Dashed
                } else {
                    Stroke::Solid
                },
                marker: marker(baseline),
            }
        })
        .collect()
}

const TEXT: f64 = 15.0;
const SWATCH: f64 = 28.0;
const GAP: f64 = 6.0;
const SPACING: f64 = 20.0;
const ROW: f64 = 24.0;
const PAD: f64 = 6.0;

/// Wider than DejaVu Sans' mean advance at [`TEXT`] pixels, so that a legend laid out by
/// measured widths never needs more rows than [`height`] reserves.
const CHAR_WIDTH: f64 = 8.5;

/// The height in CSS pixels a legend of `items` needs in a figure `width` CSS pixels wide.
pub fn height(items: &[LegendItem], width: f64) -> f64 {
    if items.is_empty() {
        return 0.0;
    }
    let (mut x, mut rows) = (PAD, 1.0);
    for item in items {
        let needed = SWATCH + GAP + CHAR_WIDTH * item.label.chars().count() as f64;
        if x > PAD && x + needed > width - PAD {
            x = PAD;
            rows += 1.0;
        }
        x += needed + SPACING;
    }
    rows * ROW + 2.0 * PAD
}

/// Where each item goes in an area `width` device pixels wide.
fn layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    width: u32,
    style: &Style,
) -> Result<Vec<(i32, i32)>, DrawingAreaErrorKind<DB::ErrorType>> {
    let text = style.text(TEXT);
    let (mut x, mut y) = (style.px(PAD), style.px(PAD));
    let mut places = Vec::with_capacity(items.len());
    for item in items {
        let (w, _) = root.estimate_text_size(&item.label, &text)?;
        let needed = style.px(SWATCH + GAP) + w as i32;
        if x > style.px(PAD) && x + needed > width as i32 - style.px(PAD) {
            x = style.px(PAD);
            y += style.px(ROW);
        }
        places.push((x, y));
        x += needed + style.px(SPACING);
    }
    Ok(places)
}

/// Draws `items` into `area`, which should be as tall as [`height`] says.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    style: &Style,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, _) = area.dim_in_pixel();
    let places = layout(area, items, width, style)?;
    for (item, &(x, y)) in items.iter().zip(&places) {
        let mid = y + style.px(ROW / 2.0);
        let (x0, x1) = (x, x + style.px(SWATCH - 4.0));
        let line = style.line(item.colour, 2.2);
        match item.stroke {
            Stroke::None => {}
            Stroke::Solid => area.draw(&PathElement::new(vec![(x0, mid), (x1, mid)], line))?,
            Stroke::Dashed => {
                let dash = style.px(5.0);
                let mut a = x0;
                while a < x1 {
                    let b = (a + dash).min(x1);
                    area.draw(&PathElement::new(vec![(a, mid), (b, mid)], line))?;
                    a += dash * 2 - style.px(1.0);
                }
            }
            Stroke::Swatch => {
                let r = style.px(6.0);
                let c = (x0 + x1) / 2;
                area.draw(&Rectangle::new(
                    [(c - r, mid - r), (c + r, mid + r)],
                    rgb(item.colour).filled(),
                ))?;
            }
        }
        if let Some(shape) = item.marker {
            draw_marker(area, ((x0 + x1) / 2, mid), shape, item.colour, style)?;
        }
        area.draw_text(
            &item.label,
            &style.left_text(TEXT),
            (x + style.px(SWATCH + GAP), mid),
        )?;
    }
    Ok(())
}
