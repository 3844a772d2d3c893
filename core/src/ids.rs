//! Newtype identifiers, so a client id can never be passed where a request id is expected.

use serde::{Deserialize, Serialize};

/// A connection, chosen by the adapter that owns it. Unique for the gateway's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// The `id` a client puts on a request; echoed on the `ok`, `error` or `ack` that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Names one produce the core asked the broker for, so the result can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProduceId(pub u64);

/// Names one history fetch the core asked the broker for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FetchId(pub u64);
