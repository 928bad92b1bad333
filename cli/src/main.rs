//! The `magnetar` command: one binary for every role.
//!
//! `main` only parses arguments, applies the optional config file, sets up
//! tracing and hands over to a command in [`commands`]. Each server command
//! prints one readiness line on stdout (see [`ready`]) once it is serving.
//!
//! Modules import one way: [`allocator`] (the global allocator),
//! [`config_file`] and [`ready`] stand alone,
//! [`pulsar_config`] uses `config_file`,
//! [`args`] (the clap tree) uses `config_file` and the argument modules
//! ([`admin_args`], [`verify_args`], [`internal_tls_args`], [`memory_args`]), and
//! [`commands`] uses all of them.

mod admin_args;
mod allocator;
mod args;
mod client_auth_args;
mod commands;
mod config_file;
mod internal_tls_args;
mod memory_args;
mod pulsar_config;
mod ready;
mod security_args;
mod tokens_args;
mod verify_args;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // The config file only provides defaults: flags and env vars win.
    config_file::apply_from_args(std::env::args_os())?;
    let pulsar_config = pulsar_config::apply_from_args(std::env::args_os())?;
    let cli = args::Cli::parse();
    init_tracing(cli.log_format);
    allocator::configure();
    for key in &pulsar_config.ignored {
        tracing::warn!(%key, "ignoring a Pulsar setting that Magnetar does not take");
    }
    if !pulsar_config.applied.is_empty() {
        tracing::info!(
            keys = pulsar_config.applied.len(),
            "applied Pulsar settings"
        );
    }
    let mut runtime = if runs_on_one_thread(&cli.command) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = runtime.enable_all().thread_name("magnetar").build()?;
    runtime.block_on(commands::run(cli.command))
}

/// The load generators that drive one connection (the raw `perf produce`
/// producer) or one ledger (`perf ledger`) gain nothing from a second
/// runtime thread: on a small machine it would only compete for cores with
/// the servers they measure, and move wake-ups between threads.
fn runs_on_one_thread(command: &args::Command) -> bool {
    matches!(
        command,
        args::Command::Perf(args::PerfCommand::Produce(produce))
            if produce.producer == args::PerfClient::Raw
    ) || matches!(command, args::Command::Perf(args::PerfCommand::Ledger(_)))
}

fn init_tracing(format: args::LogFormat) {
    use tracing_subscriber::EnvFilter;
    const DEFAULT_LOG_FILTER: &str = "warn,magnetar=info,magnetar_proto=info,magnetar_metadata=info,magnetar_bookie=info,magnetar_broker=info,magnetar_proxy=info,pulsar=error";
    // Our crates at info, dependencies (openraft's state dumps among them)
    // at warn, the `pulsar` client crate (which warns on every normal
    // connect) at error; `RUST_LOG` replaces this.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        args::LogFormat::Text => builder.init(),
        args::LogFormat::Json => builder.json().init(),
    }
}
