//! One gateway's session with Kafka: metadata refresh, live consumption by manual
//! assignment of every partition, the snapshot bootstrap, and the commands (produce,
//! fetch) the core sends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use sluice_core::{BrokerCommand, BrokerEvent, PartitionMeta};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::consumption_stats::ConsumptionStats;
use crate::fetcher;
use crate::interest::{Assignments, Step, WatchRequest};
use crate::lag::{cached_high_watermark, ConsumerLag};
use crate::record::{to_record, unix_now_us};
use crate::shard_events::ShardEvents;
use crate::topic_id::describe_topic_ids;
use crate::topology::{TopicLayout, Topology};
use crate::ExposureHandle;
use crate::KafkaConfig;

/// Progress of the snapshot bootstrap, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Waiting for Kafka's metadata (the string says why, e.g. the broker is down).
    Connecting(String),
    /// Reading the exposed topics up to the high watermarks seen at start.
    Reading {
        records_done: u64,
        records_total: u64,
    },
    /// Caught up: every bootstrap record, then [`BrokerEvent::CaughtUp`], went to the
    /// core, and live consumption runs. The core may still be applying them: readiness
    /// also asks the core whether it applied `CaughtUp`.
    Ready,
}

/// A partition the bootstrap must read up to `target` (exclusive).
struct Target {
    target: u64,
    start: u64,
}

pub(crate) struct Session {
    pub config: KafkaConfig,
    pub exposure: ExposureHandle,
    pub topology: Arc<Topology>,
    pub consumer: Arc<StreamConsumer>,
    pub events: ShardEvents,
    pub bootstrap: watch::Sender<Bootstrap>,
    /// `Err(why)` while the last metadata request to the cluster failed.
    pub reachable: watch::Sender<Result<(), String>>,
    pub lag: ConsumerLag,
    /// DescribeTopics failures in a row, to tell a cluster without ids from a blip.
    pub id_failures: AtomicU32,
    /// A refresh forgot a changed topic; the next one, which exposes it anew,
    /// should come soon rather than a whole `metadata_refresh_ms` later.
    pub refresh_soon: AtomicBool,
    /// Interest mode (`consumption = "interest"`): the cores' watches.
    pub interest: bool,
    pub watch_requests: Option<mpsc::Receiver<WatchRequest>>,
    pub assignments: std::sync::Mutex<Assignments>,
    pub consumed: ConsumptionStats,
}

/// Interest mode: a partition's start point and high watermark, looked up for a
/// watch off the session's task.
pub(crate) struct StartLookup {
    request: WatchRequest,
    generation: u64,
    result: Result<(u64, u64), String>,
}

/// How often a partition read for a watch is checked for having reached its
/// target when no record of it arrives (a tail of transaction markers).
const WARMUP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// DescribeTopics attempts before a topic is served with a name-based epoch.
const ID_ATTEMPTS_MAX: u32 = 3;

/// Consumer errors refresh the metadata at once, at most this often.
const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How often the consumer lag is measured (local look-ups only).
const LAG_INTERVAL: Duration = Duration::from_secs(1);

