//! A subscription's start, paced by the client's queue: the snapshot, the history,
//! the messages it missed from the cache (a resume), or `resync` then the snapshot.
//! Each step sends as far as its frames fit (`delivery`), then pauses; it goes on
//! as the client reads. A resume older than the cache goes to `resume_fetch`.

use super::client::{HistoryStart, PendingStart, Recovering};
use super::delivery::StartSend;
use super::fetches::FetchPurpose;
use super::interest::Start;
use super::Gateway;
use crate::ids::ClientId;
use crate::protocol::{Message, MessageKind, ServerFrame, SyncStatus};
use crate::subject::Subject;

/// What a catch-up from the cache sends, and how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatchUp {
    /// The end of a snapshot or history start: `update`s, then live.
    Updates,
    /// A resume: `recovered`, then `sync`.
    Resume,
}

impl Gateway {
    /// Goes on with a start that was paused for room in the client's queue.
    pub(super) fn run_pending_start(
        &mut self,
        client: ClientId,
        subject: &Subject,
        pending: PendingStart,
    ) -> bool {
        match pending {
            PendingStart::Snapshot => self.continue_snapshot(client, subject),
            PendingStart::History(start) => self.history_from(client, subject, start),
            PendingStart::Updates => self.catch_up(client, subject, CatchUp::Updates),
            PendingStart::Resume => self.resume_from(client, subject),
            PendingStart::Resync => self.resync(client, subject),
        }
    }

