//! Text from model files (names, op types, metadata, doc strings) and from the errors that
//! quote it, made safe for a terminal: control characters are escaped, so a newline cannot
//! forge an extra line and an ANSI escape cannot recolour or rewrite the screen.

use std::borrow::Cow;

/// `text` with every control character (newline, tab, escape, DEL, C1 controls, ...)
/// written as its Rust escape (`\n`, `\t`, `\u{1b}`); other text unchanged.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_ansi_escapes_from_models_are_escaped() {
        assert_eq!(printable("conv_0"), "conv_0");
        assert_eq!(printable("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m"),
            "\\u{1b}[31mred\\u{1b}[0m"
        );
        assert_eq!(printable("\u{9b}2J\r"), "\\u{9b}2J\\r");
        assert_eq!(printable("héllo ✓"), "héllo ✓");
    }
}
