//! Progress of long steps (key generation, bulk uploads): an `indicatif` bar with ETA on a
//! terminal; one plain line per step otherwise (logs, pipes, tests), so nothing is silent.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A count of steps.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `total` steps of `what`.
    pub fn new(total: u64, what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Progress { bar: Some(bar) }
    }

    /// One step done; `line` says what (printed as is without a terminal).
    pub fn step(&self, line: &str) {
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.set_message(line.trim().to_string());
            }
            None => eprintln!("{line}"),
        }
    }

    /// Says what is running now (a terminal only).
    pub fn running(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{what}…"));
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
