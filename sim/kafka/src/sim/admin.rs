//! `AdminClient`, for creating topics (the Portal's compacted topic).

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use super::client::{Client, ClientContext, DefaultClientContext};
use super::config::{ClientConfig, FromClientConfig};
use super::error::{KafkaError, KafkaResult};
use super::types::RDKafkaErrorCode;
use super::util::Timeout;

pub type TopicResult = Result<String, (String, RDKafkaErrorCode)>;

#[derive(Debug, Clone, Copy)]
pub enum TopicReplication<'a> {
    Fixed(i32),
    Variable(&'a [&'a [i32]]),
}

/// A topic to create.
#[derive(Debug)]
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub num_partitions: i32,
    pub replication: TopicReplication<'a>,
    pub config: Vec<(&'a str, &'a str)>,
}

impl<'a> NewTopic<'a> {
    pub fn new(name: &'a str, num_partitions: i32, replication: TopicReplication<'a>) -> Self {
        NewTopic {
            name,
            num_partitions,
            replication,
            config: Vec::new(),
        }
    }

    pub fn set(mut self, key: &'a str, value: &'a str) -> Self {
        self.config.push((key, value));
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    request_timeout: Option<Duration>,
}

impl AdminOptions {
    pub fn new() -> AdminOptions {
        AdminOptions::default()
    }

    pub fn request_timeout<T: Into<Timeout>>(mut self, timeout: Option<T>) -> Self {
        self.request_timeout = match timeout.map(Into::into) {
            Some(Timeout::After(after)) => Some(after),
            _ => None,
        };
        self
    }
}

pub struct AdminClient<C: ClientContext = DefaultClientContext> {
    client: Client,
    context: PhantomData<C>,
}

impl<C: ClientContext> FromClientConfig for AdminClient<C> {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Ok(AdminClient {
            client: Client::new(config),
            context: PhantomData,
        })
    }
}

impl<C: ClientContext> AdminClient<C> {
    pub fn create_topics<'a, I>(
        &self,
        topics: I,
        _options: &AdminOptions,
    ) -> impl Future<Output = KafkaResult<Vec<TopicResult>>> + Send + 'static
    where
        I: IntoIterator<Item = &'a NewTopic<'a>>,
    {
        let answer = match &self.client.cluster {
            None => Err(KafkaError::AdminOp(RDKafkaErrorCode::AllBrokersDown)),
            Some(cluster) => Ok(topics
                .into_iter()
                .map(|topic| {
                    let partitions = u32::try_from(topic.num_partitions).unwrap_or(1);
                    cluster
                        .admin_create(&self.client.id, topic.name, partitions)
                        .map(|()| topic.name.to_owned())
                        .map_err(|code| (topic.name.to_owned(), code))
                })
                .collect()),
        };
        std::future::ready(answer)
    }
}
