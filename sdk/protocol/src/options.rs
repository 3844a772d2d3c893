//! Optional parts of a subscribe or a publish.

use sluice_core::protocol::Qos;

/// How to subscribe: core's request options. `history` (and `history_end`) are
/// asked only by the first subscribe (after a reconnect the client resumes from the last message seen
/// instead); `headers`, `conflate_ms` and `delta` are kept across reconnects, where a
/// conflated resume gives the latest missed message only.
pub use sluice_core::protocol::SubscribeOptions;

impl Kept {
    /// What a restore of a subscription made with `options` must ask again:
    /// everything but `history`.
    pub(crate) fn of(options: &SubscribeOptions) -> Kept {
        Kept {
            headers: options.headers,
            conflate_ms: options.conflate_ms,
            delta: options.delta,
        }
    }

    /// The options a restore asks with.
    pub(crate) fn options(self) -> SubscribeOptions {
        SubscribeOptions {
            delta: self.delta,
            history: None,
            headers: self.headers,
            conflate_ms: self.conflate_ms,
            history_end: false,
        }
    }
}

/// The options a subscription keeps across reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Kept {
    pub headers: bool,
    pub conflate_ms: Option<u32>,
    pub delta: bool,
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
