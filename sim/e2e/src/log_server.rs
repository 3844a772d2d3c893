//! The broker node: a Kafka-like log server of the simulator's own. It keeps what
//! the guarantees rest on — murmur2 partitioning (done by the gateway, checked
//! here), dense per-partition offsets, epochs that stay the same across restarts —
//! and its log survives a restart: every record goes to a write-ahead log on the
//! node's (simulated) disk before it is applied and acknowledged.
//!
//! The log itself is the embedded [`MemoryBroker`]; each gateway connection gets
//! one of its sessions (topic announcements, the record stream, fetches), while
//! produces go through [`LogServer::produce`] so they hit the disk first.

use std::io;
use std::sync::Arc;

use madsim::fs::File;
use sluice_core::partitioner::partition_for_key;
use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, ProduceRequest};
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::ledger::Ledger;
use crate::wal::{decode_entries, WalEntry};
use crate::wire::{read_frame, write_frame};

/// Port the log server listens on.
pub const LOG_SERVER_PORT: u16 = 9092;

/// What the log server is started with (its "disk config"): the same on every
/// start, so the topics come back with the same epochs.
#[derive(Debug, Clone)]
pub struct LogServerConfig {
    /// Topic names and partition counts.
    pub topics: Vec<(String, u32)>,
    /// The topics' incarnation, part of every epoch.
    pub incarnation: String,
    /// Events queued per gateway connection before the session waits.
    pub session_queue_max: usize,
}

/// The append end of the write-ahead log. One produce at a time, so the order in
/// the file is the order of offsets.
struct Wal {
    file: File,
    length_bytes: u64,
}

struct LogServer {
    broker: MemoryBroker,
    wal: tokio::sync::Mutex<Wal>,
}

/// Runs the log server until the node is killed: replays the write-ahead logs of
/// earlier lives, then serves gateways.
/// Every start hands the checker's [`Ledger`] its restored log, a fuller copy of
/// the last one (the old stays equal to a prefix of it).
pub async fn run(config: LogServerConfig, ledger: Ledger) -> io::Result<()> {
    let broker = MemoryBroker::new(MemoryBrokerConfig {
        topics: Vec::new(),
        // Nothing is ever deleted: the checker's answer key is the whole log.
        retention_records_max: usize::MAX,
        retention_bytes_max: usize::MAX,
        events_queue_max: config.session_queue_max,
        ..MemoryBrokerConfig::default()
    })
    .map_err(|error| io::Error::other(format!("{error:?}")))?;
    for (topic, partitions) in &config.topics {
        broker
            .restore_topic(topic, *partitions, &config.incarnation)
            .map_err(|error| io::Error::other(format!("{error:?}")))?;
    }
    // Each life appends to a file of its own, so nothing written before is ever
    // truncated or rewritten.
    let mut life = 0;
    loop {
        let bytes = match madsim::fs::read(wal_path(life)).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => break,
            Err(error) => return Err(error),
        };
        let (entries, _) = decode_entries(&bytes);
        for entry in entries {
            let offset = broker
                .produce(
                    &entry.topic,
                    entry.partition,
                    entry.key,
                    entry.payload,
                    entry.headers,
                )
                .map_err(|error| io::Error::other(format!("replay: {error}")))?;
            assert_eq!(offset, entry.offset, "replay gave a record another offset");
        }
        life += 1;
    }
    tracing::info!(life, "log server: log restored");
    ledger.set(&config.incarnation, broker.clone());

    let file = File::create(wal_path(life)).await?;
    let server = Arc::new(LogServer {
        broker,
        wal: tokio::sync::Mutex::new(Wal {
            file,
            length_bytes: 0,
        }),
    });
    let listener = TcpListener::bind(("0.0.0.0", LOG_SERVER_PORT)).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        tracing::debug!(%peer, "log server: gateway connected");
        tokio::spawn(Arc::clone(&server).serve(stream, config.session_queue_max));
    }
}

fn wal_path(life: u32) -> String {
    format!("wal-{life}")
}

impl LogServer {
    /// One gateway connection, until either side goes away.
    async fn serve(self: Arc<Self>, stream: TcpStream, queue_max: usize) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (session_commands, mut session_events) = self.broker.connect();
        let (out_tx, mut out_rx) = mpsc::channel::<BrokerEvent>(queue_max);
        let writing = tokio::spawn(async move {
            while let Some(event) = out_rx.recv().await {
                if write_frame(&mut writer, &event).await.is_err() {
                    return;
                }
            }
        });
        let session_out = out_tx.clone();
        let streaming = tokio::spawn(async move {
            while let Some(event) = session_events.recv().await {
                if session_out.send(event).await.is_err() {
                    return;
                }
            }
        });
        while let Ok(Some(command)) = read_frame::<_, BrokerCommand>(&mut reader).await {
            match command {
                BrokerCommand::Produce(request) => {
                    let produce = request.produce;
                    let result = self.produce(request).await;
                    let answer = BrokerEvent::Produced { produce, result };
                    if out_tx.send(answer).await.is_err() {
                        break;
                    }
                }
                fetch @ BrokerCommand::Fetch(_) => {
                    if session_commands.send(fetch).await.is_err() {
                        break;
                    }
                }
                // It streams every partition; no gateway it serves watches any.
                BrokerCommand::Watch { .. } | BrokerCommand::Unwatch { .. } => {}
            }
        }
        streaming.abort();
        writing.abort();
    }

    /// Appends a record durably: to the write-ahead log first, then to the log.
    async fn produce(&self, request: ProduceRequest) -> Result<u64, BrokerError> {
        let ProduceRequest {
            topic,
            partition,
            key,
            payload,
            headers,
            ..
        } = request;
        let partitions = self
            .broker
            .topic_meta(&topic)
            .ok_or(BrokerError::UnknownTopic)?
            .len();
        let partitions = u32::try_from(partitions).unwrap_or(u32::MAX);
        // The gateway partitions like a Kafka producer; a wrong partition would
        // hide the record from the key's subscribers, so it is refused loudly.
        if partition != partition_for_key(key.as_deref(), partitions) {
            return Err(BrokerError::Other(format!(
                "partition {partition} is not murmur2's for this key"
            )));
        }
        let mut wal = self.wal.lock().await;
        let offset = self
            .broker
            .high_watermark(&topic, partition)
            .ok_or(BrokerError::UnknownTopic)?;
        let entry = WalEntry {
            topic: topic.to_string(),
            partition,
            offset,
            key: key.clone(),
            payload: Some(payload.clone()),
            headers: headers.clone(),
        };
        let bytes = entry.encode();
        let at = wal.length_bytes;
        let written = async {
            wal.file.write_all_at(&bytes, at).await?;
            wal.file.sync_all().await
        };
        written
            .await
            .map_err(|error| BrokerError::Unavailable(format!("log server disk: {error}")))?;
        wal.length_bytes += bytes.len() as u64;
        let applied = self
            .broker
            .produce(&topic, partition, key, Some(payload), headers)?;
        assert_eq!(applied, offset, "the log and its write-ahead log diverged");
        Ok(offset)
    }
}
