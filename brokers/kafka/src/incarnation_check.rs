//! Which incarnation of a topic a write or a read of old offsets went to.
//!
//! Kafka's produce answer names an offset, not the topic's id, and librdkafka
//! reads old offsets by topic name. If a topic is deleted and created again under
//! the same name, a publish can land in the new log while the core still pairs
//! offsets with the old log's epochs: an acknowledgement naming someone else's
//! record. (The simulator found this: `cargo xtask sim --tier e2e --broker kafka`,
//! topic recreation.) So an acknowledgement, or a fetch of old offsets, counts only
//! if the topic's id, asked *after* it, is still the id it was sent with: ids never
//! come back, so the topic was that incarnation the whole time in between.
//!
//! One DescribeTopics answers every check waiting when it starts, so a busy
//! gateway asks once per round trip, not once per publish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use sluice_core::BrokerError;
use tokio::sync::watch;

use crate::topic_id::describe_topic_ids;
use crate::topology::Topology;

/// Topic ids by name, or why they could not be read.
type Answer = Result<Arc<HashMap<String, Option<u64>>>, String>;

pub struct IncarnationCheck {
    consumer: Arc<StreamConsumer>,
    /// Where the session last heard from the cluster: whom to ask.
    topology: Arc<Topology>,
    timeout: Duration,
    state: Mutex<State>,
    /// The last answer, with the number of the last request it covers.
    answers: watch::Sender<(u64, Answer)>,
}

#[derive(Default)]
struct State {
    /// Requests made so far.
    requested: u64,
    /// Topics asked about since the last request went out.
    topics: Vec<String>,
    running: bool,
}

impl IncarnationCheck {
    pub fn new(
        consumer: Arc<StreamConsumer>,
        topology: Arc<Topology>,
        timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(IncarnationCheck {
            consumer,
            topology,
            timeout,
            state: Mutex::new(State::default()),
            answers: watch::Sender::new((0, Err("not asked yet".into()))),
        })
    }

    /// The id `topic` has now (asked after this call began); `None` when it does
    /// not exist or the cluster reports no ids.
    pub async fn current_id(self: &Arc<Self>, topic: &str) -> Result<Option<u64>, String> {
        let mut answers = self.answers.subscribe();
        let mine = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.requested += 1;
            if !state.topics.iter().any(|t| t == topic) {
                state.topics.push(topic.to_owned());
            }
            if !state.running {
                state.running = true;
                tokio::spawn(Arc::clone(self).run());
            }
            state.requested
        };
        let answered = answers
            .wait_for(|(covered, _)| *covered >= mine)
            .await
            .map_err(|_| "the check stopped".to_string())?;
        let ids = answered.1.clone()?;
        Ok(ids.get(topic).copied().flatten())
    }

    /// `Ok` if `topic` is still incarnation `expected` (the id the core's epochs
    /// come from): `what` (a publish, a read) then went to that incarnation. Without
    /// ids (`None`, an old cluster) nothing can be told apart, and nothing is asked.
    pub async fn confirm(
        self: &Arc<Self>,
        topic: &str,
        expected: Option<u64>,
        what: &str,
    ) -> Result<(), BrokerError> {
        let Some(expected) = expected else {
            return Ok(());
        };
        match self.current_id(topic).await {
            Ok(Some(id)) if id == expected => Ok(()),
            Ok(now) => Err(BrokerError::Unavailable(format!(
                "topic {topic} was deleted or recreated during the {what} (id {expected:x}, now {now:x?}): which log has it is unknown"
            ))),
            Err(why) => {
                tracing::debug!(topic, %why, "cannot confirm a topic's incarnation");
                Err(BrokerError::Unavailable(format!(
                    "cannot confirm which incarnation of {topic} the {what} went to: {why}"
                )))
            }
        }
    }

    /// Asks until no request is left unanswered.
    async fn run(self: Arc<Self>) {
        loop {
            let (covers, topics) = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.topics.is_empty() {
                    state.running = false;
                    return;
                }
                (state.requested, std::mem::take(&mut state.topics))
            };
            let consumer = Arc::clone(&self.consumer);
            let timeout = self.timeout;
            let broker = self.topology.answering_broker();
            let answer = tokio::task::spawn_blocking(move || {
                describe_topic_ids(consumer.client(), &topics, broker, timeout)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map(Arc::new);
            let _previous = self.answers.send_replace((covers, answer));
        }
    }
}
