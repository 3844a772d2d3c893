//! The apps' side of the world: connecting and restoring subscriptions, acting,
//! reading frames, and checking each frame read (invariants 1–5).

use bytes::Bytes;
use rand::Rng;
use sluice_client_protocol::{
    Carrier, ClientSession, DisconnectReason, Output, PublishOptions, Request as AppRequest,
    SessionConfig, SubscribeOptions,
};
use sluice_core::protocol::{
    ClientFrame, Encoding, ErrorCode, MessageKind, ServerFrame, SyncStatus,
};
use sluice_core::{ClientId, Input};

use super::World;
use crate::check::{Oracle, Start};
use crate::client::{Connection, Request};
use crate::event::Event;
use crate::plan::SUBJECTS_PER_CLIENT_MAX;
use crate::trace::{FrameNote, Note, RequestNote};
use crate::violation::{Broken, Invariant, Violation};

/// The apps' requests never time out here: a lost connection answers them.
const NO_DEADLINE: u64 = u64::MAX;

impl World {
    /// A connect is due: the first one, or the reconnect the SDK asked for.
    pub(super) fn client_connects(&mut self, c: usize) -> Result<(), Violation> {
        self.clients[c].connect_scheduled = false;
        if self.clients[c].conn.is_some() {
            return Ok(());
        }
        let now_ms = self.now_ms;
        if let Some(session) = self.clients[c].session.as_mut() {
            session.handle_timeout(now_ms);
            let asked = std::iter::from_fn(|| session.poll_output())
                .any(|output| matches!(output, Output::Connect { .. }));
            if !asked {
                self.schedule_reconnect(c);
                return Ok(());
            }
        }
        if self.gateway.is_none() {
            if let Some(session) = self.clients[c].session.as_mut() {
                session.handle_connect_failed(now_ms, "the gateway is down".into(), false);
            }
            self.schedule_reconnect(c);
            return Ok(());
        }
        let id = ClientId(self.next_conn);
        self.next_conn += 1;
        let latency_ms = self.rng.random_range(1..=self.plan.client_latency_ms_max);
        self.clients[c].conn = Some(Connection::new(id, latency_ms));
        self.owners.insert(id, c);
        self.note(Note::Connect {
            client: c,
            conn: id.0,
        });
        self.feed(Input::Connect {
            client: id,
            encoding: Encoding::Json,
        })?;
        // A WebSocket: the token (none here) rides on the upgrade; no 0-RTT.
        let carrier = Carrier {
            token_in_band: false,
            early_data: false,
        };
        match self.clients[c].session.as_mut() {
            // The session restores every subscription, with resume where it can.
            Some(session) => session.handle_connected(carrier),
            None => {
                let config = SessionConfig {
                    // Like the random 5–300 ms of the first connect, so that clients
                    // miss messages while away and resume has work to do.
                    backoff_initial_ms: 200,
                    backoff_max_ms: 600,
                    seed: self.rng.random(),
                    ..SessionConfig::with_servers(vec!["gateway".into()])
                };
                let mut session = ClientSession::connected(config, 0, carrier);
                let first: Vec<String> = self.clients[c]
                    .first_subjects
                    .iter()
                    .map(|&s| self.subjects.get(s).text.clone())
                    .collect();
                if !first.is_empty() {
                    let subscribe = AppRequest::Subscribe {
                        subjects: first,
                        options: SubscribeOptions::default(),
                    };
                    session.request(now_ms, subscribe, NO_DEADLINE);
                }
                self.clients[c].session = Some(session);
            }
        }
        self.drive_session(c);
        Ok(())
    }

    /// Schedules the next connect: the first at random, later ones when the SDK's
    /// backoff says.
    pub(super) fn schedule_reconnect(&mut self, c: usize) {
        if self.clients[c].connect_scheduled {
            return;
        }
        let at = match self.clients[c].session.as_ref() {
            Some(session) => match session.poll_timeout() {
                Some(at) => at.max(self.now_ms),
                None => return,
            },
            None => self.now_ms + self.rng.random_range(5..=300),
        };
        self.clients[c].connect_scheduled = true;
        self.queue.push(at, Event::ClientConnects { client: c });
    }

