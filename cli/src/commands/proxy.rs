//! `magnetar proxy`: the Pulsar-protocol proxy in front of a cluster's
//! brokers (see the `magnetar-proxy` crate).

use std::time::Duration;

use anyhow::{Context, Result};
use magnetar_proxy::{ProxyConfig, ProxyNode};

use super::{bind_listeners, metadata_connect, shutdown};
use crate::args::ProxyArgs;
use crate::ready;

pub async fn run(args: ProxyArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    let metadata = metadata_connect(&args.metadata, &args.metadata_tls).await?;
    let (pulsar, http) = bind_listeners(&args.ports).await?;
    let config = ProxyConfig {
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
        max_message_size: args.max_message_size,
        broker_client: args.broker_client.credential()?,
        ..ProxyConfig::default()
    };
    let node = ProxyNode::start(config, metadata, pulsar, http).context("start proxy")?;
    ready::announce(
        "proxy",
        &[("pulsar", node.pulsar_addr()), ("http", node.http_addr())],
    );
    shutdown.cancelled().await;
    node.shutdown().await;
    Ok(())
}
