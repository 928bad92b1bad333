//! The raw load generators' connection to a broker: TCP or TLS
//! (`pulsar+ssl://`, with the trust and client certificate of the client
//! flags), `CONNECT` with the client's credential, and `LOOKUP` that follows
//! redirects and proxies to the topic's owner and asks again while the
//! broker answers "not now".

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::{
    base_command, command_lookup_topic_response, BaseCommand, CommandConnect, CommandLookupTopic,
    CommandPong, ServerError,
};
use magnetar_proto::pulsar::{Frame, PulsarCodec};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

use crate::client_auth_args::ClientAuthArgs;

const PROTOCOL_VERSION: i32 = 19;

/// A byte stream to a broker: plain TCP or TLS.
pub(super) trait RawStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawStream for T {}

pub(super) type Connection = Framed<Box<dyn RawStream>, PulsarCodec>;

/// What a raw client presents: its credential for `CONNECT`, and its TLS
/// settings for `pulsar+ssl://` URLs.
pub(super) struct RawClient {
    auth: Option<(String, Vec<u8>)>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl RawClient {
    pub(super) fn from_args(args: &ClientAuthArgs) -> Result<Self> {
        Ok(RawClient {
            auth: args.authentication()?,
            tls: args.rustls_client_config()?,
        })
    }
}

/// How long a lookup keeps asking again when the broker says "not now"
/// (`ServiceNotReady`, `TooManyRequests`: a bundle being split, moved or
/// placed), as the official clients do within their operation timeout.
const LOOKUP_RETRY_FOR: Duration = Duration::from_secs(20);
const LOOKUP_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// CONNECT and LOOKUP, following redirects and proxies: a connection to
/// the broker that owns `topic`. Lookups refused for the moment are asked
/// again from the service URL, for up to [`LOOKUP_RETRY_FOR`].
pub(super) async fn connect_to_owner(
    url: &str,
    topic: &str,
    client: &RawClient,
) -> Result<Connection> {
    let deadline = tokio::time::Instant::now() + LOOKUP_RETRY_FOR;
    loop {
        match lookup_owner(url, topic, client).await? {
            Ok(connection) => return Ok(connection),
            Err(refusal) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%topic, %refusal, "lookup refused for now; asking again");
                tokio::time::sleep(LOOKUP_RETRY_PAUSE).await;
            }
            Err(refusal) => bail!(
                "lookup of {topic} still refused after {}s: {refusal}",
                LOOKUP_RETRY_FOR.as_secs()
            ),
        }
    }
}

/// One pass of [`connect_to_owner`]: the connection, or (inner `Err`) the
/// reason of a refusal worth asking again.
async fn lookup_owner(
    url: &str,
    topic: &str,
    client: &RawClient,
) -> Result<std::result::Result<Connection, String>> {
    let service = service_address(url)?;
    let tls = url.starts_with("pulsar+ssl://");
    let mut address = service.clone();
    // Set when a proxy answered the lookup: connect to it, naming the broker.
    let mut proxy_to: Option<String> = None;
    let mut authoritative = false;
    for _ in 0..5 {
        let mut connection = open(&address, proxy_to.as_deref(), tls, client).await?;
        let reply = request(
            &mut connection,
            CommandLookupTopic {
                topic: topic.to_string(),
                request_id: 1,
                authoritative: Some(authoritative),
                ..Default::default()
            }
            .into(),
        )
        .await?;
        let Some(lookup) = reply.lookup_topic_response.clone() else {
            bail!("unexpected reply to LOOKUP: {reply:?}");
        };
        let redirect =
            lookup.response == Some(command_lookup_topic_response::LookupType::Redirect as i32);
        if lookup.response == Some(command_lookup_topic_response::LookupType::Failed as i32) {
            let retryable = [ServerError::ServiceNotReady, ServerError::TooManyRequests]
                .map(|error| Some(error as i32));
            if retryable.contains(&lookup.error) {
                return Ok(Err(format!("{:?} {:?}", lookup.error, lookup.message)));
            }
            bail!(
                "lookup of {topic} failed: {:?} {:?}",
                lookup.error,
                lookup.message
            );
        }
        let target_url = if tls {
            lookup.broker_service_url_tls.as_deref()
        } else {
            lookup.broker_service_url.as_deref()
        };
        let target = target_url.map(service_address).transpose()?;
        if lookup.proxy_through_service_url.unwrap_or(false) && proxy_to.is_none() {
            // A proxy: the producer's connection goes through it to the owner.
            proxy_to = Some(target.ok_or_else(|| anyhow!("proxy lookup named no broker"))?);
            address = service.clone();
            continue;
        }
        match target {
            Some(target) if proxy_to.is_none() && (target != address || redirect) => {
                address = target;
                // A redirect says whether the next broker must take the
                // bundle without asking the leader again.
                authoritative = redirect && lookup.authoritative.unwrap_or(false);
                continue;
            }
            _ => {}
        }
        return Ok(Ok(connection));
    }
    bail!("too many lookup redirects for {topic}")
}

/// Connects and shakes hands; `proxy_to` names the broker a proxy at
/// `address` should relay the connection to.
async fn open(
    address: &str,
    proxy_to: Option<&str>,
    tls: bool,
    client: &RawClient,
) -> Result<Connection> {
    let tcp = TcpStream::connect(address)
        .await
        .with_context(|| format!("connect to {address}"))?;
    tcp.set_nodelay(true).context("set TCP_NODELAY")?;
    let stream: Box<dyn RawStream> = if tls {
        let config = client.tls.clone().ok_or_else(|| {
            anyhow!("a pulsar+ssl:// URL needs --tls-trust-certs-file for the raw client")
        })?;
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .with_context(|| format!("{host} is not a TLS server name"))?;
        let stream = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {address}"))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let auth = client.auth.as_ref();
    let mut connection = Framed::new(stream, PulsarCodec::default());
    let reply = request(
        &mut connection,
        CommandConnect {
            client_version: "magnetar-perf".into(),
            protocol_version: Some(PROTOCOL_VERSION),
            proxy_to_broker_url: proxy_to.map(str::to_string),
            auth_method_name: auth.map(|(name, _)| name.clone()),
            auth_data: auth.map(|(_, data)| bytes::Bytes::from(data.clone())),
            ..Default::default()
        }
        .into(),
    )
    .await?;
    if reply.connected.is_none() {
        bail!("broker refused CONNECT: {reply:?}");
    }
    Ok(connection)
}

/// Sends a command and returns the first reply that is not a PING.
pub(super) async fn request(
    connection: &mut Connection,
    command: BaseCommand,
) -> Result<BaseCommand> {
    connection
        .send(Frame::Command(command))
        .await
        .context("send to broker")?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), connection.next())
            .await
            .context("broker did not answer within 30 s")?
            .ok_or_else(|| anyhow!("broker closed the connection"))?
            .context("read from broker")?;
        let reply = frame.command().clone();
        if reply.r#type == base_command::Type::Ping as i32 {
            connection
                .send(Frame::Command(CommandPong::default().into()))
                .await
                .context("answer ping")?;
            continue;
        }
        return Ok(reply);
    }
}

/// `pulsar://host:port` → `host:port`.
fn service_address(url: &str) -> Result<String> {
    magnetar_proto::pulsar::service_address(url)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("service URL {url:?} is not pulsar://host:port"))
}
