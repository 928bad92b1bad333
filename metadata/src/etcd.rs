//! [`EtcdStore`]: the [`MetadataStore`] on an etcd v3 cluster.
//!
//! Mapping of the contract onto etcd:
//! - a key's [`Version`] is its etcd `mod_revision`; CAS is a `Txn` comparing
//!   `mod_revision` (for `Expected::Version`) or `version == 0` (for
//!   `Expected::Absent`, i.e. the key has no live incarnation);
//! - sessions are leases: create = grant, keep-alive = one keep-alive round
//!   trip, revoke = revoke; an ephemeral put attaches the lease, and etcd's
//!   "lease not found" becomes [`MetadataError::SessionExpired`];
//! - lists are ranges over `[prefix, prefix_end)` with a limit, starting just
//!   after `start_after`;
//! - watches are etcd watches with `start_revision`, so they resume exactly;
//!   a compacted start revision becomes [`MetadataError::Compacted`].
//!
//! Every key is stored under the optional cluster prefix ([`KeyPrefix`]) so
//! clusters can share one etcd. Every unary call runs under [`EtcdOptions::operation_timeout`]:
//! an unreachable etcd yields [`MetadataError::Unavailable`] instead of a
//! hang. The etcd client reconnects by itself for later calls; a watch whose
//! connection breaks ends with an `Err` item and the caller resumes it.

mod watch;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp, WatchOptions,
};
use magnetar_proto::grpc_tls::GrpcClientTls;

use crate::error::MetadataError;
use crate::prefix::KeyPrefix;
use crate::store::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchStream, WatchTarget,
};
use crate::validate::{prefix_end, validate_key, validate_value, DEFAULT_MAX_VALUE_BYTES};

/// Tunables of an [`EtcdStore`].
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Upper bound on every unary call (and on connecting).
    pub operation_timeout: Duration,
    /// Largest value accepted by `put`.
    pub max_value_bytes: usize,
    /// Speak TLS to etcd (`https://` endpoints) with this trust and,
    /// for etcd's `--client-cert-auth`, this client certificate. `None`:
    /// plain text, unless an endpoint is given as `https://…`, which then
    /// fails for want of a trusted CA.
    pub tls: Option<GrpcClientTls>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            operation_timeout: Duration::from_secs(5),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            tls: None,
        }
    }
}

/// The etcd backend. Cheap to share behind an `Arc`; the underlying client
/// multiplexes all calls over one connection per endpoint.
pub struct EtcdStore {
    client: Client,
    prefix: KeyPrefix,
    options: EtcdOptions,
}

impl EtcdStore {
    /// Connects to `endpoints` (`host:port`). The connection is established
    /// lazily, so this succeeds while etcd is down; calls then report
    /// `Unavailable` until it is reachable.
    pub async fn connect(
        endpoints: &[String],
        prefix: Option<&str>,
        options: EtcdOptions,
    ) -> Result<Self> {
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let urls: Vec<String> = endpoints
            .iter()
            .map(|endpoint| {
                if endpoint.contains("://") {
                    endpoint.clone()
                } else {
                    format!("{scheme}://{endpoint}")
                }
            })
            .collect();
        let mut connect_options = ConnectOptions::new()
            .with_connect_timeout(options.operation_timeout)
            .with_timeout(options.operation_timeout)
            .with_keep_alive(Duration::from_secs(5), options.operation_timeout)
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &options.tls {
            connect_options = connect_options.with_tls(tls.client_config());
        }
        let client = with_timeout(
            options.operation_timeout,
            Client::connect(urls, Some(connect_options)),
        )
        .await?;
        let prefix = KeyPrefix::new(prefix);
        tracing::debug!(
            endpoints = ?endpoints,
            prefix = prefix.as_str(),
            tls = options.tls.is_some(),
            "connected to etcd"
        );
        Ok(EtcdStore {
            client,
            prefix,
            options,
        })
    }

    fn full_key(&self, key: &str) -> String {
        self.prefix.full(key)
    }

    async fn call<T>(
        &self,
        future: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        with_timeout(self.options.operation_timeout, future).await
    }

