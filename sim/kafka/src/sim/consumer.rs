//! Consumers by manual assignment: `StreamConsumer` (async `recv`) and
//! `BaseConsumer` (blocking `poll`), with rdkafka's `Consumer` trait.
//!
//! A consumer fetches every assigned partition from its position in rounds. Each
//! round takes the cluster's fetch latency (and a slow-fetch fault's extra delay);
//! a lost answer costs the request timeout. With `auto.offset.reset = error`, a
//! position out of range stops that partition and reports `AutoOffsetReset` once,
//! until it is assigned again — librdkafka's behaviour the adapter relies on.
//! Fetches name the topic, as librdkafka 2.12 does: a topic deleted and created
//! again under the same name is read on from the same offset, now in the new log
//! (docs/kafka.md). A broker out of reach is reported once per outage, as
//! librdkafka's transport errors are.

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::client::Client;
use super::cluster::{Read, SimCluster};
use super::config::{ClientConfig, FromClientConfig};
use super::error::{KafkaError, KafkaResult};
use super::message::BorrowedMessage;
use super::metadata::Metadata;
use super::topic_partition_list::{Offset, TopicPartitionList};
use super::types::RDKafkaErrorCode;
use super::util::Timeout;

/// How long an idle consumer waits before fetching again.
const IDLE_FETCH_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultConsumerContext;

impl super::client::ClientContext for DefaultConsumerContext {}

/// What `auto.offset.reset` says to do with a position out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reset {
    Error,
    Earliest,
    Latest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Beginning,
    End,
    Offset(u64),
}

#[derive(Debug)]
struct Fetching {
    at: At,
    /// Out of range with `auto.offset.reset = error`: no more fetches until assigned again.
    stopped: bool,
}

type Tp = (String, i32);

#[derive(Default)]
struct State {
    assigned: BTreeMap<Tp, Fetching>,
    fetched: VecDeque<BorrowedMessage<'static>>,
    errors: VecDeque<KafkaError>,
    /// Per partition, the offset after the last message handed to the application.
    positions: BTreeMap<Tp, i64>,
    /// The high watermark of each partition's last fetch answer.
    highs: BTreeMap<Tp, u64>,
    /// The current outage was reported.
    outage_reported: bool,
}

/// What both consumer kinds are made of.
pub struct ConsumerCore {
    client: Client,
    reset: Reset,
    state: Mutex<State>,
}

impl ConsumerCore {
    fn new(config: &ClientConfig) -> ConsumerCore {
        let reset = match config.get("auto.offset.reset") {
            Some("error") => Reset::Error,
            Some("earliest" | "smallest" | "beginning") => Reset::Earliest,
            _ => Reset::Latest,
        };
        ConsumerCore {
            client: Client::new(config),
            reset,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next error or message already fetched.
    fn take_ready(&self) -> Option<KafkaResult<BorrowedMessage<'static>>> {
        let mut state = self.lock();
        if let Some(error) = state.errors.pop_front() {
            return Some(Err(error));
        }
        let message = state.fetched.pop_front()?;
        let tp = (message.topic.to_string(), message.partition);
        state.positions.insert(tp, message.record.offset + 1);
        Some(Ok(message))
    }

    /// One fetch answer for every assigned partition; true if it brought anything.
    fn fetch_round(&self, cluster: &SimCluster) -> bool {
        let mut state = self.lock();
        let State {
            assigned,
            fetched,
            errors,
            highs,
            ..
        } = &mut *state;
        let mut any = false;
        for ((topic, partition), fetching) in assigned.iter_mut() {
            if fetching.stopped {
                continue;
            }
            let from = match fetching.at {
                At::Offset(at) => at,
                At::Beginning | At::End => match cluster.bounds(topic, *partition) {
                    Some((start, end)) => {
                        if fetching.at == At::Beginning {
                            start
                        } else {
                            end
                        }
                    }
                    None => u64::MAX,
                },
            };
            match cluster.read(topic, *partition, from) {
                Read::Records(records, high) => {
                    highs.insert((topic.clone(), *partition), high);
                    let topic_name: std::sync::Arc<str> = std::sync::Arc::from(topic.as_str());
                    fetching.at = At::Offset(from + records.len() as u64);
                    any |= !records.is_empty();
                    fetched.extend(records.into_iter().map(|record| BorrowedMessage {
                        topic: topic_name.clone(),
                        partition: *partition,
                        record,
                        consumer: PhantomData,
                    }));
                }
                Read::OutOfRange => match self.reset {
                    Reset::Error => {
                        fetching.stopped = true;
                        errors.push_back(KafkaError::MessageConsumption(
                            RDKafkaErrorCode::AutoOffsetReset,
                        ));
                        any = true;
                    }
                    Reset::Earliest => fetching.at = At::Beginning,
                    Reset::Latest => fetching.at = At::End,
                },
                Read::UnknownPartition => {
                    fetching.stopped = true;
                    errors.push_back(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::UnknownTopicOrPartition,
                    ));
                    any = true;
                }
            }
        }
        any
    }

