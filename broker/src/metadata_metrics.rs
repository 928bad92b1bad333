//! The metadata store as the broker uses it, measured: [`MeteredStore`]
//! wraps the store and times each read, write, delete and list, exported
//! with Pulsar's names (so dashboards made for Pulsar show them):
//!
//! - `pulsar_metadata_store_ops_latency_ms`, a histogram with labels
//!   `name` (the store: `metadata-store`), `type` (`get`, `put`, `del`,
//!   `list`) and `status` (`success`, `fail`);
//! - `pulsar_metadata_store_put_bytes_total`, the bytes written.
//!
//! Watches and sessions pass through unmeasured.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use magnetar_metadata::{
    Expected, ListPage, MetadataStore, PutOptions, Result, SessionId, Version, Versioned,
    WatchStream, WatchTarget,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

type OpLabels = Vec<(&'static str, &'static str)>;

/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [f64; 12] = [
    1.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS_MS)
}

type LatencyFamily = Family<OpLabels, Histogram, fn() -> Histogram>;

static OPS_LATENCY: LazyLock<LatencyFamily> =
    LazyLock::new(|| Family::new_with_constructor(latency_histogram));
static PUT_BYTES: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Records one operation that started at `start`.
fn observe<T>(kind: &'static str, start: Instant, result: &Result<T>) {
    let status = if result.is_ok() { "success" } else { "fail" };
    OPS_LATENCY
        .get_or_create(&vec![
            ("name", "metadata-store"),
            ("type", kind),
            ("status", status),
        ])
        .observe(millis(start.elapsed()));
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// A metadata store whose operations are measured.
pub struct MeteredStore {
    inner: Arc<dyn MetadataStore>,
}

impl MeteredStore {
    pub fn wrap(inner: Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore> {
        Arc::new(MeteredStore { inner })
    }
}

#[async_trait]
impl MetadataStore for MeteredStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let start = Instant::now();
        let result = self.inner.get(key).await;
        observe("get", start, &result);
        result
    }

    async fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Version> {
        let start = Instant::now();
        let bytes = value.len() as u64;
        let result = self.inner.put(key, value, options).await;
        observe("put", start, &result);
        if result.is_ok() {
            PUT_BYTES.inc_by(bytes);
        }
        result
    }

    async fn delete(&self, key: &str, expected: Expected) -> Result<()> {
        let start = Instant::now();
        let result = self.inner.delete(key, expected).await;
        observe("del", start, &result);
        result
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let start = Instant::now();
        let result = self.inner.list(prefix, start_after, limit).await;
        observe("list", start, &result);
        result
    }

    async fn watch(
        &self,
        target: WatchTarget,
        from_revision: Option<Version>,
    ) -> Result<WatchStream> {
        self.inner.watch(target, from_revision).await
    }

    async fn current_revision(&self) -> Result<Version> {
        self.inner.current_revision().await
    }

    async fn create_session(&self, ttl: Duration) -> Result<SessionId> {
        self.inner.create_session(ttl).await
    }

    async fn keep_alive(&self, session: SessionId) -> Result<()> {
        self.inner.keep_alive(session).await
    }

    async fn revoke_session(&self, session: SessionId) -> Result<()> {
        self.inner.revoke_session(session).await
    }
}

/// The two series, for a scrape (`metrics::render_with`).
#[derive(Debug)]
pub struct MetadataStoreMetrics;

impl Collector for MetadataStoreMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::result::Result<(), std::fmt::Error> {
        let latency = encoder.encode_descriptor(
            "pulsar_metadata_store_ops_latency_ms",
            "Latency of metadata store operations, in milliseconds",
            None,
            OPS_LATENCY.metric_type(),
        )?;
        OPS_LATENCY.encode(latency)?;
        let put_bytes = encoder.encode_descriptor(
            "pulsar_metadata_store_put_bytes",
            "Bytes written to the metadata store",
            None,
            PUT_BYTES.metric_type(),
        )?;
        PUT_BYTES.encode(put_bytes)
    }
}

#[cfg(test)]
mod tests {
    use magnetar_metadata::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn operations_are_counted_by_type_and_outcome() {
        let store = MeteredStore::wrap(Arc::new(MemoryStore::new()));
        store
            .put("/k", Bytes::from_static(b"12345"), PutOptions::ANY)
            .await
            .unwrap();
        store.get("/k").await.unwrap();
        let refused = store.delete("/k", Expected::Version(Version::MAX)).await;
        assert!(refused.is_err());
        let text = crate::metrics::render_with(vec![Box::new(MetadataStoreMetrics)]).unwrap();
        for series in [
            r#"pulsar_metadata_store_ops_latency_ms_count{name="metadata-store",type="put",status="success"}"#,
            r#"pulsar_metadata_store_ops_latency_ms_count{name="metadata-store",type="get",status="success"}"#,
            r#"pulsar_metadata_store_ops_latency_ms_count{name="metadata-store",type="del",status="fail"}"#,
        ] {
            let count = text
                .lines()
                .find_map(|line| line.strip_prefix(series))
                .and_then(|rest| rest.trim().parse::<u64>().ok());
            assert!(
                count.is_some_and(|n| n >= 1),
                "{series} missing from:\n{text}"
            );
        }
        let bytes = text
            .lines()
            .find_map(|line| line.strip_prefix("pulsar_metadata_store_put_bytes_total "))
            .and_then(|rest| rest.trim().parse::<u64>().ok());
        assert!(bytes.is_some_and(|n| n >= 5), "{text}");
    }
}