    /// Runs a transaction guarded by `compare`, returning the response
    /// header revision, or `BadVersion` when the guard failed.
    async fn guarded_txn(
        &self,
        key: &str,
        compare: Option<Compare>,
        then: TxnOp,
        session: Option<SessionId>,
    ) -> Result<Version> {
        let txn = match compare {
            Some(compare) => Txn::new().when([compare]).and_then([then]),
            None => Txn::new().and_then([then]),
        };
        let mut client = self.client.clone();
        let response =
            with_timeout_for_session(self.options.operation_timeout, session, client.txn(txn))
                .await?;
        if !response.succeeded() {
            return Err(MetadataError::BadVersion {
                key: key.to_string(),
            });
        }
        Ok(header_revision(response.header()))
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Version {
    header
        .map(|header| u64::try_from(header.revision()).unwrap_or(0))
        .unwrap_or(0)
}

fn compare_for(full_key: &str, expected: Expected) -> Option<Compare> {
    match expected {
        Expected::Any => None,
        Expected::Absent => Some(Compare::version(full_key, CompareOp::Equal, 0)),
        Expected::Version(version) => Some(Compare::mod_revision(
            full_key,
            CompareOp::Equal,
            i64::try_from(version).unwrap_or(i64::MAX),
        )),
    }
}

async fn with_timeout<T>(
    limit: Duration,
    future: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    with_timeout_for_session(limit, None, future).await
}

/// Bounds an etcd call by `limit` and maps its error. With `session` set, a
/// NotFound from etcd means the lease is gone.
async fn with_timeout_for_session<T>(
    limit: Duration,
    session: Option<SessionId>,
    future: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(map_error(error, session)),
        Err(_) => Err(MetadataError::Unavailable(format!(
            "etcd did not answer within {limit:?}"
        ))),
    }
}

/// Maps an etcd client error onto the store's error variants.
pub(crate) fn map_error(error: etcd_client::Error, session: Option<SessionId>) -> MetadataError {
    use tonic::Code;
    match error {
        etcd_client::Error::GRpcStatus(status) => match (status.code(), session) {
            (Code::NotFound, Some(session)) => MetadataError::SessionExpired(session),
            (Code::ResourceExhausted, _) => {
                MetadataError::QuotaExceeded(status.message().to_string())
            }
            (code, _) => {
                MetadataError::Unavailable(format!("etcd returned {code:?}: {}", status.message()))
            }
        },
        other => MetadataError::Unavailable(format!("etcd: {other}")),
    }
}

#[async_trait]
impl MetadataStore for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        let mut client = self.client.clone();
        let response = self.call(client.get(self.full_key(key), None)).await?;
        Ok(response.kvs().first().map(|kv| Versioned {
            value: Bytes::copy_from_slice(kv.value()),
            version: u64::try_from(kv.mod_revision()).unwrap_or(0),
        }))
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        validate_key(key)?;
        validate_value(value.len(), self.options.max_value_bytes)?;
        let full_key = self.full_key(key);
        let put_options = options
            .session
            .map(|lease| etcd_client::PutOptions::new().with_lease(lease));
        let then = TxnOp::put(full_key.as_str(), value.to_vec(), put_options);
        self.guarded_txn(
            key,
            compare_for(&full_key, options.expected),
            then,
            options.session,
        )
        .await
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        validate_key(key)?;
        let full_key = self.full_key(key);
        let then = TxnOp::delete(full_key.as_str(), None);
        self.guarded_txn(key, compare_for(&full_key, expected), then, None)
            .await
            .map(|_| ())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let limit = limit.max(1);
        let full_prefix = self.prefix.scan(prefix);
        let start = match start_after {
            Some(after) if self.full_key(after) >= full_prefix => {
                format!("{}\0", self.full_key(after))
            }
            _ => full_prefix.clone(),
        };
        let range_end = prefix_end(full_prefix.as_bytes()).unwrap_or_else(|| vec![0]);
        let options = GetOptions::new()
            .with_range(range_end)
            .with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        let mut client = self.client.clone();
        let response = self.call(client.get(start, Some(options))).await?;
        let entries = response
            .kvs()
            .iter()
            .map(|kv| {
                let key = self.prefix.strip(kv.key())?;
                let versioned = Versioned {
                    value: Bytes::copy_from_slice(kv.value()),
                    version: u64::try_from(kv.mod_revision()).unwrap_or(0),
                };
                Ok((key, versioned))
            })
            .collect::<Result<Vec<_>>>()?;
        let next_start_after = if response.more() {
            entries.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Ok(ListPage {
            entries,
            next_start_after,
        })
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        let (full_key, options) = match &target {
            WatchTarget::Key(key) => {
                validate_key(key)?;
                (self.full_key(key), WatchOptions::new())
            }
            WatchTarget::Prefix(prefix) => {
                (self.prefix.scan(prefix), WatchOptions::new().with_prefix())
            }
        };
        // Without a start revision, pin "after the call" to the revision read
        // now, so a write made right after `watch` returns is never missed.
        let start = match from_revision {
            Some(revision) => revision.max(1),
            None => self.current_revision().await? + 1,
        };
        let options = options.with_start_revision(i64::try_from(start).unwrap_or(i64::MAX));
        let mut client = self.client.clone();
        let stream = self.call(client.watch(full_key, Some(options))).await?;
        watch::into_event_stream(stream, self.prefix.clone(), self.options.operation_timeout).await
    }

