//! The exit codes of both binaries: one enum, from which the `--help` text and the table of
//! `docs/exit-codes.md` are generated (a test keeps the file equal to [`markdown`], see `generated_docs`).

/// A documented process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// An unexpected error, or an output that could not be written.
    Internal,
    /// A bad command line.
    Usage,
    /// A bad or missing dataset, or audit folder.
    Data,
    /// A bad model file.
    Model,
    /// A missing runtime dependency.
    Dependency,
    /// A bad architecture spec or configuration.
    Config,
    /// A check that ran and failed (`gradcheck`).
    Check,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 8] = [
        Exit::Success,
        Exit::Internal,
        Exit::Usage,
        Exit::Data,
        Exit::Model,
        Exit::Dependency,
        Exit::Config,
        Exit::Check,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Internal => 1,
            Exit::Usage => 2,
            Exit::Data => 3,
            Exit::Model => 4,
            Exit::Dependency => 5,
            Exit::Config => 6,
            Exit::Check => 7,
        }
    }

    /// One short line for `--help`.
    fn summary(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Internal => "internal error, or an output that could not be written",
            Exit::Usage => "bad command line",
            Exit::Data => "bad or missing dataset, or audit folder (report, merge)",
            Exit::Model => {
                "bad model file (malformed, truncated, unsupported op, no image input, unsafe \
                 reference, not a regular file, over a size limit or against the onnx spec, \
                 non-finite logits, no gradient rule)"
            }
            Exit::Dependency => {
                "missing dependency (run scripts/setup; scripts/setup --cuda for the gpu)"
            }
            Exit::Config => "bad architecture spec or configuration",
            Exit::Check => {
                "a check failed (gradcheck: analytic gradients disagree with finite differences)"
            }
        }
    }

    /// Everything that leads to it, for the documentation's table.
    fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "success; also when the reader of standard output goes away early (`| head`): \
                 the output stops quietly, files are written in full"
            }
            Exit::Internal => {
                "internal error, or an output that could not be written (a report file, or \
                 standard output on a full disk: `cannot write standard output: ...`); \
                 `robustaudit-train`: ONNX Runtime rejected a session or a run"
            }
            Exit::Usage => {
                "bad command line: unknown flag or attack, shard folders `merge` refuses as \
                 a set (a shard missing or given twice, shards of different audits or split \
                 two ways), `--shard` beyond 2^20 shards, a report file of a schema version \
                 the command does not read, bad value (`--eps 0`, `--input-range 1,0`, \
                 an unknown `--attack-param`), a model without a recorded input range and no \
                 `--input-range`, images the model cannot take"
            }
            Exit::Data => {
                "bad or missing dataset (also a data or labels path that is a FIFO, device, \
                 folder or dangling link); for `report` and `merge`, a missing audit folder or \
                 file, a file cut short, a malformed or implausible CSV row (file and line \
                 named), or files edited or of more than one run"
            }
            Exit::Model => {
                "bad model file: malformed, truncated, unsupported op, no image input, unsafe \
                 external-data reference, not a regular file, over a size limit or breaking \
                 the ONNX spec (see [models.md](models.md#loading-models-safely)), NaN or \
                 infinite logits, no gradient rule (gradcheck)"
            }
            Exit::Dependency => {
                "missing dependency: run `scripts/setup` (`--cuda` for the GPU); for \
                 `report`, the font, or the renderer itself in an edge build \
                 (`--no-default-features`); for `robustaudit-train`, an ONNX Runtime library \
                 that cannot be loaded"
            }
            Exit::Config => "bad architecture spec or chain configuration",
            Exit::Check => {
                "a check failed: gradcheck found gradients that disagree with finite differences"
            }
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The exit-code table both binaries print after `--help`: one line per code, wrapped at 90
/// columns under its text.
pub fn help() -> String {
    const WIDTH: usize = 90;
    const INDENT: &str = "     ";
    let mut text = String::from("Exit codes:");
    for exit in Exit::ALL {
        let mut line = format!("\n  {}  ", exit.code());
        for word in exit.summary().split_whitespace() {
            if line.len() + 1 + word.len() > WIDTH && line.trim_start().len() > 3 {
                text.push_str(line.trim_end());
                line = format!("\n{INDENT}");
            } else if !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(word);
        }
        text.push_str(&line);
    }
    text
}

/// `docs/exit-codes.md`: every code with all that leads to it.
pub fn markdown() -> String {
    let mut text = String::from(
        "# Exit codes\n\n\
         Generated from `src/exit_code.rs` (a test keeps this file equal to it). Both binaries,\n\
         `robustaudit` and `robustaudit-train`, exit with these codes and print them after\n\
         `--help`. Errors are one lowercase line saying what and where, followed by a `hint:`\n\
         line when there is an obvious fix.\n\n\
         | code | meaning |\n|---|---|\n",
    );
    for exit in Exit::ALL {
        let meaning = exit.meaning().replace('|', "\\|");
        text.push_str(&format!("| {} | {meaning} |\n", exit.code()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (0..Exit::ALL.len() as u8).collect::<Vec<_>>());
    }

    #[test]
    fn the_help_lists_every_code_within_the_width() {
        let help = help();
        for exit in Exit::ALL {
            assert!(help.contains(&format!("\n  {}  ", exit.code())), "{help}");
            let first_word = exit.summary().split_whitespace().next().unwrap();
            assert!(help.contains(first_word), "{first_word}");
        }
        assert!(help.lines().all(|l| l.len() <= 90), "{help}");
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let listed: Vec<String> = Exit::ALL
            .iter()
            .flat_map(|e| {
                let mut w = vec![e.code().to_string()];
                w.extend(words(e.summary()));
                w
            })
            .collect();
        assert_eq!(words(help.trim_start_matches("Exit codes:")), listed);
    }

    #[test]
    fn the_documented_table_is_generated_from_the_enum() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/exit-codes.md");
        crate::generated_docs::check(&path, None, &markdown()).unwrap_or_else(|e| panic!("{e}"));
    }
}
