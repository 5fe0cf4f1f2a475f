//! Progress on stderr for long work (part of the binary, not the library): drawn only when
//! stderr is a terminal, `--quiet` is not given, and the work has taken more than a second.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its progress is drawn.
const DELAY: Duration = Duration::from_secs(1);

/// A spinner or a bar that appears after [`DELAY`] and is cleared when dropped.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Whether the work is done; guards drawing against finishing.
    done: Arc<Mutex<bool>>,
}

impl Progress {
    /// A spinner with a message, for work of unknown length.
    pub fn spinner(message: &str, quiet: bool) -> Progress {
        Progress::new(None, message, quiet)
    }

    /// A bar counting up to `len`, for work of known length.
    pub fn bar(len: u64, message: &str, quiet: bool) -> Progress {
        Progress::new(Some(len), message, quiet)
    }

    fn new(len: Option<u64>, message: &str, quiet: bool) -> Progress {
        let done = Arc::new(Mutex::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None, done };
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        let style = match len {
            Some(_) => ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed}] {wide_bar} {pos}/{len} (eta {eta})",
            ),
            None => ProgressStyle::with_template("{spinner} {msg} [{elapsed}]"),
        };
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        let (b, d) = (bar.clone(), done.clone());
        let _ = std::thread::Builder::new()
            .name("regopt-progress".into())
            .spawn(move || {
                let step = Duration::from_millis(50);
                let mut waited = Duration::ZERO;
                while waited < DELAY {
                    std::thread::sleep(step);
                    waited += step;
                    if *d.lock().unwrap_or_else(|e| e.into_inner()) {
                        return;
                    }
                }
                let finished = d.lock().unwrap_or_else(|e| e.into_inner());
                if !*finished {
                    b.set_draw_target(ProgressDrawTarget::stderr());
                    b.enable_steady_tick(Duration::from_millis(120));
                }
            });
        Progress {
            bar: Some(bar),
            done,
        }
    }

    /// A callback for the library's progress reports `(done, total)`.
    pub fn callback(&self) -> Option<Arc<dyn Fn(u64, u64) + Send + Sync>> {
        let bar = self.bar.clone()?;
        Some(Arc::new(move |pos, len| {
            bar.set_length(len);
            bar.set_position(pos);
        }))
    }

    /// Clear the progress from the terminal.
    pub fn finish(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if !*done {
            *done = true;
            if let Some(b) = &self.bar {
                b.finish_and_clear();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
