//! The configuration README.md documents is the configuration the code has.

use sluice::config::Config;

#[test]
fn readme_config_block_is_the_defaults() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```toml\n").expect("README has a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = std::env::temp_dir().join(format!("sluice-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sluice.toml");
    std::fs::write(&file, &readme[start..end]).unwrap();
    let from_readme = Config::load(Some(&file)).expect("README config parses");
    let mut defaults = Config::default();
    defaults.websocket.frame_bytes_max = defaults.gateway.frame_bytes_max;
    assert_eq!(
        from_readme, defaults,
        "README's config block differs from the defaults"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let dir = std::env::temp_dir().join(format!("sluice-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sluice.toml");
    std::fs::write(&file, "[gateway]\nframe_bytes_maxx = 3\n").unwrap();
    let err = Config::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("frame_bytes_maxx"), "{err}");
    std::fs::write(&file, "[gateway]\nexposed_topics = [\"bad topic\"]\n").unwrap();
    let err = Config::load(Some(&file)).unwrap().validate().unwrap_err();
    assert!(err.contains("exposed_topics"), "{err}");
    assert!(Config::load(Some(&dir.join("missing.toml"))).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}
