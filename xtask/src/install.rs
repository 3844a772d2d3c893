//! Installing what a task needs when the machine lacks it: Debian packages with
//! apt-get (when running as root), crates with `cargo install --locked`. Each says
//! what it installs and why, and a failure names what to install by hand.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Debian package a task needs, and how to tell it is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianPackage {
    /// The package's name for `apt-get install`.
    pub name: &'static str,
    /// What shows it is installed: a command on `PATH`, or an absolute file path.
    pub provides: &'static str,
    /// Why the task needs it, printed when it is installed.
    pub why: &'static str,
}

impl DebianPackage {
    /// Whether what the package provides is already on the machine.
    pub fn is_present(&self) -> bool {
        if self.provides.starts_with('/') {
            Path::new(self.provides).exists()
        } else {
            on_path(self.provides).is_some()
        }
    }
}

/// The packages of `wanted` that are missing, installed with one apt-get run.
/// Without root or apt-get, the error names the packages to install by hand.
pub fn install_debian_packages(wanted: &[DebianPackage]) -> Result<(), String> {
    let missing: Vec<&DebianPackage> = wanted.iter().filter(|p| !p.is_present()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    for package in &missing {
        eprintln!(
            "== installing {} (Debian package, apt-get): {}",
            package.name, package.why
        );
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    let by_hand = || {
        format!(
            "install the Debian package(s) {} and run this again",
            names.join(" ")
        )
    };
    if on_path("apt-get").is_none() || !is_root() {
        return Err(format!("not root or no apt-get here: {}", by_hand()));
    }
    let ok = Command::new("apt-get")
        .args(["update", "-q"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&names)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!("apt-get failed: {}", by_hand()))
    }
}

/// A crate installed as a tool with `cargo install --locked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrateTool {
    pub name: &'static str,
    /// Pinned, so every machine runs the tool the tests were written against.
    pub version: Option<&'static str>,
    pub features: &'static [&'static str],
    /// Why the task needs it, printed when it is installed.
    pub why: &'static str,
}

impl CrateTool {
    /// Where the tool is: `PATH`, else `$CARGO_HOME/bin` (where `cargo install`
    /// puts it, which is not always on `PATH`).
    pub fn location(&self) -> Option<PathBuf> {
        on_path(self.name).or_else(|| {
            let installed = cargo_home()?.join("bin").join(self.name);
            installed.exists().then_some(installed)
        })
    }

    /// Installs the tool unless it is there already.
    pub fn install(&self) -> Result<(), String> {
        if self.location().is_some() {
            return Ok(());
        }
        let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.args(["install", "--locked", self.name]);
        if let Some(version) = self.version {
            command.args(["--version", version]);
        }
        if !self.features.is_empty() {
            command.args(["--features", &self.features.join(",")]);
        }
        eprintln!(
            "== installing {} {} (cargo install --locked; minutes cold): {}",
            self.name,
            self.version.unwrap_or("(latest)"),
            self.why
        );
        if command.status().is_ok_and(|s| s.success()) {
            Ok(())
        } else {
            Err(format!("could not install {}: run {command:?}", self.name))
        }
    }
}

/// `$CARGO_HOME`, or `~/.cargo`.
pub fn cargo_home() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
}

/// The file `command` runs from `PATH`, if any.
pub fn on_path(command: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|file| file.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}
