//! Keeps the core's revocation list in step with `auth.revoked_tokens_file`: read at
//! start, re-read when its modification time or size changes and on SIGHUP.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use sluice_driver::Runtime;
use tokio::task::JoinHandle;

/// Loads the file once (failing if it cannot be read), then watches it. Every
/// shard's runtime gets the list.
pub fn start(file: PathBuf, poll_ms: u64, shards: Vec<Runtime>) -> std::io::Result<JoinHandle<()>> {
    let mut seen = modified(&file);
    let ids = sluice_auth::read_revocation_list(&file)?;
    for runtime in &shards {
        runtime.revoke_tokens(ids.clone());
    }
    Ok(tokio::spawn(async move {
        let mut hangups = hangup_signals();
        let mut poll = tokio::time::interval(Duration::from_millis(poll_ms));
        loop {
            let forced = tokio::select! {
                _ = poll.tick() => false,
                _ = next_hangup(&mut hangups) => true,
            };
            let now = modified(&file);
            if !forced && now == seen {
                continue;
            }
            seen = now;
            match sluice_auth::read_revocation_list(&file) {
                Ok(ids) => {
                    tracing::info!(revoked = ids.len(), file = %file.display(), "revocation list loaded");
                    for runtime in &shards {
                        runtime.revoke_tokens(ids.clone());
                    }
                }
                // Keep the last list: a half-written or vanished file revokes nothing back.
                Err(err) => {
                    tracing::warn!(%err, file = %file.display(), "revocation list unreadable; keeping the previous one")
                }
            }
        }
    }))
}

/// What tells a changed file: modification time and size (some file systems keep
/// whole seconds only).
fn modified(file: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}
