//! The Portal's side of a gateway that only the binary can wire: where changes are
//! stored (the embedded broker's state file, or Kafka's compacted topic), and the
//! applier that hands each stored change to every shard's core and to the broker
//! session.
//!
//! Start-up: the stored changes are read first and folded over the config's
//! `exposed_topics` (and `kafka.exposed_topic_pattern`): a stored change wins, so a
//! topic stopped through the Portal stays stopped after a restart even if the
//! config lists it. Then every change read later (Kafka: from any gateway) goes
//! through [`Applier::apply`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_core::ExposureChange;
use sluice_driver::Runtime;
use sluice_kafka::{ConsumerLag, ExposureHandle, ExposureLog, KafkaConfig};
use sluice_memory_broker::MemoryBroker;
use sluice_portal::{Backend, BackendError, BoxFuture, ExposureState, StoredChange};
use tokio::sync::watch;

/// Pauses between attempts to open the Portal's topic: doubling from the first to
/// the last.
const OPEN_RETRY_PAUSE_MIN: Duration = Duration::from_secs(2);
const OPEN_RETRY_PAUSE_MAX: Duration = Duration::from_secs(60);

/// The state file's name under `portal.data_dir`.
pub const STATE_FILE: &str = "portal-state.json";

/// How long a Kafka gateway waits for a newly exposed topic to be read up to its
/// high watermark before it lets clients subscribe anyway (logged).
const CATCH_UP_WAIT_MAX: Duration = Duration::from_secs(60);

/// The stored changes, read at start.
pub struct Stored {
    pub state: ExposureState,
    /// Kafka: the opened topic, or `None` if Kafka did not answer in time (it is
    /// then read in the background and applied as it comes).
    pub log: Option<ExposureLog>,
}

/// Reads the stored changes: the state file, or (on Kafka) the compacted topic,
/// waiting for it at most twice `kafka.request_timeout_ms`.
pub async fn load(config: &crate::config::Config, on_kafka: bool) -> anyhow::Result<Stored> {
    if !on_kafka {
        let state = match &config.portal_state_dir() {
            Some(dir) => read_state_file(dir)?,
            None => {
                tracing::info!("neither portal.data_dir nor a log on disk: exposure changes made through the Portal last until the gateway stops");
                ExposureState::default()
            }
        };
        return Ok(Stored { state, log: None });
    }
    let kafka = &config.broker.kafka;
    let wait = Duration::from_millis(kafka.request_timeout_ms.saturating_mul(2).max(1000));
    match ExposureLog::open(kafka, &config.portal.kafka_topic, wait).await {
        Ok((log, records)) => {
            let mut state = ExposureState::default();
            for record in &records {
                if let Some(change) = decode(&record.value) {
                    state.record(change);
                }
            }
            tracing::info!(topic = %config.portal.kafka_topic, changes = state.changes.len(), "read the Portal's topic");
            Ok(Stored {
                state,
                log: Some(log),
            })
        }
        Err(err) => {
            tracing::warn!(%err, topic = %config.portal.kafka_topic, "cannot read the Portal's topic at start; its changes apply once Kafka answers");
            Ok(Stored {
                state: ExposureState::default(),
                log: None,
            })
        }
    }
}

/// Reads the state file; a missing file is an empty state.
pub fn read_state_file(dir: &Path) -> anyhow::Result<ExposureState> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("reading the Portal's state file {}: {e}", path.display())
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ExposureState::default()),
        Err(err) => Err(anyhow::anyhow!(
            "reading the Portal's state file {}: {err}",
            path.display()
        )),
    }
}