    fn add(&self, list: &TopicPartitionList) {
        let mut state = self.lock();
        for (topic, partition, offset) in &list.entries {
            let tp = (topic.clone(), *partition);
            let at = match offset {
                Offset::Offset(at) if *at >= 0 => At::Offset(*at as u64),
                Offset::Beginning => At::Beginning,
                // Stored offsets need a group; without one librdkafka falls back
                // to `auto.offset.reset`.
                _ => match self.reset {
                    Reset::Earliest => At::Beginning,
                    _ => At::End,
                },
            };
            state
                .fetched
                .retain(|m| (&*m.topic, m.partition) != (topic.as_str(), *partition));
            state.positions.remove(&tp);
            state.assigned.insert(tp, Fetching { at, stopped: false });
        }
    }

    fn remove(&self, list: &TopicPartitionList) {
        let mut state = self.lock();
        for (topic, partition, _) in &list.entries {
            let tp = (topic.clone(), *partition);
            state
                .fetched
                .retain(|m| (&*m.topic, m.partition) != (topic.as_str(), *partition));
            state.positions.remove(&tp);
            state.assigned.remove(&tp);
        }
    }

    /// The high watermark the last fetch answer for the partition carried.
    pub fn cached_high_watermark(&self, topic: &str, partition: u32) -> Option<u64> {
        self.lock()
            .highs
            .get(&(topic.to_owned(), partition as i32))
            .copied()
    }
}

/// rdkafka's consumer trait, for the calls the adapter makes.
pub trait Consumer {
    #[doc(hidden)]
    fn core(&self) -> &ConsumerCore;

    fn client(&self) -> &Client {
        &self.core().client
    }

    fn fetch_watermarks<T: Into<Timeout>>(
        &self,
        topic: &str,
        partition: i32,
        _timeout: T,
    ) -> KafkaResult<(i64, i64)> {
        let client = &self.core().client;
        client
            .cluster_or(KafkaError::OffsetFetch)?
            .watermarks(&client.id, topic, partition)
    }

    fn fetch_metadata<T: Into<Timeout>>(
        &self,
        topic: Option<&str>,
        _timeout: T,
    ) -> KafkaResult<Metadata> {
        let client = &self.core().client;
        client
            .cluster_or(KafkaError::MetadataFetch)?
            .metadata(&client.id, topic)
    }

    fn offsets_for_times<T: Into<Timeout>>(
        &self,
        timestamps: TopicPartitionList,
        _timeout: T,
    ) -> KafkaResult<TopicPartitionList> {
        let client = &self.core().client;
        let cluster = client.cluster_or(KafkaError::OffsetFetch)?;
        let mut found = TopicPartitionList::new();
        for (topic, partition, offset) in &timestamps.entries {
            let Offset::Offset(since_ms) = offset else {
                return Err(KafkaError::OffsetFetch(RDKafkaErrorCode::InvalidArgument));
            };
            let at = cluster.offset_for_time(&client.id, topic, *partition, *since_ms)?;
            let at = at.map_or(Offset::End, |at| Offset::Offset(at as i64));
            found.add_partition_offset(topic, *partition, at)?;
        }
        Ok(found)
    }

    fn assign(&self, list: &TopicPartitionList) -> KafkaResult<()> {
        let core = self.core();
        let everything = TopicPartitionList {
            entries: core
                .lock()
                .assigned
                .keys()
                .map(|(t, p)| (t.clone(), *p, Offset::Invalid))
                .collect(),
        };
        core.remove(&everything);
        core.add(list);
        Ok(())
    }

