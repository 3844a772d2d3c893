//! TLS on both transports: a configured certificate, pinning, refusal of the wrong
//! certificate with a clear error, and reload without dropping connections.

mod common;

use std::path::Path;

use common::certs::write_certificate_in as write_certificate;
use common::sdk::next_message;
use sluice::server::Server;
use sluice_client::{Client, ClientConfig, ClientError, Event, Events, PublishOptions};
use sluice_tls::Fingerprint;

async fn start_with_files(cert_path: &Path, key_path: &Path) -> Server {
    let (cert_path, key_path) = (cert_path.to_owned(), key_path.to_owned());
    common::start(move |config| {
        config.tls.cert_path = Some(cert_path);
        config.tls.key_path = Some(key_path);
        config.quic.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

async fn connect_pinned(url: String, pin: Fingerprint) -> Result<(Client, Events), ClientError> {
    let mut config = ClientConfig::with_servers([url]);
    config.tls_pins_sha256 = vec![pin.to_string()];
    Client::connect(config).await
}

#[tokio::test]
async fn wss_and_quic_work_with_a_configured_certificate() {
    let dir = common::certs::temp_dir("tls-configured");
    let (cert_path, key_path, fingerprint) = write_certificate(&dir, "gateway");
    let server = start_with_files(&cert_path, &key_path).await;
    assert!(server.url().starts_with("wss://"), "{}", server.url());
    assert_eq!(server.tls_fingerprint(), Some(fingerprint));

    let (subscriber, mut events) = connect_pinned(server.url(), fingerprint).await.unwrap();
    let outcome = subscriber.subscribe(&["/demo/tls"]).await.unwrap();
    assert!(outcome.all_accepted());
    let (publisher, publisher_events) = connect_pinned(server.quic_url().unwrap(), fingerprint)
        .await
        .unwrap();
    common::sdk::drain_in_background(publisher_events);
    let ack = publisher
        .publish("/demo/tls", "secret", PublishOptions::default())
        .await
        .unwrap();
    let message = next_message(&mut events).await;
    assert_eq!(
        (message.seq, message.data.as_deref()),
        (ack.seq, Some(&b"secret"[..]))
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_client_with_the_wrong_pin_is_refused_with_a_clear_error() {
    let server = common::start_tls_and_quic().await;
    let served = server.tls_fingerprint().unwrap();
    let wrong = Fingerprint::of(b"some other certificate");
    for url in [server.url(), server.quic_url().unwrap()] {
        let Err(ClientError::Connect(reason)) = connect_pinned(url.clone(), wrong).await else {
            panic!("{url}: connected despite the wrong pin")
        };
        assert!(
            reason.contains("certificate pin mismatch"),
            "{url}: {reason}"
        );
        assert!(reason.contains(&served.to_string()), "{url}: {reason}");
        assert!(reason.contains(&wrong.to_string()), "{url}: {reason}");
    }
    // Without a pin, a self-signed certificate is not trusted either.
    for url in [server.url(), server.quic_url().unwrap()] {
        let Err(ClientError::Connect(reason)) =
            Client::connect(ClientConfig::with_servers([url.clone()])).await
        else {
            panic!("{url}: trusted a self-signed certificate")
        };
        assert!(reason.contains("UnknownIssuer"), "{url}: {reason}");
    }
    // A malformed pin is a config error, named as such, before any connection.
    let mut config = ClientConfig::with_servers([server.quic_url().unwrap()]);
    config.tls_pins_sha256 = vec!["AB:CD".into()];
    let Err(ClientError::InvalidConfig(reason)) = Client::connect(config).await else {
        panic!("a malformed pin was taken")
    };
    assert!(reason.contains("tls_pins_sha256"), "{reason}");
    // The right pin works on both.
    for url in [server.url(), server.quic_url().unwrap()] {
        connect_pinned(url, served).await.unwrap();
    }
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_handshakes_and_drops_no_connection() {
    let dir = common::certs::temp_dir("tls-reload");
    let (cert_path, key_path, old) = write_certificate(&dir, "gateway");
    let server = start_with_files(&cert_path, &key_path).await;
    let mut subscribers = Vec::new();
    for url in [server.url(), server.quic_url().unwrap()] {
        let (client, events) = connect_pinned(url, old).await.unwrap();
        assert!(client
            .subscribe(&["/demo/reload"])
            .await
            .unwrap()
            .all_accepted());
        subscribers.push((client, events));
    }

    // The operator renews the certificate in place and sends SIGHUP.
    let (new_cert, new_key, new) = write_certificate(&dir, "renewed");
    std::fs::rename(new_cert, &cert_path).unwrap();
    std::fs::rename(new_key, &key_path).unwrap();
    assert_eq!(server.reload_tls().unwrap(), Some(new));
    assert_eq!(server.tls_fingerprint(), Some(new));

    for url in [server.url(), server.quic_url().unwrap()] {
        let refused = connect_pinned(url.clone(), old).await;
        assert!(
            matches!(&refused, Err(ClientError::Connect(reason)) if reason.contains("pin mismatch")),
            "{url}: a new handshake still got the old certificate"
        );
    }
    let (publisher, publisher_events) = connect_pinned(server.quic_url().unwrap(), new)
        .await
        .unwrap();
    common::sdk::drain_in_background(publisher_events);
    let ack = publisher
        .publish("/demo/reload", "after reload", PublishOptions::default())
        .await
        .unwrap();
    for (client, events) in &mut subscribers {
        let message = next_message(events).await;
        assert_eq!(message.seq, ack.seq);
        assert_eq!(client.stats().connections_total, 1, "never reconnected");
        assert!(events
            .try_next()
            .is_none_or(|e| !matches!(e, Event::Disconnected { .. })));
    }

    // A broken file is refused and the current certificate stays.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    assert!(server.reload_tls().is_err());
    assert_eq!(server.tls_fingerprint(), Some(new));
    std::fs::remove_dir_all(dir).unwrap();
}
