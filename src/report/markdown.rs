//! The report as markdown: the same blocks as the HTML page, figures as links to their PNG
//! files under `plots/`.

use super::document::{Block, Cell, Table, Tone};
use super::plots::Plot;

/// The page with `title`, `blocks` and the `plots` they refer to.
pub fn markdown(blocks: &[Block], plots: &[Plot]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Heading(level, text, _) => {
                out.push_str(&format!(
                    "{} {}\n\n",
                    "#".repeat(*level as usize),
                    escape(text)
                ));
            }
            Block::Paragraph(text) => out.push_str(&format!("{}\n\n", escape(text))),
            Block::List(items) => {
                for item in items {
                    out.push_str(&format!("- {}\n", escape(item)));
                }
                out.push('\n');
            }
            Block::Table(table) => out.push_str(&table_markdown(table)),
            Block::Figure(i) => {
                if let Some(plot) = plots.get(*i) {
                    out.push_str(&format!(
                        "![Figure {}. {}](plots/{}.png)\n\n*Figure {}. {}.* {}\n\n",
                        i + 1,
                        plot.title,
                        plot.name,
                        i + 1,
                        escape(plot.title),
                        escape(&plot.caption)
                    ));
                }
            }
        }
    }
    out
}

fn table_markdown(table: &Table) -> String {
    let mut out = String::new();
    let header: Vec<String> = table.header.iter().map(|h| cell_text(h)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let align: Vec<&str> = match table.rows.first() {
        Some((_, cells)) => cells
            .iter()
            .map(|c| if c.numeric { "---:" } else { "---" })
            .collect(),
        None => table.header.iter().map(|_| "---").collect(),
    };
    out.push_str(&format!("|{}|\n", align.join("|")));
    for (_, cells) in &table.rows {
        let cells: Vec<String> = cells.iter().map(cell_markdown).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    out
}

fn cell_markdown(cell: &Cell) -> String {
    let text = cell_text(&cell.text);
    match cell.tone {
        Tone::Bad => format!("**{text}**"),
        Tone::Muted => format!("*{text}*"),
        Tone::Plain | Tone::Good | Tone::Warn => text,
    }
}

/// Text safe inside a table cell: pipes escaped, no line breaks.
fn cell_text(text: &str) -> String {
    escape(text).replace('|', "\\|")
}

/// `text` with the characters markdown would read as markup escaped, on one line: a line
/// break (from a file name, say) would end a heading or a table row and start new markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#') {
            out.push('\\');
        }
        out.push(if matches!(c, '\n' | '\r') { ' ' } else { c });
    }
    out
}
