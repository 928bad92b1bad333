//! deploy/ on this machine's Docker engine, end to end: the images built
//! from the binary under test, `compose up` with two brokers behind the
//! proxy, 10,000 messages from the host through the official Python client
//! while a bookie is stopped, a client inside the compose network, brokers
//! scaled from 2 to 3 without touching the bookies, a broker killed, a
//! broker cut off from the network and reconnected, the `geo` profile's
//! second cluster, the `secure` profile (TLS on every link, tokens and
//! authorization, from the host over `pulsar+ssl://` and HTTPS), and
//! `down -v`.
//!
//! One stack for the whole file: the steps run in order in one test.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use magnetar_tests::compose::{
    build_images, docker, image_size, make_secure_files, ComposeStack, TEST_IMAGE,
};
use magnetar_tests::http::{http_get, http_put};
use magnetar_tests::topic_stream::TopicStream;
use magnetar_tests::{produce_consume, run_python_json};
use serde_json::Value;

/// The runtime image's budget (the target is for release builds;
/// the test image holds the dev-profile binary the tests run, stripped).
const IMAGE_BUDGET: u64 = 60 * 1000 * 1000;
const UP_LIMIT: Duration = Duration::from_secs(240);
const STREAM_RATE: u32 = 1000;
const MAX_PENDING: u32 = 1000;

#[test]
fn compose_stack_serves_scales_and_survives_faults() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_test_writer()
        .try_init();
    let mut stack = ComposeStack::new("e2e").expect("compose project");
    if let Err(e) = scenario(&mut stack) {
        panic!("{e:#}\n--- logs ---\n{}", stack.logs());
    }
}

fn scenario(stack: &mut ComposeStack) -> Result<()> {
    // 1. Images.
    build_images()?;
    let size = image_size(TEST_IMAGE)?;
    tracing::info!(size, "magnetar image size");
    ensure!(
        size < IMAGE_BUDGET,
        "{TEST_IMAGE} is {size} bytes, over {IMAGE_BUDGET}"
    );

    // 2. Up, two brokers, healthy.
    stack.up(2, UP_LIMIT)?;
    ensure!(stack.containers("broker")?.len() == 2, "two brokers");
    let url = stack.pulsar_url();
    let admin = stack.http_addr();
    let health = http_get(&admin, "/health")?;
    ensure!(
        health.status == 200 && health.body.contains("2 brokers"),
        "proxy health: {health:?}"
    );

    // 3 and 4. 10,000 messages from the host; a bookie stops mid-stream.
    stopped_bookie_loses_nothing(stack, &url)?;

    // A client inside the compose network, through a broker and through the proxy.
    in_network_client(stack)?;

    // 5. 2 → 3 brokers; the bookies stay as they were; bundles reach the new one.
    scale_up_moves_bundles_to_the_new_broker(stack, &admin, &url)?;

    // 6. A broker killed under a stream.
    killed_broker_hands_over(stack, &admin, &url)?;

    // 7. A broker cut off from the network, then reconnected.
    partitioned_broker_stops_serving(stack, &admin, &url)?;

    // Back to two brokers: the bookies stay as they were, and every topic
    // of the scaled-down brokers is served again.
    scale_down_keeps_serving(stack, &admin, &url)?;

    // The geo profile: a second cluster beside the first, on its own ports.
    second_cluster_serves_on_its_own(stack)?;

    // The secure profile: TLS on every link, tokens and authorization.
    let secure_files = tempfile::Builder::new()
        .prefix("magnetar-secure-")
        .tempdir()
        .context("secure files directory")?;
    secured_cluster_round_trip(stack, secure_files.path())?;

    // 8. Down with volumes.
    stack.down()?;
    ensure!(
        stack.containers("broker")?.is_empty(),
        "containers left after down"
    );
    ensure!(
        stack.volumes()?.is_empty(),
        "volumes left after down -v: {:?}",
        stack.volumes()?
    );
    Ok(())
}