    /// Sends what the SDK has to send. Its events and answers need nothing here:
    /// the checker reads the gateway's frames themselves.
    fn drive_session(&mut self, c: usize) {
        let Some(session) = self.clients[c].session.as_mut() else {
            return;
        };
        let frames: Vec<ClientFrame> = std::iter::from_fn(|| session.poll_transmit()).collect();
        while session.poll_output().is_some() {}
        for frame in frames {
            self.send(c, frame);
        }
    }

    /// The app does one thing: publish, subscribe (plainly, with history, or a
    /// renewal), unsubscribe, or nothing.
    pub(super) fn client_acts(&mut self, c: usize) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        let next = self.now_ms + self.around(self.plan.client_act_every_ms);
        self.queue.push(next, Event::ClientActs { client: c });
        if self.clients[c].conn.is_none() {
            return Ok(());
        }
        let Some(subscribed) = self.clients[c]
            .session
            .as_ref()
            .map(|session| session.subjects().map(str::to_owned).collect::<Vec<_>>())
        else {
            return Ok(());
        };
        let subject = self.rng.random_range(0..self.subjects.len());
        let request = match self.rng.random_range(0..100) {
            0..50 => self.publish(c, subject),
            50..70 if subscribed.len() < SUBJECTS_PER_CLIENT_MAX => {
                // Histories beyond the (often tiny) cache are searched for and
                // read from the log.
                let history = self
                    .rng
                    .random_bool(0.2)
                    .then(|| self.rng.random_range(0..=12));
                let history_end = self.rng.random_bool(0.5);
                // Some subscriptions carry headers: restores go in batches
                // by that flag.
                let headers = self.rng.random_bool(0.25);
                // Some are conflated: their gaps are allowed, their order and
                // final value are checked.
                let conflate_ms = self
                    .rng
                    .random_bool(0.2)
                    .then(|| self.rng.random_range(1..=5) * 100);
                // Some with deltas: the SDK rebuilds each value, which the checker
                // compares with the log's.
                let delta = self.rng.random_bool(0.3);
                let options = SubscribeOptions {
                    delta,
                    history,
                    headers,
                    conflate_ms,
                    history_end,
                };
                AppRequest::Subscribe {
                    subjects: vec![self.subjects.get(subject).text.clone()],
                    options,
                }
            }
            70..85 if !subscribed.is_empty() => {
                let subject = subscribed[self.rng.random_range(0..subscribed.len())].clone();
                AppRequest::Unsubscribe {
                    subjects: vec![subject],
                }
            }
            _ => return Ok(()),
        };
        if let Some(session) = self.clients[c].session.as_mut() {
            session.request(self.now_ms, request, NO_DEADLINE);
        }
        self.drive_session(c);
        Ok(())
    }

    fn publish(&mut self, c: usize, subject: usize) -> AppRequest {
        let n = self.clients[c].publishes;
        self.clients[c].publishes += 1;
        let payload = self.payload(format!("c{c}.{n}"));
        let retained = self.rng.random_bool(0.85);
        AppRequest::Publish {
            subject: self.subjects.get(subject).text.clone(),
            data: payload,
            options: PublishOptions {
                retained,
                ..PublishOptions::default()
            },
        }
    }

    /// A unique payload, padded to the plan's large size now and then.
    pub(super) fn payload(&mut self, tag: String) -> Bytes {
        let large = self.rng.random_range(0..100) < self.plan.large_payload_percent;
        if large {
            let mut text = tag;
            text.push('.');
            let pad = self.plan.large_payload_bytes.saturating_sub(text.len());
            text.extend(std::iter::repeat_n('x', pad));
            Bytes::from(text)
        } else {
            let mut text = tag;
            if self.plan.payload_suffix_bytes > 0 {
                text.push('.');
                text.extend(std::iter::repeat_n('y', self.plan.payload_suffix_bytes));
            }
            Bytes::from(text)
        }
    }

    /// Sends a frame over the client's connection, in order, noting what its
    /// answer must be.
    fn send(&mut self, c: usize, frame: ClientFrame) {
        let Some(request) = self.request_of(&frame) else {
            return;
        };
        let now_ms = self.now_ms;
        let incarnation = self.incarnation;
        let Some(conn) = self.clients[c].conn.as_mut() else {
            return;
        };
        let at = (now_ms + conn.latency_ms).max(conn.next_arrival_ms);
        conn.next_arrival_ms = at;
        let conn_id = conn.id;
        let id = frame.id().0;
        let note = match &request {
            Request::Subscribe {
                subjects, history, ..
            } => RequestNote::Subscribe {
                subjects: subjects.clone(),
                history: history.is_some(),
            },
            Request::Unsubscribe { subjects } => RequestNote::Unsubscribe {
                subjects: subjects.clone(),
            },
            Request::Publish { subject, payload } => RequestNote::Publish {
                subject: *subject,
                bytes: payload.len(),
            },
        };
        conn.requests.insert(id, request);
        self.queue.push(
            at,
            Event::FrameToGateway {
                incarnation,
                conn: conn_id,
                frame,
            },
        );
        self.note(Note::Sends {
            client: c,
            conn: conn_id.0,
            id,
            request: note,
        });
    }

    /// What the checker remembers of a frame the SDK sends: subjects by index, and
    /// a resume point by the partition its epoch names.
    fn request_of(&self, frame: &ClientFrame) -> Option<Request> {
        let index = |text: &str| self.subjects.find(text);
        Some(match frame {
            ClientFrame::Subscribe { items, options, .. } => {
                let log = &self.broker.log;
                let subjects = items
                    .iter()
                    .filter_map(|item| {
                        let s = index(&item.subject)?;
                        let topic = self.subjects.get(s).topic;
                        let resume = item
                            .resume
                            .as_ref()
                            .and_then(|p| Some((log.partition_of(topic, &p.epoch)?, p.seq)));
                        Some((s, resume))
                    })
                    .collect();
                Request::Subscribe {
                    subjects,
                    history: options.history.map(|n| (n, options.history_end)),
                    conflated: options.conflate_ms.is_some(),
                }
            }
            ClientFrame::Unsubscribe { subjects, .. } => Request::Unsubscribe {
                subjects: subjects.iter().filter_map(|s| index(s)).collect(),
            },
            ClientFrame::Publish(publish) => Request::Publish {
                subject: index(&publish.subject)?,
                payload: publish.data.clone(),
            },
            ClientFrame::Ping { .. } | ClientFrame::Auth { .. } => return None,
        })
    }

    /// The gateway has frames for a connection: its client will read soon.
    pub(super) fn on_wake(&mut self, conn: ClientId) -> Result<(), Violation> {
        if self.ended.contains(&conn) {
            return Err(self.violation(
                (
                    Invariant::NothingAfterEnd,
                    format!("the gateway woke connection {} after it ended", conn.0),
                ),
                None,
            ));
        }
        let Some(&c) = self.owners.get(&conn) else {
            return Ok(());
        };
        self.schedule_read(c);
        Ok(())
    }

    fn schedule_read(&mut self, c: usize) {
        let slow = self.now_ms < self.clients[c].slow_until_ms;
        let delay_ms = if slow {
            self.rng.random_range(500..=2_000)
        } else {
            self.rng.random_range(0..=3)
        };
        let at = self.now_ms + delay_ms;
        let Some(conn) = self.clients[c].conn.as_mut() else {
            return;
        };
        if !std::mem::replace(&mut conn.read_scheduled, true) {
            let conn = conn.id;
            self.queue.push(at, Event::ClientReads { client: c, conn });
        }
    }

    /// The gateway closed a connection (slow consumer): the client reconnects and
    /// resumes. The gateway must have forgotten it (invariant 4).
    pub(super) fn on_close(
        &mut self,
        conn: ClientId,
        reason: &'static str,
    ) -> Result<(), Violation> {
        let c = self.owners.get(&conn).copied();
        let who = c.map(|c| (c, conn));
        if reason != "slow_consumer" {
            return Err(self.violation(
                (
                    Invariant::Answers,
                    format!("closed with reason {reason:?}, which nothing in this world causes"),
                ),
                who,
            ));
        }
        let remembered = self
            .gateway
            .as_ref()
            .is_some_and(|g| g.client_queue_bytes(conn).is_some());
        if remembered {
            return Err(self.violation(
                (
                    Invariant::NothingAfterEnd,
                    "the gateway still holds a queue for a closed connection".to_owned(),
                ),
                who,
            ));
        }
        self.coverage.slow_consumer_closes += 1;
        self.closes_after_heal += u64::from(self.healed);
        if let Some(c) = c {
            self.note(Note::Closed {
                client: c,
                conn: conn.0,
                reason,
            });
            self.end_connection(c);
        }
        Ok(())
    }

    /// The client's connection is gone (closed, cut, or the gateway crashed): the
    /// SDK hears of it and picks when to reconnect.
    pub(super) fn end_connection(&mut self, c: usize) {
        if let Some(conn) = self.clients[c].conn.take() {
            self.owners.remove(&conn.id);
            self.ended.insert(conn.id);
        }
        let now_ms = self.now_ms;
        if let Some(session) = self.clients[c].session.as_mut() {
            let reason = DisconnectReason::Transport("connection ended".into());
            session.handle_disconnected(now_ms, reason);
            while session.poll_output().is_some() {}
        }
        self.schedule_reconnect(c);
    }

    pub(super) fn client_reads(&mut self, c: usize, conn_id: ClientId) -> Result<(), Violation> {
        match self.clients[c].conn.as_mut() {
            Some(conn) if conn.id == conn_id => conn.read_scheduled = false,
            _ => return Ok(()),
        }
        let slow = self.now_ms < self.clients[c].slow_until_ms;
        let mut budget = if slow {
            self.rng.random_range(1..=2)
        } else {
            usize::MAX
        };
        while budget > 0 {
            let frame = self.gateway.as_mut().and_then(|g| g.poll_transmit(conn_id));
            let Some(frame) = frame else {
                // Reading can make the gateway act (a paused start goes on): like the
                // runtime, drain its outputs after every `poll_transmit`.
                return self.after_input();
            };
            budget -= 1;
            self.read_frame(c, frame)
                .map_err(|broken| self.violation(broken, Some((c, conn_id))))?;
            // After the read is in the ledger, so frames queued by this very call are
            // noted with the gateway's heads now.
            self.after_input()?;
            if self.clients[c]
                .conn
                .as_ref()
                .is_none_or(|conn| conn.id != conn_id)
            {
                return Ok(());
            }
        }
        self.schedule_read(c);
        Ok(())
    }

    /// One frame read by client `c`: the checker checks it, then the SDK takes it.
    fn read_frame(&mut self, c: usize, frame: ServerFrame) -> Result<(), Broken> {
        let for_sdk = frame.clone();
        self.check_frame(c, frame)?;
        let now_ms = self.now_ms;
        if let Some(session) = self.clients[c].session.as_mut() {
            session.handle_frame(now_ms, for_sdk);
        }
        self.drive_session(c);
        Ok(())
    }

    /// Checks one frame the gateway sent to client `c` (invariants 1–5).
    fn check_frame(&mut self, c: usize, frame: ServerFrame) -> Result<(), Broken> {
        let World {
            clients,
            subjects,
            broker,
            gateway,
            reads,
            acked,
            written,
            trace,
            now_ms,
            plan,
            coverage,
            ..
        } = self;
        let client = &mut clients[c];
        let Some(conn) = client.conn.as_mut() else {
            return Ok(());
        };
        let heads = conn
            .ledger
            .read(frame.cost_bytes(), plan.gateway.client_queue_bytes_max)?;
        let Some(gateway) = gateway.as_ref() else {
            return Ok(());
        };
        let oracle = Oracle {
            subjects,
            broker,
            reads,
            gateway,
        };
        let conn_no = conn.id.0;
        let note = |frame| Note::Reads {
            client: c,
            conn: conn_no,
            frame,
        };
        match frame {
            // Auth mode `none`: no token ever expires.
            ServerFrame::TokenExpiring { .. } => {}
            ServerFrame::Ok { id } => {
                trace.note(*now_ms, note(FrameNote::Ok { id: id.0 }));
                match conn.requests.remove(&id.0) {
                    Some(Request::Subscribe {
                        subjects: items,
                        history,
                        conflated,
                    }) => {
                        for (subject, resume) in items {
                            let start = match resume {
                                Some((partition, seq)) => Start::Resume { partition, seq },
                                None => match history {
                                    Some((n, end_marker)) => Start::History { n, end_marker },
                                    None => Start::Snapshot,
                                },
                            };
                            conn.views.start(subject, start, conflated, heads.clone());
                        }
                    }
                    Some(Request::Unsubscribe { subjects: items }) => {
                        for subject in items {
                            conn.views.end(subject);
                        }
                    }
                    other => {
                        return Err((Invariant::Answers, format!("ok {} answers {other:?}", id.0)))
                    }
                }
            }
            ServerFrame::Error {
                id, code, message, ..
            } => {
                trace.note(
                    *now_ms,
                    note(FrameNote::Error {
                        id: id.map(|i| i.0),
                        code: code.as_str(),
                    }),
                );
                let request = id.and_then(|id| conn.requests.get(&id.0));
                let expected = matches!(request, Some(Request::Publish { .. }))
                    && matches!(code, ErrorCode::Unavailable | ErrorCode::RateLimited);
                if !expected {
                    return Err((
                        Invariant::Answers,
                        format!("error {} ({message}) answers {request:?}", code.as_str()),
                    ));
                }
                conn.requests.remove(&id.map_or(0, |i| i.0));
                coverage.publish_errors += 1;
            }
            ServerFrame::Ack { id, epoch, seq } => {
                trace.note(*now_ms, note(FrameNote::Ack { id: id.0, seq }));
                let Some(Request::Publish { subject, payload }) = conn.requests.remove(&id.0)
                else {
                    return Err((
                        Invariant::Answers,
                        format!("ack {} answers no publish", id.0),
                    ));
                };
                let s = subjects.get(subject);
                let log = &broker.log;
                let partition = log.partition_of(s.topic, &epoch);
                let record = partition.and_then(|p| log.record(s.topic, p, seq));
                let in_log =
                    record.is_some_and(|r| r.key == s.key && r.payload.as_ref() == Some(&payload));
                let copies = written.get(&payload).copied().unwrap_or(0);
                let Some(partition) = partition.filter(|_| in_log && copies == 1) else {
                    return Err((
                        Invariant::AckedPublish,
                        format!(
                            "{}: ack ({epoch}, {seq}) of {payload:?}: the log holds {:?} there ({copies} copies of the payload in the log)",
                            s.text,
                            record.map(|r| (&r.key, &r.payload))
                        ),
                    ));
                };
                acked.push((subject, partition, seq));
                coverage.acks += 1;
            }
            ServerFrame::Message(m) => {
                let Some(subject) = subjects.find(&m.subject) else {
                    return Err((
                        Invariant::NoSilentGap,
                        format!("message on unknown subject {}", m.subject),
                    ));
                };
                trace.note(
                    *now_ms,
                    note(FrameNote::Message {
                        subject,
                        kind: m.kind.as_str(),
                        seq: m.seq,
                    }),
                );
                conn.views.message(&oracle, subject, &m, &heads)?;
                *match m.kind {
                    MessageKind::Snapshot => &mut coverage.snapshots,
                    MessageKind::History => &mut coverage.history,
                    MessageKind::Recovered => &mut coverage.recovered,
                    MessageKind::Update => &mut coverage.updates,
                } += 1;
                coverage.deltas += u64::from(m.delta);
            }
            ServerFrame::Status { subject, status } => {
                let Some(subject) = subjects.find(&subject) else {
                    return Err((
                        Invariant::NoSilentGap,
                        format!("status on unknown subject {subject}"),
                    ));
                };
                trace.note(
                    *now_ms,
                    note(FrameNote::Status {
                        subject,
                        status: status.as_str(),
                    }),
                );
                conn.views.status(&oracle, subject, status, &heads)?;
                match status {
                    SyncStatus::Sync => coverage.syncs += 1,
                    SyncStatus::Resync => coverage.resyncs += 1,
                    SyncStatus::HistoryEnd { complete } => {
                        coverage.history_ends += 1;
                        coverage.history_ends_incomplete += u64::from(!complete);
                    }
                }
            }
        }
        Ok(())
    }
}
