//! Sizes, fonts, colours and markers shared by every figure, at a scale: 1 for the SVG
//! (CSS pixels), 2 for the PNG.

use plotters::coord::CoordTranslate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::lineup::Rgb;

/// The font family every figure's text uses: the name the font is registered under for the
/// PNG, and the CSS font list of the SVG text (so that browsers lay it out in the font the
/// figure was measured with, where they have it).
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

/// Light grey of the grid lines.
pub const GRID: RGBColor = RGBColor(222, 222, 222);

/// A marker shape; series at different temperatures differ by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A filled circle.
    Circle,
    /// A filled triangle pointing up.
    Triangle,
    /// A filled square.
    Square,
    /// A filled diamond.
    Diamond,
    /// A hollow circle.
    Ring,
}

/// The markers given to the 1st, 2nd, ... temperature, in turn; the baseline's is
/// [`Marker::Ring`].
pub const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Triangle,
    Marker::Square,
    Marker::Diamond,
];

/// The drawing scale of one rendering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Device pixels per CSS pixel.
    pub scale: f64,
}

impl Style {
    /// `v` CSS pixels in device pixels.
    pub fn px(&self, v: f64) -> i32 {
        (v * self.scale).round() as i32
    }

    /// `v` CSS pixels in device pixels, unsigned.
    pub fn upx(&self, v: f64) -> u32 {
        (v * self.scale).round().max(0.0) as u32
    }

    /// Black text whose letters are about `size` CSS pixels tall.
    pub fn text(&self, size: f64) -> TextStyle<'static> {
        (FONT_FAMILY, size * self.scale).into_font().color(&BLACK)
    }

    /// Text of `size` CSS pixels anchored at its left end, centred vertically.
    pub fn left_text(&self, size: f64) -> TextStyle<'static> {
        self.text(size).pos(Pos::new(HPos::Left, VPos::Center))
    }

    /// A line of `width` CSS pixels in `colour`.
    pub fn line(&self, colour: Rgb, width: f64) -> ShapeStyle {
        rgb(colour).stroke_width(self.upx(width).max(1))
    }

    /// The radius of a marker, in device pixels.
    pub fn marker_size(&self) -> i32 {
        self.px(4.5)
    }
}

/// A plotters colour.
pub fn rgb((r, g, b): Rgb) -> RGBColor {
    RGBColor(r, g, b)
}

/// A percentage axis label: `0.25` as `25%`.
pub fn percent(v: &f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// A compact number for a logarithmic axis: `0.001` as `10⁻³`, `20` as `20`.
pub fn compact(v: &f64) -> String {
    // Ten significant digits, so that 10^log10(x) reads as x.
    let v: f64 = format!("{v:.9e}").parse().unwrap_or(*v);
    if v == 0.0 {
        return "0".into();
    }
    let exponent = v.abs().log10().floor() as i32;
    if (-2..=3).contains(&exponent) {
        let digits = (2 - exponent).max(0) as usize;
        let text = format!("{v:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        let mantissa = v / 10f64.powi(exponent);
        let power = format!("10{}", superscript(exponent));
        if (mantissa - mantissa.round()).abs() < 1e-9 && mantissa.round() == 1.0 {
            power
        } else {
            format!("{mantissa:.1}×{power}")
        }
    }
}

/// `-3` as `⁻³`.
fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// Draws `marker` of `colour` centred at `at` (a data point of a chart's plotting area, or
/// a pixel of a plain area).
pub fn draw_marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    marker: Marker,
    colour: Rgb,
    style: &Style,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    CT::From: Clone + 'static,
{
    let r = style.marker_size();
    let fill = rgb(colour).filled();
    let origin = EmptyElement::at(at);
    match marker {
        Marker::Circle => area.draw(&(origin + Circle::new((0, 0), r, fill))),
        Marker::Ring => area.draw(
            &(origin + Circle::new((0, 0), r, rgb(colour).stroke_width(style.upx(1.6).max(1)))),
        ),
        Marker::Triangle => {
            let r = r + style.px(1.0);
            area.draw(
                &(origin + Polygon::new(vec![(0, -r), (r, r * 3 / 4), (-r, r * 3 / 4)], fill)),
            )
        }
        Marker::Square => {
            let r = r * 4 / 5;
            area.draw(&(origin + Rectangle::new([(-r, -r), (r, r)], fill)))
        }
        Marker::Diamond => {
            let r = r + style.px(1.0);
            area.draw(&(origin + Polygon::new(vec![(0, -r), (r, 0), (0, r), (-r, 0)], fill)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers_read_as_their_values() {
        assert_eq!(compact(&20.0), "20");
        assert_eq!(compact(&0.5), "0.5");
        assert_eq!(compact(&0.001), "10⁻³");
        assert_eq!(compact(&0.0025), "2.5×10⁻³");
        assert_eq!(compact(&12345.0), "1.2×10⁴");
        assert_eq!(compact(&1e-10), "10⁻¹⁰");
        assert_eq!(compact(&0.0), "0");
    }
}
