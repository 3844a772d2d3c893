//! The Rust SDK in one page: subscribe, publish, lose the connection, and resume
//! with nothing missed. Run a gateway (`cargo run --release -- serve`), then
//!
//! ```sh
//! cargo run --example quickstart [-- ws://127.0.0.1:8080/v1/ws]
//! ```
//!
//! A reader subscribes to `/demo/quickstart` and sees the messages it publishes.
//! Its connection is then dropped as a network failure would drop it; while it is
//! away a second client publishes two more. The reader reconnects by itself,
//! resumes from the last `(epoch, seq)` it saw, and receives exactly the two it
//! missed (`Recovered`), then `Sync`. Exits 0 when all of that happened.

use std::time::Duration;

use sluice_client::{Client, ClientConfig, Event, MessageKind, PublishOptions, SyncStatus};

const SUBJECT: &str = "/demo/quickstart";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080/v1/ws".into());
    let reader_config = ClientConfig {
        // Stay away a second after a loss, so the writer's messages are missed.
        backoff_initial_ms: 1_000,
        ..ClientConfig::with_servers([url.as_str()])
    };
    let (reader, mut events) = Client::connect(reader_config).await?;
    let (writer, _writer_events) = Client::connect(ClientConfig::with_servers([url])).await?;

    reader.subscribe(&[SUBJECT]).await?;
    let ack = reader
        .publish(SUBJECT, "one", PublishOptions::default())
        .await?;
    println!("published \"one\" at epoch {} seq {}", ack.epoch, ack.seq);
    wait_for(
        &mut events,
        |e| matches!(e, Event::Message(m) if m.seq == ack.seq),
    )
    .await?;

    reader.kill_connection().await;
    println!("reader's connection dropped; the writer publishes while it is away");
    for text in ["two", "three"] {
        let ack = writer
            .publish(SUBJECT, text, PublishOptions::default())
            .await?;
        println!("published {text:?} at seq {}", ack.seq);
    }

    let mut recovered = 0;
    wait_for(&mut events, |event| match event {
        Event::Message(m) if m.kind == MessageKind::Recovered => {
            recovered += 1;
            false
        }
        Event::Status { status, .. } => {
            println!("resume: {status:?}");
            *status == SyncStatus::Sync
        }
        _ => false,
    })
    .await?;
    println!("recovered {recovered} missed messages, then sync: no gap, no duplicate");
    reader.close().await;
    writer.close().await;
    if recovered == 2 {
        Ok(())
    } else {
        Err(format!("expected 2 recovered messages, got {recovered}").into())
    }
}

/// Prints events until `done` says so (10 s at most).
async fn wait_for(
    events: &mut sluice_client::Events,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = events.next() => {
                let event = event.ok_or("the client closed")?;
                if let Event::Message(m) = &event {
                    let data = String::from_utf8_lossy(m.data.as_deref().unwrap_or_default());
                    println!("  {:?} seq {} epoch {}: {data}", m.kind, m.seq, m.epoch);
                }
                if done(&event) {
                    return Ok(());
                }
            }
            () = &mut deadline => return Err("timed out waiting for the gateway".into()),
        }
    }
}
