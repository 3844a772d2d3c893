//! The session's events to every shard of the gateway. One consumer reads Kafka
//! once per process; each shard's core gets the same stream in the same order and
//! keeps its own index of it (the records' payloads and headers are shared, not
//! copied). Answers to a shard's own commands (produces, fetches) go to that shard
//! alone, from its `run_commands`.

use futures_util::future::join_all;
use sluice_core::BrokerEvent;
use tokio::sync::mpsc;

#[derive(Clone)]
pub(crate) struct ShardEvents {
    shards: Vec<mpsc::Sender<BrokerEvent>>,
}

/// Every shard has gone: the session should stop.
#[derive(Debug)]
pub(crate) struct AllClosed;

impl ShardEvents {
    pub fn new(shards: Vec<mpsc::Sender<BrokerEvent>>) -> Self {
        ShardEvents { shards }
    }

    /// Sends `event` to every shard still there, in turn: a shard whose queue is
    /// full holds the others back, as one core's full queue holds the consumer.
    pub async fn send(&self, event: BrokerEvent) -> Result<(), AllClosed> {
        let mut delivered = false;
        if let Some((last, first)) = self.shards.split_last() {
            for shard in first {
                delivered |= shard.send(event.clone()).await.is_ok();
            }
            delivered |= last.send(event).await.is_ok();
        }
        if delivered {
            Ok(())
        } else {
            Err(AllClosed)
        }
    }

    /// Sends `event` to one shard: an answer to its own watch, behind every record
    /// sent to it before.
    pub async fn send_to(&self, shard: usize, event: BrokerEvent) -> Result<(), AllClosed> {
        match self.shards.get(shard) {
            Some(sender) => sender.send(event).await.map_err(|_| AllClosed),
            None => Ok(()),
        }
    }

    /// Resolves once every shard has dropped its end.
    pub async fn closed(&self) {
        join_all(self.shards.iter().map(mpsc::Sender::closed)).await;
    }
}
