//! A figure drawn once as SVG (CSS pixels) and once as PNG (at twice the size, for print).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::png::encode_rgb;
use super::style::Style;

/// Device pixels per CSS pixel of the PNG renderings.
pub const PNG_SCALE: f64 = 2.0;

/// Something drawn into a drawing area of any backend.
pub trait Figure {
    /// Width and height in CSS pixels.
    fn size(&self) -> (u32, u32);

    /// Draws the figure into `root`, which is `size()` times `style.scale` pixels large.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: &Style,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// A figure as an SVG document and a PNG file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The SVG document.
    pub svg: String,
    /// The PNG file.
    pub png: Vec<u8>,
    /// The PNG's width and height in pixels.
    pub png_size: (u32, u32),
}

/// Renders `figure` as SVG and PNG; the error says what failed.
pub fn render<F: Figure>(figure: &F) -> Result<Rendered, String> {
    let (w, h) = figure.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        figure
            .draw(&root, &Style { scale: 1.0 })
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let (pw, ph) = (
        (f64::from(w) * PNG_SCALE) as u32,
        (f64::from(h) * PNG_SCALE) as u32,
    );
    let mut pixels = vec![0u8; pw as usize * ph as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (pw, ph)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        figure
            .draw(&root, &Style { scale: PNG_SCALE })
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let png = encode_rgb(pw, ph, &pixels).map_err(|e| e.to_string())?;
    Ok(Rendered {
        svg,
        png,
        png_size: (pw, ph),
    })
}
