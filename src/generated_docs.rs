//! Documentation generated from the code, and the check that keeps the files in `docs/`
//! equal to it: the command-line references (`docs/cli.md`, `docs/cli-train.md`, from the
//! clap definitions), the exit codes and the attack table.
//!
//! Each generated file has a test that calls [`check`]; `ROBUSTAUDIT_BLESS=1 cargo test`
//! rewrites the stale ones instead of failing.

use std::path::Path;

/// The environment variable that makes [`check`] rewrite a stale file.
pub const BLESS: &str = "ROBUSTAUDIT_BLESS";

/// Checks that `path` holds `generated`: the whole file, or with `section`, the text
/// between the lines `<!-- generated: SECTION -->` and `<!-- end generated -->`. With
/// `ROBUSTAUDIT_BLESS=1` a stale file (or section) is rewritten and the check passes.
pub fn check(path: &Path, section: Option<&str>, generated: &str) -> Result<(), String> {
    let current = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (before, documented, after) = match section {
        None => ("", current.as_str(), ""),
        Some(name) => {
            let open = format!("<!-- generated: {name} -->\n");
            let close = "<!-- end generated -->";
            let start = current
                .find(&open)
                .map(|i| i + open.len())
                .ok_or_else(|| format!("{} has no `{}` line", path.display(), open.trim()))?;
            let end = current[start..]
                .find(close)
                .map(|i| start + i)
                .ok_or_else(|| format!("{} has no `{close}` line", path.display()))?;
            (&current[..start], &current[start..end], &current[end..])
        }
    };
    if documented == generated {
        return Ok(());
    }
    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        return robustaudit_graph::atomic_file::write(
            path,
            format!("{before}{generated}{after}").as_bytes(),
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    let line = documented
        .lines()
        .zip(generated.lines())
        .position(|(d, g)| d != g)
        .unwrap_or_else(|| documented.lines().count().min(generated.lines().count()));
    Err(format!(
        "{} is stale from its line {} of the generated text on: run `{BLESS}=1 cargo test` to \
         regenerate it",
        path.display(),
        line + 1
    ))
}

/// Checks `command`'s definition (clap's own consistency checks, which panic) and that
/// `path` holds its [`cli_reference`].
pub fn check_cli_reference(command: clap::Command, path: &Path) -> Result<(), String> {
    command.clone().debug_assert();
    check(path, None, &cli_reference(command))
}

/// The command-line reference of a binary as markdown: its `--help`, then each
/// subcommand's, as the user sees them (the exit-code table that follows every help is
/// printed once, at the end).
pub fn cli_reference(command: clap::Command) -> String {
    let name = command.get_name().to_string();
    let mut command = command
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    command.build();
    let mut text = format!(
        "# `{name}` command-line reference\n\n\
         Generated from the binary's own `--help` (a test keeps this file equal to it).\n\n\
         ```text\n{}```\n",
        command.render_long_help()
    );
    for sub in command.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = sub.get_name().to_string();
        let mut sub = sub
            .clone()
            .after_help(None::<&str>)
            .after_long_help(None::<&str>)
            .bin_name(format!("{name} {sub_name}"));
        text.push_str(&format!(
            "\n## `{name} {sub_name}`\n\n```text\n{}```\n",
            sub.render_long_help()
        ));
    }
    text.push_str(&format!(
        "\n## Exit codes\n\n```text\n{}\n```\n\nWhat leads to each: [exit-codes.md](exit-codes.md).\n",
        crate::exit_code::help()
    ));
    // clap indents the blank lines inside an option's help; no trailing spaces in the file,
    // which editors would strip.
    text.lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_checked_between_its_markers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("page.md");
        let page = "intro\n<!-- generated: t -->\nold\n<!-- end generated -->\nrest\n";
        std::fs::write(&path, page).expect("write");
        assert!(check(&path, Some("t"), "old\n").is_ok());
        let err = check(&path, Some("t"), "new\n").expect_err("stale");
        assert!(err.contains("line 1"), "{err}");
        assert!(check(&path, Some("other"), "x").is_err());
        assert!(check(&path, None, page).is_ok());
        assert!(check(&path, None, "intro\n").is_err());
    }
}
