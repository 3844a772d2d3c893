//! The listener queues a reconnect storm instead of dropping it: with tokio's own
//! `bind` (backlog 128) most of these connects would never complete while nothing
//! accepts; clients would retry a second later at best.

use std::time::Duration;

use sluice_websocket::{bind, WebSocketConfig};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_burst_of_connects_up_to_the_backlog_is_queued_by_the_kernel() {
    let config = WebSocketConfig {
        listen_backlog: 1024,
        ..WebSocketConfig::default()
    };
    // Bound and listening, but nothing accepts: only the kernel's queue holds them.
    let listener = bind("127.0.0.1:0".parse().unwrap(), &config).unwrap();
    let addr = listener.local_addr().unwrap();
    let connects: Vec<_> = (0..600)
        .map(|_| tokio::spawn(TcpStream::connect(addr)))
        .collect();
    let mut connected = 0;
    for connect in connects {
        // A hang guard, not a speed goal: a dropped SYN is retried for minutes.
        let stream = tokio::time::timeout(Duration::from_secs(20), connect)
            .await
            .expect("a connect beyond the backlog hung")
            .unwrap();
        connected += usize::from(stream.is_ok());
    }
    assert_eq!(connected, 600);
    drop(listener);
}
