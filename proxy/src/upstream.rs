//! Protocol connections from the proxy to brokers, shared by every lookup
//! connection: one per broker address, multiplexed by request id.
//!
//! Contract of [`Upstream::call`]: the request gets an id of this
//! connection, and the answer comes back with that id, or an error if the
//! broker closes the connection or does not answer within the timeout.
//! The caller restores its own id. A broken connection is replaced on the
//! next [`UpstreamPool::get`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::base_command::Type;
use magnetar_proto::pulsar::api::{BaseCommand, CommandConnect, CommandPong};
use magnetar_proto::pulsar::commands::command_type;
use magnetar_proto::pulsar::{Frame, PulsarCodec, PROTOCOL_VERSION};
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

use magnetar_broker::security::credentials::ClientCredential;

use crate::commands::{response_id, set_request_id};
use crate::error::ProxyError;

/// What the proxy calls itself in `CONNECT`.
pub const CLIENT_VERSION: &str = concat!("magnetar-proxy ", env!("CARGO_PKG_VERSION"));

type Reply = oneshot::Sender<Result<BaseCommand, ProxyError>>;

/// One broker connection; cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    address: String,
    requests: mpsc::Sender<(BaseCommand, Reply)>,
    timeout: Duration,
}

/// How the proxy opens TCP connections to brokers.
#[derive(Debug, Clone, Copy)]
pub struct Dialer {
    pub connect_timeout: Duration,
    /// A broker that acknowledges nothing for this long (sent bytes, or
    /// keepalive probes on an idle connection) is taken for gone and the
    /// connection ends. Without it a broker cut off from the network
    /// would hold its clients for the kernel's ~15 minutes of
    /// retransmissions, and they would never look the topic up again.
    pub dead_after: Duration,
}

impl Dialer {
    pub async fn dial(&self, address: &str) -> Result<TcpStream, ProxyError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| timed_out(address, self.connect_timeout))?
            .map_err(|e| ProxyError::Connect {
                address: address.to_string(),
                reason: e.to_string(),
            })?;
        stream.set_nodelay(true)?;
        let socket = socket2::SockRef::from(&stream);
        socket.set_tcp_user_timeout(Some(self.dead_after))?;
        let probe = (self.dead_after / 6).max(Duration::from_secs(1));
        socket.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(probe * 3)
                .with_interval(probe)
                .with_retries(3),
        )?;
        Ok(stream)
    }
}

impl Upstream {
    /// Connects to `address` (`host:port`) and completes the handshake.
    pub async fn connect(
        address: &str,
        dialer: Dialer,
        timeout: Duration,
        credential: Option<&ClientCredential>,
    ) -> Result<Self, ProxyError> {
        let mut framed = Framed::new(dialer.dial(address).await?, PulsarCodec::default());
        let auth = credential.map(ClientCredential::connect_auth);
        let connect: BaseCommand = CommandConnect {
            client_version: CLIENT_VERSION.to_string(),
            protocol_version: Some(PROTOCOL_VERSION),
            auth_method_name: auth.as_ref().map(|(method, _)| method.clone()),
            auth_data: auth.map(|(_, data)| data.into()),
            ..Default::default()
        }
        .into();
        framed.send(Frame::Command(connect)).await?;
        let first = tokio::time::timeout(timeout, framed.next())
            .await
            .map_err(|_| timed_out(address, timeout))?;
        match first {
            Some(Ok(Frame::Command(reply))) if reply.connected.is_some() => {}
            Some(Ok(Frame::Command(reply))) if reply.error.is_some() => {
                let message = reply.error.map(|e| e.message).unwrap_or_default();
                return Err(ProxyError::Handshake {
                    address: address.to_string(),
                    message,
                });
            }
            Some(Ok(other)) => {
                return Err(ProxyError::Unexpected {
                    address: address.to_string(),
                    what: format!("{:?} in answer to CONNECT", command_type(other.command())),
                })
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ProxyError::UpstreamClosed(address.to_string())),
        }
        let (requests, receiver) = mpsc::channel(256);
        tokio::spawn(run(address.to_string(), framed, receiver));
        Ok(Upstream {
            address: address.to_string(),
            requests,
            timeout,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// Sends `request` (whose id is replaced) and waits for its answer.
    pub async fn call(&self, request: BaseCommand) -> Result<BaseCommand, ProxyError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((request, reply))
            .await
            .map_err(|_| ProxyError::UpstreamClosed(self.address.clone()))?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ProxyError::UpstreamClosed(self.address.clone())),
            Err(_) => Err(timed_out(&self.address, self.timeout)),
        }
    }
}

