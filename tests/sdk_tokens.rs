//! The Rust SDK on a `jwt` gateway: it presents its token, hears `token_expiring`,
//! refreshes, and outlives the first token's expiry; another user's token is refused.

mod common;

use std::time::Duration;

use common::sdk::next_event;
use common::unix_now_s;
use sluice_auth::{issue_token, AuthMode, Claims, KeyAlgorithm, KeyConfig, PermissionClaims};
use sluice_client::{Client, ClientConfig, ClientError, Event, PublishOptions, SubscribeOptions};
use sluice_core::protocol::ErrorCode;

fn key() -> KeyConfig {
    KeyConfig {
        kid: "k1".into(),
        algorithm: KeyAlgorithm::HS256,
        secret: Some("sdk-token-test-secret-sdk-token-test".into()),
        public_key_pem_file: None,
    }
}

fn token(user: &str, ttl_s: u64) -> (String, u64) {
    let exp = unix_now_s() + ttl_s;
    let claims = Claims {
        sub: user.into(),
        exp,
        nbf: None,
        iat: None,
        jti: Some(format!("{user}-{exp}")),
        permissions: PermissionClaims {
            all: vec!["/demo/>".into()],
            ..PermissionClaims::default()
        },
    };
    (issue_token(&key(), &claims).unwrap(), exp)
}

#[tokio::test]
async fn the_sdk_refreshes_its_token_and_outlives_the_first_one() {
    let server = common::start(|c| {
        c.auth.mode = AuthMode::Jwt;
        c.auth.keys = vec![key()];
    })
    .await;
    let (short, short_exp) = token("ann", 2);
    let config = ClientConfig {
        token: Some(short),
        ..ClientConfig::with_servers([server.url()])
    };
    let (client, mut events) = Client::connect(config).await.expect("connects");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    // Less than the notice period left: the notice comes at once.
    match next_event(&mut events).await {
        Event::TokenExpiring { expires_in_ms } => assert!(expires_in_ms <= 2000),
        other => panic!("expected token_expiring, got {other:?}"),
    }

    let refused = client.refresh_token(token("bob", 3600).0).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Rejected {
                code: ErrorCode::Forbidden,
                ..
            })
        ),
        "{refused:?}"
    );
    client.refresh_token(token("ann", 3600).0).await.unwrap();

    // Past the first token's expiry, the connection is still the same one.
    while unix_now_s() <= short_exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .publish("/demo/sdk-token", "still here", PublishOptions::default())
        .await
        .expect("publish after the first token expired");
    let stats = server.runtime().stats();
    assert_eq!(stats.token_expired_disconnects_total, 0);
    assert_eq!(stats.tokens_accepted_total, 2);
    assert_eq!(stats.tokens_refused_total, 1);
    client.close().await;
    while let Some(event) = events.next().await {
        assert!(
            !matches!(event, Event::Disconnected { .. }),
            "the connection was lost: {event:?}"
        );
    }
}

/// A `jwt` gateway with a QUIC listener, and a client config that trusts it.
async fn jwt_gateway_over_quic() -> (sluice::server::Server, ClientConfig) {
    let server = common::start(|c| {
        c.tls.self_signed = true;
        c.quic.listen = Some("127.0.0.1:0".parse().unwrap());
        c.auth.mode = AuthMode::Jwt;
        c.auth.keys = vec![key()];
    })
    .await;
    let mut config = ClientConfig::with_servers([server.quic_url().expect("QUIC is on")]);
    config.tls_pins_sha256 = vec![server.tls_fingerprint().unwrap().to_string()];
    (server, config)
}

/// QUIC has no upgrade request: the SDK sends its token as the first frame, and
/// sends it again after a reconnect.
#[tokio::test]
async fn over_quic_the_sdk_presents_its_token_in_an_auth_frame() {
    let (server, mut config) = jwt_gateway_over_quic().await;
    config.token = Some(token("ann", 3600).0);
    let (client, mut events) = Client::connect(config).await.expect("connects");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    for round in 0..2 {
        if round > 0 {
            client.kill_connection().await;
            while !matches!(next_event(&mut events).await, Event::Connected { .. }) {}
        }
        let subject = format!("/demo/quic-token-{round}");
        assert!(client.subscribe(&[&subject]).await.unwrap().all_accepted());
        client
            .publish(&subject, "hello", PublishOptions::default())
            .await
            .expect("an authenticated publish is acknowledged");
    }
    let stats = server.runtime().stats();
    assert_eq!(stats.tokens_accepted_total, 2, "one per connection");
    assert_eq!(stats.tokens_refused_total, 0);
}