/// Writes the state file atomically: a temporary file beside it, synced, renamed.
fn write_state_file(dir: &Path, state: &ExposureState) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(STATE_FILE);
    let temp = dir.join(format!("{STATE_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, &path)?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Hands a change to every shard's core and to the broker side.
#[derive(Clone)]
pub struct Applier {
    runtimes: Vec<Runtime>,
    /// The embedded broker and the partitions of a topic it creates.
    memory: Option<(MemoryBroker, u32)>,
    kafka: Option<(ExposureHandle, ConsumerLag)>,
    /// On Kafka an expose waits for the topic to be read to its end before the
    /// cores apply it; a later change of the same topic (a stop from any gateway)
    /// supersedes the wait, so the expose must not land after it. One entry per
    /// topic with an expose waiting: the change number it waits with.
    waiting_exposes: Arc<Mutex<HashMap<String, u64>>>,
}

impl Applier {
    pub fn new(
        runtimes: Vec<Runtime>,
        memory: Option<(MemoryBroker, u32)>,
        kafka: Option<(ExposureHandle, ConsumerLag)>,
    ) -> Self {
        Applier {
            runtimes,
            memory,
            kafka,
            waiting_exposes: Arc::default(),
        }
    }

    /// Marks any expose of `topic` still waiting as superseded, then (still
    /// holding the table, so no waiting expose can land in between) gives the
    /// cores `change`.
    fn apply_superseding(&self, topic: &str, change: &ExposureChange) {
        let mut waiting = self
            .waiting_exposes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(number) = waiting.get_mut(topic) {
            *number += 1;
        }
        self.apply_to_cores(change);
    }

    /// Registers a waiting expose of `topic`, superseding any earlier one; returns
    /// its change number.
    fn start_waiting_expose(&self, topic: &str) -> u64 {
        let mut waiting = self
            .waiting_exposes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let number = waiting.entry(topic.to_owned()).or_insert(0);
        *number += 1;
        *number
    }

    /// Gives the cores the waiting expose `number` of `topic` if no later change
    /// superseded it; it is no longer waiting either way.
    fn finish_waiting_expose(&self, topic: &str, number: u64, change: &ExposureChange) -> bool {
        let mut waiting = self
            .waiting_exposes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if waiting.get(topic) != Some(&number) {
            return false;
        }
        waiting.remove(topic);
        self.apply_to_cores(change);
        true
    }

    fn apply_to_cores(&self, change: &ExposureChange) {
        for runtime in &self.runtimes {
            runtime.change_exposure(change.clone());
        }
    }

    pub fn apply(&self, change: ExposureChange) {
        if change.validate().is_err() {
            tracing::warn!(?change, "ignoring an invalid stored Portal change");
            return;
        }
        tracing::info!(target: "sluice::admin", ?change, "applying exposure change");
        match (&self.kafka, &change) {
            (
                Some((handle, lag)),
                ExposureChange::Topic {
                    name,
                    exposed: true,
                },
            ) => {
                // Clients may subscribe once the topic was read up to its high
                // watermark, so the first subscriber sees complete snapshots.
                handle.apply(&change);
                let number = self.start_waiting_expose(name);
                let (applier, lag, name) = (self.clone(), lag.clone(), name.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    while !caught_up(&applier.runtimes, &lag, &name) {
                        if started.elapsed() > CATCH_UP_WAIT_MAX {
                            tracing::warn!(topic = %name, "exposing before the topic was read to its end");
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    if !applier.finish_waiting_expose(&name, number, &change) {
                        tracing::info!(topic = %name, "an expose was superseded by a later change while it waited");
                    }
                });
            }
            (Some((handle, _)), _) => {
                match &change {
                    ExposureChange::Topic { name, .. } => self.apply_superseding(name, &change),
                    _ => self.apply_to_cores(&change),
                }
                handle.apply(&change);
            }
            (None, _) => {
                if let (
                    Some((broker, partitions)),
                    ExposureChange::Topic {
                        name,
                        exposed: true,
                    },
                ) = (&self.memory, &change)
                {
                    // Already there is fine; anything else was checked by `prepare`.
                    let _ = broker.create_topic(name, *partitions);
                }
                self.apply_to_cores(&change);
            }
        }
    }
}

/// Whether the first shard knows `topic`'s partitions and the session has read
/// every one of them up to its high watermark.
fn caught_up(runtimes: &[Runtime], lag: &ConsumerLag, topic: &str) -> bool {
    let Some(partitions) = runtimes
        .first()
        .map(|r| r.inspect(|g| g.topic_positions(topic).len()))
    else {
        return true;
    };
    if partitions == 0 {
        return false;
    }
    let lag = lag.snapshot();
    (0..partitions as u32).all(|p| lag.get(&(topic.to_owned(), p)) == Some(&0))
}

/// The embedded broker's backend: a state file.
pub struct MemoryBackend {
    /// Where the state file goes; `None`: kept in memory only.
    dir: Option<PathBuf>,
    state: Mutex<ExposureState>,
    broker: MemoryBroker,
    partitions: u32,
    applier: Applier,
}

impl MemoryBackend {
    pub fn new(
        dir: Option<PathBuf>,
        state: ExposureState,
        broker: MemoryBroker,
        partitions: u32,
        applier: Applier,
    ) -> Self {
        MemoryBackend {
            dir,
            state: Mutex::new(state),
            broker,
            partitions,
            applier,
        }
    }
}

impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn durable(&self) -> bool {
        self.dir.is_some()
    }

    fn prepare<'a>(
        &'a self,
        change: &'a ExposureChange,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if let ExposureChange::Topic {
                name,
                exposed: true,
            } = change
            {
                if self.broker.topic_meta(name).is_none() {
                    self.broker
                        .create_topic(name, self.partitions)
                        .or_else(|err| match err {
                            sluice_memory_broker::TopicError::AlreadyExists(_) => Ok(()),
                            other => Err(BackendError::Unavailable(other.to_string())),
                        })?;
                }
            }
            Ok(())
        })
    }

    fn store<'a>(&'a self, change: &'a StoredChange) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let mut next = state.clone();
                next.record(change.clone());
                if let Some(dir) = &self.dir {
                    write_state_file(dir, &next).map_err(|e| {
                        BackendError::Unavailable(format!(
                            "writing the Portal's state file under {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                *state = next;
            }
            self.applier.apply(change.change.clone());
            Ok(())
        })
    }

    fn broker_view(&self) -> BoxFuture<'_, Value> {
        Box::pin(async move {
            let topics: Vec<Value> = self
                .applier
                .runtimes
                .first()
                .map(|r| r.inspect(|g| g.topic_infos()))
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let meta = self.broker.topic_meta(&t.name).unwrap_or_default();
                    // Where the first shard has read each partition up to.
                    let read: Vec<u64> = self
                        .applier
                        .runtimes
                        .first()
                        .map(|r| r.inspect(|g| g.topic_positions(&t.name)))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(_, next)| next)
                        .collect();
                    let partitions: Vec<Value> = meta
                        .iter()
                        .map(|p| {
                            let end = self.broker.high_watermark(&t.name, p.partition);
                            let lag = match (end, read.get(p.partition as usize)) {
                                (Some(end), Some(read)) => Some(end.saturating_sub(*read)),
                                _ => None,
                            };
                            json!({
                                "partition": p.partition,
                                "log_start": p.start_offset,
                                "log_end": end,
                                "lag_records": lag,
                            })
                        })
                        .collect();
                    json!({"name": t.name, "partitions": partitions})
                })
                .collect();
            json!({
                "kind": "memory",
                "reachable": self.broker.is_available(),
                "state_file": self.dir.as_ref().map(|d| d.join(STATE_FILE)),
                "topics": topics,
            })
        })
    }
}

