//! A simulated app and its SDK (the real client protocol), and what the checker
//! remembers of each request it sent to know what its answer must be.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_client_protocol::ClientSession;
use sluice_core::ClientId;

use crate::check::Views;
use crate::ledger::QueueLedger;

/// A request the SDK sent, remembered by the checker until its answer.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Subscribe {
        /// Subjects with the partition and seq to resume after, if any.
        subjects: Vec<(usize, Option<(u32, u64)>)>,
        /// With `history`: how many, and whether `history_end` was asked for.
        history: Option<(u32, bool)>,
        /// Conflated (`conflate_ms`): later messages may skip records.
        conflated: bool,
    },
    Unsubscribe {
        subjects: Vec<usize>,
    },
    Publish {
        subject: usize,
        payload: Bytes,
    },
}

/// One connection of a client to the gateway.
#[derive(Debug)]
pub(crate) struct Connection {
    pub id: ClientId,
    pub latency_ms: u64,
    /// Frames arrive in order: none before this time.
    pub next_arrival_ms: u64,
    pub read_scheduled: bool,
    pub requests: BTreeMap<u64, Request>,
    pub views: Views,
    pub ledger: QueueLedger,
}

impl Connection {
    pub fn new(id: ClientId, latency_ms: u64) -> Connection {
        Connection {
            id,
            latency_ms,
            next_arrival_ms: 0,
            read_scheduled: false,
            requests: BTreeMap::new(),
            views: Views::default(),
            ledger: QueueLedger::default(),
        }
    }
}

/// One app with its SDK, across connections. The SDK is the client protocol's
/// [`ClientSession`], driven from virtual time as `sluice-client` drives it from
/// tokio: it keeps the resume points, drops duplicates, restores every
/// subscription with resume on each new connection and picks when to reconnect.
#[derive(Debug, Default)]
pub(crate) struct SimClient {
    /// `None` until the first connection (a session starts connected).
    pub session: Option<ClientSession>,
    pub conn: Option<Connection>,
    pub connect_scheduled: bool,
    /// Subscribed by the app as soon as it first connects.
    pub first_subjects: Vec<usize>,
    /// Until then the app reads rarely (a slow consumer).
    pub slow_until_ms: u64,
    pub publishes: u64,
}
