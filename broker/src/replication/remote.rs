//! A replicator's producer in a remote cluster, over the Pulsar protocol:
//! connect, look the topic up (following redirects to its owner), check
//! that partition counts agree, create the producer, then send message
//! bodies and read receipts.
//!
//! Contract: [`RemoteProducer::send`] writes one `SEND` and returns at
//! once; [`RemoteProducer::next_event`] yields the remote's answers in the
//! order it sends them, and the remote answers one producer's sends in send
//! order. Any failure ends the connection: the caller drops it and opens a
//! new one, resending what was not confirmed.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::{
    BaseCommand, CommandConnect, CommandLookupTopic, CommandPartitionedTopicMetadata, CommandPong,
    CommandProducer, CommandSend,
};
use magnetar_proto::pulsar::commands::command_type;
use magnetar_proto::pulsar::{service_address, Frame, PayloadFrame, PulsarCodec, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::error::ReplicationError;
use crate::security::credentials::ClientCredential;

/// What the replicator calls itself in `CONNECT`.
const CLIENT_VERSION: &str = concat!("magnetar-replicator ", env!("CARGO_PKG_VERSION"));
/// Lookups that redirect more often than this fail.
const MAX_REDIRECTS: usize = 8;
/// The producer id on the replicator's own connection.
const PRODUCER_ID: u64 = 1;

/// How long the setup steps may take.
#[derive(Debug, Clone, Copy)]
pub struct RemoteTimeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for RemoteTimeouts {
    fn default() -> Self {
        RemoteTimeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// What the remote said about the replicator's sends.
#[derive(Debug)]
pub enum RemoteEvent {
    /// The send with this sequence id is stored (or was a duplicate).
    Receipt { sequence_id: u64 },
}

/// A producer on the topic in a remote cluster.
pub struct RemoteProducer {
    framed: Framed<TcpStream, PulsarCodec>,
    address: String,
}

impl RemoteProducer {
    /// Opens the producer `producer_name` on `topic` of the cluster whose
    /// brokers `service_url` names. `partitions`: the local partition count
    /// of the topic's partitioned topic, when `topic` is a partition, which
    /// the remote must match.
    pub async fn open(
        service_url: &str,
        credential: Option<&ClientCredential>,
        topic: &str,
        partitioned: Option<(&str, u32)>,
        producer_name: &str,
        timeouts: RemoteTimeouts,
    ) -> Result<Self, ReplicationError> {
        let mut url = service_url.to_string();
        let mut authoritative = false;
        for _ in 0..MAX_REDIRECTS {
            let mut remote = Self::connect(&url, credential, timeouts).await?;
            let answer = remote
                .request(
                    CommandLookupTopic {
                        topic: topic.to_string(),
                        request_id: 1,
                        authoritative: Some(authoritative),
                        ..Default::default()
                    }
                    .into(),
                    timeouts.request,
                )
                .await?;
            let Some(lookup) = answer.lookup_topic_response else {
                return Err(remote.unexpected("LOOKUP", &answer));
            };
            let target = lookup.broker_service_url.clone().unwrap_or_default();
            match LookupType::try_from(lookup.response.unwrap_or(0)) {
                Ok(LookupType::Connect)
                    if target.is_empty()
                        || target == url
                        || lookup.proxy_through_service_url == Some(true) =>
                {
                    if let Some((base, local)) = partitioned {
                        remote.check_partitions(base, local, timeouts).await?;
                    }
                    remote
                        .create_producer(topic, producer_name, timeouts)
                        .await?;
                    return Ok(remote);
                }
                Ok(LookupType::Connect) => {
                    url = target;
                    authoritative = true;
                }
                Ok(LookupType::Redirect) => {
                    url = target;
                    authoritative = lookup.authoritative.unwrap_or(false);
                }
                _ => {
                    return Err(ReplicationError::Refused {
                        step: "LOOKUP",
                        message: lookup.message.unwrap_or_else(|| "lookup failed".into()),
                    })
                }
            }
        }
        Err(ReplicationError::Refused {
            step: "LOOKUP",
            message: format!("more than {MAX_REDIRECTS} redirects for {topic}"),
        })
    }

    async fn connect(
        url: &str,
        credential: Option<&ClientCredential>,
        timeouts: RemoteTimeouts,
    ) -> Result<Self, ReplicationError> {
        let address = service_address(url)
            .ok_or_else(|| ReplicationError::BadServiceUrl(url.to_string()))?
            .to_string();
        let stream = tokio::time::timeout(timeouts.connect, TcpStream::connect(&address))
            .await
            .map_err(|_| ReplicationError::Connect {
                address: address.clone(),
                reason: format!("no connection within {:?}", timeouts.connect),
            })?
            .map_err(|e| ReplicationError::Connect {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        stream.set_nodelay(true)?;
        let mut remote = RemoteProducer {
            framed: Framed::new(stream, PulsarCodec::default()),
            address,
        };
        let auth = credential.map(ClientCredential::connect_auth);
        let answer = remote
            .request(
                CommandConnect {
                    client_version: CLIENT_VERSION.to_string(),
                    protocol_version: Some(PROTOCOL_VERSION),
                    auth_method_name: auth.as_ref().map(|(method, _)| method.clone()),
                    auth_data: auth.map(|(_, data)| data.into()),
                    ..Default::default()
                }
                .into(),
                timeouts.request,
            )
            .await?;
        if answer.connected.is_none() {
            return Err(remote.unexpected("CONNECT", &answer));
        }
        Ok(remote)
    }

    /// Refuses a remote partitioned topic whose partition count differs:
    /// its consumers would miss the partitions it lacks.
    async fn check_partitions(
        &mut self,
        base: &str,
        local: u32,
        timeouts: RemoteTimeouts,
    ) -> Result<(), ReplicationError> {
        let answer = self
            .request(
                CommandPartitionedTopicMetadata {
                    topic: base.to_string(),
                    request_id: 2,
                    metadata_auto_creation_enabled: Some(false),
                    ..Default::default()
                }
                .into(),
                timeouts.request,
            )
            .await?;
        let Some(metadata) = answer.partition_metadata_response else {
            return Err(self.unexpected("PARTITIONED_METADATA", &answer));
        };
        if metadata.error.is_some() {
            return Err(ReplicationError::Refused {
                step: "PARTITIONED_METADATA",
                message: metadata.message.unwrap_or_default(),
            });
        }
        let remote = metadata.partitions.unwrap_or(0);
        if remote != local {
            return Err(ReplicationError::PartitionsDiffer {
                topic: base.to_string(),
                local,
                remote,
            });
        }
        Ok(())
    }

    async fn create_producer(
        &mut self,
        topic: &str,
        producer_name: &str,
        timeouts: RemoteTimeouts,
    ) -> Result<(), ReplicationError> {
        let answer = self
            .request(
                CommandProducer {
                    topic: topic.to_string(),
                    producer_id: PRODUCER_ID,
                    request_id: 3,
                    producer_name: Some(producer_name.to_string()),
                    ..Default::default()
                }
                .into(),
                timeouts.request,
            )
            .await?;
        match answer.producer_success {
            Some(success) if success.producer_ready != Some(false) => Ok(()),
            _ => Err(self.unexpected("PRODUCER", &answer)),
        }
    }

    /// Sends one message body (`messages` messages when it is a batch).
    pub async fn send(
        &mut self,
        sequence_id: u64,
        messages: i32,
        body: Bytes,
    ) -> Result<(), ReplicationError> {
        let command = CommandSend {
            producer_id: PRODUCER_ID,
            sequence_id,
            num_messages: Some(messages),
            ..Default::default()
        };
        self.framed
            .feed(Frame::Payload(PayloadFrame::new(command.into(), body)))
            .await?;
        Ok(())
    }

    /// Writes out what [`send`](Self::send) buffered.
    pub async fn flush(&mut self) -> Result<(), ReplicationError> {
        self.framed.flush().await?;
        Ok(())
    }

    /// The next answer to a send. Pings are answered on the way; any
    /// refusal, or the remote closing the producer, is an error.
    pub async fn next_event(&mut self) -> Result<RemoteEvent, ReplicationError> {
        loop {
            let command = self.next_command().await?;
            match command_type(&command) {
                Some(Type::SendReceipt) => {
                    if let Some(receipt) = command.send_receipt {
                        return Ok(RemoteEvent::Receipt {
                            sequence_id: receipt.sequence_id,
                        });
                    }
                }
                Some(Type::Ping) => {
                    self.framed
                        .send(Frame::Command(CommandPong {}.into()))
                        .await?;
                }
                Some(Type::SendError) => {
                    let message = command.send_error.map(|e| e.message).unwrap_or_default();
                    return Err(ReplicationError::Refused {
                        step: "SEND",
                        message,
                    });
                }
                Some(Type::CloseProducer) => {
                    return Err(ReplicationError::Closed(self.address.clone()));
                }
                _ => {
                    tracing::debug!(address = %self.address, command = command.r#type, "ignoring a command from the remote cluster");
                }
            }
        }
    }

    /// Sends a request and waits for the answer (answering pings meanwhile).
    async fn request(
        &mut self,
        command: BaseCommand,
        timeout: Duration,
    ) -> Result<BaseCommand, ReplicationError> {
        self.framed.send(Frame::Command(command)).await?;
        let address = self.address.clone();
        tokio::time::timeout(timeout, async {
            loop {
                let answer = self.next_command().await?;
                if command_type(&answer) == Some(Type::Ping) {
                    self.framed
                        .send(Frame::Command(CommandPong {}.into()))
                        .await?;
                    continue;
                }
                return Ok(answer);
            }
        })
        .await
        .map_err(|_| ReplicationError::Timeout {
            address,
            after: timeout,
        })?
    }

    async fn next_command(&mut self) -> Result<BaseCommand, ReplicationError> {
        match self.framed.next().await {
            Some(Ok(frame)) => Ok(frame.into_command()),
            Some(Err(error)) => Err(error.into()),
            None => Err(ReplicationError::Closed(self.address.clone())),
        }
    }

    fn unexpected(&self, step: &'static str, answer: &BaseCommand) -> ReplicationError {
        match &answer.error {
            Some(error) => ReplicationError::Refused {
                step,
                message: error.message.clone(),
            },
            None => ReplicationError::Refused {
                step,
                message: format!("unexpected answer of type {}", answer.r#type),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use magnetar_proto::pulsar::api::CommandConnected;
    use tokio::net::TcpListener;

    use super::*;

    /// Accepts one connection, answers its CONNECT, and returns the CONNECT.
    async fn one_connect(listener: TcpListener) -> CommandConnect {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, PulsarCodec::default());
        let connect = framed
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_command()
            .connect
            .expect("the first command is CONNECT");
        let connected = CommandConnected {
            server_version: "test".into(),
            protocol_version: Some(PROTOCOL_VERSION),
            ..Default::default()
        };
        framed.send(Frame::Command(connected.into())).await.unwrap();
        *connect
    }

    #[tokio::test]
    async fn connect_presents_the_credential_and_nothing_without_one() {
        for credential in [
            Some(ClientCredential::Token("a.b.c".into())),
            Some(ClientCredential::Basic {
                user: "replicator".into(),
                password: "pw".into(),
            }),
            None,
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("pulsar://{}", listener.local_addr().unwrap());
            let server = tokio::spawn(one_connect(listener));
            RemoteProducer::connect(&url, credential.as_ref(), RemoteTimeouts::default())
                .await
                .unwrap();
            let connect = server.await.unwrap();
            let expected = credential.as_ref().map(ClientCredential::connect_auth);
            assert_eq!(
                connect
                    .auth_method_name
                    .clone()
                    .zip(connect.auth_data.clone().map(|data| data.to_vec())),
                expected,
                "{credential:?}"
            );
        }
    }
}
