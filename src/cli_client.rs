//! `sluice sub` and `sluice pub`: the client SDK from the command line.

use std::io::Write;

use anyhow::Context;
use sluice_client::{Client, ClientConfig, Encoding, Event, PublishOptions, Qos, SubscribeOptions};
use sluice_core::protocol::{json, ServerFrame};

/// Server URLs: one argument, comma-separated for failover. `pins`: certificate
/// fingerprints to trust instead of the public CAs. The token for a `jwt` gateway
/// comes from `SLUICE_TOKEN`, not a flag, so it stays out of process lists.
pub fn client_config(servers: &str, binary: bool, pins: Vec<String>) -> ClientConfig {
    let mut config =
        ClientConfig::with_servers(servers.split(',').map(str::trim).filter(|s| !s.is_empty()));
    config.encoding = if binary {
        Encoding::Binary
    } else {
        Encoding::Json
    };
    config.tls_pins_sha256 = pins;
    config.token = std::env::var("SLUICE_TOKEN").ok().filter(|t| !t.is_empty());
    config
}

/// Connects, with a hint when the gateway's certificate needs a pin.
async fn connect(config: ClientConfig) -> anyhow::Result<(Client, sluice_client::Events)> {
    match Client::connect(config).await {
        Ok(connected) => Ok(connected),
        Err(err) if err.to_string().contains("UnknownIssuer") => Err(anyhow::Error::new(err)
            .context(
                "connecting (the certificate is not from a public CA: pass --pin with the \
                 SHA-256 fingerprint `sluice serve` printed)",
            )),
        Err(err) => Err(anyhow::Error::new(err).context("connecting")),
    }
}

fn print_line(frame: &ServerFrame) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json::encode_server(frame))?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// Prints every message and status of `subjects` as a JSON line (the protocol's own
/// JSON shapes), until interrupted or until `count` messages were printed.
pub async fn subscribe(
    config: ClientConfig,
    subjects: &[String],
    options: SubscribeOptions,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let (client, mut events) = connect(config).await?;
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let mut call = {
        let client = client.clone();
        let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        tokio::spawn(async move {
            let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
            client.subscribe_with(&subjects, options).await
        })
    };
    let mut call_done = false;
    let mut printed = 0u64;
    loop {
        let event = tokio::select! {
            outcome = &mut call, if !call_done => {
                call_done = true;
                let outcome = outcome.context("subscribe task")?.context("subscribing")?;
                for rejected in &outcome.rejected {
                    eprintln!("refused {}: {} ({})", rejected.subject, rejected.code, rejected.message);
                }
                if outcome.rejected.len() == subjects.len() {
                    anyhow::bail!("every subject was refused");
                }
                continue;
            }
            event = events.next() => event,
            _ = tokio::signal::ctrl_c() => break,
        };
        match event {
            Some(Event::Message(message)) => {
                print_line(&ServerFrame::Message(message))?;
                printed += 1;
                if count.is_some_and(|c| printed >= c) {
                    break;
                }
            }
            Some(Event::Status { subject, status }) => {
                print_line(&ServerFrame::Status { subject, status })?
            }
            Some(Event::Connected { server }) => tracing::info!(%server, "connected"),
            Some(Event::Disconnected { reason }) => {
                tracing::warn!(?reason, "disconnected; reconnecting")
            }
            Some(Event::SubscriptionRejected {
                subject,
                code,
                message,
            }) => {
                eprintln!("refused {subject}: {code} ({message})");
            }
            Some(other) => tracing::debug!(?other, "event"),
            None => break,
        }
    }
    client.close().await;
    Ok(())
}

/// Publishes one message and prints its ack as a JSON line.
pub async fn publish(
    config: ClientConfig,
    subject: &str,
    data: String,
    not_retained: bool,
    guaranteed: bool,
) -> anyhow::Result<()> {
    let (client, mut events) = connect(config).await?;
    // Answers share the socket with events; keep draining them.
    tokio::spawn(async move { while events.next().await.is_some() {} });
    let options = PublishOptions {
        retained: !not_retained,
        qos: if guaranteed {
            Qos::Guaranteed
        } else {
            Qos::Standard
        },
        ..PublishOptions::default()
    };
    let ack = client
        .publish(subject, data, options)
        .await
        .context("publishing")?;
    let line = serde_json::json!({"op": "ack", "subject": subject, "epoch": ack.epoch.as_str(), "seq": ack.seq});
    println!("{line}");
    client.close().await;
    Ok(())
}
