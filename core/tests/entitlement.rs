//! Entitlement in the sans-IO core: a connection without a token may only send
//! `auth`; permissions decide per subject; a refresh keeps the user; the expiry
//! notice and the close come at the times the token says, on the caller's clock;
//! revocation closes; the publish rate is a token bucket.

use std::collections::BTreeSet;
use std::sync::Arc;

use sluice_core::protocol::{
    ClientFrame, Encoding, ErrorCode, PublishFrame, ServerFrame, SubscribeOptions,
};
use sluice_core::testing;
use sluice_core::{
    close_code, AuthFailure, ClientId, Gateway, GatewayConfig, Grant, Input, Permissions,
    RequestId, SubjectPattern,
};

const C: ClientId = ClientId(1);

/// The shared harness, with the one client `C` connected.
struct Harness {
    core: testing::Harness,
}

fn grant(user: &str, sub: &[&str], publish: &[&str], expires_at_ms: Option<u64>) -> Grant {
    let parse = |v: &[&str]| {
        v.iter()
            .map(|p| SubjectPattern::parse(p).unwrap())
            .collect()
    };
    Grant {
        user: user.into(),
        token_id: Some(format!("{user}-token")),
        permissions: Permissions {
            subscribe: parse(sub),
            publish: parse(publish),
            all: Vec::new(),
        },
        expires_at_ms,
    }
}

impl Harness {
    fn new(config: GatewayConfig) -> Harness {
        let mut core = testing::Harness::new(GatewayConfig {
            exposed_topics: vec!["t".into(), "u".into()],
            ..config
        });
        core.now_ms = 1_000;
        for topic in ["t", "u"] {
            core.topic(topic, 1, 0);
        }
        core.connect(C);
        Harness { core }
    }

    fn with_auth() -> Harness {
        Harness::new(GatewayConfig {
            auth_required: true,
            auth_timeout_ms: 5_000,
            ..GatewayConfig::default()
        })
    }

    fn input(&mut self, input: Input) {
        self.core.input(input);
    }

    fn frame(&mut self, frame: ClientFrame) -> Vec<ServerFrame> {
        self.core.frame(C, frame);
        self.drain()
    }

    fn drain(&mut self) -> Vec<ServerFrame> {
        self.core.transmit(C)
    }

    /// The code and reason of the latest close of `C`, if any.
    fn closed(&self) -> Option<(u16, &'static str)> {
        self.core
            .closed
            .last()
            .map(|&(_, code, reason)| (code, reason))
    }

    /// Tokens the core asked to verify: (request, token).
    fn to_verify(&self) -> Vec<(RequestId, String)> {
        self.core
            .to_verify
            .iter()
            .map(|(_, request, token)| (*request, token.clone()))
            .collect()
    }

    fn gw(&self) -> &Gateway {
        &self.core.gateway
    }

    fn authenticated(&mut self, request: Option<u64>, result: Result<Grant, AuthFailure>) {
        self.input(Input::Authenticated {
            client: C,
            request: request.map(RequestId),
            result,
        });
    }

    /// Advances the clock to `at_ms`, running every timer due on the way.
    fn advance_to(&mut self, at_ms: u64) -> Vec<ServerFrame> {
        self.core.advance_to(at_ms, C)
    }
}

fn subscribe(id: u64, subjects: &[&str]) -> ClientFrame {
    ClientFrame::Subscribe {
        id: RequestId(id),
        items: subjects
            .iter()
            .map(|s| sluice_core::protocol::SubscribeItem {
                subject: s.to_string(),
                resume: None,
            })
            .collect(),
        options: SubscribeOptions::default(),
    }
}

fn publish(id: u64, subject: &str) -> ClientFrame {
    ClientFrame::Publish(PublishFrame {
        id: RequestId(id),
        subject: subject.into(),
        data: "x".into(),
        retained: true,
        qos: Default::default(),
        reply_to: None,
        traceparent: None,
    })
}

fn error(
    id: u64,
    subject: Option<&str>,
    code: ErrorCode,
) -> (Option<RequestId>, Option<String>, ErrorCode) {
    (Some(RequestId(id)), subject.map(str::to_owned), code)
}