/// Kafka's backend: the compacted topic, opened at start or, if Kafka did not
/// answer then, as soon as it does.
pub struct KafkaBackend {
    config: KafkaConfig,
    topic: String,
    log: Arc<OnceLock<ExposureLog>>,
    reachable: watch::Receiver<Result<(), String>>,
    lag: ConsumerLag,
    runtimes: Vec<Runtime>,
}

impl KafkaBackend {
    /// `log` is the opened topic, or `None` to keep trying in the background
    /// (applying every record read).
    pub fn start(
        config: KafkaConfig,
        topic: String,
        log: Option<ExposureLog>,
        applier: Applier,
        reachable: watch::Receiver<Result<(), String>>,
        lag: ConsumerLag,
    ) -> KafkaBackend {
        let cell = Arc::new(OnceLock::new());
        let runtimes = applier.runtimes.clone();
        match log {
            Some(log) => {
                follow(&log, applier);
                let _ = cell.set(log);
            }
            None => {
                let (cell, config, topic) = (cell.clone(), config.clone(), topic.clone());
                tokio::spawn(async move {
                    // Each attempt makes (and drops) three Kafka clients: a cluster
                    // that keeps refusing should not churn them every few seconds.
                    let mut pause = OPEN_RETRY_PAUSE_MIN;
                    loop {
                        match ExposureLog::open(&config, &topic, Duration::from_secs(30)).await {
                            Ok((log, records)) => {
                                tracing::info!(
                                    topic,
                                    records = records.len(),
                                    "read the Portal's topic"
                                );
                                for record in records {
                                    if let Some(change) = decode(&record.value) {
                                        applier.apply(change.change);
                                    }
                                }
                                follow(&log, applier);
                                let _ = cell.set(log);
                                return;
                            }
                            Err(err) => {
                                tracing::warn!(%err, topic, retry_in_s = pause.as_secs(), "cannot read the Portal's topic yet; retrying");
                                tokio::time::sleep(pause).await;
                                pause = (pause * 2).min(OPEN_RETRY_PAUSE_MAX);
                            }
                        }
                    }
                });
            }
        }
        KafkaBackend {
            config,
            topic,
            log: cell,
            reachable,
            lag,
            runtimes,
        }
    }