/// `deploy/make-secure-files.sh` as the docs give it, then the secured
/// cluster from the host: produce and consume over `pulsar+ssl://` with a
/// token, refused without one, and HTTPS admin (secure_round_trip.py).
fn secured_cluster_round_trip(stack: &mut ComposeStack, files: &std::path::Path) -> Result<()> {
    make_secure_files(files)?;
    stack.up_secure(files, UP_LIMIT)?;
    let ca = files.join("ca.pem");
    let token = files.join("admin.token");
    let args = [
        stack.secure_pulsar_url(),
        stack.secure_https_url(),
        ca.to_string_lossy().into_owned(),
        token.to_string_lossy().into_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python_json("secure_round_trip.py", &args, Duration::from_secs(120))?;
    ensure!(
        out["failures"].as_array().is_some_and(Vec::is_empty),
        "secure profile checks failed: {out}"
    );
    tracing::info!(checks = %out["checks"], "secure profile");
    Ok(())
}

fn stopped_bookie_loses_nothing(stack: &ComposeStack, url: &str) -> Result<()> {
    let mut stream = TopicStream::start(
        url,
        "persistent://public/default/compose-bookie",
        STREAM_RATE,
        MAX_PENDING,
    )?;
    stream.wait_for_receipts(3_000, Duration::from_secs(90))?;
    let bookie = stack.containers("bookie2")?.pop().context("bookie2 runs")?;
    docker(&["stop", "--time", "10", &bookie])?;
    tracing::info!("bookie2 stopped");
    stream.wait_for_receipts(10_000, Duration::from_secs(120))?;
    let delivery = stream.finish(url, Duration::from_secs(60))?;
    tracing::info!(
        consumed = delivery.times_consumed.len(),
        duplicates = delivery.duplicates,
        "stream across a stopped bookie"
    );
    docker(&["start", &bookie])?;
    stack.wait_healthy(UP_LIMIT)
}

fn in_network_client(stack: &ComposeStack) -> Result<()> {
    let network = stack.network();
    let topic = "persistent://public/default/compose-inside";
    let run = |args: &[&str]| -> Result<String> {
        let mut full = vec!["run", "--rm", "--network", &network, TEST_IMAGE];
        full.extend(args);
        docker(&full)
    };
    run(&[
        "produce",
        "--url",
        "pulsar://broker:6650",
        topic,
        "-m",
        "inside",
        "-n",
        "5",
    ])?;
    let consumed = run(&["consume", "--url", "pulsar://proxy:6650", topic, "-n", "5"])?;
    ensure!(
        consumed.matches("inside").count() == 5,
        "a client inside the network consumed {consumed:?}"
    );
    Ok(())
}

/// Broker id (`host:8080`) of a container's broker.
fn broker_id_of(container: &str) -> String {
    format!("{}:8080", &container[..12])
}

fn bundles_owned(admin: &str, broker_id: &str) -> Result<Vec<String>> {
    let path = format!("/admin/v2/brokers/standalone/{broker_id}/ownedNamespaces");
    let answer = http_get(admin, &path)?;
    ensure!(
        answer.status == 200,
        "GET {path}: {} {}",
        answer.status,
        answer.body
    );
    let owned: Value = serde_json::from_str(&answer.body)?;
    Ok(owned
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default())
}

fn started_at(container: &str) -> Result<String> {
    docker(&["inspect", "--format", "{{.State.StartedAt}}", container])
}

fn scale_up_moves_bundles_to_the_new_broker(
    stack: &ComposeStack,
    admin: &str,
    url: &str,
) -> Result<()> {
    let bookies_before = bookie_states(stack)?;
    let before = stack.containers("broker")?;
    stack.up(3, UP_LIMIT)?;
    let after = stack.containers("broker")?;
    ensure!(after.len() == 3, "three brokers after scaling: {after:?}");
    ensure!(
        before.iter().all(|b| after.contains(b)),
        "scaling replaced a broker"
    );
    ensure!(
        bookie_states(stack)? == bookies_before,
        "scaling brokers touched the bookies"
    );
    let new = after
        .iter()
        .find(|b| !before.contains(b))
        .context("a new broker")?;
    let new_id = broker_id_of(new);

    let namespace = "public/compose";
    let created = http_put(
        admin,
        &format!("/admin/v2/namespaces/{namespace}"),
        "{\"numBundles\":16}",
    )?;
    ensure!(
        created.status == 204,
        "create {namespace}: {} {}",
        created.status,
        created.body
    );
    let spread = run_python_json(
        "spread_topics.py",
        &[url, namespace, "24"],
        Duration::from_secs(180),
    )?;
    ensure!(
        spread["failures"].as_array().is_some_and(Vec::is_empty),
        "spread topics: {spread}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let owned = bundles_owned(admin, &new_id)?;
        if !owned.is_empty() {
            tracing::info!(broker = %new_id, bundles = owned.len(), "the new broker took bundles");
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the new broker {new_id} took no bundle of {namespace}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn scale_down_keeps_serving(stack: &ComposeStack, admin: &str, url: &str) -> Result<()> {
    let bookies_before = bookie_states(stack)?;
    stack.up(2, UP_LIMIT)?;
    let brokers = stack.containers("broker")?;
    ensure!(
        brokers.len() == 2,
        "two brokers after scaling down: {brokers:?}"
    );
    ensure!(
        bookie_states(stack)? == bookies_before,
        "scaling brokers down touched the bookies"
    );
    let health = http_get(admin, "/health")?;
    ensure!(
        health.status == 200 && health.body.contains("2 brokers"),
        "proxy health after scaling down: {health:?}"
    );
    produce_consume(
        url,
        "persistent://public/default/compose-after-scale-down",
        1_000,
    )?;
    let spread = run_python_json(
        "spread_topics.py",
        &[url, "public/compose", "24"],
        Duration::from_secs(180),
    )?;
    ensure!(
        spread["consumed"] == 24,
        "topics after scaling down: {spread}"
    );
    Ok(())
}

fn second_cluster_serves_on_its_own(stack: &ComposeStack) -> Result<()> {
    stack.up_geo(UP_LIMIT)?;
    let answer = http_get(&stack.east_http_addr(), "/admin/v2/brokers/east")?;
    ensure!(answer.status == 200, "east brokers: {answer:?}");
    let east: Vec<String> = serde_json::from_str(&answer.body)?;
    let west: Vec<String> = stack
        .containers("broker")?
        .iter()
        .map(|id| broker_id_of(id))
        .collect();
    ensure!(
        east.len() == 1 && !west.contains(&east[0]),
        "east lists {east:?}, the first cluster runs {west:?}"
    );
    produce_consume(
        &stack.east_pulsar_url(),
        "persistent://public/default/compose-east",
        1_000,
    )?;
    Ok(())
}

/// `(container, start time)` of every bookie.
fn bookie_states(stack: &ComposeStack) -> Result<Vec<(String, String)>> {
    let mut states = Vec::new();
    for service in ["bookie1", "bookie2", "bookie3"] {
        for id in stack.containers(service)? {
            states.push((id.clone(), started_at(&id)?));
        }
    }
    Ok(states)
}

/// Host name of the broker that owns `public/default/{topic}`, by an
/// HTTP lookup through the proxy (which follows the brokers' redirects).
fn owner_host(admin: &str, topic: &str) -> Result<String> {
    owner_host_of(admin, &format!("persistent/public/default/{topic}"))
}

/// As [`owner_host`], for `domain/tenant/namespace/topic`.
fn owner_host_of(admin: &str, path: &str) -> Result<String> {
    let answer = http_get(admin, &format!("/lookup/v2/topic/{path}"))?;
    ensure!(
        answer.status == 200,
        "lookup of {path}: {} {}",
        answer.status,
        answer.body
    );
    let found: Value = serde_json::from_str(&answer.body)?;
    let broker_url = found["brokerUrl"]
        .as_str()
        .with_context(|| format!("lookup answered {found}"))?;
    let host = broker_url
        .trim_start_matches("pulsar://")
        .split(':')
        .next()
        .unwrap_or_default();
    Ok(host.to_string())
}

/// A stream from the host through the proxy on `public/default/{topic}`,
/// once it flows: the stream, the owner's host name and its container.
fn stream_and_owner(
    stack: &ComposeStack,
    admin: &str,
    url: &str,
    topic: &str,
) -> Result<(TopicStream, String, String)> {
    let full = format!("persistent://public/default/{topic}");
    let stream = TopicStream::start(url, &full, STREAM_RATE, MAX_PENDING)?;
    stream.wait_for_receipts(1_000, Duration::from_secs(60))?;
    let owner = owner_host(admin, topic)?;
    let container = stack.container_of_host("broker", &owner)?;
    Ok((stream, owner, container))
}

fn killed_broker_hands_over(stack: &ComposeStack, admin: &str, url: &str) -> Result<()> {
    let topic = "compose-kill";
    let (mut stream, owner, container) = stream_and_owner(stack, admin, url, topic)?;
    docker(&["kill", &container])?;
    tracing::info!(%owner, "owner killed");
    stream.wait_for_more(3_000, Duration::from_secs(90))?;
    let now = owner_host(admin, topic)?;
    ensure!(
        now != owner,
        "{topic} is still owned by the killed broker {owner}"
    );
    stream.finish(url, Duration::from_secs(60))?;
    Ok(())
}

fn partitioned_broker_stops_serving(stack: &ComposeStack, admin: &str, url: &str) -> Result<()> {
    let topic = "compose-partition";
    let (mut stream, owner, container) = stream_and_owner(stack, admin, url, topic)?;
    let network = stack.network();
    docker(&["network", "disconnect", &network, &container])?;
    tracing::info!(%owner, "owner cut off");
    let deadline = Instant::now() + Duration::from_secs(60);
    let taken_by = loop {
        match owner_host(admin, topic) {
            Ok(now) if now != owner => break now,
            _ if Instant::now() >= deadline => {
                bail!("{topic} stayed with the cut-off broker {owner}")
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    stream.wait_for_more(2_000, Duration::from_secs(90))?;
    docker(&["network", "connect", &network, &container])?;
    tracing::info!(%owner, %taken_by, "owner reconnected");
    // Back on the network, the old owner answers lookups of the topic by
    // naming another broker: it never serves the bundle it lost.
    let old = format!("{}:8080", stack.ip_of(&container)?);
    let path = format!("/lookup/v2/topic/persistent/public/default/{topic}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match http_get(&old, &path) {
            Ok(answer) if answer.status == 200 || answer.status == 307 => {
                ensure!(
                    !answer.body.contains(&format!("pulsar://{owner}:"))
                        && !answer
                            .header("location")
                            .is_some_and(|l| l.contains(&owner)),
                    "the reconnected broker still serves {topic}: {answer:?}"
                );
                break;
            }
            _ if Instant::now() >= deadline => {
                bail!("the reconnected broker {old} never answered a lookup")
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    // New bundles go to the least-loaded broker, which the reconnected one
    // is (it owns nothing now): its writes must reach the bookies again.
    let namespace = "public/after-partition";
    let created = http_put(
        admin,
        &format!("/admin/v2/namespaces/{namespace}"),
        "{\"numBundles\":1}",
    )?;
    ensure!(created.status == 204, "create {namespace}: {created:?}");
    let topic_after = format!("persistent://{namespace}/written");
    produce_consume(url, &topic_after, 500)?;
    let placed_on = owner_host_of(admin, &format!("persistent/{namespace}/written"))?;
    tracing::info!(%placed_on, reconnected = %owner, "a new bundle after the partition");
    stream.stop(Duration::from_secs(60))?;
    let delivery = stream.check_delivery(url)?;
    tracing::info!(
        consumed = delivery.times_consumed.len(),
        duplicates = delivery.duplicates,
        failed_sends = stream.errors().len(),
        "stream across a partition"
    );
    Ok(())
}
