//! A client node: an app using the real Rust SDK (`sluice-client`) against the
//! gateways' WebSockets. It subscribes, renews, unsubscribes and publishes at
//! random while the fault phase lasts, sometimes drops its connection (a network
//! change), and hands every SDK event and publish outcome to the checker at once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_client::{Client, ClientConfig, PublishOptions, SubscribeOptions};
use tokio::time::{sleep, sleep_until, Instant};

use crate::check::AckedPublish;
use crate::plan::E2ePlan;
use crate::world::World;

/// An app holds at most this many subscriptions.
const SUBSCRIPTIONS_MAX: usize = 3;

pub async fn run(index: usize, plan: E2ePlan, servers: Vec<String>, world: Arc<World>) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(10 + index as u64);
    let config = ClientConfig {
        backoff_initial_ms: 50,
        backoff_max_ms: 1_000,
        connect_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        ..ClientConfig::with_servers(servers)
    };
    let (client, mut events) = loop {
        match Client::connect(config.clone()).await {
            Ok(connected) => break connected,
            Err(error) => {
                tracing::debug!(index, %error, "app: no gateway yet");
                sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let subjects = plan.subjects();
    let mut mine: Vec<String> = Vec::new();
    let mut published = 0u64;
    let mut next_act =
        Instant::now() + Duration::from_millis(rng.random_range(0..plan.act_every_ms));
    loop {
        let acting = world.acting();
        tokio::select! {
            biased;
            event = events.next() => {
                let Some(event) = event else { return };
                world.observe(index, &event);
            }
            () = sleep_until(next_act), if acting => {
                next_act += Duration::from_millis(rng.random_range(1..=2 * plan.act_every_ms));
                act(index, &plan, &client, &world, &mut rng, &subjects, &mut mine, &mut published).await;
            }
        }
    }
}

/// One random action. Requests run in tasks of their own, so the app never stops
/// reading events (a full event queue would stall the SDK's socket).
#[allow(clippy::too_many_arguments)]
async fn act(
    index: usize,
    plan: &E2ePlan,
    client: &Client,
    world: &Arc<World>,
    rng: &mut ChaCha8Rng,
    subjects: &[String],
    mine: &mut Vec<String>,
    published: &mut u64,
) {
    let subject = subjects[rng.random_range(0..subjects.len())].clone();
    let roll = rng.random_range(0..100);
    if let Some(kill) = plan.connection_kill {
        if rng.random_range(0..kill.every_ms) < plan.act_every_ms {
            client.kill_connection().await;
            return;
        }
    }
    if roll < 25 && (mine.len() < SUBSCRIPTIONS_MAX || mine.contains(&subject)) {
        // Some longer than the cache: read back from the log.
        let history = rng.random_bool(0.25).then(|| rng.random_range(1..=40));
        let history_end = rng.random_bool(0.5);
        // Some with deltas: the SDK rebuilds each value, checked against the log.
        let delta = rng.random_bool(0.3);
        // Some with record headers: the SDK restores those in their own batches.
        let headers = rng.random_bool(0.25);
        // Some conflated: the SDK must restore the interval, and the final value
        // must still arrive.
        let conflate_ms = rng.random_bool(0.2).then(|| rng.random_range(1..=5) * 100);
        if conflate_ms.is_some() {
            world.conflated(index, &subject);
        }
        if !mine.contains(&subject) {
            mine.push(subject.clone());
        }
        let client = client.clone();
        tokio::spawn(async move {
            let options = SubscribeOptions {
                history,
                headers,
                conflate_ms,
                history_end,
                delta,
            };
            let _ = client.subscribe_with(&[subject.as_str()], options).await;
        });
    } else if roll < 35 && !mine.is_empty() {
        let subject = mine.swap_remove(rng.random_range(0..mine.len()));
        let client = client.clone();
        tokio::spawn(async move {
            let _ = client.unsubscribe(&[subject.as_str()]).await;
        });
    } else {
        *published += 1;
        let payload = Bytes::from(format!("c{index}-{published}"));
        let client = client.clone();
        let world = Arc::clone(world);
        tokio::spawn(async move {
            let outcome = client
                .publish(&subject, payload.clone(), PublishOptions::default())
                .await;
            if let Ok(ack) = outcome {
                let ack = AckedPublish {
                    subject,
                    payload,
                    epoch: ack.epoch,
                    seq: ack.seq,
                };
                world.acked(index, ack);
            }
        });
    }
}
