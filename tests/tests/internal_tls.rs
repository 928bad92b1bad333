//! A cluster whose internal links all run on TLS: etcd serves mutual TLS
//! only, three `magnetar bookie` processes serve gRPC over TLS and require a
//! client certificate, and a `magnetar broker` reaches both over TLS
//! (E=3, Qw=3, Qa=2).
//!
//! 1. The official Python client produces and consumes through the broker,
//!    so every entry went broker → bookie over TLS.
//! 2. The links refuse what does not speak their TLS: a plain-text and a
//!    certificate-less client of the bookies, and a plain-text and a
//!    certificate-less client of etcd, all fail, while a client with the
//!    cluster's certificate succeeds.

use std::time::Duration;

use magnetar_bookie::client::grpc::GrpcConnector;
use magnetar_bookie::client::transport::BookieConnector;
use magnetar_bookie::client::ClientConfig;
use magnetar_metadata::{EtcdOptions, EtcdStore, MetadataStore};
use magnetar_proto::grpc_tls::GrpcClientTls;
use magnetar_tests::internal_tls::InternalTls;
use magnetar_tests::wait::{blocking, run_scenario};
use magnetar_tests::{BookieCluster, BrokerCluster};

/// Bound on each refused call, so a refusal cannot hang the test.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn brokers_bookies_and_etcd_all_on_tls_pass_the_round_trip() {
    run_scenario(async {
        let tls = InternalTls::new().expect("certificates");
        let bookies = BookieCluster::start_tls(3, &tls)
            .await
            .expect("etcd and 3 bookies on TLS");
        let broker_args = tls.broker_args();
        let broker_args: Vec<&str> = broker_args.iter().map(String::as_str).collect();
        let cluster = BrokerCluster::with_bookies(bookies, 1, &broker_args)
            .await
            .expect("a broker on TLS links");

        let url = cluster.pulsar_url(0).expect("pulsar url");
        let out = blocking(|| {
            magnetar_tests::produce_consume(&url, "persistent://public/default/over-tls", 200)
        })
        .unwrap_or_else(|error| panic!("{error:#}"));
        assert_eq!(out["consumed"].as_u64(), Some(200), "{out}");

        bookies_refuse_plain_and_anonymous_clients(&cluster, &tls).await;
        etcd_refuses_plain_and_anonymous_clients(&cluster, &tls).await;
    });
}

async fn bookies_refuse_plain_and_anonymous_clients(cluster: &BrokerCluster, tls: &InternalTls) {
    let bookie_id = cluster.bookies().ids()[0].clone();
    let read_lac = |config: ClientConfig| {
        let bookie = GrpcConnector::new(config).bookie(&bookie_id);
        async move { tokio::time::timeout(REFUSAL_TIMEOUT, bookie.read_lac(1)).await }
    };
    let fast = || ClientConfig {
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };

    let plain = read_lac(fast()).await;
    assert!(
        !matches!(plain, Ok(Ok(_))),
        "a plain-text client was answered by a TLS bookie"
    );
    let anonymous = GrpcClientTls::load(tls.ca_file(), None, None).expect("trust only");
    let no_certificate = read_lac(ClientConfig {
        tls: Some(anonymous),
        ..fast()
    })
    .await;
    assert!(
        !matches!(no_certificate, Ok(Ok(_))),
        "a client without a certificate was answered by a bookie that requires one"
    );
    let cluster_client = GrpcClientTls::load(
        tls.ca_file(),
        Some(&tls.etcd_files().client_cert),
        Some(&tls.etcd_files().client_key),
    )
    .expect("cluster client certificate");
    let answered = read_lac(ClientConfig {
        tls: Some(cluster_client),
        ..fast()
    })
    .await;
    assert!(
        matches!(answered, Ok(Ok(_))),
        "the cluster's client certificate was refused: {answered:?}"
    );
}

async fn etcd_refuses_plain_and_anonymous_clients(cluster: &BrokerCluster, tls: &InternalTls) {
    let etcd = cluster.bookies().etcd().expect("the cluster's own etcd");
    let options = |tls: Option<GrpcClientTls>| EtcdOptions {
        operation_timeout: REFUSAL_TIMEOUT,
        tls,
        ..EtcdOptions::default()
    };
    let read = |options: EtcdOptions| async move {
        let store = EtcdStore::connect(&etcd.endpoints(), None, options).await?;
        store.current_revision().await
    };

    assert!(
        read(options(None)).await.is_err(),
        "etcd answered a plain-text client"
    );
    let anonymous = GrpcClientTls::load(tls.ca_file(), None, None).expect("trust only");
    assert!(
        read(options(Some(anonymous))).await.is_err(),
        "etcd answered a client without a certificate"
    );
    let with_certificate = etcd.client_tls().expect("client TLS of the TLS etcd");
    let revision = read(options(Some(with_certificate))).await;
    assert!(
        revision.is_ok(),
        "etcd refused the cluster's certificate: {revision:?}"
    );
}
