//! The configuration the docs show is the configuration the code has:
//! `docs/configuration.md`'s reference block is the defaults, and the examples in
//! `docs/kafka.md` and `docs/security.md` load and differ only where they say.

use sluice::config::{BrokerKind, Config};
use sluice_auth::{AuthMode, KeyAlgorithm};

/// The TOML blocks of `doc` (a path from the repository's root), each loaded as a
/// config file.
fn doc_configs(doc: &str) -> Vec<Config> {
    let text = std::fs::read_to_string(format!("{}/{doc}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{doc}: {e}"));
    let dir = std::env::temp_dir().join(format!(
        "sluice-doc-{}-{}",
        std::process::id(),
        doc.replace('/', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let configs = text
        .split("```toml\n")
        .skip(1)
        .enumerate()
        .map(|(i, block)| {
            let file = dir.join(format!("block-{i}.toml"));
            std::fs::write(&file, &block[..block.find("```").unwrap()]).unwrap();
            Config::load(Some(&file))
                .unwrap_or_else(|e| panic!("{doc}: toml block {i} does not parse: {e}"))
        })
        .collect();
    std::fs::remove_dir_all(dir).unwrap();
    configs
}

/// The one TOML block `doc` must have.
fn only_config(doc: &str) -> Config {
    let mut configs = doc_configs(doc);
    assert_eq!(configs.len(), 1, "{doc} has exactly one TOML block");
    configs.remove(0)
}

#[test]
fn documented_config_blocks_are_the_defaults() {
    let configs = [
        only_config("docs/configuration.md"),
        only_config("docs/kafka.md"),
        only_config("docs/security.md"),
    ];
    let mut defaults = Config::default();
    defaults.websocket.frame_bytes_max = defaults.gateway.frame_bytes_max;
    defaults.quic.frame_bytes_max = defaults.gateway.frame_bytes_max;
    assert_eq!(
        configs[0], defaults,
        "docs/configuration.md's reference block differs from the defaults"
    );

    let mut kafka = defaults.clone();
    kafka.gateway.exposed_topics = vec!["vehicles".into()];
    kafka.broker.kind = BrokerKind::Kafka;
    assert_eq!(
        configs[1], kafka,
        "docs/kafka.md's block differs from the Kafka defaults"
    );
    configs[1].validate().unwrap();

    // docs/security.md's example: only `[auth]` differs from the defaults.
    let jwt = &configs[2];
    assert_eq!(jwt.auth.mode, AuthMode::Jwt);
    let algorithms: Vec<_> = jwt.auth.keys.iter().map(|k| k.algorithm).collect();
    assert_eq!(algorithms, [KeyAlgorithm::HS256, KeyAlgorithm::ES256]);
    assert_eq!(
        Config {
            auth: defaults.auth.clone(),
            ..jwt.clone()
        },
        defaults
    );
}

/// Why `toml` is refused, at load or by `validate`; panics if it is accepted.
fn refusal(file: &std::path::Path, toml: &str) -> String {
    std::fs::write(file, toml).unwrap();
    match Config::load(Some(file)) {
        Err(err) => err.to_string(),
        Ok(config) => config
            .validate()
            .err()
            .unwrap_or_else(|| panic!("accepted: {toml}")),
    }
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let dir = std::env::temp_dir().join(format!("sluice-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sluice.toml");
    let cases: &[(&str, &[&str])] = &[
        ("[gateway]\nframe_bytes_maxx = 3\n", &["frame_bytes_maxx"]),
        (
            "[gateway]\nexposed_topics = [\"bad topic\"]\n",
            &["exposed_topics"],
        ),
        (
            "[quic]\nlisten = \"127.0.0.1:0\"\n",
            &["quic.listen needs TLS"],
        ),
        ("[tls]\ncert_path = \"a.pem\"\n", &["tls.key_path"]),
        ("[auth]\nmode = \"jwt\"\n", &["auth.keys"]),
        (
            "[auth]\nmode = \"jwt\"\n[[auth.keys]]\nkid = \"a\"\nalgorithm = \"ES256\"\n",
            &["public_key_pem_file"],
        ),
        (
            "[quic]\nudp_receive_buffer_bytes = 0\n",
            &["quic.udp_receive_buffer_bytes"],
        ),
        ("[runtime]\nshards = 100000\n", &["runtime.shards"]),
        // An unknown partitioner names the key and the choices.
        (
            "[gateway]\npartitioner = \"crc\"\n",
            &["gateway.partitioner", "consistent"],
        ),
        (
            "[gateway.topic_partitioners]\nevents = \"consistent_random\"\n",
            &["gateway.topic_partitioners.events"],
        ),
        (
            "[gateway.topic_partitioners]\n\"bad topic\" = \"consistent\"\n",
            &["gateway.topic_partitioners"],
        ),
        (
            "[gateway]\nsubject_partitions_bytes_max = 0\n",
            &["gateway.subject_partitions_bytes_max"],
        ),
        (
            "[broker.embedded]\nfsync = \"sometimes\"\n",
            &["fsync", "always", "interval", "never"],
        ),
        (
            "[broker.embedded]\nfsync = \"interval\"\nfsync_interval_ms = 0\n",
            &["broker.embedded.fsync_interval_ms"],
        ),
        (
            "[broker.embedded]\ndata_dir = \"\"\n",
            &["broker.embedded.data_dir"],
        ),
        (
            "[broker.embedded]\nsegment_bytes_max = 0\n",
            &["broker.embedded.segment_bytes_max"],
        ),
        (
            "[broker.embedded]\nstorage = \"tape\"\n",
            &["storage", "disk", "memory"],
        ),
    ];
    for (toml, named) in cases {
        let err = refusal(&file, toml);
        assert!(named.iter().all(|n| err.contains(n)), "{toml}: {err}");
    }
    assert!(Config::load(Some(&dir.join("missing.toml"))).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}
