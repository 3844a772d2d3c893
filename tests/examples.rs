//! The examples run as a user runs them, against a real gateway: `quickstart`
//! subscribes, publishes, loses its connection and resumes with exactly the
//! messages it missed. `cargo test` builds the examples before it runs any test.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::process::{GatewayProcess, SLUICE};

fn example(name: &str) -> PathBuf {
    let file = PathBuf::from(SLUICE)
        .parent()
        .expect("the sluice binary is in a target directory")
        .join("examples")
        .join(name);
    assert!(
        file.exists(),
        "{} is not built: run the whole suite (`cargo xtask test`, or `cargo test --workspace`), which builds the examples",
        file.display()
    );
    file
}

#[test]
fn quickstart_resumes_with_exactly_the_missed_messages() {
    let gw = GatewayProcess::start(None);
    let out = Command::new(example("quickstart"))
        .arg(&gw.url)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("recovered 2 missed messages, then sync"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("Recovered seq").count(), 2, "{stdout}");
}
