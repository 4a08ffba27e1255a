//! `chat-history import --user <id> --format F FILE`.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use domain::{ImportService, Limits, UserId};
use indicatif::{ProgressBar, ProgressStyle};

use super::Format;
use super::run::{ImportReport, Progress, import_file};
use crate::config::{ImportArgs, Settings};
use crate::startup::StartupError;

/// Plain progress lines (when stderr is not a terminal) come at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The summary `import` prints.
pub fn summary(report: &ImportReport) -> String {
    let mut out = format!(
        "imported {} threads ({} messages); skipped {} already imported; {} failed",
        report.threads_created,
        report.messages_created,
        report.threads_skipped,
        report.errors.len()
    );
    for issue in &report.errors {
        out.push_str(&format!("\nconversation {}: {}", issue.index, issue.detail));
    }
    out
}

/// Shows progress on stderr: a bar on a terminal, a line every few seconds otherwise.
struct Display {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Display {
    fn new(total_bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_bytes);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
        }
    }

    fn show(&mut self, progress: Progress) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(progress.bytes);
                bar.set_message(format!("{} conversations", progress.conversations));
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "import: {} conversations, {} of {} bytes read",
                    progress.conversations, progress.bytes, progress.total_bytes
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs the command: returns the summary to print and whether every conversation was
/// imported (or skipped); a file that is not whole, or a storage failure, is an error.
pub async fn import(
    settings: &Settings,
    args: &ImportArgs,
) -> Result<(String, bool), StartupError> {
    let user = UserId::parse(args.user.clone())
        .map_err(|e| StartupError::Settings(format!("--user: {e}")))?;
    let format: Format = args
        .format
        .parse()
        .map_err(|_| StartupError::Settings("--format: chat-history, chatgpt or claude".into()))?;
    let file = std::fs::File::open(&args.file)
        .map_err(|e| StartupError::Command(format!("{}: cannot open: {e}", args.file.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let store = crate::startup::open_migrated(settings).await?;
    let service = ImportService::new(
        store.thread_repository(),
        Limits {
            max_content_bytes: settings.max_content_bytes,
        },
    );
    let mut display = Display::new(total);
    let outcome = import_file(&service, &user, format, file, |p| display.show(p)).await;
    display.finish();
    store.close().await;
    let report = outcome.map_err(|e| {
        StartupError::Command(format!(
            "{}: {}",
            args.file.display(),
            crate::error::ErrorChain(&e)
        ))
    })?;
    Ok((summary(&report), report.errors.is_empty()))
}
