//! `magnetar proxy` in front of two broker processes (etcd, three
//! bookies): the official Python client, given only the proxy's address,
//! reaches topics owned by either broker and keeps producing while the
//! owner of its topic is killed; the admin API through the proxy follows
//! the brokers' redirects; the proxy tunnels only to registered brokers and
//! answers every command on a lookup connection.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar_proto::pulsar::api::command_lookup_topic_response::LookupType;
use magnetar_proto::pulsar::api::{
    BaseCommand, CommandConnect, CommandLookupTopic, CommandPing, CommandProducer, ServerError,
};
use magnetar_proto::pulsar::{Frame, PulsarCodec};
use magnetar_tests::cluster::SHORT_TIMINGS;
use magnetar_tests::http::{http_get, metric_value};
use magnetar_tests::topic_stream::TopicStream;
use magnetar_tests::wait::{blocking, run_scenario};
use magnetar_tests::{run_python_json, BrokerCluster, MagnetarProcess};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const NAMESPACE: &str = "public/proxied";

fn http_addr(process: &MagnetarProcess) -> String {
    process
        .http_url()
        .unwrap()
        .trim_start_matches("http://")
        .to_string()
}

#[test]
fn clients_reach_every_broker_through_the_proxy_and_survive_a_killed_owner() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(2, &SHORT_TIMINGS).await.unwrap();
        let proxy = cluster.start_proxy().expect("proxy starts");
        let url = proxy.pulsar_url().unwrap();
        let admin = http_addr(&proxy);

        let health = http_get(&admin, "/health").unwrap();
        assert!(
            health.status == 200 && health.body.contains("2 brokers"),
            "{health:?}"
        );

        // Topics over 8 bundles, every lookup through the proxy: both
        // brokers own some, and the client reached all of them.
        cluster.create_namespace(NAMESPACE, 8).unwrap();
        let spread = blocking(|| {
            run_python_json(
                "spread_topics.py",
                &[&url, NAMESPACE, "16"],
                Duration::from_secs(180),
            )
        })
        .unwrap();
        assert_eq!(spread["consumed"], 16, "{spread}");
        let owners: std::collections::BTreeSet<usize> = cluster
            .ownership(NAMESPACE)
            .unwrap()
            .into_values()
            .collect();
        assert_eq!(owners.len(), 2, "one broker owns every bundle: {owners:?}");

        // The admin API through the proxy: a lookup from any broker is
        // redirected to the owner's answer, which the proxy follows.
        for i in 0..16 {
            let topic = format!("persistent://{NAMESPACE}/spread-{i}");
            let owner = cluster.owner_of(&topic).unwrap();
            let answer = http_get(
                &admin,
                &format!("/lookup/v2/topic/persistent/{NAMESPACE}/spread-{i}"),
            )
            .unwrap();
            assert_eq!(answer.status, 200, "{answer:?}");
            assert!(
                answer.body.contains(&owner),
                "lookup of {topic} through the proxy: {} (owner {owner})",
                answer.body
            );
            let stats = http_get(
                &admin,
                &format!("/admin/v2/persistent/{NAMESPACE}/spread-{i}/stats"),
            )
            .unwrap();
            assert_eq!(
                stats.status, 200,
                "stats of {topic} through the proxy: {stats:?}"
            );
        }

        // A stream through the proxy goes on when its topic's owner dies.
        let topic = format!("persistent://{NAMESPACE}/failover");
        let mut stream = blocking(|| TopicStream::start(&url, &topic, 500, 1000)).unwrap();
        blocking(|| stream.wait_for_receipts(500, Duration::from_secs(60))).unwrap();
        let owner = cluster.owner_index(&topic).unwrap();
        cluster.kill9(owner).unwrap();
        blocking(|| stream.wait_for_more(1_500, Duration::from_secs(60))).unwrap();
        let delivery = blocking(|| stream.finish(&url, Duration::from_secs(60))).unwrap();
        tracing::info!(
            consumed = delivery.times_consumed.len(),
            duplicates = delivery.duplicates,
            "stream through the proxy across a killed owner"
        );
        assert_ne!(cluster.owner_index(&topic).unwrap(), owner);

        let metrics = http_get(&admin, "/metrics").unwrap().body;
        let lookups = metric_value(&metrics, "pulsar_proxy_lookups_total").unwrap_or(0.0);
        assert!(lookups >= 16.0, "{metrics}");
    });
}

