//! Measures what a Prometheus scrape costs a busy gateway: `/metrics` with N clients
//! connected in process (each subscribed to one of 1000 subjects), timed over 50
//! scrapes. `cargo run --release --example scrape_cost -- 10000`
//!
//! The core's gauges are read at scrape time under the gateway's lock, so the
//! scrape's cost grows with the clients; this says by how much.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice::config::Config;
use sluice::server::Server;
use sluice_core::protocol::Encoding;

const SCRAPES: u32 = 50;

fn scrape(admin: SocketAddr) -> (usize, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(admin).expect("admin listener");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    (body.len(), started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    config.admin.listen = "127.0.0.1:0".parse()?;
    let server = Server::start(config).await?;
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let client = server.runtime().connect(Encoding::Json);
            let subscribe = format!(
                r#"{{"op":"subscribe","id":1,"subjects":["/demo/s{}"]}}"#,
                i % 1000
            );
            client.receive(Bytes::from(subscribe));
            client
        })
        .collect();
    let admin = server.admin_addr();
    let times = tokio::task::spawn_blocking(move || {
        (0..SCRAPES).map(|_| scrape(admin)).collect::<Vec<_>>()
    })
    .await?;
    let bytes = times[0].0;
    let total: Duration = times.iter().map(|t| t.1).sum();
    let max = times.iter().map(|t| t.1).max().unwrap_or_default();
    println!(
        "{} clients, {} subscriptions: /metrics {bytes} bytes, mean {:.2} ms, max {:.2} ms over {SCRAPES} scrapes",
        handles.len(),
        server.runtime().stats().subscriptions_active,
        total.as_secs_f64() * 1000.0 / f64::from(SCRAPES),
        max.as_secs_f64() * 1000.0,
    );
    Ok(())
}
