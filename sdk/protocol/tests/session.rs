//! The client session's rules, driven through its public API with virtual time:
//! what a driver (the tokio SDK, the simulator) relies on.

use std::sync::Arc;

use bytes::Bytes;
use sluice_client_protocol::{
    Ack, Answer, Carrier, ClientFrame, ClientSession, DisconnectReason, Event, Output,
    PublishOptions, Request, RequestError, SessionConfig, SubscribeOptions,
};
use sluice_core::protocol::{
    ErrorCode, Message, MessageKind, ResumePoint, ServerFrame, SubscribeItem, SyncStatus,
};
use sluice_core::{Epoch, RequestId};

const WEBSOCKET: Carrier = Carrier {
    token_in_band: false,
    early_data: false,
};

fn session() -> ClientSession {
    let config = SessionConfig {
        backoff_initial_ms: 100,
        backoff_max_ms: 1_000,
        seed: 7,
        ..SessionConfig::with_servers(vec!["ws://a".into(), "ws://b".into()])
    };
    ClientSession::connected(config, 0, WEBSOCKET)
}

fn outputs(session: &mut ClientSession) -> Vec<Output> {
    std::iter::from_fn(|| session.poll_output()).collect()
}

fn transmit(session: &mut ClientSession) -> Vec<ClientFrame> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut ClientSession) -> Vec<Event> {
    outputs(session)
        .into_iter()
        .filter_map(|output| match output {
            Output::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

fn answer_of(outputs: &[Output], id: RequestId) -> Option<Result<Answer, RequestError>> {
    outputs.iter().find_map(|output| match output {
        Output::Answer {
            id: answered,
            result,
        } if *answered == id => Some(result.clone()),
        _ => None,
    })
}

fn update(subject: &str, epoch: &str, seq: u64) -> ServerFrame {
    ServerFrame::Message(Message {
        delta: false,
        subject: Arc::from(subject),
        data: Some(Bytes::from(format!("{seq}"))),
        seq,
        epoch: Epoch::new(epoch),
        kind: MessageKind::Update,
        headers: None,
        headers_truncated: false,
        origin: None,
    })
}

/// Subscribes to `subject` and has the gateway accept it.
fn subscribed(session: &mut ClientSession, now_ms: u64, subject: &str) {
    let request = Request::Subscribe {
        subjects: vec![subject.into()],
        options: SubscribeOptions::default(),
    };
    let id = session.request(now_ms, request, now_ms + 5_000);
    transmit(session);
    session.handle_frame(now_ms, ServerFrame::Ok { id });
    outputs(session);
}

fn publish(session: &mut ClientSession, now_ms: u64) -> RequestId {
    let request = Request::Publish {
        subject: "/t/k".into(),
        data: Bytes::from_static(b"v"),
        options: PublishOptions::default(),
    };
    session.request(now_ms, request, now_ms + 5_000)
}

/// Loses the connection at `now_ms` and reconnects when the session says.
fn reconnect(session: &mut ClientSession, now_ms: u64) -> (u64, Vec<Output>) {
    session.handle_disconnected(now_ms, DisconnectReason::Transport("reset".into()));
    let lost = outputs(session);
    let retry_at_ms = session.poll_timeout().expect("a reconnect is scheduled");
    session.handle_timeout(retry_at_ms);
    assert!(matches!(
        outputs(session).as_slice(),
        [Output::Connect { .. }]
    ));
    session.handle_connected(WEBSOCKET);
    (retry_at_ms, lost)
}

#[test]
fn a_reconnect_restores_from_the_last_message_and_drops_what_comes_twice() {
    let mut session = session();
    subscribed(&mut session, 0, "/t/a");
    session.handle_frame(1, update("/t/a", "e1", 5));
    assert_eq!(events(&mut session).len(), 1);

    let (retry_at_ms, lost) = reconnect(&mut session, 10);
    assert!(lost.contains(&Output::Disconnect));
    assert!((60..=110).contains(&retry_at_ms), "{retry_at_ms}");
    assert_eq!(session.server(), 1, "fails over to the next server");
    let restore = transmit(&mut session);
    let [ClientFrame::Subscribe { items, options, .. }] = restore.as_slice() else {
        panic!("{restore:?}");
    };
    assert_eq!(options.history, None);
    assert_eq!(
        items,
        &vec![SubscribeItem {
            subject: "/t/a".into(),
            resume: Some(ResumePoint {
                epoch: Epoch::new("e1"),
                seq: 5
            }),
        }]
    );
    assert!(matches!(
        events(&mut session).as_slice(),
        [Event::Connected { server }] if server == "ws://b"
    ));
    session.handle_frame(retry_at_ms, update("/t/a", "e1", 5));
    assert!(events(&mut session).is_empty(), "the duplicate is dropped");
    session.handle_frame(retry_at_ms, update("/t/a", "e1", 6));
    assert_eq!(events(&mut session).len(), 1);
}

#[test]
fn a_request_sent_on_a_lost_connection_fails_and_one_made_while_down_waits() {
    let mut session = session();
    let sent = publish(&mut session, 0);
    assert_eq!(transmit(&mut session).len(), 1);
    session.handle_disconnected(1, DisconnectReason::Transport("reset".into()));
    assert_eq!(
        answer_of(&outputs(&mut session), sent),
        Some(Err(RequestError::Disconnected)),
        "a publish is never replayed"
    );

    let queued = publish(&mut session, 2);
    assert!(
        transmit(&mut session).is_empty(),
        "nothing is sent while down"
    );
    let retry_at_ms = session.poll_timeout().unwrap();
    session.handle_timeout(retry_at_ms);
    outputs(&mut session);
    session.handle_connected(WEBSOCKET);
    let frames = transmit(&mut session);
    assert_eq!(
        frames.iter().map(ClientFrame::id).collect::<Vec<_>>(),
        [queued]
    );
    session.handle_frame(
        retry_at_ms,
        ServerFrame::Ack {
            id: queued,
            epoch: Epoch::new("e1"),
            seq: 3,
        },
    );
    assert_eq!(
        answer_of(&outputs(&mut session), queued),
        Some(Ok(Answer::Acked(Ack {
            epoch: Epoch::new("e1"),
            seq: 3
        })))
    );
}

#[test]
fn a_request_unanswered_by_its_deadline_times_out_and_a_late_answer_is_ignored() {
    let mut session = session();
    let id = publish(&mut session, 0);
    transmit(&mut session);
    assert_eq!(session.poll_timeout(), Some(5_000));
    session.handle_timeout(5_000);
    assert_eq!(
        answer_of(&outputs(&mut session), id),
        Some(Err(RequestError::Timeout))
    );
    session.handle_frame(
        5_001,
        ServerFrame::Ack {
            id,
            epoch: Epoch::new("e1"),
            seq: 1,
        },
    );
    assert!(outputs(&mut session).is_empty());
    assert_eq!(session.requests_pending(), 0);
}

#[test]
fn during_a_0rtt_start_only_restores_go_and_a_refused_start_restores_again() {
    let mut session = session();
    subscribed(&mut session, 0, "/t/a");
    session.handle_disconnected(1, DisconnectReason::Transport("reset".into()));
    let retry_at_ms = session.poll_timeout().unwrap();
    session.handle_timeout(retry_at_ms);
    session.handle_connected(Carrier {
        token_in_band: false,
        early_data: true,
    });
    let publish = publish(&mut session, retry_at_ms);
    let early = transmit(&mut session);
    assert!(
        matches!(early.as_slice(), [ClientFrame::Subscribe { .. }]),
        "{early:?}"
    );

    session.handle_handshake_done(false);
    let again = transmit(&mut session);
    assert!(
        matches!(again.as_slice(), [ClientFrame::Subscribe { .. }, ClientFrame::Publish(p)] if p.id == publish),
        "restores again, then the held-back publish: {again:?}"
    );
}

#[test]
fn a_refused_token_stops_reconnects_until_a_new_one_is_given() {
    let mut session = session();
    session.handle_disconnected(
        0,
        DisconnectReason::ClosedByServer {
            code: 4002,
            reason: "token expired".into(),
        },
    );
    let said = events(&mut session);
    assert!(said
        .iter()
        .any(|event| matches!(event, Event::TokenRefused { .. })));
    assert_eq!(
        session.poll_timeout(),
        None,
        "no retry with a refused token"
    );

    let id = session.request(50, Request::Auth { token: "t2".into() }, 10_000);
    assert_eq!(session.poll_timeout(), Some(50), "reconnects at once");
    session.handle_timeout(50);
    assert_eq!(
        outputs(&mut session),
        vec![Output::Connect {
            server: 1,
            token: Some("t2".into())
        }]
    );
    session.handle_connected(WEBSOCKET);
    let frames = transmit(&mut session);
    assert!(matches!(frames.as_slice(), [ClientFrame::Auth { token, .. }] if token == "t2"));
    session.handle_frame(51, ServerFrame::Ok { id });
    assert_eq!(
        answer_of(&outputs(&mut session), id),
        Some(Ok(Answer::Done))
    );
}

#[test]
fn over_quic_the_token_goes_first_in_band() {
    let config = SessionConfig {
        token: Some("t1".into()),
        ..SessionConfig::with_servers(vec!["quic://a".into()])
    };
    let carrier = Carrier {
        token_in_band: true,
        early_data: false,
    };
    let mut session = ClientSession::connected(config, 0, carrier);
    let frames = transmit(&mut session);
    assert!(matches!(frames.as_slice(), [ClientFrame::Auth { token, .. }] if token == "t1"));
    let ClientFrame::Auth { id, .. } = &frames[0] else {
        unreachable!()
    };
    session.handle_frame(
        0,
        ServerFrame::Error {
            id: Some(*id),
            subject: None,
            code: ErrorCode::Unauthorized,
            message: "bad signature".into(),
        },
    );
    let said = outputs(&mut session);
    assert!(said.contains(&Output::Disconnect));
    assert!(said.iter().any(|output| matches!(
        output,
        Output::Event(Event::Disconnected {
            reason: DisconnectReason::TokenRejected { .. }
        })
    )));
}

#[test]
fn a_transient_restore_refusal_reconnects_and_a_permanent_one_ends_the_subscription() {
    let mut session = session();
    subscribed(&mut session, 0, "/t/a");
    subscribed(&mut session, 0, "/t/b");
    reconnect(&mut session, 1);
    let restore = transmit(&mut session);
    let id = restore[0].id();
    session.handle_frame(
        300,
        ServerFrame::Error {
            id: Some(id),
            subject: Some("/t/a".into()),
            code: ErrorCode::Unavailable,
            message: "partitions unknown yet".into(),
        },
    );
    assert!(outputs(&mut session).contains(&Output::Disconnect));
    assert!(session.is_subscribed("/t/a"), "kept, to retry");

    let retry_at_ms = session.poll_timeout().unwrap();
    session.handle_timeout(retry_at_ms);
    session.handle_connected(WEBSOCKET);
    let id = transmit(&mut session)[0].id();
    session.handle_frame(
        retry_at_ms,
        ServerFrame::Error {
            id: Some(id),
            subject: Some("/t/a".into()),
            code: ErrorCode::NotExposed,
            message: "topic not exposed".into(),
        },
    );
    session.handle_frame(retry_at_ms, ServerFrame::Ok { id });
    let said = events(&mut session);
    assert!(said.iter().any(
        |event| matches!(event, Event::SubscriptionRejected { subject, .. } if subject == "/t/a")
    ));
    assert_eq!(session.subjects().collect::<Vec<_>>(), ["/t/b"]);
}

#[test]
fn a_resync_lets_the_older_snapshot_through() {
    let mut session = session();
    subscribed(&mut session, 0, "/t/a");
    session.handle_frame(1, update("/t/a", "e1", 10));
    session.handle_frame(
        2,
        ServerFrame::Status {
            subject: "/t/a".into(),
            status: SyncStatus::Resync,
        },
    );
    session.handle_frame(3, update("/t/a", "e1", 8));
    assert_eq!(events(&mut session).len(), 3);
}

#[test]
fn an_unsubscribe_takes_effect_at_once() {
    let mut session = session();
    subscribed(&mut session, 0, "/t/a");
    let request = Request::Unsubscribe {
        subjects: vec!["/t/a".into()],
    };
    session.request(1, request, 5_000);
    assert!(matches!(
        events(&mut session).as_slice(),
        [Event::Unsubscribed { .. }]
    ));
    session.handle_frame(2, update("/t/a", "e1", 1));
    assert!(events(&mut session).is_empty(), "a straggler is dropped");
    assert_eq!(session.subscription_count(), 0);
}

#[test]
fn no_reconnect_starts_while_the_application_is_behind() {
    let mut session = session();
    session.handle_disconnected(0, DisconnectReason::Transport("reset".into()));
    outputs(&mut session);
    let retry_at_ms = session.poll_timeout().unwrap();
    session.set_app_backlogged(true);
    assert_eq!(session.poll_timeout(), None);
    session.handle_timeout(retry_at_ms);
    assert!(outputs(&mut session).is_empty());
    session.set_app_backlogged(false);
    session.handle_timeout(retry_at_ms);
    assert!(matches!(
        outputs(&mut session).as_slice(),
        [Output::Connect { .. }]
    ));
}

#[test]
fn closing_answers_every_pending_request() {
    let mut session = session();
    let sent = publish(&mut session, 0);
    transmit(&mut session);
    let queued = publish(&mut session, 0);
    session.close();
    let said = outputs(&mut session);
    for id in [sent, queued] {
        assert_eq!(answer_of(&said, id), Some(Err(RequestError::Closed)));
    }
}

#[test]
fn answers_that_do_not_fit_their_request_fail_it_without_a_panic() {
    let mut session = session();
    let ping = session.request(0, Request::Ping, 5_000);
    transmit(&mut session);
    session.handle_frame(
        1,
        ServerFrame::Ack {
            id: ping,
            epoch: Epoch::new("e1"),
            seq: 1,
        },
    );
    assert!(matches!(
        answer_of(&outputs(&mut session), ping),
        Some(Err(RequestError::Protocol(_)))
    ));
    // Answers to ids never used, and errors with no id, change nothing.
    session.handle_frame(2, ServerFrame::Ok { id: RequestId(999) });
    session.handle_frame(
        2,
        ServerFrame::Error {
            id: None,
            subject: None,
            code: ErrorCode::Internal,
            message: "?".into(),
        },
    );
    assert!(outputs(&mut session).is_empty());
    assert!(session.is_connected());
}
