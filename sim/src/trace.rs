//! The run's trace: every event the world handles and every frame a client reads,
//! folded into a hash (two runs of a seed must give the same hash) and kept as the
//! last few entries for the failure report, or whole on request.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One thing that happened, compactly.
#[derive(Debug, Clone, Hash)]
pub(crate) enum Note {
    Connect {
        client: usize,
        conn: u64,
    },
    Disconnect {
        client: usize,
        conn: u64,
    },
    Closed {
        client: usize,
        conn: u64,
        reason: &'static str,
    },
    Sends {
        client: usize,
        conn: u64,
        id: u64,
        request: RequestNote,
    },
    Reads {
        client: usize,
        conn: u64,
        frame: FrameNote,
    },
    Produced {
        topic: usize,
        partition: u32,
        result: Result<u64, String>,
    },
    Fetched {
        topic: usize,
        partition: u32,
        from: u64,
        to: u64,
        result: Result<(usize, u64), String>,
    },
    Streamed {
        records: usize,
        metas: usize,
    },
    ForeignWrite {
        topic: usize,
        partition: u32,
        offset: u64,
    },
    Fault(String),
    GatewayCrash,
    GatewayRestart,
    Heal,
}

/// A client request, by subject index.
#[derive(Debug, Clone, Hash)]
pub(crate) enum RequestNote {
    Subscribe {
        /// With the resume point's partition and seq, if any.
        subjects: Vec<(usize, Option<(u32, u64)>)>,
        history: bool,
    },
    Unsubscribe {
        subjects: Vec<usize>,
    },
    Publish {
        subject: usize,
        bytes: usize,
    },
}

/// A frame a client read, by subject index.
#[derive(Debug, Clone, Hash)]
pub(crate) enum FrameNote {
    Ok {
        id: u64,
    },
    Error {
        id: Option<u64>,
        code: &'static str,
    },
    Message {
        subject: usize,
        kind: &'static str,
        seq: u64,
    },
    Ack {
        id: u64,
        seq: u64,
    },
    Status {
        subject: usize,
        status: &'static str,
    },
}

/// FNV-1a: tiny, and the same on every platform and Rust version.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

const RECENT_MAX: usize = 40;

pub(crate) struct Trace {
    hasher: Fnv,
    entries: u64,
    recent: VecDeque<(u64, Note)>,
    full: Option<Vec<(u64, Note)>>,
}

impl Trace {
    pub fn new(keep_full: bool) -> Trace {
        Trace {
            hasher: Fnv(0xcbf2_9ce4_8422_2325),
            entries: 0,
            recent: VecDeque::with_capacity(RECENT_MAX),
            full: keep_full.then(Vec::new),
        }
    }

    pub fn note(&mut self, at_ms: u64, note: Note) {
        at_ms.hash(&mut self.hasher);
        note.hash(&mut self.hasher);
        self.entries += 1;
        if let Some(full) = &mut self.full {
            full.push((at_ms, note.clone()));
        }
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((at_ms, note));
    }

    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The whole trace if it was kept, else the last entries.
    pub fn lines(&self) -> Vec<TraceLine> {
        match &self.full {
            Some(full) => full.iter().cloned().map(TraceLine).collect(),
            None => self.recent.iter().cloned().map(TraceLine).collect(),
        }
    }
}

/// One trace entry, printable.
#[derive(Debug, Clone)]
pub struct TraceLine((u64, Note));

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (at_ms, note) = &self.0;
        write!(f, "{at_ms:>8} ms  {note:?}")
    }
}