    fn log(&self) -> Result<&ExposureLog, BackendError> {
        self.log.get().ok_or_else(|| {
            BackendError::Unavailable(format!(
                "the Portal's topic {} is not readable yet",
                self.topic
            ))
        })
    }
}

fn follow(log: &ExposureLog, applier: Applier) {
    log.follow(move |record| {
        if let Some(change) = decode(&record.value) {
            applier.apply(change.change);
        }
        true
    });
}

/// How long a bootstrap server may take to accept a TCP connection before the
/// broker view calls it unreachable.
const SERVER_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Each bootstrap server, and whether it accepts a TCP connection now (checked in
/// parallel, each within [`SERVER_CONNECT_TIMEOUT`]).
async fn bootstrap_servers(list: &str) -> Vec<Value> {
    let checks: Vec<_> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|server| {
            let server = server.to_owned();
            tokio::spawn(async move {
                let connect = tokio::net::TcpStream::connect(server.clone());
                let reachable = matches!(
                    tokio::time::timeout(SERVER_CONNECT_TIMEOUT, connect).await,
                    Ok(Ok(_))
                );
                json!({"server": server, "reachable": reachable})
            })
        })
        .collect();
    let mut servers = Vec::with_capacity(checks.len());
    for check in checks {
        if let Ok(server) = check.await {
            servers.push(server);
        }
    }
    servers
}

/// A stored change from a record's value; a record that is not one is ignored.
pub fn decode(value: &[u8]) -> Option<StoredChange> {
    match serde_json::from_slice(value) {
        Ok(change) => Some(change),
        Err(err) => {
            tracing::warn!(%err, "ignoring a record of the Portal's topic that is not a change");
            None
        }
    }
}

impl Backend for KafkaBackend {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn durable(&self) -> bool {
        true
    }

    fn prepare<'a>(
        &'a self,
        change: &'a ExposureChange,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let log = self.log()?;
            if let ExposureChange::Topic {
                name,
                exposed: true,
            } = change
            {
                match log.partitions(name).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(BackendError::UnknownTopic(name.clone())),
                    Err(err) => {
                        return Err(BackendError::Unavailable(format!("Kafka metadata: {err}")))
                    }
                }
            }
            Ok(())
        })
    }

    fn store<'a>(&'a self, change: &'a StoredChange) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let value =
                serde_json::to_vec(change).map_err(|e| BackendError::Unavailable(e.to_string()))?;
            self.log()?
                .write(&change.key(), &value)
                .await
                .map(drop)
                .map_err(|e| BackendError::Unavailable(format!("writing to {}: {e}", self.topic)))
        })
    }

    fn broker_view(&self) -> BoxFuture<'_, Value> {
        Box::pin(async move {
            let reachable = self.reachable.borrow().clone();
            let lag = self.lag.snapshot();
            let infos = self
                .runtimes
                .first()
                .map(|r| r.inspect(|g| g.topic_infos()))
                .unwrap_or_default();
            let topics: Vec<Value> = infos
                .into_iter()
                .map(|t| {
                    let partitions: Vec<Value> = (0..t.partitions as u32)
                        .map(|p| json!({"partition": p, "lag_records": lag.get(&(t.name.clone(), p))}))
                        .collect();
                    let total: u64 = (0..t.partitions as u32)
                        .filter_map(|p| lag.get(&(t.name.clone(), p)))
                        .sum();
                    json!({"name": t.name, "partitions": partitions, "lag_records": total})
                })
                .collect();
            let servers = bootstrap_servers(&self.config.bootstrap_servers).await;
            json!({
                "kind": "kafka",
                "bootstrap_servers": servers,
                "reachable": reachable.is_ok(),
                "error": reachable.err(),
                "portal_topic": self.topic,
                "portal_topic_readable": self.log.get().is_some(),
                "topics": topics,
            })
        })
    }
}
