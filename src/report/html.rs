//! The report as one self-contained HTML page: inline CSS, figures as inline SVG, no
//! scripts and no external references, so it opens offline and prints as it shows.

use super::document::{Block, Cell, Table, Tone};
use super::plots::Plot;

const CSS: &str = "\
body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;color:#1a1a1a;background:#fff;\
margin:0 auto;padding:24px 32px 48px;max-width:1200px;line-height:1.45;font-size:15px}\
h1{font-size:26px;margin:0 0 8px}h2{font-size:20px;margin:32px 0 10px;border-bottom:1px solid #ccc;\
padding-bottom:4px}h3{font-size:16px;margin:22px 0 6px}\
nav{font-size:14px;margin:0 0 16px;color:#555}nav a{color:#0060a8;margin-right:14px}\
table{border-collapse:collapse;margin:8px 0 12px;font-size:13.5px}\
th,td{border:1px solid #d4d4d4;padding:4px 8px;vertical-align:top}\
th{background:#f2f2f2;text-align:left;font-weight:600}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.group td{border-top:2px solid #777}\
.good{color:#106b21;font-weight:600}.warn{color:#8a5a00;font-weight:600}\
.bad{color:#b00020;font-weight:700}.muted{color:#777}\
.swatch{display:inline-block;width:11px;height:11px;margin-right:6px;border-radius:2px;\
vertical-align:-1px}\
ul{margin:6px 0 12px;padding-left:22px}li{margin:2px 0}\
figure{margin:18px 0 28px}figure svg{max-width:100%;height:auto;display:block}\
figcaption{font-size:14px;margin:0 0 6px;color:#333}\
#headline{font-size:14.5px}#headline td,#headline th{padding:5px 10px}";

/// The page with `title`, `blocks` and the `plots` they refer to.
pub fn html(title: &str, blocks: &[Block], plots: &[Plot]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(title)));
    out.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n"));
    for block in blocks {
        match block {
            Block::Heading(level, text, id) => {
                out.push_str(&format!(
                    "<h{level} id=\"{}\">{}</h{level}>\n",
                    escape(id),
                    escape(text)
                ));
                if *level == 1 {
                    out.push_str(&nav(blocks));
                }
            }
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape(text))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", escape(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(table) => out.push_str(&table_html(table)),
            Block::Figure(i) => {
                if let Some(plot) = plots.get(*i) {
                    out.push_str(&figure(plot, *i + 1));
                }
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Links to the second-level headings.
fn nav(blocks: &[Block]) -> String {
    let links: Vec<String> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading(2, text, id) => {
                Some(format!("<a href=\"#{}\">{}</a>", escape(id), escape(text)))
            }
            _ => None,
        })
        .collect();
    format!("<nav>{}</nav>\n", links.join(""))
}

fn table_html(table: &Table) -> String {
    let mut out = format!("<table id=\"{}\">\n<thead><tr>", escape(&table.id));
    for h in &table.header {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (i, (group, cells)) in table.rows.iter().enumerate() {
        out.push_str(if *group && i > 0 {
            "<tr class=\"group\">"
        } else {
            "<tr>"
        });
        for cell in cells {
            out.push_str(&cell_html(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

fn cell_html(cell: &Cell) -> String {
    let mut classes = Vec::new();
    if cell.numeric {
        classes.push("num");
    }
    match cell.tone {
        Tone::Plain => {}
        Tone::Good => classes.push("good"),
        Tone::Warn => classes.push("warn"),
        Tone::Bad => classes.push("bad"),
        Tone::Muted => classes.push("muted"),
    }
    let class = if classes.is_empty() {
        String::new()
    } else {
        format!(" class=\"{}\"", classes.join(" "))
    };
    let swatch = cell.swatch.map_or_else(String::new, |(r, g, b)| {
        format!("<span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>")
    });
    format!("<td{class}>{swatch}{}</td>", escape(&cell.text))
}

fn figure(plot: &Plot, number: usize) -> String {
    // The SVG document from its root element on, without any XML prologue.
    let svg = plot
        .rendered
        .svg
        .find("<svg")
        .map_or(plot.rendered.svg.as_str(), |i| &plot.rendered.svg[i..]);
    format!(
        "<figure id=\"plot-{}\">\n<figcaption><strong>Figure {number}. {}.</strong> {}</figcaption>\n{}\n</figure>\n",
        plot.name,
        escape(plot.title),
        escape(&plot.caption),
        svg.trim_end()
    )
}

/// `text` with `&`, `<`, `>` and `"` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