impl Session {
    /// Runs until the gateway drops its end of the events channel.
    pub async fn run(mut self) {
        let (_unused, idle) = mpsc::channel(1);
        let mut watch_requests = self.watch_requests.take().unwrap_or(idle);
        let (lookups, mut looked_up) = mpsc::channel(self.config.events_queue_max.max(1));
        let mut warmup_check = tokio::time::interval(WARMUP_CHECK_INTERVAL);
        warmup_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let refresh_period = Duration::from_millis(self.config.metadata_refresh_ms.max(100));
        let mut refresh = refresh_interval(refresh_period);
        let mut progress = tokio::time::interval(Duration::from_millis(500));
        let mut lag_tick = tokio::time::interval(LAG_INTERVAL);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut targets: Option<BTreeMap<(String, u32), Target>> = None;
        let mut positions: BTreeMap<(String, u32), u64> = BTreeMap::new();
        let mut last_log = Instant::now();
        // After a consumer error (the broker was away, a topic gone, an offset out
        // of range) no record goes to the core until a metadata refresh confirms the
        // topics are still the incarnations the core knows: librdkafka reads by
        // topic name and keeps its offsets, so a topic recreated meanwhile would be
        // read on from the new log under the old log's epochs.
        let mut confirm_first = false;
        let mut forced_refresh: Option<tokio::time::Instant> = None;
        // One shared name per topic, so records do not each allocate their own.
        let mut topic_names: BTreeMap<String, Arc<str>> = BTreeMap::new();
        // Interest mode: watches that failed (Kafka away), tried again after a refresh.
        let mut retry_watches: Vec<WatchRequest> = Vec::new();
        loop {
            tokio::select! {
                _ = self.events.closed() => break,
                // The Portal changed what is exposed: refresh now, not in up to
                // `metadata_refresh_ms`.
                _ = self.exposure.changed() => refresh = refresh_interval(refresh_period),
                _ = refresh.tick() => {
                    let refreshed = self.refresh().await;
                    // Soon again: a changed topic was forgotten and is exposed anew by
                    // the next refresh, or consumption waits for a refresh that failed.
                    if self.refresh_soon.swap(false, Ordering::Relaxed)
                        || (confirm_first && refreshed.is_err())
                    {
                        refresh = refresh_soon(&mut forced_refresh, refresh_period);
                    }
                    if refreshed.is_ok() && !retry_watches.is_empty() {
                        refresh = refresh_soon(&mut forced_refresh, refresh_period);
                        for request in std::mem::take(&mut retry_watches) {
                            if let Err((err, request)) = self.on_watch_request(request, &mut positions, &lookups).await {
                                tracing::debug!(%err, "interest mode: watch retry failed");
                                retry_watches.push(request);
                            }
                        }
                    }
                    match refreshed {
                        Ok(assigned) => {
                            confirm_first = false;
                            self.reachable.send_if_modified(|r| std::mem::replace(r, Ok(())).is_err());
                            // Nothing before the start point is wanted: lag counts from it.
                            // A topic exposed anew (recreated) starts over: a position in
                            // its old log would hide records the new one lost to
                            // retention. (Found by the simulator: the partition stayed
                            // stopped after an offset reset, its position past the gap.)
                            for (tp, t) in &assigned {
                                positions.insert(tp.clone(), t.start);
                            }
                            // Until ready, everything assigned must be read up to its
                            // high watermark, and every listed topic must exist.
                            if *self.bootstrap.borrow() != Bootstrap::Ready {
                                let all = targets.get_or_insert_with(BTreeMap::new);
                                all.extend(assigned);
                                let missing = self.missing_listed_topics();
                                if !missing.is_empty() {
                                    let why = format!("exposed topics not in Kafka yet: {}", missing.join(", "));
                                    self.bootstrap.send_replace(Bootstrap::Connecting(why));
                                }
                            }
                        }
                        Err(err) => {
                            tracing::warn!(%err, "Kafka metadata refresh failed");
                            let _ = self.reachable.send_replace(Err(format!("Kafka metadata request failed: {err}")));
                            if targets.is_none() {
                                self.bootstrap.send_replace(Bootstrap::Connecting(err));
                            }
                        }
                    }
                    // Every topic ever seen gets a shared name for its records.
                    for topic in self.topology.topics() {
                        topic_names.entry(topic.clone()).or_insert_with(|| Arc::from(topic.as_str()));
                    }
                }
                message = self.consumer.recv(), if !confirm_first => {
                    let message = match message {
                        Ok(message) => message,
                        Err(err) if err.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) => {
                            // Retention overtook us: the gap must be announced, not skipped.
                            if let Err(err) = self.announce_lost_records(&mut positions).await {
                                tracing::warn!(%err, "cannot recover from an offset out of range");
                            }
                            // Or the topic was recreated (our offset is past its end).
                            confirm_first = true;
                            refresh = refresh_soon(&mut forced_refresh, refresh_period);
                            continue;
                        }
                        Err(err) => {
                            tracing::warn!(%err, "Kafka consumer error; confirming the topics before reading on");
                            confirm_first = true;
                            refresh = refresh_soon(&mut forced_refresh, refresh_period);
                            continue;
                        }
                    };
                    let (batch, bytes) = {
                        let mut batch = Vec::new();
                        let handed_over_unix_us = unix_now_us();
                        let mut next = Some(message);
                        let mut bytes = 0u64;
                        let assignments = self.interest.then(|| self.lock_assignments());
                        while let Some(message) = next.take() {
                            use rdkafka::Message;
                            if batch.len() + 1 < self.config.batch_records_max.max(1) {
                                next = self.consumer.recv().now_or_never().and_then(Result::ok);
                            }
                            // Interest mode: a record of a partition released meanwhile.
                            if assignments.as_ref().is_some_and(|a| {
                                !a.contains(message.topic(), message.partition().max(0) as u32)
                            }) {
                                continue;
                            }
                            let topic = topic_names
                                .entry(message.topic().to_owned())
                                .or_insert_with(|| Arc::from(message.topic()))
                                .clone();
                            let record = to_record(&message, &topic, handed_over_unix_us);
                            bytes += record_bytes(&record);
                            positions.insert((record.topic.to_string(), record.partition), record.offset + 1);
                            batch.push(record);
                        }
                        (batch, bytes)
                    };
                    self.consumed.add(batch.len() as u64, bytes);
                    if !batch.is_empty() && self.events.send(BrokerEvent::Records(batch)).await.is_err() {
                        break;
                    }
                    if self.interest && self.answer_warmed_up(&positions).await.is_err() {
                        break;
                    }
                }
                Some(lookup) = looked_up.recv() => {
                    if let Err((err, request)) = self.finish_assignment(lookup, &mut positions).await {
                        tracing::warn!(%err, topic = %request.topic, partition = request.partition,
                            "interest mode: cannot read the partition yet; trying again at the next refresh");
                        retry_watches.push(request);
                    }
                }
                Some(request) = watch_requests.recv() => {
                    // An unwatch supersedes the same shard's failed watch of the
                    // partition waiting to be tried again: retried, it would keep the
                    // partition assigned for a core that no longer watches it.
                    if !request.watch {
                        retry_watches.retain(|r| {
                            (r.shard, &r.topic, r.partition) != (request.shard, &request.topic, request.partition)
                        });
                    }
                    if let Err((err, request)) = self.on_watch_request(request, &mut positions, &lookups).await {
                        tracing::warn!(%err, topic = %request.topic, partition = request.partition,
                            "interest mode: cannot read the partition yet; trying again at the next refresh");
                        retry_watches.push(request);
                    }
                }
                _ = warmup_check.tick(), if self.interest && self.lock_assignments().warming() => {
                    self.merge_positions(&mut positions);
                    if self.answer_warmed_up(&positions).await.is_err() {
                        break;
                    }
                }
                _ = lag_tick.tick() => {
                    self.merge_positions(&mut positions);
                    self.measure_lag(&positions);
                }
                _ = progress.tick(), if targets.is_some() && *self.bootstrap.borrow() != Bootstrap::Ready => {
                    let Some(targets) = &targets else { continue };
                    if !self.missing_listed_topics().is_empty() {
                        continue;
                    }
                    self.merge_positions(&mut positions);
                    let (done, total) = targets.iter().fold((0u64, 0u64), |(done, total), (tp, t)| {
                        let at = positions.get(tp).copied().unwrap_or(t.start).min(t.target);
                        (done + at.saturating_sub(t.start), total + t.target.saturating_sub(t.start))
                    });
                    if done >= total {
                        // Behind every bootstrap record in the channel: the core has
                        // applied them all once it applies this.
                        if self.events.send(BrokerEvent::CaughtUp).await.is_err() {
                            break;
                        }
                        tracing::info!(records = total, "Kafka bootstrap complete: snapshots rebuilt");
                        self.bootstrap.send_replace(Bootstrap::Ready);
                    } else {
                        if last_log.elapsed() >= Duration::from_secs(2) {
                            tracing::info!(done, total, "Kafka bootstrap: reading exposed topics");
                            last_log = Instant::now();
                        }
                        self.bootstrap.send_replace(Bootstrap::Reading { records_done: done, records_total: total });
                    }
                }
            }
        }
    }

    fn lock_assignments(&self) -> std::sync::MutexGuard<'_, Assignments> {
        self.assignments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Interest mode: a shard's core watches a partition, or gives one up.
    /// A partition nobody reads yet has its snapshot start point looked up
    /// (`finish_assignment` assigns it); the watch is answered with
    /// `PartitionReady` once read up to the high watermark of that moment. The
    /// last watcher's `Unwatch` unassigns it (`PartitionReleased`). On failure the
    /// request comes back, to be tried again.
    async fn on_watch_request(
        &self,
        request: WatchRequest,
        positions: &mut BTreeMap<(String, u32), u64>,
        lookups: &mpsc::Sender<StartLookup>,
    ) -> Result<(), (String, WatchRequest)> {
        let (topic, partition) = (request.topic.clone(), request.partition);
        let step = self.lock_assignments().request(&request);
        tracing::debug!(?request, ?step, "interest mode: watch request");
        self.consumed.set_interest(self.lock_assignments().stats());
        let gone = |request: &WatchRequest| ("gateway gone".to_string(), request.clone());
        match step {
            Step::Nothing => Ok(()),
            Step::AnswerNow => {
                let ready = BrokerEvent::PartitionReady { topic, partition };
                self.events
                    .send_to(request.shard, ready)
                    .await
                    .map_err(|_| gone(&request))
            }
            Step::Unassign => {
                self.unassign_partitions(&topic, &[partition]);
                positions.remove(&(topic.to_string(), partition));
                tracing::debug!(%topic, partition, "interest mode: partition released");
                let released = BrokerEvent::PartitionReleased { topic, partition };
                self.events.send(released).await.map_err(|_| gone(&request))
            }
            Step::Assign { generation } => {
                let known = self
                    .topology
                    .get(&topic)
                    .is_some_and(|layout| partition < layout.partitions);
                if !known {
                    // Forgotten, so that the retry assigns it afresh.
                    self.lock_assignments().forget(&topic, partition);
                    let why =
                        format!("topic {topic} partition {partition} is not known in Kafka (yet)");
                    return Err((why, request));
                }
                // Off the session's task: the look-up takes round trips to Kafka,
                // and every other partition's records must keep flowing meanwhile.
                let (consumer, config, lookups) =
                    (self.consumer.clone(), self.config.clone(), lookups.clone());
                tokio::spawn(async move {
                    let result = start_offsets(consumer, &config, &topic, &[partition])
                        .await
                        .map(|starts| starts[0]);
                    let lookup = StartLookup {
                        request,
                        generation,
                        result,
                    };
                    let _ = lookups.send(lookup).await;
                });
                Ok(())
            }
        }
    }

    /// Interest mode: a partition's start point was looked up. Unless it was
    /// released meanwhile, the cores are told it is read from there
    /// (`PartitionReading`, before any of its records), and it is assigned.
    async fn finish_assignment(
        &self,
        lookup: StartLookup,
        positions: &mut BTreeMap<(String, u32), u64>,
    ) -> Result<(), (String, WatchRequest)> {
        let StartLookup {
            request,
            generation,
            result,
        } = lookup;
        let (topic, partition) = (request.topic.clone(), request.partition);
        if !self
            .lock_assignments()
            .is_current(&topic, partition, generation)
        {
            return Ok(());
        }
        let gone = |request: &WatchRequest| ("gateway gone".to_string(), request.clone());
        let (start, high) = match result {
            Ok(found) => found,
            Err(err) => {
                self.lock_assignments().forget(&topic, partition);
                return Err((err, request));
            }
        };
        let reading = BrokerEvent::PartitionReading {
            topic: topic.clone(),
            partition,
            start_offset: start,
        };
        self.events
            .send(reading)
            .await
            .map_err(|_| gone(&request))?;
        let mut list = TopicPartitionList::new();
        if let Err(err) = list
            .add_partition_offset(&topic, partition as i32, Offset::Offset(start as i64))
            .and_then(|()| self.consumer.incremental_assign(&list))
        {
            self.lock_assignments().forget(&topic, partition);
            return Err((err.to_string(), request));
        }
        tracing::debug!(%topic, partition, start, high, "interest mode: partition assigned");
        positions.insert((topic.to_string(), partition), start);
        self.lock_assignments().assigned(&topic, partition, high);
        self.answer_warmed_up(positions)
            .await
            .map_err(|_| gone(&request))
    }

    /// Interest mode: answers the watches of partitions read up to their target.
    async fn answer_warmed_up(
        &self,
        positions: &BTreeMap<(String, u32), u64>,
    ) -> Result<(), crate::shard_events::AllClosed> {
        let ready = self.lock_assignments().take_ready(positions);
        for ((topic, partition), shards) in ready {
            let topic: Arc<str> = Arc::from(topic.as_str());
            tracing::debug!(%topic, partition, "interest mode: partition read, snapshots complete");
            for shard in shards {
                let ready = BrokerEvent::PartitionReady {
                    topic: topic.clone(),
                    partition,
                };
                self.events.send_to(shard, ready).await?;
            }
        }
        Ok(())
    }

    /// After retention deleted records this gateway had not read yet: tells the core
    /// the new start of each such partition (its subscribers get `resync`), then
    /// moves the consumer there. Partitions still in range are left as they are.
    async fn announce_lost_records(
        &self,
        positions: &mut BTreeMap<(String, u32), u64>,
    ) -> Result<(), String> {
        self.merge_positions(positions);
        for topic in self.topology.topics() {
            let Some(layout) = self.topology.get(&topic) else {
                continue;
            };
            let consumer = self.consumer.clone();
            let timeout = Duration::from_millis(self.config.request_timeout_ms);
            let name = topic.clone();
            let lows = tokio::task::spawn_blocking(move || {
                (0..layout.partitions)
                    .map(|p| {
                        consumer
                            .fetch_watermarks(&name, p as i32, timeout)
                            .map(|(low, _)| low.max(0) as u64)
                    })
                    .collect::<Result<Vec<u64>, _>>()
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let mut lost = Vec::new();
            let partitions = lows
                .iter()
                .enumerate()
                .map(|(p, &low)| {
                    let at = positions
                        .get(&(topic.clone(), p as u32))
                        .copied()
                        .unwrap_or(low);
                    if at < low {
                        lost.push((p as u32, at, low));
                    }
                    PartitionMeta {
                        partition: p as u32,
                        epoch: layout.epoch(&topic, p as u32),
                        start_offset: at.max(low),
                    }
                })
                .collect();
            if lost.is_empty() {
                continue;
            }
            tracing::warn!(topic, ?lost, "records deleted by retention before this gateway read them; subscribers get resync");
            let meta = BrokerEvent::TopicMeta {
                topic: Arc::from(topic.as_str()),
                partitions,
            };
            #[cfg(feature = "testing")]
            let meta =
                match crate::testing::injected(crate::testing::KafkaBug::RetentionGapUnannounced) {
                    true => BrokerEvent::Records(Vec::new()),
                    false => meta,
                };
            self.events
                .send(meta)
                .await
                .map_err(|_| "gateway gone".to_string())?;
            // The reset stopped these partitions' fetchers (a seek is refused now), so
            // they are assigned again, at the new start.
            let mut stopped = TopicPartitionList::new();
            let mut restart = TopicPartitionList::new();
            for (partition, _, low) in lost {
                positions.insert((topic.clone(), partition), low);
                stopped.add_partition(&topic, partition as i32);
                restart
                    .add_partition_offset(&topic, partition as i32, Offset::Offset(low as i64))
                    .map_err(|e| e.to_string())?;
            }
            self.consumer
                .incremental_unassign(&stopped)
                .map_err(|e| e.to_string())?;
            self.consumer
                .incremental_assign(&restart)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Records between what the core has been handed and the high watermark, for
    /// every partition of the exposed topics.
    fn measure_lag(&self, positions: &BTreeMap<(String, u32), u64>) {
        let mut lag = BTreeMap::new();
        for topic in self.topology.topics() {
            let Some(layout) = self.topology.get(&topic) else {
                continue;
            };
            for partition in 0..layout.partitions {
                let tp = (topic.clone(), partition);
                let (Some(&at), Some(high)) = (
                    positions.get(&tp),
                    cached_high_watermark(&self.consumer, &topic, partition),
                ) else {
                    continue;
                };
                lag.insert(tp, high.saturating_sub(at));
            }
        }
        self.lag.replace(lag);
    }

    fn missing_listed_topics(&self) -> Vec<String> {
        self.exposure
            .listed()
            .into_iter()
            .filter(|t| self.topology.get(t).is_none())
            .collect()
    }

    /// Folds the consumer's positions in: a partition whose tail holds no deliverable
    /// record (transaction markers, compaction) still counts as read.
    fn merge_positions(&self, positions: &mut BTreeMap<(String, u32), u64>) {
        let Ok(list) = self.consumer.position() else {
            return;
        };
        for element in list.elements() {
            if let Offset::Offset(at) = element.offset() {
                let slot = positions
                    .entry((element.topic().to_owned(), element.partition() as u32))
                    .or_insert(0);
                *slot = (*slot).max(at.max(0) as u64);
            }
        }
    }

    /// Reads the cluster's metadata; announces new, changed and deleted exposed
    /// topics to the core and assigns their partitions. Returns the bootstrap
    /// targets of partitions assigned by this refresh.
    async fn refresh(&self) -> Result<Vec<((String, u32), Target)>, String> {
        let consumer = self.consumer.clone();
        let config = self.config.clone();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let (names, answering_broker): (Vec<String>, i32) = {
            let metadata = tokio::task::spawn_blocking({
                let consumer = consumer.clone();
                move || consumer.fetch_metadata(None, timeout)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let names = metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && self.exposure.exposes(t.name()))
                .map(|t| t.name().to_owned())
                .collect();
            // A broker known to answer; -1 (none known) leaves librdkafka's default.
            let answering = Some(metadata.orig_broker_id())
                .filter(|id| *id >= 0)
                .or_else(|| metadata.brokers().iter().map(|b| b.id()).min())
                .unwrap_or(-1);
            (names, answering)
        };
        self.topology.set_answering_broker(answering_broker);
        let id_failures = self.id_failures.load(Ordering::Relaxed);
        let known: BTreeMap<String, Option<u64>> = names
            .iter()
            .filter_map(|n| Some((n.clone(), self.topology.get(n)?.id)))
            .collect();
        let layouts = tokio::task::spawn_blocking({
            let consumer = consumer.clone();
            let names = names.clone();
            move || -> Result<(Vec<(String, TopicLayout)>, bool), String> {
                // Topic ids come from DescribeTopics. A cluster that cannot answer it
                // (no controller, old broker) is tried a few times, then served with
                // name-based epochs; topics already known keep their ids meanwhile.
                let (ids, failed) = match describe_topic_ids(consumer.client(), &names, answering_broker, timeout) {
                    Ok(ids) => (ids, false),
                    Err(err) if id_failures + 1 < ID_ATTEMPTS_MAX && known.len() < names.len() => return Err(err),
                    Err(err) => {
                        if id_failures + 1 == ID_ATTEMPTS_MAX {
                            tracing::warn!(%err, "the cluster reports no topic ids; a recreated topic will not be noticed");
                        }
                        (known.clone().into_iter().collect(), true)
                    }
                };
                let metadata = consumer
                    .fetch_metadata(None, timeout)
                    .map_err(|e| e.to_string())?;
                let layouts = metadata
                    .topics()
                    .iter()
                    .filter(|t| names.iter().any(|n| n == t.name()))
                    .map(|t| {
                        let layout = TopicLayout {
                            id: ids.get(t.name()).copied().flatten(),
                            partitions: t.partitions().len() as u32,
                        };
                        (t.name().to_owned(), layout)
                    })
                    .collect();
                Ok((layouts, failed))
            }
        })
        .await
        .map_err(|e| e.to_string());
        let (layouts, ids_failed) = match layouts.and_then(|r| r) {
            Ok(result) => result,
            Err(err) => {
                self.id_failures.fetch_add(1, Ordering::Relaxed);
                return Err(err);
            }
        };
        if ids_failed {
            self.id_failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.id_failures.store(0, Ordering::Relaxed);
        }

        let mut assigned = Vec::new();
        let seen: Vec<String> = layouts.iter().map(|(n, _)| n.clone()).collect();
        for (topic, layout) in layouts {
            let old = self.topology.get(&topic);
            if old.as_ref() == Some(&layout) || layout.partitions == 0 {
                continue;
            }
            if let Some(old) = &old {
                // Re-pointing partitions whose fetchers still run takes two refreshes.
                // With librdkafka 2.12, an assign right behind the unassign of such a
                // partition left it fetching the old log's offset (the recreate test:
                // 34-54 s to recover in one refresh, 9-25 s in two); a seek is refused
                // once the old log is gone. So this refresh unassigns and forgets the
                // topic; the next one exposes it anew and tells the core its new epochs.
                // (`announce_lost_records` does both at once: its fetchers are stopped.)
                tracing::info!(topic, ?old, new = ?layout, "exposed topic changed; clients get resync");
                self.unassign(&topic, old.partitions);
                self.topology.set(&topic, None);
                self.refresh_soon.store(true, Ordering::Relaxed);
                continue;
            }
            tracing::info!(topic, partitions = layout.partitions, "exposing topic");
            let all: Vec<u32> = (0..layout.partitions).collect();
            let starts = start_offsets(self.consumer.clone(), &self.config, &topic, &all).await?;
            let partitions = (0..layout.partitions)
                .map(|p| PartitionMeta {
                    partition: p,
                    epoch: layout.epoch(&topic, p),
                    start_offset: starts[p as usize].0,
                })
                .collect();
            // The core must know the layout before the first record of it arrives.
            self.events
                .send(BrokerEvent::TopicMeta {
                    topic: Arc::from(topic.as_str()),
                    partitions,
                })
                .await
                .map_err(|_| "gateway gone".to_string())?;
            if self.interest {
                // Read only once a core watches a partition (its watch is handled
                // after this refresh returns, with the topic known).
                self.topology.set(&topic, Some(layout));
                continue;
            }
            let mut list = TopicPartitionList::new();
            for (p, (start, high)) in starts.iter().enumerate() {
                list.add_partition_offset(&topic, p as i32, Offset::Offset(*start as i64))
                    .map_err(|e| e.to_string())?;
                assigned.push((
                    (topic.clone(), p as u32),
                    Target {
                        target: *high,
                        start: *start,
                    },
                ));
            }
            self.consumer
                .incremental_assign(&list)
                .map_err(|e| e.to_string())?;
            // Known only once assigned: a failed refresh is retried in full.
            self.topology.set(&topic, Some(layout));
        }
        for topic in self.topology.topics() {
            if !seen.contains(&topic) {
                tracing::warn!(
                    topic,
                    "topic no longer exposed, or gone from Kafka: no longer read"
                );
                if let Some(old) = self.topology.get(&topic) {
                    self.unassign(&topic, old.partitions);
                }
                self.topology.set(&topic, None);
                let gone = BrokerEvent::TopicMeta {
                    topic: Arc::from(topic.as_str()),
                    partitions: Vec::new(),
                };
                self.events
                    .send(gone)
                    .await
                    .map_err(|_| "gateway gone".to_string())?;
            }
        }
        Ok(assigned)
    }

    /// Stops reading every partition of `topic` this gateway reads.
    fn unassign(&self, topic: &str, partitions: u32) {
        if self.interest {
            let assigned = self.lock_assignments().forget_topic(topic);
            self.consumed.set_interest(self.lock_assignments().stats());
            self.unassign_partitions(topic, &assigned);
        } else {
            self.unassign_partitions(topic, &(0..partitions).collect::<Vec<_>>());
        }
    }

    fn unassign_partitions(&self, topic: &str, partitions: &[u32]) {
        if partitions.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition(topic, p as i32);
        }
        if let Err(err) = self.consumer.incremental_unassign(&list) {
            tracing::warn!(%err, topic, "unassigning partitions failed");
        }
    }
}

/// Per partition of `partitions`: where the bootstrap starts reading (the log's
/// start, or the first record of the lookback window), and the high watermark.
async fn start_offsets(
    consumer: Arc<StreamConsumer>,
    config: &KafkaConfig,
    topic: &str,
    partitions: &[u32],
) -> Result<Vec<(u64, u64)>, String> {
    let topic = topic.to_owned();
    let partitions = partitions.to_vec();
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let lookback_ms = config.bootstrap_lookback_ms;
    tokio::task::spawn_blocking(move || {
        let mut starts = Vec::with_capacity(partitions.len());
        let since_ms = lookback_ms.map(|ms| {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as i64;
            now_ms - ms as i64
        });
        for p in partitions.into_iter().map(|p| p as i32) {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, timeout)
                .map_err(|e| e.to_string())?;
            let (low, high) = (low.max(0) as u64, high.max(0) as u64);
            let start = match since_ms {
                None => low,
                Some(since_ms) => {
                    let mut query = TopicPartitionList::new();
                    query
                        .add_partition_offset(&topic, p, Offset::Offset(since_ms))
                        .map_err(|e| e.to_string())?;
                    let found = consumer
                        .offsets_for_times(query, timeout)
                        .map_err(|e| e.to_string())?;
                    match found.find_partition(&topic, p).map(|e| e.offset()) {
                        Some(Offset::Offset(at)) => (at.max(0) as u64).max(low),
                        _ => high,
                    }
                }
            };
            starts.push((start, high));
        }
        Ok(starts)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A record's key, value and header bytes.
fn record_bytes(record: &sluice_core::BrokerRecord) -> u64 {
    let headers: usize = record
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    (record.key.as_ref().map_or(0, |k| k.len())
        + record.payload.as_ref().map_or(0, |p| p.len())
        + headers) as u64
}

/// A refresh interval whose first tick comes now, or `FORCED_REFRESH_INTERVAL`
/// after the last one asked for this way, whichever is later.
fn refresh_soon(
    last: &mut Option<tokio::time::Instant>,
    period: Duration,
) -> tokio::time::Interval {
    let now = tokio::time::Instant::now();
    let at = last.map_or(now, |last| (last + FORCED_REFRESH_INTERVAL).max(now));
    *last = Some(at);
    let mut refresh = tokio::time::interval_at(at, period);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh
}

/// Ticks every `period`, the first tick at once (a new one is how a refresh is
/// asked for now: the simulator's clock has no `reset_immediately`).
fn refresh_interval(period: Duration) -> tokio::time::Interval {
    let mut refresh = tokio::time::interval(period);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh
}

/// Executes the core's commands: produces on the shared producer, fetches on
/// bounded blocking workers. Each answer goes back as an event.
pub(crate) async fn run_commands(
    runner: crate::CommandRunner,
    mut commands: mpsc::Receiver<BrokerCommand>,
) {
    let crate::CommandRunner {
        config,
        topology,
        producers,
        check,
        events,
        shard,
        watches,
    } = runner;
    let fetch_slots = Arc::new(Semaphore::new(config.fetch_concurrency_max.max(1)));
    let config = Arc::new(config);
    while let Some(command) = commands.recv().await {
        let watch = matches!(command, BrokerCommand::Watch { .. });
        match command {
            // In order, on the session's task: it owns the consumer's assignment.
            BrokerCommand::Watch { topic, partition }
            | BrokerCommand::Unwatch { topic, partition } => {
                let request = WatchRequest {
                    shard,
                    topic,
                    partition,
                    watch,
                };
                if watches.send(request).await.is_err() {
                    break;
                }
            }
            BrokerCommand::Produce(request) => {
                let producers = producers.clone();
                let events = events.clone();
                let queue_timeout = Duration::from_millis(config.request_timeout_ms);
                let topology = topology.clone();
                let check = check.clone();
                tokio::spawn(async move {
                    let produce = request.produce;
                    let sent_to = topology.get(&request.topic);
                    let result = match sent_to {
                        // Between forgetting a changed topic and exposing it anew: the
                        // core still pairs offsets with the old log's epochs.
                        None => Err(sluice_core::BrokerError::Unavailable(
                            "the topic is being re-read after it changed in Kafka".into(),
                        )),
                        Some(layout) => {
                            let written =
                                crate::producer::produce(&producers, &request, queue_timeout).await;
                            match written {
                                Ok(offset) => check
                                    .confirm(&request.topic, layout.id, "publish")
                                    .await
                                    .map(|()| offset),
                                Err(err) => Err(err),
                            }
                        }
                    };
                    let _ = events.send(BrokerEvent::Produced { produce, result }).await;
                });
            }
            BrokerCommand::Fetch(request) => {
                let config = config.clone();
                let topology = topology.clone();
                let events = events.clone();
                let slots = fetch_slots.clone();
                let check = check.clone();
                tokio::spawn(async move {
                    let Ok(_slot) = slots.acquire_owned().await else {
                        return;
                    };
                    let fetch = request.fetch;
                    let topic = request.topic.clone();
                    let sent_to = topology.get(&topic).and_then(|layout| layout.id);
                    let result = tokio::task::spawn_blocking(move || {
                        fetcher::fetch(&config, &topology, request)
                    })
                    .await
                    .unwrap_or_else(|e| Err(sluice_core::BrokerError::Other(e.to_string())));
                    // Old offsets are read by topic name: from the log the core
                    // means only if the topic is still that incarnation.
                    let result = match result {
                        Ok(fetched) => check
                            .confirm(&topic, sent_to, "read")
                            .await
                            .map(|()| fetched),
                        Err(err) => Err(err),
                    };
                    let _ = events.send(BrokerEvent::Fetched { fetch, result }).await;
                });
            }
        }
    }
}
