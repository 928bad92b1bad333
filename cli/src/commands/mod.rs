//! One module per subcommand; [`run`] dispatches.

mod admin;
mod admin_http;
mod admin_output;
mod bookie;
mod broker;
mod broker_node;
mod client;
mod health;
mod metadata_node;
mod perf;
mod perf_bookie;
mod perf_disk;
mod perf_ledger;
mod perf_metadata;
mod perf_raw;
mod perf_raw_conn;
mod perf_raw_consume;
mod perf_report;
mod perf_timer;
mod proxy;
mod shutdown;
mod standalone;
mod tokens;
mod verify;

use anyhow::Result;

use crate::args::{BindArgs, Command, PerfClient, PerfCommand};

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Standalone(args) => standalone::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Tokens(command) => tokens::run(command),
        Command::Completions { shell } => {
            let mut cli = <crate::args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "magnetar", &mut std::io::stdout());
            Ok(())
        }
        Command::Broker(args) => broker::run(args).await,
        Command::Bookie(args) => bookie::run(args).await,
        Command::Metadata(args) => metadata_node::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Health(args) => health::run(args).await,
        Command::Produce(args) => client::produce(args).await,
        Command::Consume(args) => client::consume(args).await,
        Command::Perf(PerfCommand::Produce(args)) => {
            let bookies = args.bookie.clone();
            perf_bookie::reset_add_latency(&bookies).await?;
            match args.producer {
                PerfClient::Raw => perf_raw::produce(args).await?,
                PerfClient::Rust => perf::produce(args).await?,
            }
            perf_bookie::print_add_latency(&bookies).await
        }
        Command::Perf(PerfCommand::Consume(args)) => match args.consumer {
            PerfClient::Raw => perf_raw_consume::consume(args).await,
            PerfClient::Rust => perf::consume(args).await,
        },
        Command::Perf(PerfCommand::Disk(args)) => perf_disk::run(args),
        Command::Perf(PerfCommand::Ledger(args)) => perf_ledger::run(args).await,
        Command::Perf(PerfCommand::Metadata(args)) => perf_metadata::run(args).await,
    }
}

/// Parses a metadata URL and connects to the store it names, over TLS
/// when `tls` flags are given.
pub async fn metadata_connect(
    url: &str,
    tls: &crate::internal_tls_args::MetadataTlsArgs,
) -> Result<std::sync::Arc<dyn magnetar_metadata::MetadataStore>> {
    use anyhow::Context;
    let parsed = magnetar_metadata::url::MetadataUrl::parse(url)
        .with_context(|| format!("parse metadata URL {url:?}"))?;
    magnetar_metadata::url::connect_with_tls(&parsed, tls.load()?)
        .await
        .with_context(|| format!("connect to metadata store {url}"))
}

/// Binds a server's Pulsar and HTTP listeners, in that order.
/// The addresses a broker node announces in its ready line.
pub fn node_addresses(
    node: &magnetar_broker::node::BrokerNode,
) -> Vec<(&'static str, std::net::SocketAddr)> {
    let mut addresses = vec![("pulsar", node.pulsar_addr()), ("http", node.http_addr())];
    if let Some(addr) = node.pulsar_tls_addr() {
        addresses.push(("pulsar_tls", addr));
    }
    if let Some(addr) = node.https_addr() {
        addresses.push(("https", addr));
    }
    addresses
}

/// Binds one listener on `bind:port`; `what` names it in errors.
pub async fn bind_one(
    bind: std::net::IpAddr,
    port: u16,
    what: &str,
) -> Result<tokio::net::TcpListener> {
    use anyhow::Context;
    let addr = std::net::SocketAddr::new(bind, port);
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {what} port {addr}"))
}

pub async fn bind_listeners(
    ports: &BindArgs,
) -> Result<(tokio::net::TcpListener, tokio::net::TcpListener)> {
    use anyhow::Context;
    let pulsar_addr = std::net::SocketAddr::new(ports.bind, ports.pulsar_port);
    let http_addr = std::net::SocketAddr::new(ports.bind, ports.http_port);
    let pulsar = tokio::net::TcpListener::bind(pulsar_addr)
        .await
        .with_context(|| format!("bind Pulsar port {pulsar_addr}"))?;
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("bind HTTP port {http_addr}"))?;
    Ok((pulsar, http))
}
