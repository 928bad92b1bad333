//! The commands a lookup connection answers: `LOOKUP`, which the proxy
//! resolves itself by following the brokers' redirects to the owner, and
//! partition metadata, topic lists and schema reads, which any broker
//! answers. `PING` gets `PONG`; anything else is refused with an error
//! that tells the client why, since a dropped command hangs a client.

use std::sync::Arc;

use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::{
    BaseCommand, CommandLookupTopic, CommandLookupTopicResponse, CommandPong, ServerError,
};
use magnetar_proto::pulsar::commands::{command_type, error};

use crate::commands::{any_request_id, request_id, set_response_id};
use crate::directory::BrokerDirectory;
use crate::error::{service_address, ProxyError};
use crate::metrics;
use crate::upstream::UpstreamPool;

/// What a lookup connection does with one command.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Reply(Box<BaseCommand>),
    /// Nothing to send (`PONG`).
    Nothing,
    /// The command cannot be answered (it has no request id and does not
    /// belong on a lookup connection): close the connection, as a broker
    /// closes one that breaks the protocol.
    Close(String),
}

pub struct LookupService {
    directory: Arc<BrokerDirectory>,
    pool: Arc<UpstreamPool>,
    max_redirects: usize,
}

/// Where a lookup ended.
enum Resolved {
    /// The owner's URL.
    Owner(String),
    /// The broker's own failure, passed on as it is.
    Failed(CommandLookupTopicResponse),
}

impl LookupService {
    pub fn new(
        directory: Arc<BrokerDirectory>,
        pool: Arc<UpstreamPool>,
        max_redirects: usize,
    ) -> Self {
        LookupService {
            directory,
            pool,
            max_redirects,
        }
    }

    pub fn directory(&self) -> &Arc<BrokerDirectory> {
        &self.directory
    }

    pub async fn answer(&self, command: BaseCommand) -> Answer {
        match command_type(&command) {
            Some(Type::Lookup) => match command.lookup_topic {
                Some(lookup) => Answer::Reply(Box::new(self.lookup(*lookup).await.into())),
                None => Answer::Close("LOOKUP without its body".into()),
            },
            Some(Type::PartitionedMetadata | Type::GetTopicsOfNamespace | Type::GetSchema) => {
                Answer::Reply(Box::new(self.forward(command).await))
            }
            Some(Type::Ping) => Answer::Reply(Box::new(CommandPong {}.into())),
            Some(Type::Pong) => Answer::Nothing,
            kind => match any_request_id(&command) {
                Some(id) => Answer::Reply(Box::new(error(
                    id,
                    ServerError::NotAllowedError,
                    format!(
                        "{} is not served on a proxy lookup connection: connect through the proxy with proxy_to_broker_url set to the broker the lookup named",
                        kind.map_or("an unknown command", |k| k.as_str_name())
                    ),
                ))),
                None => Answer::Close(format!(
                    "{} on a proxy lookup connection",
                    kind.map_or("an unknown command", |k| k.as_str_name())
                )),
            },
        }
    }

    /// Resolves the owner and answers `Connect` through the proxy.
    pub async fn lookup(&self, request: CommandLookupTopic) -> CommandLookupTopicResponse {
        let request_id = request.request_id;
        let topic = request.topic.clone();
        let resolved = self.resolve(request).await;
        metrics::LOOKUPS.inc();
        match resolved {
            Ok(Resolved::Owner(url)) => CommandLookupTopicResponse {
                broker_service_url: Some(url),
                response: Some(LookupType::Connect as i32),
                request_id,
                authoritative: Some(true),
                proxy_through_service_url: Some(true),
                ..Default::default()
            },
            Ok(Resolved::Failed(mut failed)) => {
                metrics::LOOKUP_FAILURES.inc();
                failed.request_id = request_id;
                failed
            }
            Err(e) => {
                metrics::LOOKUP_FAILURES.inc();
                tracing::debug!(%topic, error = %e, "lookup through the proxy failed");
                CommandLookupTopicResponse {
                    response: Some(LookupType::Failed as i32),
                    request_id,
                    error: Some(e.server_error() as i32),
                    message: Some(e.to_string()),
                    ..Default::default()
                }
            }
        }
    }

    async fn resolve(&self, request: CommandLookupTopic) -> Result<Resolved, ProxyError> {
        let first = self.directory.pick().await?;
        let mut address = service_address(&first.service_url)?;
        let mut authoritative = request.authoritative.unwrap_or(false);
        for _ in 0..=self.max_redirects {
            let upstream = self.pool.get(&address).await?;
            let mut hop = request.clone();
            hop.authoritative = Some(authoritative);
            let reply = upstream.call(hop.into()).await?;
            if let Some(failure) = reply.error {
                return Ok(Resolved::Failed(CommandLookupTopicResponse {
                    response: Some(LookupType::Failed as i32),
                    error: Some(failure.error),
                    message: Some(failure.message),
                    ..Default::default()
                }));
            }
            let Some(answer) = reply.lookup_topic_response else {
                return Err(ProxyError::Unexpected {
                    address,
                    what: format!("{:?} in answer to LOOKUP", command_type(&reply)),
                });
            };
            let url = answer.broker_service_url.clone().unwrap_or_default();
            match LookupType::try_from(answer.response.unwrap_or(0)) {
                Ok(LookupType::Connect) => return Ok(Resolved::Owner(url)),
                Ok(LookupType::Redirect) => {
                    address = service_address(&url)?;
                    // Only registered brokers are ever contacted.
                    self.directory.by_service_address(&address).await?;
                    authoritative = answer.authoritative.unwrap_or(false);
                }
                _ => return Ok(Resolved::Failed(*answer)),
            }
        }
        Err(ProxyError::TooManyRedirects(request.topic))
    }

    /// Sends a request to any broker and returns its answer under the
    /// client's request id.
    async fn forward(&self, command: BaseCommand) -> BaseCommand {
        let client_id = request_id(&command).unwrap_or_default();
        let result = async {
            let broker = self.directory.pick().await?;
            let upstream = self
                .pool
                .get(&service_address(&broker.service_url)?)
                .await?;
            upstream.call(command).await
        }
        .await;
        match result {
            Ok(mut answer) => {
                set_response_id(&mut answer, client_id);
                answer
            }
            Err(e) => error(client_id, e.server_error(), e.to_string()),
        }
    }
}
