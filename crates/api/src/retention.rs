//! The retention sweeper (expired temporary chats, `RETENTION_DAYS`) and the `purge`
//! command.

use std::time::Duration;

use domain::{Purged, RetentionService, Timestamp, UserId};

use crate::config::{PurgeArgs, Settings};
use crate::metrics::Metrics;
use crate::startup::StartupError;

/// The retention period of `RETENTION_DAYS`.
pub fn period(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

/// Sweeps now and then every `every`, for as long as the process runs. Every replica may
/// run it: each batch skips the threads another one is deleting. Failures are logged and
/// the next sweep tries again.
pub async fn sweep_forever(service: RetentionService, metrics: Metrics, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match service.sweep(Timestamp::now()).await {
            Ok(report) => {
                metrics.observe_sweep(&report);
                for (reason, purged) in
                    [("expired", report.expired), ("retention", report.retention)]
                {
                    if purged.threads > 0 {
                        tracing::info!(
                            reason,
                            threads = purged.threads,
                            messages = purged.messages,
                            "retention sweep deleted threads"
                        );
                    }
                }
            }
            Err(err) => tracing::warn!(
                error = %crate::error::ErrorChain(&err),
                "retention sweep failed; the next one tries again"
            ),
        }
    }
}

/// `N threads and M messages`, with the right plurals.
pub fn counts(purged: Purged) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} and {}",
        plural(purged.threads, "thread", "threads"),
        plural(purged.messages, "message", "messages")
    )
}

/// The `purge` command: deletes what `args` names and returns the line to print.
pub async fn purge(settings: &Settings, args: &PurgeArgs) -> Result<String, StartupError> {
    let store = crate::startup::open_migrated(settings).await?;
    let service = RetentionService::new(store.thread_repository(), None);
    let outcome = match (&args.user, args.older_than) {
        (Some(user), _) => {
            let user = UserId::parse(user.clone())
                .map_err(|e| StartupError::Settings(format!("--user: {e}")))?;
            service
                .purge_user(&user)
                .await
                .map(|purged| format!("deleted {} of user {user}", counts(purged)))
        }
        (None, Some(days)) => {
            let cutoff = RetentionService::cutoff(Timestamp::now(), period(days));
            service
                .purge_changed_before(cutoff, args.dry_run)
                .await
                .map(|purged| {
                    let verb = if args.dry_run {
                        "would delete"
                    } else {
                        "deleted"
                    };
                    format!("{verb} {} not changed since {cutoff}", counts(purged))
                })
        }
        (None, None) => Err(domain::DomainError::invalid(
            "purge",
            "give --user or --older-than",
        )),
    };
    store.close().await;
    outcome.map_err(|e| StartupError::Command(crate::error::ErrorChain(&e).to_string()))
}
