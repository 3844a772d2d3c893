//! Subject patterns of permissions: `/vehicles/*/speed` (`*` = exactly one segment),
//! `/vehicles/>` (a trailing `>` = one or more further segments, the whole subtree).

use std::fmt;

use crate::subject::{is_valid_topic, Subject, SUBJECT_BYTES_MAX};

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment, whatever it is.
    One,
    /// `>`, last only: one or more segments.
    Rest,
}

/// A parsed permission pattern. Matching is segment by segment; a pattern without
/// wildcards matches exactly the subject it spells.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectPattern {
    text: String,
    segments: Vec<Segment>,
}

/// Why a pattern was refused (when a token's permissions are read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a pattern must start with '/'")]
    NotAbsolute,
    #[error("a pattern must not end with '/' or contain an empty segment")]
    EmptySegment,
    #[error("a pattern's topic segment is '*', '>' or 1 to 249 characters of [a-zA-Z0-9._-]")]
    InvalidTopic,
    #[error("'>' may only be the last segment of a pattern")]
    RestNotLast,
    #[error("a pattern is at most {0} bytes")]
    TooLong(usize),
}

impl SubjectPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.len() > SUBJECT_BYTES_MAX {
            return Err(PatternError::TooLong(SUBJECT_BYTES_MAX));
        }
        let rest = text.strip_prefix('/').ok_or(PatternError::NotAbsolute)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = match *part {
                "" => return Err(PatternError::EmptySegment),
                "*" => Segment::One,
                ">" if i + 1 == parts.len() => Segment::Rest,
                ">" => return Err(PatternError::RestNotLast),
                literal if i == 0 && !is_valid_topic(literal) => {
                    return Err(PatternError::InvalidTopic)
                }
                literal => Segment::Literal(literal.to_owned()),
            };
            segments.push(segment);
        }
        Ok(SubjectPattern {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `subject` is one this pattern names.
    pub fn matches(&self, subject: &Subject) -> bool {
        self.matches_segments(subject.as_str()[1..].split('/'))
    }

    fn matches_segments<'a>(&self, mut parts: impl Iterator<Item = &'a str>) -> bool {
        for segment in &self.segments {
            match segment {
                Segment::Rest => return parts.next().is_some(),
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Debug for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, subject: &str) -> bool {
        SubjectPattern::parse(pattern)
            .unwrap()
            .matches(&Subject::parse(subject).unwrap())
    }

    #[test]
    fn star_is_exactly_one_segment() {
        assert!(matches("/v/*/speed", "/v/1/speed"));
        assert!(!matches("/v/*/speed", "/v/1/2/speed"));
        assert!(!matches("/v/*", "/v"));
        assert!(matches("/*", "/v"));
        assert!(!matches("/*", "/v/1"));
        assert!(matches("/*/1", "/v/1"));
    }

    #[test]
    fn rest_is_the_whole_subtree_below() {
        assert!(matches("/v/>", "/v/1"));
        assert!(matches("/v/>", "/v/1/2/3"));
        assert!(!matches("/v/>", "/v"));
        assert!(!matches("/v/>", "/vehicles/1"));
        assert!(matches("/>", "/anything/at/all"));
        assert!(matches("/>", "/t"));
    }

    #[test]
    fn literals_match_exactly() {
        assert!(matches("/v/1", "/v/1"));
        assert!(!matches("/v/1", "/v/10"));
        assert!(!matches("/v/1", "/v/1/x"));
        assert!(!matches("/v", "/v/1"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(SubjectPattern::parse("v/1"), Err(PatternError::NotAbsolute));
        assert_eq!(
            SubjectPattern::parse("/v//1"),
            Err(PatternError::EmptySegment)
        );
        assert_eq!(
            SubjectPattern::parse("/v/>/1"),
            Err(PatternError::RestNotLast)
        );
        assert_eq!(
            SubjectPattern::parse("/a b/1"),
            Err(PatternError::InvalidTopic)
        );
        assert_eq!(SubjectPattern::parse("/"), Err(PatternError::EmptySegment));
    }
}