    async fn current_revision(&self) -> Result<Version> {
        let mut client = self.client.clone();
        let response = self
            .call(client.get("/", Some(GetOptions::new().with_count_only())))
            .await?;
        Ok(header_revision(response.header()))
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        let ttl_secs = i64::try_from(ttl.as_millis().div_ceil(1000))
            .unwrap_or(i64::MAX)
            .max(1);
        let mut client = self.client.clone();
        let response = self.call(client.lease_grant(ttl_secs, None)).await?;
        tracing::debug!(session = response.id(), ttl_secs, "granted etcd lease");
        Ok(response.id())
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        let mut client = self.client.clone();
        let round_trip = async move {
            let (mut keeper, mut responses) = client.lease_keep_alive(session).await?;
            keeper.keep_alive().await?;
            responses.message().await
        };
        let answer =
            with_timeout_for_session(self.options.operation_timeout, Some(session), round_trip)
                .await;
        let answer = match answer {
            Ok(answer) => answer,
            // The client reports a keep-alive answered with ttl 0 (unknown lease)
            // and local stream failures alike; ask etcd directly which it was.
            Err(MetadataError::Unavailable(_)) if self.lease_is_gone(session).await => {
                return Err(MetadataError::SessionExpired(session))
            }
            Err(error) => return Err(error),
        };
        match answer {
            // etcd answers a keep-alive of an unknown lease with ttl 0.
            Some(response) if response.ttl() > 0 => Ok(()),
            Some(_) => Err(MetadataError::SessionExpired(session)),
            None => Err(MetadataError::Unavailable(
                "etcd closed the keep-alive stream".to_string(),
            )),
        }
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        let mut client = self.client.clone();
        with_timeout_for_session(
            self.options.operation_timeout,
            Some(session),
            client.lease_revoke(session),
        )
        .await?;
        Ok(())
    }
}

impl EtcdStore {
    /// Whether etcd says the lease no longer exists (TimeToLive answers ttl -1).
    async fn lease_is_gone(&self, session: SessionId) -> bool {
        let mut client = self.client.clone();
        let query = client.lease_time_to_live(session, None);
        match tokio::time::timeout(self.options.operation_timeout, query).await {
            Ok(Ok(response)) => response.ttl() <= 0,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_not_found_means_session_expired() {
        let status =
            etcd_client::Error::GRpcStatus(tonic::Status::not_found("requested lease not found"));
        assert_eq!(map_error(status, Some(7)), MetadataError::SessionExpired(7));
        let status = etcd_client::Error::GRpcStatus(tonic::Status::unavailable("no leader"));
        assert!(matches!(
            map_error(status, Some(7)),
            MetadataError::Unavailable(_)
        ));
    }
}
