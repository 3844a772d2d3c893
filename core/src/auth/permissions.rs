//! What a token allows: patterns for subscribing, for publishing, and for both.

use super::SubjectPattern;
use crate::subject::Subject;

/// The `permissions` claim, parsed. Empty lists allow nothing: a token must name
/// what it grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub subscribe: Vec<SubjectPattern>,
    pub publish: Vec<SubjectPattern>,
    /// Both subscribe and publish.
    pub all: Vec<SubjectPattern>,
}

impl Permissions {
    pub fn may_subscribe(&self, subject: &Subject) -> bool {
        any_matches(&self.subscribe, subject) || any_matches(&self.all, subject)
    }

    pub fn may_publish(&self, subject: &Subject) -> bool {
        any_matches(&self.publish, subject) || any_matches(&self.all, subject)
    }
}

fn any_matches(patterns: &[SubjectPattern], subject: &Subject) -> bool {
    patterns.iter().any(|p| p.matches(subject))
}
