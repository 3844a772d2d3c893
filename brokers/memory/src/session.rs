//! A session: what one connected gateway has been told, and the task that tells it
//! the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_core::{BrokerCommand, BrokerEvent, BrokerRecord};
use tokio::sync::{mpsc, watch};

use crate::broker::{MemoryBroker, State};

/// Records per streamed `Records` event: big enough to amortise the channel,
/// small enough that one batch never holds the lock long.
pub(crate) const STREAM_BATCH_RECORDS_MAX: usize = 512;

/// Commands a session carries out in one turn before it lets other tasks run.
const COMMANDS_PER_TURN_MAX: usize = 1024;

pub(crate) fn spawn(
    broker: MemoryBroker,
    queue_max: usize,
) -> (mpsc::Sender<BrokerCommand>, mpsc::Receiver<BrokerEvent>) {
    let capacity = queue_max.max(1);
    let (commands_tx, commands_rx) = mpsc::channel(capacity);
    let (events_tx, events_rx) = mpsc::channel(capacity);
    let session = Session {
        changed: broker.subscribe(),
        broker,
        view: View::default(),
        commands: commands_rx,
        events: events_tx,
    };
    tokio::spawn(session.run());
    (commands_tx, events_rx)
}

struct Session {
    broker: MemoryBroker,
    view: View,
    commands: mpsc::Receiver<BrokerCommand>,
    events: mpsc::Sender<BrokerEvent>,
    changed: watch::Receiver<u64>,
}

impl Session {
    async fn run(mut self) {
        tracing::debug!("memory broker: session started");
        // True once the view had nothing to send; then we sleep until the broker
        // changes instead of looking again.
        let mut idle = false;
        loop {
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { break };
                    // What else is queued, in this turn: awaiting each command (and
                    // each answer's slot) spends tokio's per-turn budget, which
                    // otherwise held a gateway with 10,000 connections to about 128
                    // publishes per round of its scheduler. The batch also shares
                    // one sync of a durable log.
                    let mut answers: Vec<BrokerEvent> = execute(&self.broker, command).into_iter().collect();
                    while answers.len() < COMMANDS_PER_TURN_MAX {
                        let Ok(command) = self.commands.try_recv() else { break };
                        answers.extend(execute(&self.broker, command));
                    }
                    if self.broker.acks_after_sync() {
                        sync_before_answering(&self.broker, &mut answers).await;
                    }
                    for answer in answers {
                        if !send(&self.events, answer).await {
                            return;
                        }
                    }
                }
                // The next event is only computed once a slot is reserved, so
                // nothing is taken from the log that could not be delivered.
                permit = self.events.reserve(), if !idle => {
                    let Ok(permit) = permit else { break };
                    // Marked seen before looking: a change after this wakes us.
                    self.changed.borrow_and_update();
                    let event = self.view.next_event(&self.broker.lock());
                    match event {
                        Some(event) => permit.send(event),
                        None => idle = true,
                    }
                }
                changed = self.changed.changed(), if idle => {
                    // The sender lives in the broker this session holds, so it
                    // cannot close; stop rather than spin if it ever does.
                    if changed.is_err() {
                        break;
                    }
                    idle = false;
                }
                () = self.events.closed() => break,
            }
        }
        tracing::debug!("memory broker: session ended");
    }
}

/// With `fsync = always`: syncs the batch's records (off the async threads)
/// before its produces are acknowledged; if the sync fails they are answered
/// with its error instead.
async fn sync_before_answering(broker: &MemoryBroker, answers: &mut [BrokerEvent]) {
    let produced =
        |answer: &BrokerEvent| matches!(answer, BrokerEvent::Produced { result: Ok(_), .. });
    if !answers.iter().any(produced) {
        return;
    }
    #[cfg(not(madsim))]
    let synced = {
        let syncing = broker.clone();
        tokio::task::spawn_blocking(move || syncing.sync())
            .await
            .unwrap_or_else(|err| {
                Err(sluice_core::BrokerError::Unavailable(format!(
                    "the embedded log's sync failed: {err}"
                )))
            })
    };
    // The simulator keeps its logs in memory (no data directory): nothing blocks.
    #[cfg(madsim)]
    let synced = broker.sync();
    if let Err(err) = synced {
        for answer in answers.iter_mut() {
            if let BrokerEvent::Produced { result, .. } = answer {
                if result.is_ok() {
                    *result = Err(err.clone());
                }
            }
        }
    }
}