fn errors(frames: &[ServerFrame]) -> Vec<(Option<RequestId>, Option<String>, ErrorCode)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Error {
                id, subject, code, ..
            } => Some((*id, subject.clone(), *code)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_frame_before_the_token_closes_4001() {
    let mut h = Harness::with_auth();
    h.frame(ClientFrame::Ping { id: RequestId(1) });
    assert_eq!(
        h.closed(),
        Some((close_code::UNAUTHENTICATED, "authentication required"))
    );
}

#[test]
fn no_token_within_the_auth_timeout_closes_4001() {
    let mut h = Harness::with_auth();
    h.advance_to(1_000 + 4_999);
    assert_eq!(h.closed(), None);
    h.advance_to(1_000 + 5_000);
    assert_eq!(
        h.closed(),
        Some((close_code::UNAUTHENTICATED, "no token in time"))
    );
}

#[test]
fn a_refused_first_token_leaves_the_connection_waiting() {
    let mut h = Harness::with_auth();
    h.frame(ClientFrame::Auth {
        id: RequestId(1),
        token: "forged".into(),
    });
    assert_eq!(h.to_verify(), vec![(RequestId(1), "forged".to_owned())]);
    h.authenticated(Some(1), Err(AuthFailure("bad signature".into())));
    assert_eq!(
        errors(&h.drain()),
        vec![error(1, None, ErrorCode::Unauthorized)]
    );
    assert_eq!(h.closed(), None);
    h.frame(ClientFrame::Auth {
        id: RequestId(2),
        token: "good".into(),
    });
    h.authenticated(Some(2), Ok(grant("ann", &["/t/>"], &[], None)));
    assert_eq!(h.drain(), vec![ServerFrame::Ok { id: RequestId(2) }]);
    // No auth deadline any more.
    h.advance_to(1_000_000);
    assert_eq!(h.closed(), None);
}

#[test]
fn permissions_refuse_per_subject_and_the_rest_goes_on() {
    let mut h = Harness::with_auth();
    h.authenticated(None, Ok(grant("ann", &["/t/*"], &["/t/a"], None)));
    let out = h.frame(subscribe(1, &["/t/a", "/t/a/b", "/u/a", "/secret/x"]));
    assert_eq!(
        errors(&out),
        vec![
            error(1, Some("/t/a/b"), ErrorCode::Forbidden),
            error(1, Some("/u/a"), ErrorCode::Forbidden),
            // Permission before exposure: nothing learnt about unusable topics.
            error(1, Some("/secret/x"), ErrorCode::Forbidden),
        ]
    );
    assert!(out.contains(&ServerFrame::Ok { id: RequestId(1) }));
    assert_eq!(
        errors(&h.frame(publish(2, "/t/b"))),
        vec![error(2, Some("/t/b"), ErrorCode::Forbidden)]
    );
    assert_eq!(errors(&h.frame(publish(3, "/t/a"))), vec![]);
    assert_eq!(h.gw().stats().forbidden_total, 4);
    assert_eq!(h.closed(), None);
}

#[test]
fn a_refresh_must_keep_the_user_and_may_narrow_permissions() {
    let mut h = Harness::with_auth();
    h.authenticated(None, Ok(grant("ann", &["/t/>", "/u/>"], &[], None)));
    h.frame(subscribe(1, &["/t/a", "/u/a"]));
    h.frame(ClientFrame::Auth {
        id: RequestId(2),
        token: "bob's".into(),
    });
    h.authenticated(Some(2), Ok(grant("bob", &["/>"], &["/>"], None)));
    assert_eq!(
        errors(&h.drain()),
        vec![error(2, None, ErrorCode::Forbidden)]
    );
    // Still ann's permissions: no publish.
    assert_eq!(
        errors(&h.frame(publish(3, "/t/a"))),
        vec![error(3, Some("/t/a"), ErrorCode::Forbidden)]
    );
    // Ann's narrower token ends the subscription it no longer allows.
    h.frame(ClientFrame::Auth {
        id: RequestId(4),
        token: "ann's".into(),
    });
    h.authenticated(Some(4), Ok(grant("ann", &["/t/>"], &[], None)));
    let out = h.drain();
    assert_eq!(
        errors(&out),
        vec![error(4, Some("/u/a"), ErrorCode::Forbidden)]
    );
    assert_eq!(out.last(), Some(&ServerFrame::Ok { id: RequestId(4) }));
}

#[test]
fn expiry_notice_then_close_at_the_tokens_times() {
    let mut h = Harness::with_auth();
    let expires_at_ms = 1_000 + 120_000;
    h.authenticated(None, Ok(grant("ann", &["/t/>"], &[], Some(expires_at_ms))));
    assert_eq!(h.advance_to(expires_at_ms - 60_001), vec![]);
    assert_eq!(
        h.advance_to(expires_at_ms - 60_000),
        vec![ServerFrame::TokenExpiring {
            expires_in_ms: 60_000
        }]
    );
    assert_eq!(h.advance_to(expires_at_ms - 1), vec![]);
    assert_eq!(h.closed(), None);
    h.advance_to(expires_at_ms);
    assert_eq!(
        h.closed(),
        Some((close_code::TOKEN_EXPIRED, "token expired"))
    );
}

#[test]
fn a_refresh_moves_the_expiry() {
    let mut h = Harness::with_auth();
    h.authenticated(None, Ok(grant("ann", &["/t/>"], &[], Some(100_000))));
    h.advance_to(50_000);
    h.frame(ClientFrame::Auth {
        id: RequestId(1),
        token: "fresh".into(),
    });
    h.authenticated(Some(1), Ok(grant("ann", &["/t/>"], &[], Some(500_000))));
    assert_eq!(h.drain(), vec![ServerFrame::Ok { id: RequestId(1) }]);
    h.advance_to(439_999);
    assert_eq!(h.closed(), None);
    assert_eq!(
        h.advance_to(440_000),
        vec![ServerFrame::TokenExpiring {
            expires_in_ms: 60_000
        }]
    );
}

#[test]
fn revocation_closes_holders_and_refuses_the_token_later() {
    let mut h = Harness::with_auth();
    h.authenticated(None, Ok(grant("ann", &["/t/>"], &[], None)));
    h.input(Input::RevokedTokens(Arc::new(BTreeSet::from([
        "someone-else".to_owned(),
    ]))));
    assert_eq!(h.closed(), None);
    h.input(Input::RevokedTokens(Arc::new(BTreeSet::from([
        "ann-token".to_owned(),
    ]))));
    assert_eq!(
        h.closed(),
        Some((close_code::TOKEN_REVOKED, "token revoked"))
    );
    assert_eq!(h.gw().stats().revoked_token_ids, 1);

    h.core.closed.clear();
    h.input(Input::Connect {
        client: ClientId(2),
        encoding: Encoding::Json,
    });
    h.input(Input::Authenticated {
        client: ClientId(2),
        request: None,
        result: Ok(grant("ann", &["/t/>"], &[], None)),
    });
    assert_eq!(
        h.closed(),
        Some((close_code::TOKEN_REVOKED, "token revoked"))
    );
}

#[test]
fn auth_in_mode_none_is_answered_ok() {
    let mut h = Harness::new(GatewayConfig::default());
    let out = h.frame(ClientFrame::Auth {
        id: RequestId(1),
        token: "anything".into(),
    });
    assert_eq!(out, vec![ServerFrame::Ok { id: RequestId(1) }]);
    assert!(h.to_verify().is_empty());
}

#[test]
fn publishes_over_the_rate_are_rate_limited() {
    let mut h = Harness::new(GatewayConfig {
        publish_rate_per_s: 10,
        publish_burst: 3,
        ..GatewayConfig::default()
    });
    let limited = |h: &mut Harness, id| {
        errors(&h.frame(publish(id, "/t/a")))
            .iter()
            .any(|e| e.2 == ErrorCode::RateLimited)
    };
    let answers: Vec<bool> = (1..=5).map(|id| limited(&mut h, id)).collect();
    assert_eq!(answers, [false, false, false, true, true]);
    h.core.now_ms += 100; // one token back
    assert!(!limited(&mut h, 6));
    assert!(limited(&mut h, 7));
    assert_eq!(h.gw().stats().publishes_rate_limited_total, 3);
}

#[test]
fn auth_frames_draw_on_the_publish_rate() {
    let mut h = Harness::new(GatewayConfig {
        auth_required: true,
        publish_rate_per_s: 1,
        publish_burst: 2,
        ..GatewayConfig::default()
    });
    let mut out = Vec::new();
    for id in 1..=3 {
        out.extend(h.frame(ClientFrame::Auth {
            id: RequestId(id),
            token: format!("guess-{id}"),
        }));
    }
    assert_eq!(
        h.to_verify().len(),
        2,
        "the third guess is not even verified"
    );
    assert_eq!(errors(&out), vec![error(3, None, ErrorCode::RateLimited)]);
}

/// Request/reply inboxes: a user reads only its own, whatever its patterns allow,
/// and may reply into anyone's.
#[test]
fn a_token_reads_only_its_own_inbox_and_may_reply_into_any() {
    let mut h = Harness::new(GatewayConfig {
        auth_required: true,
        inbox_topic: "u".into(),
        ..GatewayConfig::default()
    });
    h.frame(ClientFrame::Auth {
        id: RequestId(1),
        token: "t".into(),
    });
    // Patterns that would allow every subject: the inbox rule still applies.
    h.authenticated(Some(1), Ok(grant("ann", &["/>"], &[], None)));
    h.drain();
    let frames = h.frame(subscribe(2, &["/u/ann/r1", "/u/bob/r1", "/u"]));
    assert_eq!(
        errors(&frames),
        vec![
            error(2, Some("/u/bob/r1"), ErrorCode::Forbidden),
            error(2, Some("/u"), ErrorCode::Forbidden),
        ]
    );
    assert!(frames.contains(&ServerFrame::Ok { id: RequestId(2) }));
    // No publish pattern at all, yet a reply into bob's inbox goes to the broker.
    h.frame(publish(3, "/u/bob/r1"));
    assert!(h
        .core
        .broker
        .iter()
        .any(|c| matches!(c, sluice_core::BrokerCommand::Produce(p) if &*p.topic == "u")));
    assert_eq!(
        errors(&h.frame(publish(4, "/t/x"))),
        vec![error(4, Some("/t/x"), ErrorCode::Forbidden)]
    );
}