/// The SDK does not reconnect with a token the gateway refused: it says
/// `TokenRefused`, and `refresh_token` reconnects with the new one.
async fn refused_then_refreshed(server: &sluice::server::Server, config: ClientConfig) {
    let (client, mut events) = Client::connect(config).await.expect("connects");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    let reason = loop {
        match tokio::time::timeout(common::SLOW_HANG_GUARD, events.next())
            .await
            .expect("the token is refused within the hang guard")
            .expect("events open")
        {
            Event::TokenRefused { reason } => break reason,
            Event::Disconnected { reason } => assert!(reason.is_token_refused(), "{reason}"),
            _ => {}
        }
    };
    let accepted_before = server.runtime().stats().tokens_accepted_total;
    client
        .refresh_token(token("ann", 3600).0)
        .await
        .unwrap_or_else(|e| panic!("the new token is taken after {reason:?}: {e}"));
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    client
        .publish("/demo/refreshed", "back", PublishOptions::default())
        .await
        .expect("publishing with the new token");
    assert!(server.runtime().stats().tokens_accepted_total > accepted_before);
}

#[tokio::test]
async fn an_expired_token_is_not_retried_until_a_new_one_is_given() {
    let server = common::start(|c| {
        c.auth.mode = AuthMode::Jwt;
        c.auth.keys = vec![key()];
    })
    .await;
    let config = ClientConfig {
        token: Some(token("ann", 1).0),
        ..ClientConfig::with_servers([server.url()])
    };
    refused_then_refreshed(&server, config).await;
}

#[tokio::test]
async fn over_quic_a_refused_token_is_not_retried_until_a_new_one_is_given() {
    let (server, mut config) = jwt_gateway_over_quic().await;
    config.token = Some("not.a.token".into());
    refused_then_refreshed(&server, config).await;
}

/// Request/reply on a `jwt` gateway: ann's request waits in her own inbox
/// (`/_inbox/ann/…`, which only her token may read) for bob's reply, which he
/// sends to the request's `reply_to` header; a request nobody answers times out.
#[tokio::test]
async fn a_request_gets_the_responders_reply_through_the_requesters_inbox() {
    let server = common::start(|c| {
        c.auth.mode = AuthMode::Jwt;
        c.auth.keys = vec![key()];
    })
    .await;
    let connect = |user: &str| {
        let config = ClientConfig {
            token: Some(token(user, 3600).0),
            ..ClientConfig::with_servers([server.url()])
        };
        Client::connect(config)
    };
    let (responder, mut requests) = connect("bob").await.expect("connects");
    let options = SubscribeOptions {
        headers: true,
        ..SubscribeOptions::default()
    };
    responder
        .subscribe_with(&["/demo/echo"], options)
        .await
        .unwrap();
    let serving = tokio::spawn(async move {
        let request = common::sdk::next_message(&mut requests).await;
        let text = String::from_utf8(request.data.clone().unwrap().to_vec()).unwrap();
        let reply_to = request
            .headers
            .as_deref()
            .and_then(|h| h.iter().find(|h| h.name == "reply_to"))
            .map(|h| String::from_utf8(h.value.to_vec()).unwrap());
        responder
            .reply(&request, text.to_uppercase())
            .await
            .unwrap();
        reply_to
    });

    let (requester, events) = connect("ann").await.expect("connects");
    common::sdk::drain_in_background(events);
    let reply = requester
        .request("/demo/echo", "hello", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.data.as_deref(), Some(&b"HELLO"[..]));
    let reply_to = serving
        .await
        .unwrap()
        .expect("the request carried reply_to");
    assert!(reply_to.starts_with("/_inbox/ann/"), "{reply_to}");
    assert_eq!(&*reply.subject, reply_to);

    let unanswered = requester
        .request("/demo/nobody", "hello?", Duration::from_millis(500))
        .await;
    assert_eq!(unanswered, Err(ClientError::Timeout));

    // Bob may not read ann's inbox.
    let (snoop, events) = connect("bob").await.expect("connects");
    common::sdk::drain_in_background(events);
    let outcome = snoop.subscribe(&[&reply_to]).await.unwrap();
    assert_eq!(outcome.rejected[0].code, ErrorCode::Forbidden);
}