fn timed_out(address: &str, timeout: Duration) -> ProxyError {
    ProxyError::Timeout {
        address: address.to_string(),
        millis: timeout.as_millis() as u64,
    }
}

/// Owns one connection: sends requests under fresh ids, routes answers
/// back, answers the broker's pings. Ends when the broker closes or every
/// handle is dropped; either way every waiting caller gets an error.
async fn run(
    address: String,
    mut framed: Framed<TcpStream, PulsarCodec>,
    mut requests: mpsc::Receiver<(BaseCommand, Reply)>,
) {
    let mut pending: HashMap<u64, Reply> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((mut command, reply)) = request else { break };
                next_id += 1;
                if !set_request_id(&mut command, next_id) {
                    let _ = reply.send(Err(ProxyError::Unexpected {
                        address: address.clone(),
                        what: format!("{:?} is not a request the proxy forwards", command_type(&command)),
                    }));
                    continue;
                }
                pending.retain(|_, waiting| !waiting.is_closed());
                pending.insert(next_id, reply);
                if let Err(e) = framed.send(Frame::Command(command)).await {
                    tracing::debug!(%address, error = %e, "broker connection failed");
                    break;
                }
            }
            frame = framed.next() => {
                let command = match frame {
                    Some(Ok(frame)) => frame.into_command(),
                    Some(Err(e)) => {
                        tracing::debug!(%address, error = %e, "broker connection failed");
                        break;
                    }
                    None => break,
                };
                if command_type(&command) == Some(Type::Ping) {
                    if framed.send(Frame::Command(CommandPong {}.into())).await.is_err() {
                        break;
                    }
                    continue;
                }
                match response_id(&command).and_then(|id| pending.remove(&id)) {
                    Some(reply) => {
                        let _ = reply.send(Ok(command));
                    }
                    None => tracing::trace!(%address, kind = ?command_type(&command), "unsolicited frame from broker"),
                }
            }
        }
    }
    for (_, reply) in pending {
        let _ = reply.send(Err(ProxyError::UpstreamClosed(address.clone())));
    }
}

/// One [`Upstream`] per broker address, reopened when broken. Opening
/// takes no lock, so a broker that does not answer delays only the
/// lookups that need it; when two lookups open the same address at once,
/// the first connection stored is kept and the other is dropped.
pub struct UpstreamPool {
    connections: Mutex<HashMap<String, Upstream>>,
    dialer: Dialer,
    timeout: Duration,
    /// What the proxy presents in its own `CONNECT` (`None`: nothing).
    credential: Option<ClientCredential>,
}

impl UpstreamPool {
    /// `timeout` bounds each handshake and call; `credential` is what the
    /// proxy's own connections present to the brokers.
    pub fn new(
        dialer: Dialer,
        timeout: Duration,
        credential: Option<ClientCredential>,
    ) -> Arc<Self> {
        Arc::new(UpstreamPool {
            connections: Mutex::new(HashMap::new()),
            dialer,
            timeout,
            credential,
        })
    }

    pub async fn get(&self, address: &str) -> Result<Upstream, ProxyError> {
        if let Some(open) = self.live(address) {
            return Ok(open);
        }
        let opened =
            Upstream::connect(address, self.dialer, self.timeout, self.credential.as_ref()).await?;
        let mut connections = self.connections.lock();
        match connections.get(address) {
            Some(open) if !open.is_closed() => Ok(open.clone()),
            _ => {
                connections.insert(address.to_string(), opened.clone());
                Ok(opened)
            }
        }
    }

    fn live(&self, address: &str) -> Option<Upstream> {
        let mut connections = self.connections.lock();
        match connections.get(address) {
            Some(open) if !open.is_closed() => Some(open.clone()),
            Some(_) => {
                connections.remove(address);
                None
            }
            None => None,
        }
    }
}
