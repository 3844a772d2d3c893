//! Subjects: `/topic/key/with/slashes` ↔ Kafka topic `topic`, key `key/with/slashes`.

use std::fmt;
use std::sync::Arc;

/// Kafka's own limit on topic name length.
pub const TOPIC_LEN_MAX: usize = 249;

/// A parsed subject. Cheap to clone: the text is shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    text: Arc<str>,
    /// Byte index in `text` where the topic ends.
    topic_end: usize,
}

/// Why a subject string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("a subject must start with '/'")]
    NotAbsolute,
    #[error("the topic segment is empty")]
    EmptyTopic,
    #[error("topic names are 1 to 249 characters of [a-zA-Z0-9._-]")]
    InvalidTopic,
    #[error("a subject must not end with '/' or contain an empty segment")]
    EmptySegment,
    #[error("a subject is at most {0} bytes")]
    TooLong(usize),
    #[error("'*' and '>' segments are wildcards, allowed only in permission patterns")]
    Wildcard,
}

/// The longest subject accepted; keys longer than this are not useful as subjects.
pub const SUBJECT_BYTES_MAX: usize = 1024;

impl Subject {
    /// Whether both are clones of one parsed subject (then they are equal).
    pub fn shares_text_with(&self, other: &Subject) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }

    /// Parses `/topic` or `/topic/key...`.
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.len() > SUBJECT_BYTES_MAX {
            return Err(SubjectError::TooLong(SUBJECT_BYTES_MAX));
        }
        let rest = text.strip_prefix('/').ok_or(SubjectError::NotAbsolute)?;
        let topic_len = rest.find('/').unwrap_or(rest.len());
        let topic = &rest[..topic_len];
        if topic.is_empty() {
            return Err(SubjectError::EmptyTopic);
        }
        if !is_valid_topic(topic) {
            return Err(SubjectError::InvalidTopic);
        }
        if topic_len < rest.len() {
            let key = &rest[topic_len + 1..];
            if key.split('/').any(str::is_empty) {
                return Err(SubjectError::EmptySegment);
            }
            // A subject is never a pattern, so a permission pattern can never be
            // mistaken for the subject it names.
            if key.split('/').any(is_wildcard) {
                return Err(SubjectError::Wildcard);
            }
        }
        Ok(Subject {
            text: Arc::from(text),
            topic_end: 1 + topic_len,
        })
    }

    /// Builds the subject a Kafka record with this topic and key belongs to.
    /// Returns `None` when the key is not valid UTF-8 or would not parse back to itself.
    pub fn from_record(topic: &str, key: Option<&[u8]>) -> Option<Self> {
        let text = match key {
            None => format!("/{topic}"),
            Some(key) => format!("/{topic}/{}", std::str::from_utf8(key).ok()?),
        };
        let subject = Subject::parse(&text).ok()?;
        (subject.key() == key.map(|k| std::str::from_utf8(k).unwrap_or_default()))
            .then_some(subject)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The shared text, for frames that carry the subject.
    pub fn shared(&self) -> Arc<str> {
        self.text.clone()
    }

    pub fn topic(&self) -> &str {
        &self.text[1..self.topic_end]
    }

    /// The Kafka record key, `None` for `/topic` alone.
    pub fn key(&self) -> Option<&str> {
        (self.topic_end < self.text.len()).then(|| &self.text[self.topic_end + 1..])
    }
}

/// Whether a segment is one of the wildcards of permission patterns (`*`, `>`).
pub fn is_wildcard(segment: &str) -> bool {
    matches!(segment, "*" | ">")
}

/// Kafka's legal topic characters.
pub fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= TOPIC_LEN_MAX
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_and_key() {
        let s = Subject::parse("/vehicles/1/speed").unwrap();
        assert_eq!(s.topic(), "vehicles");
        assert_eq!(s.key(), Some("1/speed"));
        let s = Subject::parse("/vehicles").unwrap();
        assert_eq!(s.topic(), "vehicles");
        assert_eq!(s.key(), None);
    }

    #[test]
    fn refuses_bad_subjects() {
        assert_eq!(Subject::parse("vehicles/1"), Err(SubjectError::NotAbsolute));
        assert_eq!(Subject::parse("/"), Err(SubjectError::EmptyTopic));
        assert_eq!(Subject::parse("//x"), Err(SubjectError::EmptyTopic));
        assert_eq!(Subject::parse("/a b/x"), Err(SubjectError::InvalidTopic));
        assert_eq!(Subject::parse("/t/"), Err(SubjectError::EmptySegment));
        assert_eq!(Subject::parse("/t/a//b"), Err(SubjectError::EmptySegment));
        let long = format!("/{}", "t".repeat(250));
        assert_eq!(Subject::parse(&long), Err(SubjectError::InvalidTopic));
        assert_eq!(Subject::parse("/t/*"), Err(SubjectError::Wildcard));
        assert_eq!(Subject::parse("/t/a/>"), Err(SubjectError::Wildcard));
        assert!(Subject::parse("/t/a*/>b").is_ok());
        let ok = format!("/{}", "t".repeat(249));
        assert!(Subject::parse(&ok).is_ok());
    }

    #[test]
    fn from_record_round_trips() {
        let s = Subject::from_record("t", Some(b"a/b")).unwrap();
        assert_eq!(s.as_str(), "/t/a/b");
        assert_eq!(Subject::from_record("t", None).unwrap().as_str(), "/t");
        assert!(Subject::from_record("t", Some(b"")).is_none());
        assert!(Subject::from_record("t", Some(b"a//b")).is_none());
        assert!(Subject::from_record("t", Some(&[0xff])).is_none());
    }
}
