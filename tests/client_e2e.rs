//! The Rust client SDK against a real gateway: snapshot, live, acks, automatic
//! resume after a lost connection, and failover between gateways.

mod common;

use std::time::Duration;

use sluice::server::Server;
use sluice_client::{
    Client, ClientConfig, Event, Events, MessageKind, PublishOptions, SubscribeOptions, SyncStatus,
};

use common::sdk::next_event;

/// The next message or status, skipping connection and subscription events.
async fn next_data(events: &mut Events) -> Event {
    loop {
        match next_event(events).await {
            Event::Connected { .. }
            | Event::Disconnected { .. }
            | Event::Subscribed { .. }
            | Event::Unsubscribed { .. } => continue,
            other => return other,
        }
    }
}

/// Runs a client whose events are consumed by the test itself; calls are driven on
/// a task so answers and events flow together.
async fn connect(servers: Vec<String>) -> (Client, Events) {
    let config = ClientConfig::with_servers(servers);
    let (client, mut events) = Client::connect(config).await.expect("connects");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    (client, events)
}

#[tokio::test]
async fn snapshot_live_ack_and_unsubscribe() {
    let server = common::start(|_| {}).await;
    let (alice, alice_events) = connect(vec![server.url()]).await;
    let (bob, mut bob_events) = connect(vec![server.url()]).await;
    common::sdk::drain_in_background(alice_events);

    let first = alice
        .publish("/demo/sdk", "one", PublishOptions::default())
        .await
        .unwrap();
    let sub = tokio::spawn({
        let bob = bob.clone();
        async move { bob.subscribe(&["/demo/sdk", "/hidden/x"]).await }
    });
    // The accepted subject is announced before its start; the refused one is not.
    assert!(matches!(
        next_event(&mut bob_events).await,
        Event::Subscribed { subject, history: None } if &*subject == "/demo/sdk"
    ));
    let Event::Message(snapshot) = next_data(&mut bob_events).await else {
        panic!("expected the snapshot")
    };
    assert_eq!(
        (snapshot.kind, snapshot.seq, &snapshot.epoch),
        (MessageKind::Snapshot, first.seq, &first.epoch)
    );
    let outcome = sub.await.unwrap().unwrap();
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].subject, "/hidden/x");

    let second = alice
        .publish("/demo/sdk", "two", PublishOptions::default())
        .await
        .unwrap();
    let Event::Message(update) = next_data(&mut bob_events).await else {
        panic!("expected the update")
    };
    assert_eq!(
        (update.kind, update.seq, update.data.as_deref()),
        (MessageKind::Update, second.seq, Some(&b"two"[..]))
    );

    let unsub = tokio::spawn({
        let bob = bob.clone();
        async move { bob.unsubscribe(&["/demo/sdk"]).await }
    });
    unsub.await.unwrap().unwrap();
    assert!(matches!(
        next_event(&mut bob_events).await,
        Event::Unsubscribed { subject } if &*subject == "/demo/sdk"
    ));
    alice
        .publish("/demo/sdk", "three", PublishOptions::default())
        .await
        .unwrap();
    let ping = tokio::spawn({
        let bob = bob.clone();
        async move { bob.ping().await }
    });
    ping.await.unwrap().unwrap();
    assert!(
        bob_events.try_next().is_none(),
        "a message arrived after unsubscribe"
    );
}

#[tokio::test]
async fn lost_connection_resumes_with_exactly_the_missed_messages() {
    let server = common::start(|_| {}).await;
    let (publisher, publisher_events) = connect(vec![server.url()]).await;
    common::sdk::drain_in_background(publisher_events);
    let (reader, mut events) = connect(vec![server.url()]).await;
    let sub = tokio::spawn({
        let reader = reader.clone();
        async move { reader.subscribe(&["/chat/resume"]).await }
    });
    publisher
        .publish("/chat/resume", "before", PublishOptions::default())
        .await
        .unwrap();
    let Event::Message(m) = next_data(&mut events).await else {
        panic!()
    };
    assert_eq!(m.data.as_deref(), Some(&b"before"[..]));
    assert!(sub.await.unwrap().unwrap().all_accepted());

    reader.kill_connection().await;
    let mut expected = Vec::new();
    for i in 0..100 {
        let ack = publisher
            .publish("/chat/resume", format!("m{i}"), PublishOptions::default())
            .await
            .unwrap();
        expected.push(ack.seq);
    }
    // The SDK reconnects by itself and resumes from the last message it saw: what
    // it missed comes as `recovered` up to `sync`; what was published after the
    // reconnect (it may come back mid-loop) comes live. Together: each once, in order.
    let got = common::sdk::resumed_then_live(&mut events, expected.len()).await;
    assert_eq!(got, expected, "exactly the missed messages, in order");
    let live = publisher
        .publish("/chat/resume", "live", PublishOptions::default())
        .await
        .unwrap();
    let Event::Message(m) = next_data(&mut events).await else {
        panic!()
    };
    assert_eq!((m.kind, m.seq), (MessageKind::Update, live.seq));
}