    /// Sends the snapshot, if any, and moves the subscriber's position to it. `head`
    /// is the gateway's head now: if the snapshot does not fit, the start pauses and
    /// the subscriber is owed everything from `head` on.
    pub(super) fn start_snapshot(
        &mut self,
        client: ClientId,
        subject: &Subject,
        head: u64,
    ) -> bool {
        let Some(snapshot) = self.routing.snapshot(subject) else {
            return true;
        };
        let (seq, epoch) = (snapshot.seq, snapshot.epoch.clone());
        match self.send_start(
            client,
            self.start_frame(client, subject, snapshot, MessageKind::Snapshot),
        ) {
            StartSend::Sent => {
                // The position is the snapshot's, on its log (the subject's current one).
                if let Some(sub) = self.clients.subscription_mut(client, subject) {
                    sub.epoch = epoch;
                    sub.after = Some(seq);
                }
                true
            }
            StartSend::NoRoom(cost) => {
                self.set_after(client, subject, head.checked_sub(1));
                self.pause_start(client, subject, PendingStart::Snapshot, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// A paused snapshot start goes on: the snapshot as it is now, then, as `update`s,
    /// every cached message after both it and the subscriber's position (what arrived
    /// while the start was paused). If the snapshot is gone meanwhile (deleted or
    /// evicted), or the cache no longer holds all of those messages: `resync`.
    fn continue_snapshot(&mut self, client: ClientId, subject: &Subject) -> bool {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let Some(head) = self.routing.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        let Some(snapshot) = self.routing.snapshot(subject) else {
            return self.resync(client, subject);
        };
        let position = after.max(Some(snapshot.seq));
        if !self.routing.covers(subject, &epoch, position, head) {
            return self.resync(client, subject);
        }
        match self.send_start(
            client,
            self.start_frame(client, subject, snapshot, MessageKind::Snapshot),
        ) {
            StartSend::Sent => {
                self.set_after(client, subject, position);
                self.catch_up(client, subject, CatchUp::Updates)
            }
            StartSend::NoRoom(cost) => {
                self.pause_start(client, subject, PendingStart::Snapshot, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// Sends `history`: the last `n` messages below `until` (the head when the start
    /// began) — from the cache if it holds them, else searched for and read from the
    /// log — or, after a pause, the rest of them after the last one sent (`after`);
    /// then `history_end` if asked for, then the messages from `until` on as `update`s.
    pub(super) fn history_from(
        &mut self,
        client: ClientId,
        subject: &Subject,
        start: HistoryStart,
    ) -> bool {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let Some(head) = self.routing.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        match after {
            None => {
                let n = start.n as usize;
                let cached = self.routing.messages().last_before(subject, n, start.until);
                // The cache holds all `n`, or every message the log ever had (it drops
                // a subject's messages when it moves, so only if it never did).
                let whole_log = self.routing.covers(subject, &epoch, None, start.until)
                    && self.routing.never_moved(subject);
                if cached.len() >= n || whole_log {
                    let start = HistoryStart {
                        complete: true,
                        ..start
                    };
                    return self.history_from_cache(client, subject, start);
                }
                self.search_history(client, subject, epoch, start)
            }
            Some(last) if last.saturating_add(1) >= start.until => {
                self.finish_history(client, subject, start)
            }
            Some(last) if self.routing.covers(subject, &epoch, Some(last), head) => {
                self.history_from_cache(client, subject, start)
            }
            // The rest of the history is no longer (or never was) in the cache.
            Some(last) => self.fetch_history(client, subject, epoch, start, Some(last)),
        }
    }

    /// Sends the history's messages from the cache: the last `n` below `until`, or,
    /// with a position, those after it; then ends the history.
    pub(super) fn history_from_cache(
        &mut self,
        client: ClientId,
        subject: &Subject,
        start: HistoryStart,
    ) -> bool {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let past = match after {
            None => self
                .routing
                .messages()
                .last_before(subject, start.n as usize, start.until),
            Some(last) => self
                .routing
                .messages()
                .after(subject, &epoch, last)
                .into_iter()
                .take_while(|m| m.seq < start.until)
                .collect(),
        };
        let mut last = after;
        for m in past {
            let seq = m.seq;
            match self.send_start(
                client,
                self.start_frame(client, subject, m, MessageKind::History),
            ) {
                StartSend::Sent => last = Some(seq),
                StartSend::NoRoom(cost) => {
                    self.set_after(client, subject, last);
                    self.pause_start(client, subject, PendingStart::History(start), cost);
                    return true;
                }
                StartSend::Gone => return false,
            }
        }
        self.set_after(client, subject, last);
        self.finish_history(client, subject, start)
    }

    /// Every history message was sent: `history_end` if asked for, then what came
    /// since `until`, as `update`s.
    pub(super) fn finish_history(
        &mut self,
        client: ClientId,
        subject: &Subject,
        start: HistoryStart,
    ) -> bool {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        // History ends right below `until`; what came since follows as updates.
        sub.after = sub.after.max(start.until.checked_sub(1));
        if start.end_marker {
            let status = SyncStatus::HistoryEnd {
                complete: start.complete,
            };
            match self.send_status(client, subject, status) {
                StartSend::Sent => {}
                StartSend::NoRoom(cost) => {
                    self.pause_start(client, subject, PendingStart::History(start), cost);
                    return true;
                }
                StartSend::Gone => return false,
            }
        }
        self.catch_up(client, subject, CatchUp::Updates)
    }

    /// The client's position cannot be honoured: say so, then send the snapshot. A
    /// paused start keeps its turn and becomes this resync.
    pub(super) fn resync(&mut self, client: ClientId, subject: &Subject) -> bool {
        // A message held for conflation is of the old position's log.
        self.clients.conflation.drop_held(client, subject);
        #[cfg(feature = "testing")]
        let keep_delta_base = self.bug_on(crate::testing::InjectedBug::DeltaAcrossResync);
        #[cfg(not(feature = "testing"))]
        let keep_delta_base = false;
        let partition = self
            .routing
            .current_partition(&self.config, subject)
            .map(|(p, state)| (p, state.epoch.clone(), state.next_offset));
        // Interest mode: a partition being read has no complete snapshots yet.
        let warming = partition
            .as_ref()
            .map(|(p, ..)| *p)
            .filter(|&p| self.interest.warming(subject.topic(), p));
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        match &mut sub.recovering {
            Some(Recovering::Paused(pending)) => {
                *pending = PendingStart::Resync;
                return true;
            }
            // Its start has not begun: it begins once the partition is read.
            Some(Recovering::Parked) => return true,
            _ => {}
        }
        sub.recovering = None;
        sub.after = None;
        // The client drops its value at `resync`; the chain starts afresh.
        if let Some(base) = sub.delta.as_deref_mut().filter(|_| !keep_delta_base) {
            base.reset();
        }
        let mut head = 0;
        if let Some((_, epoch, next_offset)) = partition {
            sub.epoch = epoch;
            head = next_offset;
        }
        match self.send_status(client, subject, SyncStatus::Resync) {
            StartSend::Sent => {
                self.stats.resumes_resync_total += 1;
                match warming {
                    Some(p) => {
                        self.park_start(client, subject, p, Start::Snapshot);
                        true
                    }
                    None => self.start_snapshot(client, subject, head),
                }
            }
            StartSend::NoRoom(cost) => {
                self.pause_start(client, subject, PendingStart::Resync, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// Serves a resume from the subscriber's current position: from the cache if it
    /// covers the position, else by fetching from the broker (or waiting for a slot).
    pub(super) fn resume_from(&mut self, client: ClientId, subject: &Subject) -> bool {
        self.catch_up(client, subject, CatchUp::Resume)
    }

    /// Sends every cached message after the subscriber's position, one by one as they
    /// fit (pausing when one does not), then — for a resume — `sync`; the subscription
    /// is live afterwards. If the cache does not hold every message after the
    /// position: a resume reads them from the broker, a snapshot or history start
    /// ends with `resync`.
    fn catch_up(&mut self, client: ClientId, subject: &Subject, mode: CatchUp) -> bool {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after, conflated) = (sub.epoch.clone(), sub.after, sub.conflate_ms > 0);
        let Some(head) = self.routing.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        // A conflated subscription is owed only the latest of what it missed: the
        // cache's newest message, whatever gap lies before it.
        let mut after = after;
        if conflated {
            let missed = |seq: u64| after.is_none_or(|a| seq > a);
            let newest = self.routing.messages().last(subject, 1).pop();
            match newest.filter(|m| m.epoch == epoch && missed(m.seq)) {
                Some(m) => after = m.seq.checked_sub(1),
                // Nothing newer cached: if the cache does not see all of the
                // subject since the position, something may have been missed.
                None if !self.routing.covers(subject, &epoch, after, head) => {
                    return self.resync(client, subject)
                }
                None => {}
            }
        }
        if !conflated && !self.routing.covers(subject, &epoch, after, head) {
            if mode == CatchUp::Updates {
                return self.resync(client, subject);
            }
            // Older than the cache: read the gap back from the broker.
            let range = (after.map_or(0, |a| a + 1), head - 1);
            let (purpose, pending) = (FetchPurpose::Resume, PendingStart::Resume);
            if self.fetch_or_wait(client, subject, epoch, range, purpose, pending) {
                return true;
            }
            return self.resync(client, subject);
        }
        let (kind, pending) = match mode {
            CatchUp::Updates => (MessageKind::Update, PendingStart::Updates),
            CatchUp::Resume => (MessageKind::Recovered, PendingStart::Resume),
        };
        let mut last = after;
        #[cfg(feature = "testing")]
        if mode == CatchUp::Resume && self.bug_on(crate::testing::InjectedBug::DropRecordOnResume) {
            if let Some(skipped) = self.routing.messages().first_after(subject, &epoch, last) {
                last = Some(skipped.seq);
            }
        }
        while let Some(m) = self.routing.messages().first_after(subject, &epoch, last) {
            let seq = m.seq;
            match self.send_start(client, self.start_frame(client, subject, m, kind)) {
                StartSend::Sent => last = Some(seq),
                StartSend::NoRoom(cost) => {
                    self.set_after(client, subject, last);
                    self.pause_start(client, subject, pending, cost);
                    return true;
                }
                StartSend::Gone => return false,
            }
        }
        if let Some(sub) = self.clients.subscription_mut(client, subject) {
            sub.after = last;
            sub.recovering = None;
        }
        if mode == CatchUp::Updates {
            return true;
        }
        match self.send_status(client, subject, SyncStatus::Sync) {
            StartSend::Sent => {
                self.stats.resumes_sync_total += 1;
                true
            }
            StartSend::NoRoom(cost) => {
                // Everything was sent; going on finds nothing more and sends `sync`.
                self.pause_start(client, subject, PendingStart::Resume, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    pub(super) fn set_after(&mut self, client: ClientId, subject: &Subject, after: Option<u64>) {
        if let Some(sub) = self.clients.subscription_mut(client, subject) {
            sub.after = after;
        }
    }

    /// Sends `sync` or `resync` for `subject`, as a start frame.
    fn send_status(
        &mut self,
        client: ClientId,
        subject: &Subject,
        status: SyncStatus,
    ) -> StartSend {
        let subject = subject.shared();
        self.send_start(client, ServerFrame::Status { subject, status })
    }

    /// Tells every subscriber of the given subjects that their position is void, then
    /// sends each the snapshot (used when a log is recreated or retention overtook us).
    pub(super) fn resync_subjects(&mut self, subjects: Vec<Subject>) {
        for subject in subjects {
            for client in self.routing.subscribers_of(&subject) {
                self.resync(client, &subject);
            }
        }
    }
}

impl Gateway {
    /// A cached message as a frame of `client`'s start on `subject`: of `kind`, with
    /// its headers if the subscription asked for them.
    pub(super) fn start_frame(
        &self,
        client: ClientId,
        subject: &Subject,
        mut m: Message,
        kind: MessageKind,
    ) -> ServerFrame {
        m.kind = kind;
        let headers = self
            .clients
            .get(client)
            .and_then(|state| state.subscriptions.get(subject))
            .is_some_and(|sub| sub.headers);
        m.keep_headers(headers);
        ServerFrame::Message(m)
    }
}
