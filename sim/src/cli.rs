//! Command-line pieces both tiers' binaries share: seed ranges and the sweep's
//! progress bar.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use sluice_core::testing::InjectedBug;

/// Seeds `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    pub first: u64,
    pub last: u64,
}

impl SeedRange {
    pub fn seeds(self) -> Vec<u64> {
        (self.first..=self.last).collect()
    }
}

/// Parses `A..B` (B excluded) or `A..=B`.
pub fn parse_seeds(text: &str) -> Result<SeedRange, String> {
    let bad = || format!("expected A..B or A..=B, got {text:?}");
    let (first, rest) = text.split_once("..").ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last = match rest.strip_prefix('=') {
        Some(last) => last.trim().parse().map_err(|_| bad())?,
        None => rest
            .trim()
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_sub(1)
            .ok_or_else(bad)?,
    };
    if last < first {
        return Err(format!("the range {text:?} is empty"));
    }
    Ok(SeedRange { first, last })
}

/// A progress bar on stderr, hidden when stderr is not a terminal (CI logs).
pub fn progress_bar(seeds: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(seeds);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Reads `--inject-bug NAME`: one of the core's deliberate bugs, if any.
pub fn parse_injected_bug(name: Option<&str>) -> Result<Option<InjectedBug>, String> {
    name.map(str::parse).transpose().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse_both_forms_and_refuse_empty_ones() {
        assert_eq!(parse_seeds("1..4"), Ok(SeedRange { first: 1, last: 3 }));
        assert_eq!(parse_seeds("1..=4"), Ok(SeedRange { first: 1, last: 4 }));
        assert!(parse_seeds("4..4").is_err());
        assert!(parse_seeds("x..4").is_err());
        assert!(parse_seeds("0..0").is_err());
    }
}
