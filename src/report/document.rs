//! The report page as a list of blocks (headings, paragraphs, tables, figures), written
//! once and rendered both as HTML and as markdown.

use super::lineup::Rgb;

/// How a table cell is emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Plain.
    Plain,
    /// Good news (a clear masking verdict, a passed check).
    Good,
    /// A warning (inconclusive).
    Warn,
    /// Bad news (masked, flagged).
    Bad,
    /// Nothing to say (not diagnosed, not applicable).
    Muted,
}

/// One table cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Its text.
    pub text: String,
    /// Its emphasis.
    pub tone: Tone,
    /// A colour swatch before the text (a kind of training's colour).
    pub swatch: Option<Rgb>,
    /// Whether it holds a number (right-aligned).
    pub numeric: bool,
}

impl Cell {
    /// A plain text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            tone: Tone::Plain,
            swatch: None,
            numeric: false,
        }
    }

    /// A right-aligned number.
    pub fn number(text: impl Into<String>) -> Cell {
        Cell {
            numeric: true,
            ..Cell::text(text)
        }
    }

    /// The same cell with `tone`.
    pub fn tone(self, tone: Tone) -> Cell {
        Cell { tone, ..self }
    }

    /// The same cell with a colour swatch.
    pub fn swatch(self, colour: Rgb) -> Cell {
        Cell {
            swatch: Some(colour),
            ..self
        }
    }
}

/// A table with a header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// An `id` for the HTML element.
    pub id: String,
    /// The column headers.
    pub header: Vec<String>,
    /// The rows; a row starting a group (a new temperature) is marked.
    pub rows: Vec<(bool, Vec<Cell>)>,
}

/// One block of the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1 to 3, and an anchor id.
    Heading(u8, String, String),
    /// A paragraph of plain text.
    Paragraph(String),
    /// A list of plain-text items.
    List(Vec<String>),
    /// A table.
    Table(Table),
    /// A figure: the index of a plot.
    Figure(usize),
}