/// Publishes on a task, so the test can read the events that carry the answer.
fn publish_on_task(
    client: &Client,
    subject: &'static str,
    data: &'static str,
) -> tokio::task::JoinHandle<Result<sluice_client::Ack, sluice_client::ClientError>> {
    let client = client.clone();
    tokio::spawn(async move {
        client
            .publish(subject, data, PublishOptions::default())
            .await
    })
}

/// A gateway in a runtime of its own, so the test can kill it whole, connections
/// and all, as a crashed process would be.
fn gateway_in_own_runtime() -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server: Server = rt.block_on(common::start(|_| {}));
    let url = server.url();
    rt.spawn(async move {
        let _server = server;
        std::future::pending::<()>().await;
    });
    (url, rt)
}

#[tokio::test]
async fn fails_over_to_the_next_gateway_when_one_dies() {
    let (url_a, runtime_a) = tokio::task::spawn_blocking(gateway_in_own_runtime)
        .await
        .unwrap();
    let server_b = common::start(|_| {}).await;
    let (client, mut events) = connect(vec![url_a.clone(), server_b.url()]).await;
    let sub = tokio::spawn({
        let client = client.clone();
        async move { client.subscribe(&["/demo/failover"]).await }
    });
    assert!(sub.await.unwrap().unwrap().all_accepted());
    let publish = publish_on_task(&client, "/demo/failover", "on-a");
    let Event::Message(m) = next_data(&mut events).await else {
        panic!()
    };
    assert_eq!(m.data.as_deref(), Some(&b"on-a"[..]));
    publish.await.unwrap().unwrap();

    // Gateway A dies with everything in it.
    tokio::task::spawn_blocking(move || runtime_a.shutdown_timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    let mut reconnected_to = None;
    let mut resynced = false;
    while !(reconnected_to.is_some() && resynced) {
        match next_event(&mut events).await {
            Event::Connected { server } => reconnected_to = Some(server),
            // B runs its own embedded broker: another log, so the position is void.
            Event::Status {
                status: SyncStatus::Resync,
                ..
            } => resynced = true,
            Event::Disconnected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reconnected_to.as_deref(), Some(server_b.url().as_str()));
    let ack = publish_on_task(&client, "/demo/failover", "on-b");
    let Event::Message(m) = next_data(&mut events).await else {
        panic!()
    };
    assert_eq!(
        (m.data.as_deref(), m.seq),
        (Some(&b"on-b"[..]), ack.await.unwrap().unwrap().seq)
    );
}

/// Protocol 1.1 conflation through the SDK: a burst reaches a conflated
/// subscription as a few messages ending with the final value; after a lost
/// connection the SDK restores it conflated, so the resume brings only the
/// latest missed value, then `sync`.
#[tokio::test]
async fn a_conflated_subscription_gets_the_latest_values_and_resumes_with_the_latest() {
    let server = common::start(|_| {}).await;
    let (publisher, publisher_events) = connect(vec![server.url()]).await;
    common::sdk::drain_in_background(publisher_events);
    let (reader, mut events) = connect(vec![server.url()]).await;
    let options = SubscribeOptions {
        conflate_ms: Some(300),
        ..SubscribeOptions::default()
    };
    let sub = tokio::spawn({
        let reader = reader.clone();
        async move { reader.subscribe_with(&["/chat/prices"], options).await }
    });
    assert!(sub.await.unwrap().unwrap().all_accepted());
    let mut last = None;
    for i in 0..20 {
        last = Some(
            publisher
                .publish("/chat/prices", format!("p{i}"), PublishOptions::default())
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();
    let mut got = Vec::new();
    while got.last() != Some(&last.seq) {
        let Event::Message(m) = next_data(&mut events).await else {
            panic!()
        };
        got.push(m.seq);
    }
    assert!(got.len() < 20, "conflated: {got:?}");

    reader.kill_connection().await;
    let mut missed = Vec::new();
    for i in 0..10 {
        let ack = publisher
            .publish("/chat/prices", format!("q{i}"), PublishOptions::default())
            .await
            .unwrap();
        missed.push(ack.seq);
    }
    // The resume recovers at most the latest value missed so far (the reconnect
    // may come mid-burst; the rest then arrives live, conflated), then the final
    // value arrives.
    let recovered = common::sdk::recovered_until_sync(&mut events).await;
    assert!(recovered.len() <= 1, "{recovered:?}");
    let mut seen = recovered;
    while seen.last() != missed.last() {
        seen.push(common::sdk::next_message(&mut events).await.seq);
    }
    assert!(
        seen.len() < missed.len(),
        "conflated after the resume: {seen:?}"
    );
}

/// Protocol 1.1 history from the log: a history of 500 where the cache keeps 128
/// per subject arrives complete and in order, ends with `history_end`, and live
/// updates follow.
#[tokio::test]
async fn a_history_longer_than_the_cache_comes_from_the_log_complete_and_in_order() {
    let server = common::start(|c| c.gateway.message_cache_messages_per_subject_max = 128).await;
    let (publisher, publisher_events) = connect(vec![server.url()]).await;
    common::sdk::drain_in_background(publisher_events);
    let mut acks = Vec::new();
    for i in 0..520 {
        let options = PublishOptions::default();
        acks.push(
            publisher
                .publish("/chat/long", format!("v{i}"), options)
                .await
                .unwrap(),
        );
    }
    let (reader, mut events) = connect(vec![server.url()]).await;
    let options = SubscribeOptions {
        history: Some(500),
        history_end: true,
        ..SubscribeOptions::default()
    };
    let sub = tokio::spawn({
        let reader = reader.clone();
        async move { reader.subscribe_with(&["/chat/long"], options).await }
    });
    let (history, complete) = common::sdk::history_until_end(&mut events).await;
    assert!(sub.await.unwrap().unwrap().all_accepted());
    assert!(complete);
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = acks[20..].iter().map(|a| a.seq).collect();
    assert_eq!(seqs, expected);
    assert_eq!(history[0].data.as_deref(), Some(&b"v20"[..]));
    let live = publisher
        .publish("/chat/long", "live", PublishOptions::default())
        .await
        .unwrap();
    let m = next_data(&mut events).await;
    let Event::Message(m) = m else {
        panic!("{m:?}")
    };
    assert_eq!((m.kind, m.seq), (MessageKind::Update, live.seq));
}

/// Protocol 1.1 deltas through the Rust SDK over WebSocket: a subscriber that asks
/// for deltas gets every value of a 2 KB JSON with small changes back whole and
/// exact, also after the connection is lost and resumed (the chain restarts).
#[tokio::test]
async fn a_delta_subscriber_rebuilds_every_value_also_across_a_resume() {
    use common::sdk::json_value;
    let server = common::start(|_| {}).await;
    let (publisher, publisher_events) = connect(vec![server.url()]).await;
    common::sdk::drain_in_background(publisher_events);
    let (reader, mut events) = connect(vec![server.url()]).await;
    let options = SubscribeOptions {
        delta: true,
        ..SubscribeOptions::default()
    };
    let sub = tokio::spawn({
        let reader = reader.clone();
        async move { reader.subscribe_with(&["/chat/delta"], options).await }
    });
    assert!(sub.await.unwrap().unwrap().all_accepted());
    let publish = |i: usize| {
        let publisher = publisher.clone();
        async move {
            publisher
                .publish("/chat/delta", json_value(i), PublishOptions::default())
                .await
                .unwrap()
        }
    };
    for i in 0..20 {
        publish(i).await;
        let m = common::sdk::next_message(&mut events).await;
        assert_eq!(m.data.as_deref(), Some(json_value(i).as_bytes()));
        assert!(!m.delta, "the SDK hands the app whole values");
    }
    reader.kill_connection().await;
    for i in 20..30 {
        publish(i).await;
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        let m = common::sdk::next_message(&mut events).await;
        got.push(m.data.unwrap());
    }
    let expected: Vec<String> = (20..30).map(json_value).collect();
    assert_eq!(got, expected);
    let stats = server.runtime().stats();
    assert!(stats.deltas_out_total >= 19, "{}", stats.deltas_out_total);
}
