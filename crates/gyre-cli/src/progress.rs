//! Progress bars on stderr (hidden when stderr is not a terminal, so pipes and logs stay clean).

use gyre_ops::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;

pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars {
            bar: Mutex::new(None),
            quiet,
        }
    }
}

impl Progress for Bars {
    fn start(&self, phase: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if self.quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        if total == 0 {
            // Work of unknown size: a spinner with the elapsed time.
            bar.set_style(
                ProgressStyle::with_template("{prefix:>10.cyan.bold} {spinner} {elapsed}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        } else {
            bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10.cyan.bold} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {elapsed}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        }
        bar.set_prefix(phase.to_string());
        if let Some(old) = self.bar.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
