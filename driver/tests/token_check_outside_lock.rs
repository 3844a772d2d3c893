//! A token's signature is checked without the gateway locked: while one connection's
//! `auth` is being verified, every other caller can still reach the gateway.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use sluice_core::protocol::{Encoding, ServerFrame};
use sluice_core::{AuthFailure, GatewayConfig, Grant, Permissions, RequestId, TokenVerifier};
use sluice_driver::{BrokerLink, Runtime};
use tokio::sync::mpsc;

/// Deadlock guard only: with the check under the lock the probe would never return.
const PROBE_WAIT: Duration = Duration::from_secs(30);

/// While verifying, asks (from another thread, as another connection would) for
/// something that needs the gateway, and records whether it got it.
struct ProbingVerifier {
    runtime: Arc<OnceLock<Runtime>>,
    reached_gateway: Arc<OnceLock<bool>>,
}

impl TokenVerifier for ProbingVerifier {
    fn verify(&self, _token: &str, _now_ms: u64) -> Result<Grant, AuthFailure> {
        let runtime = self
            .runtime
            .get()
            .expect("runtime set before any frame")
            .clone();
        let (done, answer) = channel();
        std::thread::spawn(move || {
            let _ = done.send(runtime.stats().clients_connected);
        });
        let reached = match answer.recv_timeout(PROBE_WAIT) {
            Ok(_) => true,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        };
        let _ = self.reached_gateway.set(reached);
        Ok(Grant {
            user: "alice".into(),
            token_id: None,
            permissions: Permissions::default(),
            expires_at_ms: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_check_does_not_hold_the_gateway() {
    let (commands, _command_rx) = mpsc::channel(16);
    let (_event_tx, events) = mpsc::channel(16);
    let runtime_cell = Arc::new(OnceLock::new());
    let reached_gateway = Arc::new(OnceLock::new());
    let verifier = ProbingVerifier {
        runtime: runtime_cell.clone(),
        reached_gateway: reached_gateway.clone(),
    };
    let config = GatewayConfig {
        auth_required: true,
        ..GatewayConfig::default()
    };
    let runtime = Runtime::start_with_verifier(
        config,
        BrokerLink { commands, events },
        Some(Arc::new(verifier)),
    );
    assert!(runtime_cell.set(runtime.clone()).is_ok());

    let client = runtime.connect(Encoding::Json);
    let handle = tokio::task::spawn_blocking(move || {
        client.receive(Bytes::from_static(br#"{"op":"auth","id":7,"token":"t"}"#));
        client
    });
    let client = handle.await.expect("receive returns");
    assert_eq!(
        reached_gateway.get(),
        Some(&true),
        "the gateway stayed locked"
    );

    let mut frames = Vec::new();
    client
        .next_frames(&mut frames, 16)
        .await
        .expect("still open");
    assert_eq!(frames, vec![ServerFrame::Ok { id: RequestId(7) }]);
}