async fn connect(
    addr: &str,
    proxy_to: Option<&str>,
) -> (Framed<TcpStream, PulsarCodec>, BaseCommand) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut framed = Framed::new(stream, PulsarCodec::default());
    let connect: BaseCommand = CommandConnect {
        client_version: "proxy-test".into(),
        protocol_version: Some(21),
        proxy_to_broker_url: proxy_to.map(str::to_string),
        ..Default::default()
    }
    .into();
    framed.send(Frame::Command(connect)).await.unwrap();
    let reply = next(&mut framed).await;
    (framed, reply)
}

async fn next(framed: &mut Framed<TcpStream, PulsarCodec>) -> BaseCommand {
    tokio::time::timeout(Duration::from_secs(30), framed.next())
        .await
        .expect("an answer within 30 s")
        .expect("the connection stays open")
        .unwrap()
        .into_command()
}

#[test]
fn the_proxy_tunnels_only_to_brokers_and_answers_every_command() {
    run_scenario(async {
        let mut cluster = BrokerCluster::start(1, &SHORT_TIMINGS).await.unwrap();
        let proxy = cluster.start_proxy().expect("proxy starts");
        let addr = proxy
            .pulsar_url()
            .unwrap()
            .trim_start_matches("pulsar://")
            .to_string();

        // A target that is not a registered broker: an error, then close.
        let (mut framed, reply) = connect(&addr, Some("pulsar://127.0.0.1:1")).await;
        let error = reply.error.expect("an error for an unknown target");
        assert_eq!(
            error.error,
            ServerError::NotAllowedError as i32,
            "{error:?}"
        );
        assert!(
            error.message.contains("not a registered broker"),
            "{error:?}"
        );
        assert!(framed.next().await.is_none(), "the connection closes");

        // A lookup connection: LOOKUP answered by the proxy, PING answered,
        // a PRODUCER refused with its request id.
        let (mut framed, reply) = connect(&addr, None).await;
        assert!(reply.connected.is_some(), "{reply:?}");
        let lookup: BaseCommand = CommandLookupTopic {
            topic: "persistent://public/default/proxied-lookup".into(),
            request_id: 41,
            ..Default::default()
        }
        .into();
        framed.send(Frame::Command(lookup)).await.unwrap();
        let answer = next(&mut framed)
            .await
            .lookup_topic_response
            .expect("a lookup answer");
        assert_eq!(answer.request_id, 41);
        assert_eq!(
            answer.response,
            Some(LookupType::Connect as i32),
            "{answer:?}"
        );
        assert_eq!(answer.proxy_through_service_url, Some(true));
        let broker = answer.broker_service_url.expect("the owner's URL");
        assert_eq!(broker, cluster.pulsar_url(0).unwrap());

        framed
            .send(Frame::Command(CommandPing {}.into()))
            .await
            .unwrap();
        assert!(next(&mut framed).await.pong.is_some());
        let producer: BaseCommand = CommandProducer {
            topic: "persistent://public/default/proxied-lookup".into(),
            producer_id: 1,
            request_id: 42,
            ..Default::default()
        }
        .into();
        framed.send(Frame::Command(producer)).await.unwrap();
        let refused = next(&mut framed).await.error.expect("PRODUCER is refused");
        assert_eq!(refused.request_id, 42);
        assert_eq!(refused.error, ServerError::NotAllowedError as i32);

        // The tunnel to the broker the lookup named: the broker's own CONNECTED.
        let (_framed, reply) = connect(&addr, Some(&broker)).await;
        let connected = reply.connected.expect("the broker's CONNECTED");
        assert!(
            !connected.server_version.starts_with("magnetar-proxy"),
            "{connected:?}"
        );
    });
}