    fn incremental_assign(&self, list: &TopicPartitionList) -> KafkaResult<()> {
        self.core().add(list);
        Ok(())
    }

    fn incremental_unassign(&self, list: &TopicPartitionList) -> KafkaResult<()> {
        self.core().remove(list);
        Ok(())
    }

    /// The position of every assigned partition: after the last message handed
    /// out, `Invalid` before the first.
    fn position(&self) -> KafkaResult<TopicPartitionList> {
        let state = self.core().lock();
        let entries = state
            .assigned
            .keys()
            .map(|tp| {
                let offset = state
                    .positions
                    .get(tp)
                    .map_or(Offset::Invalid, |at| Offset::Offset(*at));
                (tp.0.clone(), tp.1, offset)
            })
            .collect();
        Ok(TopicPartitionList { entries })
    }
}

/// A consumer read with `recv().await`.
pub struct StreamConsumer {
    core: ConsumerCore,
}

impl FromClientConfig for StreamConsumer {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Ok(StreamConsumer {
            core: ConsumerCore::new(config),
        })
    }
}

impl Consumer for StreamConsumer {
    fn core(&self) -> &ConsumerCore {
        &self.core
    }
}

impl StreamConsumer {
    /// The next message or error. Cancel safe: nothing is taken from the fetched
    /// messages until the future completes.
    pub async fn recv(&self) -> KafkaResult<BorrowedMessage<'_>> {
        loop {
            if let Some(ready) = self.core.take_ready() {
                return ready;
            }
            let Some(cluster) = self.core.client.cluster.clone() else {
                tokio::time::sleep(self.core.client.request_timeout).await;
                continue;
            };
            let draw = cluster.draw_fetch();
            if draw.lost {
                // The answer never comes; librdkafka asks again after its timeout.
                tokio::time::sleep(self.core.client.request_timeout).await;
                continue;
            }
            tokio::time::sleep(draw.delay).await;
            if !cluster.reachable(&self.core.client.id) {
                let reported = {
                    let mut state = self.core.lock();
                    let first = !std::mem::replace(&mut state.outage_reported, true);
                    if first {
                        state.errors.push_back(KafkaError::MessageConsumption(
                            RDKafkaErrorCode::BrokerTransportFailure,
                        ));
                    }
                    first
                };
                if !reported {
                    tokio::time::sleep(IDLE_FETCH_INTERVAL).await;
                }
                continue;
            }
            self.core.lock().outage_reported = false;
            if !self.core.fetch_round(&cluster) {
                tokio::time::sleep(IDLE_FETCH_INTERVAL).await;
            }
        }
    }

    /// The simulated body of the adapter's local high-watermark look-up.
    pub fn cached_high_watermark(&self, topic: &str, partition: u32) -> Option<u64> {
        self.core.cached_high_watermark(topic, partition)
    }
}

/// A consumer read with blocking `poll`, answered at once in the simulation.
pub struct BaseConsumer {
    core: ConsumerCore,
}

impl FromClientConfig for BaseConsumer {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Ok(BaseConsumer {
            core: ConsumerCore::new(config),
        })
    }
}

impl Consumer for BaseConsumer {
    fn core(&self) -> &ConsumerCore {
        &self.core
    }
}

impl BaseConsumer {
    /// The next message or error. An unreachable broker or a lost answer is an
    /// error at once; nothing at the position lets `timeout` pass.
    pub fn poll<T: Into<Timeout>>(&self, timeout: T) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        if let Some(ready) = self.core.take_ready() {
            return Some(ready);
        }
        let Some(cluster) = self.core.client.reachable().cloned() else {
            return Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure,
            )));
        };
        if cluster.draw_fetch().lost {
            return Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::RequestTimedOut,
            )));
        }
        self.core.fetch_round(&cluster);
        if let Some(ready) = self.core.take_ready() {
            return Some(ready);
        }
        // Nothing to read: the blocked call's timeout passes (time must move, or a
        // caller polling until a deadline would spin forever).
        let wait = match timeout.into() {
            Timeout::After(wait) => wait.min(Duration::from_millis(100)),
            Timeout::Never => Duration::from_millis(100),
        };
        madsim::time::advance(wait);
        None
    }
}
