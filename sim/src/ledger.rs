//! Bookkeeping of one connection's outbound queue, from outside the gateway. After
//! every gateway input the world notes how many bytes are queued; when the client
//! reads a frame, the ledger says which input queued it (so what the gateway's log
//! position was at that moment) and checks the queue bound exactly: a queue over
//! `client_queue_bytes_max` must hold one frame alone.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::violation::{Broken, Invariant};

/// What the gateway had read at one moment.
#[derive(Debug)]
pub(crate) struct ReadState {
    /// Its next offset per topic and partition.
    pub positions: Vec<Vec<u64>>,
    /// How many records it had read (`Reads::count`).
    pub reads: u64,
}

pub(crate) type Heads = Arc<ReadState>;

#[derive(Debug, Default)]
pub(crate) struct QueueLedger {
    /// Bytes of all frames the client has read.
    read_bytes: u64,
    /// Bytes of all frames ever queued, as of the last observation.
    queued_bytes: u64,
    /// `(queued_bytes after an input, heads after it)`: frames ending at or before
    /// that position were queued by that input or an earlier one.
    marks: VecDeque<(u64, Heads)>,
    /// `(read position, bytes)`: the queue was over its bound with this many bytes
    /// starting at this position, so the frame there must be exactly that big.
    over_bound: VecDeque<(u64, u64)>,
}

impl QueueLedger {
    /// Notes the queue after a gateway input. A queue beyond `bound_bytes` is
    /// allowed only as one frame alone, which is checked when it is read; a queue
    /// beyond any frame the world can make is a violation at once.
    pub fn observe(
        &mut self,
        queue_bytes: usize,
        bound_bytes: usize,
        frame_cost_max: usize,
        heads: impl FnOnce() -> Heads,
    ) -> Result<(), Broken> {
        let queued = self.read_bytes + queue_bytes as u64;
        if queued > self.queued_bytes {
            self.queued_bytes = queued;
            self.marks.push_back((queued, heads()));
        }
        if queue_bytes > bound_bytes {
            if queue_bytes > frame_cost_max {
                return Err((
                    Invariant::QueueBound,
                    format!(
                        "{queue_bytes} bytes queued, over the bound of {bound_bytes} and larger than any one frame ({frame_cost_max})"
                    ),
                ));
            }
            let seen = (self.read_bytes, queue_bytes as u64);
            if self.over_bound.back() != Some(&seen) {
                self.over_bound.push_back(seen);
            }
        }
        Ok(())
    }

    /// The client read a frame of `cost_bytes`: returns the heads when it was queued.
    pub fn read(&mut self, cost_bytes: usize, bound_bytes: usize) -> Result<Heads, Broken> {
        let start = self.read_bytes;
        self.read_bytes += cost_bytes as u64;
        while let Some(&(at, queued)) = self.over_bound.front() {
            if at > start {
                break;
            }
            self.over_bound.pop_front();
            if at == start && queued != cost_bytes as u64 {
                return Err((
                    Invariant::QueueBound,
                    format!(
                        "{queued} bytes were queued, over the bound of {bound_bytes}, but not as one frame alone (the first frame is {cost_bytes} bytes)"
                    ),
                ));
            }
        }
        while self
            .marks
            .front()
            .is_some_and(|&(end, _)| end < self.read_bytes)
        {
            self.marks.pop_front();
        }
        match self.marks.front() {
            Some((_, heads)) => Ok(heads.clone()),
            None => Err((
                Invariant::QueueBound,
                "read a frame the ledger never saw queued".to_owned(),
            )),
        }
    }
}
