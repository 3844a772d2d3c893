//! The revocation file: one token id (`jti`) per line; blank lines and `#` comments
//! are ignored.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

pub fn read_revocation_list(path: &Path) -> io::Result<BTreeSet<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
