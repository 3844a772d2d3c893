//! The connection to a gateway as the session sees it: up, waiting to retry,
//! connecting, or waiting for a new token; which server is next; and the backoff
//! between attempts.

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::backoff::Backoff;

/// What carries the session, as far as the protocol cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    /// The transport had no upgrade request to carry the token (QUIC), so it goes
    /// first as an `auth` frame.
    pub token_in_band: bool,
    /// A 0-RTT start: frames sent now may be replayed, so only the restoring
    /// subscribes go until [`crate::ClientSession::handle_handshake_done`].
    pub early_data: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    Up(Carrier),
    Waiting {
        retry_at_ms: u64,
    },
    Connecting,
    /// The gateway refused the token: no reconnect until the application gives a
    /// new one.
    AwaitingToken,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) state: LinkState,
    servers: usize,
    /// The server connected to, being connected to, or to try next.
    server: usize,
    backoff: Backoff,
}

impl Link {
    /// Up on `server` of `servers`.
    pub(crate) fn up(
        servers: usize,
        server: usize,
        carrier: Carrier,
        backoff_ms: (u64, u64),
        seed: u64,
    ) -> Link {
        Link {
            state: LinkState::Up(carrier),
            servers: servers.max(1),
            server,
            backoff: Backoff::new(backoff_ms.0, backoff_ms.1, StdRng::seed_from_u64(seed)),
        }
    }

    pub(crate) fn server(&self) -> usize {
        self.server
    }

    pub(crate) fn is_up(&self) -> bool {
        matches!(self.state, LinkState::Up(_))
    }

    /// Application frames may go: up, and past any 0-RTT start.
    pub(crate) fn is_open(&self) -> bool {
        matches!(
            self.state,
            LinkState::Up(Carrier {
                early_data: false,
                ..
            })
        )
    }

    pub(crate) fn token_in_band(&self) -> bool {
        matches!(
            self.state,
            LinkState::Up(Carrier {
                token_in_band: true,
                ..
            })
        )
    }

    /// Failover: the next attempt goes to the next server, after a backoff.
    pub(crate) fn wait_for_next_server(&mut self, now_ms: u64) {
        self.server = (self.server + 1) % self.servers;
        self.state = LinkState::Waiting {
            retry_at_ms: now_ms.saturating_add(self.backoff.next_delay_ms()),
        };
    }

    /// When a reconnect is due, if one is scheduled.
    pub(crate) fn retry_at_ms(&self) -> Option<u64> {
        match self.state {
            LinkState::Waiting { retry_at_ms } => Some(retry_at_ms),
            _ => None,
        }
    }

    /// The connection proved healthy: the backoff starts over.
    pub(crate) fn healthy(&mut self) {
        self.backoff.reset();
    }
}
