//! Optional parts of a subscribe or a publish.

use sluice_core::protocol::Qos;

/// How to subscribe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Ask for up to this many past messages (kind `History`) instead of the
    /// snapshot. Only the first subscribe uses it: after a reconnect the client
    /// resumes from the last message seen instead.
    pub history: Option<u32>,
    /// Deliver each message with its Kafka record's headers
    /// ([`sluice_core::protocol::Message::headers`]); kept across reconnects.
    pub headers: bool,
    /// At most one live message per this many milliseconds, the latest (at
    /// least 100, rounded up to a multiple of 100 by the gateway); kept across
    /// reconnects, where a resume gives the latest missed message only.
    pub conflate_ms: Option<u32>,
}

impl SubscribeOptions {
    /// What a restore must ask again: everything but `history`.
    pub(crate) fn kept(&self) -> Kept {
        Kept {
            headers: self.headers,
            conflate_ms: self.conflate_ms,
        }
    }
}

/// The options a subscription keeps across reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Kept {
    pub headers: bool,
    pub conflate_ms: Option<u32>,
}

/// How to publish. The default is a retained, standard-QoS message without a
/// reply subject or trace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Whether the message may become the subject's snapshot. Default: true.
    pub retained: bool,
    /// Carried to consumers in the Kafka record; the gateway does not act on it.
    pub qos: Qos,
    /// The subject a reply is expected on.
    pub reply_to: Option<String>,
    /// W3C trace context to carry into the Kafka record.
    pub traceparent: Option<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            retained: true,
            qos: Qos::Standard,
            reply_to: None,
            traceparent: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_is_retained_by_default_as_the_protocol_says() {
        assert!(PublishOptions::default().retained);
    }
}
