//! `ClientConfig`: the properties, and `create` for every client kind.

use std::collections::BTreeMap;

use super::error::KafkaResult;

/// librdkafka properties; the simulation reads `bootstrap.servers` (which
/// registered cluster to talk to), `client.id` (who it is, for network faults),
/// `auto.offset.reset`, `message.timeout.ms` and `socket.timeout.ms`.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    properties: BTreeMap<String, String>,
}

impl ClientConfig {
    pub fn new() -> ClientConfig {
        ClientConfig::default()
    }

    pub fn set<K, V>(&mut self, key: K, value: V) -> &mut ClientConfig
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.properties.insert(key.into(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    pub fn create<T: FromClientConfig>(&self) -> KafkaResult<T> {
        T::from_config(self)
    }

    /// A millisecond property, or `default`.
    pub(crate) fn millis(&self, key: &str, default: u64) -> u64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

/// Clients that can be made from a [`ClientConfig`].
pub trait FromClientConfig: Sized {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self>;
}
