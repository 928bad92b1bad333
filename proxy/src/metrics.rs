//! The proxy's metrics, named as Pulsar's proxy names them so that its
//! dashboards work, in one `prometheus-client` registry.

use std::sync::LazyLock;

use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Client connections open now.
pub static ACTIVE_CONNECTIONS: LazyLock<Gauge> = LazyLock::new(Gauge::default);
/// Client connections accepted.
pub static NEW_CONNECTIONS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Lookups answered.
pub static LOOKUPS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Lookups that failed.
pub static LOOKUP_FAILURES: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Bytes copied through tunnels, both directions.
pub static BINARY_BYTES: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Admin requests forwarded to brokers.
pub static HTTP_REQUESTS: LazyLock<Counter> = LazyLock::new(Counter::default);

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut registry = Registry::default();
    registry.register(
        "pulsar_proxy_active_connections",
        "Client connections open now",
        ACTIVE_CONNECTIONS.clone(),
    );
    registry.register(
        "pulsar_proxy_new_connections",
        "Client connections accepted",
        NEW_CONNECTIONS.clone(),
    );
    registry.register(
        "pulsar_proxy_lookups",
        "Topic lookups answered",
        LOOKUPS.clone(),
    );
    registry.register(
        "pulsar_proxy_rejected_lookups",
        "Topic lookups that failed",
        LOOKUP_FAILURES.clone(),
    );
    registry.register(
        "pulsar_proxy_binary_bytes",
        "Bytes relayed between clients and brokers",
        BINARY_BYTES.clone(),
    );
    registry.register(
        "pulsar_proxy_http_requests",
        "Admin requests forwarded to brokers",
        HTTP_REQUESTS.clone(),
    );
    registry
});

/// Renders every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render() -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    text::encode(&mut out, &REGISTRY)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_pulsar_names() {
        LOOKUPS.inc();
        let text = render().unwrap();
        assert!(
            text.contains("# TYPE pulsar_proxy_active_connections gauge"),
            "{text}"
        );
        assert!(text.contains("pulsar_proxy_lookups_total"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
