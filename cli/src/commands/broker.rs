//! `magnetar broker`: a stateless broker against external bookies and a
//! metadata store. Ledgers default to E=2, Qw=2, Qa=2.

use std::sync::Arc;

use anyhow::Result;
use magnetar_bookie::client::LedgerClient;

use super::broker_node::BookieTolerance;
use super::{broker_node, metadata_connect, shutdown};
use crate::args::BrokerArgs;
use crate::ready;

pub async fn run(args: BrokerArgs) -> Result<()> {
    let shutdown = shutdown::on_signal();
    let metadata = metadata_connect(&args.metadata, &args.metadata_tls).await?;
    let client_config = magnetar_bookie::client::ClientConfig {
        tls: args.bookie_tls.load()?,
        ..args.writes.client_config(args.listen.max_message_size)
    };
    let ledgers = Arc::new(LedgerClient::new(Arc::clone(&metadata), client_config));
    let node = broker_node::start(
        &args.listen,
        &args.cluster,
        args.quorum.resolve(2),
        BookieTolerance::from_args(args.wait_for_bookies_ms, &args.writes),
        args.cluster_args.cluster_config(),
        metadata,
        ledgers,
    )
    .await?;
    ready::announce("broker", &super::node_addresses(&node));
    shutdown.cancelled().await;
    node.shutdown().await;
    Ok(())
}
