//! The line of a CSV record in its file as an editor shows it: 1-based, the header on line
//! 1, blank lines counted.
//!
//! The csv reader's own line number is taken where it began reading a record, before the
//! blank lines it skips, so a record after a blank line would be named one line too early.

/// The line on which the record whose reading began at byte `start` of `bytes` starts.
pub fn line_of(bytes: &[u8], start: u64) -> u64 {
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let (before, after) = bytes.split_at(start);
    let newlines = |part: &[u8]| part.iter().filter(|&&b| b == b'\n').count() as u64;
    let skipped = after
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count() as u64;
    1 + newlines(before) + skipped
}

/// [`line_of`] the position of a record or error; 0 when the reader gave none.
pub fn line_at(bytes: &[u8], position: Option<&csv::Position>) -> u64 {
    position.map_or(0, |p| line_of(bytes, p.byte()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_after_blank_lines_is_named_on_its_own_line() {
        let text = b"a,b\n1,2\n\n\r\n3,4\n";
        let mut reader = csv::Reader::from_reader(&text[..]);
        let lines: Vec<u64> = reader
            .records()
            .map(|r| line_at(text, r.unwrap().position()))
            .collect();
        assert_eq!(lines, vec![2, 5]);
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, u64::MAX), 6);
    }
}
