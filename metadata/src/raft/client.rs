//! [`RaftClientStore`]: a [`MetadataStore`] that talks to the nodes of a
//! metadata group over gRPC (the `raft://host:port,host:port,...` URLs).
//!
//! Any node serves any request (followers forward writes and fetch a read
//! index from the leader), so the client simply sticks to the node that
//! last answered and moves to the next one when a node is unavailable.
//! Errors other than `Unavailable` are the store's answer and are returned
//! as they are.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use magnetar_proto::metadata::metadata_node_client::MetadataNodeClient;
use magnetar_proto::metadata::{
    CreateSessionRequest, CurrentRevisionRequest, DeleteRequest, GetRequest, KeepAliveRequest,
    ListRequest, PutRequest, RevokeSessionRequest, WatchRequest,
};
use tonic::transport::Channel;

use crate::error::MetadataError;
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchStream, WatchTarget,
};

use super::convert::{event_from_proto, expected_to_proto, status_to_error};
use super::network::lazy_channel;
use super::node::DEFAULT_OPERATION_TIMEOUT;

/// Client-side deadline of one request: the server's own operation
/// deadline plus slack for the network.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(DEFAULT_OPERATION_TIMEOUT.as_secs() + 3);

/// A metadata store client over a list of nodes.
pub struct RaftClientStore {
    nodes: Vec<(String, MetadataNodeClient<Channel>)>,
    preferred: AtomicUsize,
}

impl RaftClientStore {
    /// A client for nodes at `addrs` (`host:port`). Connections are made
    /// lazily, so unreachable nodes are only skipped when used.
    pub fn connect(addrs: &[String]) -> Result<Self> {
        if addrs.is_empty() {
            return Err(MetadataError::InvalidUrl {
                url: String::new(),
                reason: "no metadata nodes given".into(),
            });
        }
        let mut nodes = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let channel = lazy_channel(addr).map_err(|e| MetadataError::InvalidUrl {
                url: addr.clone(),
                reason: format!("not a usable node address: {e}"),
            })?;
            let client = MetadataNodeClient::new(channel).max_decoding_message_size(usize::MAX);
            nodes.push((addr.clone(), client));
        }
        Ok(RaftClientStore {
            nodes,
            preferred: AtomicUsize::new(0),
        })
    }

    /// A client for `raft://host:port,host:port,...`.
    pub fn from_url(url: &str) -> Result<Self> {
        let invalid = |reason: &str| MetadataError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("raft://")
            .ok_or_else(|| invalid("expected raft://host:port,..."))?;
        let addrs: Vec<String> = rest
            .trim_end_matches('/')
            .split(',')
            .map(str::trim)
            .filter(|addr| !addr.is_empty())
            .map(str::to_string)
            .collect();
        if addrs.is_empty() {
            return Err(invalid("no node addresses"));
        }
        Self::connect(&addrs)
    }

    /// Runs `call` against the preferred node, then each other node in turn
    /// while they answer `Unavailable`.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(MetadataNodeClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last_error = MetadataError::Unavailable("no metadata node tried".into());
        for offset in 0..self.nodes.len() {
            let index = (start + offset) % self.nodes.len();
            let (addr, client) = &self.nodes[index];
            match call(client.clone()).await {
                Ok(value) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(status) => match status_to_error(status) {
                    MetadataError::Unavailable(reason) => {
                        tracing::debug!(node = %addr, %reason, "metadata node unavailable, trying the next");
                        last_error = MetadataError::Unavailable(format!("{addr}: {reason}"));
                    }
                    other => return Err(other),
                },
            }
        }
        Err(last_error)
    }
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(REQUEST_TIMEOUT);
    request
}

#[async_trait]
impl MetadataStore for RaftClientStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let response = self
            .call(|mut client| async move {
                client
                    .get(request(GetRequest {
                        key: key.to_string(),
                    }))
                    .await
            })
            .await?
            .into_inner();
        Ok(response.found.then_some(Versioned {
            value: response.value,
            version: response.version,
        }))
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        let message = PutRequest {
            key: key.to_string(),
            value,
            expected: Some(expected_to_proto(options.expected)),
            session: options.session.unwrap_or_default(),
            has_session: options.session.is_some(),
        };
        let response = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.put(request(message)).await }
            })
            .await?;
        Ok(response.into_inner().version)
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        let message = DeleteRequest {
            key: key.to_string(),
            expected: Some(expected_to_proto(expected)),
        };
        self.call(|mut client| {
            let message = message.clone();
            async move { client.delete(request(message)).await }
        })
        .await?;
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let message = ListRequest {
            prefix: prefix.to_string(),
            start_after: start_after.unwrap_or_default().to_string(),
            has_start_after: start_after.is_some(),
            limit: limit as u64,
        };
        let response = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.list(request(message)).await }
            })
            .await?
            .into_inner();
        let entries = response
            .entries
            .into_iter()
            .map(|entry| {
                (
                    entry.key,
                    Versioned {
                        value: entry.value,
                        version: entry.version,
                    },
                )
            })
            .collect();
        Ok(ListPage {
            entries,
            next_start_after: response.has_next.then_some(response.next_start_after),
        })
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        let message = match target {
            WatchTarget::Key(key) => WatchRequest {
                target: key,
                prefix: false,
                from_revision: 0,
            },
            WatchTarget::Prefix(prefix) => WatchRequest {
                target: prefix,
                prefix: true,
                from_revision: 0,
            },
        };
        let message = WatchRequest {
            from_revision: from_revision.unwrap_or(0),
            ..message
        };
        // No request timeout: a watch lives as long as the caller keeps it.
        let stream = self
            .call(|mut client| {
                let message = message.clone();
                async move { client.watch(tonic::Request::new(message)).await }
            })
            .await?
            .into_inner();
        let events = stream.map(|item| item.map(event_from_proto).map_err(status_to_error));
        Ok(events.boxed())
    }

    async fn current_revision(&self) -> Result<Version> {
        let response = self
            .call(|mut client| async move {
                client
                    .current_revision(request(CurrentRevisionRequest {}))
                    .await
            })
            .await?;
        Ok(response.into_inner().revision)
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let response = self
            .call(|mut client| async move {
                client
                    .create_session(request(CreateSessionRequest { ttl_ms }))
                    .await
            })
            .await?;
        Ok(response.into_inner().session)
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        self.call(|mut client| async move {
            client
                .keep_alive(request(KeepAliveRequest { session }))
                .await
        })
        .await?;
        Ok(())
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.call(|mut client| async move {
            client
                .revoke_session(request(RevokeSessionRequest { session }))
                .await
        })
        .await?;
        Ok(())
    }
}
