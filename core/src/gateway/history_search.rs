//! A history longer than the message cache holds: find where the subject's last `n`
//! records below `until` begin by reading the log backwards, a window of
//! `history_scan_offsets` at a time, keeping only their offsets; then read them
//! forwards as `history` (`start_fetch`). Bounded like resumes (the same fetch
//! slots and queue); when neither has room, the history is what the cache holds,
//! and `history_end` says it is not complete.

use std::collections::VecDeque;

use super::client::{HistoryStart, PendingStart};
use super::fetches::{FetchPurpose, HistorySearch};
use super::Gateway;
use crate::broker::{BrokerError, Epoch, Fetched};
use crate::ids::ClientId;
use crate::subject::Subject;

impl Gateway {
    /// Begins looking back from `start.until` for the history's first record.
    /// False if the client is gone.
    pub(super) fn search_history(
        &mut self,
        client: ClientId,
        subject: &Subject,
        epoch: Epoch,
        start: HistoryStart,
    ) -> bool {
        let search = HistorySearch {
            start,
            window_from: 0,
            fetch_from: 0,
            window_found: Vec::new(),
            found: VecDeque::new(),
            log_start: None,
        };
        self.search_window_before(client, subject, epoch, search, start.until)
    }

    /// Reads the window of offsets right below `end`.
    fn search_window_before(
        &mut self,
        client: ClientId,
        subject: &Subject,
        epoch: Epoch,
        mut search: HistorySearch,
        end: u64,
    ) -> bool {
        if end == 0 {
            return self.finish_history(client, subject, search.start);
        }
        let window = self.config.history_scan_offsets.max(1);
        search.window_from = end.saturating_sub(window);
        search.fetch_from = search.window_from;
        search.window_found.clear();
        let range = (search.window_from, end - 1);
        let start = search.start;
        let purpose = FetchPurpose::HistorySearch(search);
        // Only the first window can wait for a slot (later ones take the slot their
        // predecessor freed); it goes on as the start it is.
        let pending = PendingStart::History(start);
        if self.fetch_or_wait(client, subject, epoch, range, purpose, pending) {
            return true;
        }
        // No fetch slot and no room to wait: the cache's history, marked incomplete.
        let start = HistoryStart {
            complete: false,
            ..start
        };
        self.history_from_cache(client, subject, start)
    }

    /// One window (or part of one) of a search was read.
    pub(super) fn on_history_search(
        &mut self,
        client: ClientId,
        subject: Subject,
        epoch: Epoch,
        to_offset: u64,
        mut search: HistorySearch,
        result: Result<Fetched, BrokerError>,
    ) {
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(BrokerError::EpochChanged | BrokerError::UnknownTopic) => {
                self.resync(client, &subject);
                return;
            }
            Err(_) => {
                // The log cannot be read now: the cache's history, marked incomplete.
                if let Some(sub) = self.clients.subscription_mut(client, &subject) {
                    sub.recovering = None;
                }
                let start = HistoryStart {
                    complete: false,
                    ..search.start
                };
                self.history_from_cache(client, &subject, start);
                return;
            }
        };
        let key = subject.key().map(str::as_bytes);
        let until = search.start.until;
        search.window_found.extend(
            fetched
                .records
                .iter()
                .filter(|r| r.key.as_deref() == key && r.topic.as_ref() == subject.topic())
                .map(|r| r.offset)
                .filter(|&o| o >= fetched.first_offset && o <= to_offset && o < until),
        );
        if fetched.first_offset > search.fetch_from {
            // Asked from below the log's start; the log begins here.
            search.log_start = Some(search.log_start.unwrap_or(fetched.first_offset));
        }
        if fetched.next_offset <= to_offset {
            if fetched.next_offset <= fetched.first_offset {
                // No progress would loop forever; the broker is misbehaving.
                self.resync(client, &subject);
                return;
            }
            // The broker stopped early: the rest of this window.
            search.fetch_from = fetched.next_offset;
            let range = (fetched.next_offset, to_offset);
            let purpose = FetchPurpose::HistorySearch(search);
            self.start_fetch(client, subject, epoch, range, purpose);
            return;
        }
        // The window is read: its offsets go before those of newer windows.
        let n = search.start.n as usize;
        for &offset in search.window_found.iter().rev() {
            search.found.push_front(offset);
        }
        while search.found.len() > n {
            search.found.pop_front();
        }
        #[cfg(feature = "testing")]
        if self.bug_on(crate::testing::InjectedBug::HistoryDropsOldest) && search.found.len() > 1 {
            search.found.pop_front();
        }
        let at_log_start = search.window_from == 0 || search.log_start.is_some();
        if search.found.len() < n && !at_log_start {
            let end = search.window_from;
            self.search_window_before(client, &subject, epoch, search, end);
            return;
        }
        // Complete when it has all `n`, or the log still holds its first record.
        let complete = search.found.len() >= n || search.log_start.unwrap_or(0) == 0;
        let start = HistoryStart {
            complete,
            ..search.start
        };
        if let Some(sub) = self.clients.subscription_mut(client, &subject) {
            sub.recovering = None;
        }
        let Some(&first) = search.found.front() else {
            self.finish_history(client, &subject, start);
            return;
        };
        let after = first.checked_sub(1);
        self.set_after(client, &subject, after);
        self.fetch_history(client, &subject, epoch, start, after);
    }
}
