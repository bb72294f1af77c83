//! Standard output of every command of both binaries: a reader that goes away early (`| head`) ends the
//! output quietly, and a write that fails otherwise (`> /dev/full`) is an error.
//!
//! `println!` panics when stdout is closed or full; every command prints through [`Stdout`]
//! instead. Once the reader has closed the pipe, further lines are dropped and the command
//! still succeeds (exit 0, documented in docs/exit-codes.md): what was asked for,
//! files written included, is done, and only its echo on the terminal is cut short.

use std::fmt;
use std::io::{self, Write};

use crate::error::{Error, Result};

/// The process's standard output as one command writes it.
pub struct Stdout {
    inner: io::Stdout,
    closed: bool,
}

impl Stdout {
    /// Standard output, not yet written to.
    pub fn new() -> Self {
        Stdout {
            inner: io::stdout(),
            closed: false,
        }
    }

    /// Writes `text` as it is.
    pub fn print(&mut self, text: fmt::Arguments<'_>) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let written = self.inner.lock().write_fmt(text);
        self.settle(written)
    }

    /// Writes `text` and a line break.
    pub fn line(&mut self, text: fmt::Arguments<'_>) -> Result<()> {
        self.print(format_args!("{text}\n"))
    }

    /// Flushes what is buffered, so that a full disk is seen before the command succeeds.
    pub fn finish(mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.inner.flush();
        self.settle(flushed)
    }

    fn settle(&mut self, result: io::Result<()>) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(source) => Err(Error::Write {
                path: "standard output".into(),
                source,
            }),
        }
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

/// `outln!(out, "...", args)`: one line on a [`Stdout`], returning its `Result`.
#[macro_export]
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}