/// Sends one answer; false once the gateway is gone.
async fn send(events: &mpsc::Sender<BrokerEvent>, answer: BrokerEvent) -> bool {
    match events.try_send(answer) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(answer)) => events.send(answer).await.is_ok(),
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// The answer to one command, if it has one.
fn execute(broker: &MemoryBroker, command: BrokerCommand) -> Option<BrokerEvent> {
    Some(match command {
        BrokerCommand::Produce(r) => BrokerEvent::Produced {
            produce: r.produce,
            result: broker.produce(&r.topic, r.partition, r.key, Some(r.payload), r.headers),
        },
        BrokerCommand::Fetch(r) => BrokerEvent::Fetched {
            fetch: r.fetch,
            result: broker.fetch(&r),
        },
        // The embedded broker streams every partition: a watched one is read.
        BrokerCommand::Watch { topic, partition } => {
            BrokerEvent::PartitionReady { topic, partition }
        }
        BrokerCommand::Unwatch { .. } => return None,
    })
}

/// What a session has told its gateway: which topic incarnations it announced and
/// how far it streamed each partition.
#[derive(Debug, Default)]
struct View {
    topics: BTreeMap<Arc<str>, ViewTopic>,
    /// Round-robin start over all partitions, so a busy one can't starve the rest.
    cursor: usize,
}

#[derive(Debug)]
struct ViewTopic {
    generation: u64,
    /// Per partition, the next offset to stream.
    positions: Vec<u64>,
}

impl View {
    /// The next event this gateway needs, advancing the view past it. Metadata
    /// comes before records, so a gateway always knows a log's epoch and start
    /// before it sees a record of it.
    fn next_event(&mut self, state: &State) -> Option<BrokerEvent> {
        if !state.available {
            return None;
        }
        self.announce_topic(state)
            .or_else(|| self.announce_deleted(state))
            .or_else(|| self.announce_overtaken(state))
            .or_else(|| self.stream_records(state))
    }

    /// A topic this gateway has not seen, or has seen in an older incarnation.
    fn announce_topic(&mut self, state: &State) -> Option<BrokerEvent> {
        let topic = state.topics.values().find(|topic| {
            self.topics.get(&topic.name).map(|seen| seen.generation) != Some(topic.generation)
        })?;
        let positions: Vec<u64> = topic.start_offsets().collect();
        let partitions = topic.meta(positions.iter().copied());
        self.topics.insert(
            topic.name.clone(),
            ViewTopic {
                generation: topic.generation,
                positions,
            },
        );
        Some(BrokerEvent::TopicMeta {
            topic: topic.name.clone(),
            partitions,
        })
    }

    fn announce_deleted(&mut self, state: &State) -> Option<BrokerEvent> {
        let name = self
            .topics
            .keys()
            .find(|name| !state.topics.contains_key(*name))?
            .clone();
        self.topics.remove(&name);
        Some(BrokerEvent::TopicMeta {
            topic: name,
            partitions: Vec::new(),
        })
    }

    /// Retention dropped records this gateway had not been sent yet. Rather than
    /// skip them silently, say where the log starts now; the gateway sees the gap
    /// between what it has and `start_offset` and resyncs its clients.
    fn announce_overtaken(&mut self, state: &State) -> Option<BrokerEvent> {
        let (name, seen) = self.topics.iter_mut().find(|(name, seen)| {
            state.topics.get(*name).is_some_and(|topic| {
                seen.positions
                    .iter()
                    .zip(topic.start_offsets())
                    .any(|(position, start)| *position < start)
            })
        })?;
        // Found just above, and a topic of a known generation keeps its partitions.
        let topic = state.topics.get(name)?;
        for (position, start) in seen.positions.iter_mut().zip(topic.start_offsets()) {
            *position = (*position).max(start);
        }
        // Partitions not overtaken report where streaming resumes: no gap there.
        Some(BrokerEvent::TopicMeta {
            topic: name.clone(),
            partitions: topic.meta(seen.positions.iter().copied()),
        })
    }

    fn stream_records(&mut self, state: &State) -> Option<BrokerEvent> {
        let mut batch: Vec<BrokerRecord> = Vec::new();
        let mut served_last = None;
        // Slots numbered across all partitions of all topics; serve from the
        // cursor to the end, then wrap around.
        for (slot_min, slot_end) in [(self.cursor, usize::MAX), (0, self.cursor)] {
            let mut slot = 0;
            for (name, seen) in &mut self.topics {
                let topic = state.topics.get(name);
                for (partition, position) in seen.positions.iter_mut().enumerate() {
                    let this_slot = slot;
                    slot += 1;
                    let room = STREAM_BATCH_RECORDS_MAX - batch.len();
                    if this_slot < slot_min || this_slot >= slot_end || room == 0 {
                        continue;
                    }
                    let Some(log) = topic.and_then(|t| t.partitions.get(partition)) else {
                        continue;
                    };
                    debug_assert!(
                        *position >= log.start_offset(),
                        "overtaken is announced first"
                    );
                    let taken = batch.len();
                    batch.extend(log.records_from(*position).take(room).cloned());
                    if let Some(record) = batch[taken..].last() {
                        *position = record.offset + 1;
                        served_last = Some(this_slot);
                    }
                }
            }
        }
        let served_last = served_last?;
        self.cursor = served_last + 1;
        Some(BrokerEvent::Records(batch))
    }
}
