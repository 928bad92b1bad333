//! `magnetar verify`: checks a running cluster's promises end to end.
//!
//! One run: create the namespace (deduplication as asked), subscribe
//! Exclusive, Failover, Shared and Key_Shared consumers to a new topic (and
//! a late Exclusive subscription that reads only after the producers
//! stopped, so that what was acknowledged must still be stored), let
//! paced producers send stamped messages ([`payload`]) for the set
//! duration, wait until every subscription has received every acknowledged
//! message (or the drain timeout passes), then judge the recorded history
//! ([`check`]) and print the verdict, optionally as a JSON report. The exit
//! status is non-zero on any violation. [`workload`] owns the clients.

mod check;
mod payload;
mod workload;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use hyper::Method;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;
use pulsar::{ConnectionRetryOptions, OperationRetryOptions, Pulsar, SubType, TokioExecutor};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::check::{History, SubscriptionLog, Verdict};
use self::workload::{ConsumerRun, Outcomes, ProducePlan, Progress, SharedLog, SubscriptionPlan};
use super::admin_http;
use crate::verify_args::VerifyArgs;

/// How long every consumer may take to subscribe before the run starts.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the drain checks whether every subscription is complete.
const DRAIN_POLL: Duration = Duration::from_millis(500);
/// How long the drain waits with no delivery before it asks the broker
/// whether any subscription still has a backlog.
const DRAIN_QUIET: Duration = Duration::from_secs(5);
/// How long consumers may take to close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The JSON report: the run's settings and the verdict.
#[derive(Serialize)]
struct Report<'a> {
    run: u64,
    topic: &'a str,
    url: &'a str,
    dedup: bool,
    duration_secs: u64,
    rate: u64,
    producers: u32,
    consumers: u32,
    /// The longest time without any receipt while the producers ran, in
    /// milliseconds: how long the cluster was unavailable to producers.
    longest_unavailability_ms: u64,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

pub async fn run(args: VerifyArgs) -> Result<()> {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default();
    let namespace = args.namespace.trim_matches('/').to_string();
    let topic = format!(
        "persistent://{namespace}/{}",
        args.topic
            .clone()
            .unwrap_or_else(|| format!("verify-{run}"))
    );
    let access = admin_http::AdminAccess::from_args(&args.auth)?;
    prepare_namespace(&args.admin_url, &access, &namespace, args.dedup).await?;
    let client = connect(&args).await?;

    let progress = Arc::new(Progress::default());
    let bar = progress_bar(args.quiet);
    let stop = CancellationToken::new();
    let plans = subscription_plans(args.consumers);
    let logs: Vec<SharedLog> = plans
        .iter()
        .map(|plan| {
            Arc::new(Mutex::new(SubscriptionLog {
                name: plan.name.clone(),
                order: plan.order(),
                deliveries: Vec::new(),
            }))
        })
        .collect();
    bar.set_message(format!("subscribing to {topic}"));
    let mut consumers = JoinSet::new();
    let (subscribed_tx, mut subscribed_rx) = mpsc::channel(64);
    let (producers_done, producers_done_rx) = watch::channel(false);
    let mut expected = 0;
    for (plan, log) in plans.iter().zip(&logs) {
        for index in 0..plan.consumers {
            expected += 1;
            consumers.spawn(workload::consume(
                client.clone(),
                topic.clone(),
                plan.clone(),
                index,
                run,
                log.clone(),
                ConsumerRun {
                    progress: progress.clone(),
                    subscribed: subscribed_tx.clone(),
                    producers_done: producers_done_rx.clone(),
                    stop: stop.clone(),
                },
            ));
        }
    }
    drop(subscribed_tx);
    let all_subscribed = async {
        for _ in 0..expected {
            subscribed_rx.recv().await;
        }
    };
    if tokio::time::timeout(SUBSCRIBE_TIMEOUT, all_subscribed)
        .await
        .is_err()
    {
        stop.cancel();
        bail!("the consumers could not subscribe to {topic} within {SUBSCRIBE_TIMEOUT:?}");
    }

    let started = Instant::now();
    let duration = Duration::from_secs(args.duration_secs);
    let plan = ProducePlan {
        topic: topic.clone(),
        run,
        size: args.size as usize,
        keys: args.keys,
        rate: args.rate as f64 / f64::from(args.producers),
        until: started + duration,
    };
    let outcomes: Vec<Outcomes> = (0..args.producers).map(|_| Outcomes::default()).collect();
    let mut producers = JoinSet::new();
    for (index, outcomes) in outcomes.iter().enumerate() {
        producers.spawn(workload::produce(
            client.clone(),
            plan.clone(),
            index as u32,
            outcomes.clone(),
            progress.clone(),
        ));
    }
    let unavailability = Arc::new(Mutex::new(Unavailability::new(started)));
    let mut last_acked = 0;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    while !producers.is_empty() {
        tokio::select! {
            _ = producers.join_next() => {}
            _ = ticks.tick() => {
                let acked = progress.acked.load(Ordering::Relaxed);
                if acked != last_acked {
                    unavailability.lock().acked_at(Instant::now());
                    last_acked = acked;
                }
                let elapsed = started.elapsed().min(duration).as_secs();
                bar.set_message(format!("producing {elapsed}/{}s {}", duration.as_secs(), counters(&progress)));
            }
        }
    }
    let longest_unavailability = unavailability.lock().longest(started + duration);
    producers_done.send_replace(true);

    let history = |logs: &[SharedLog]| History {
        producers: outcomes.iter().map(|o| o.lock().clone()).collect(),
        subscriptions: logs.iter().map(|log| log.lock().clone()).collect(),
        dedup: args.dedup,
    };
    let drain_until = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
    let mut last_delivered = (progress.delivered.load(Ordering::Relaxed), Instant::now());
    loop {
        let verdict = check::check(&history(&logs));
        bar.set_message(format!(
            "draining: {} acked messages not yet delivered {}",
            verdict.totals.lost,
            counters(&progress)
        ));
        if verdict.totals.lost == 0 || Instant::now() >= drain_until {
            break;
        }
        let delivered = progress.delivered.load(Ordering::Relaxed);
        if delivered != last_delivered.0 {
            last_delivered = (delivered, Instant::now());
        } else if last_delivered.1.elapsed() >= DRAIN_QUIET
            && backlog_is_empty(&args.admin_url, &access, &topic).await
        {
            // Nothing arrives and the broker has nothing left to deliver:
            // what is missing now is missing for good.
            break;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    stop.cancel();
    if tokio::time::timeout(CLOSE_TIMEOUT, async {
        while consumers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("consumers did not close within {CLOSE_TIMEOUT:?}");
    }
    bar.finish_and_clear();

    let verdict = check::check(&history(&logs));
    print_verdict(&topic, &verdict, longest_unavailability);
    if let Some(path) = &args.report {
        let report = Report {
            run,
            topic: &topic,
            url: &args.url,
            dedup: args.dedup,
            duration_secs: args.duration_secs,
            rate: args.rate,
            producers: args.producers,
            consumers: args.consumers,
            longest_unavailability_ms: longest_unavailability.as_millis() as u64,
            verdict: &verdict,
        };
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("write {}", path.display()))?;
    }
    if verdict.acked == 0 {
        bail!("nothing was acknowledged: the run proves nothing");
    }
    if !verdict.passed {
        bail!("verification failed: {}", verdict.violations.join("; "));
    }
    Ok(())
}

/// The four subscription types, Exclusive with one consumer, and a late
/// Exclusive subscription that reads only after the producers stopped.
fn subscription_plans(consumers: u32) -> Vec<SubscriptionPlan> {
    [
        ("verify-exclusive", SubType::Exclusive, 1, false),
        ("verify-failover", SubType::Failover, consumers, false),
        ("verify-shared", SubType::Shared, consumers, false),
        ("verify-key-shared", SubType::KeyShared, consumers, false),
        ("verify-late", SubType::Exclusive, 1, true),
    ]
    .into_iter()
    .map(|(name, sub_type, consumers, late)| SubscriptionPlan {
        name: name.to_string(),
        sub_type,
        consumers,
        late,
    })
    .collect()
}

/// Creates the namespace when missing and sets its deduplication.
async fn prepare_namespace(
    admin_url: &str,
    access: &admin_http::AdminAccess,
    namespace: &str,
    dedup: bool,
) -> Result<()> {
    let path = format!("/admin/v2/namespaces/{namespace}");
    let created = admin_http::send_as(
        admin_url,
        access,
        &admin_http::with(Method::PUT, path.clone(), None),
    )
    .await
    .with_context(|| format!("create namespace {namespace} through {admin_url}"))?;
    if !created.status.is_success() && created.status.as_u16() != 409 {
        bail!(
            "create namespace {namespace}: {} {}",
            created.status,
            String::from_utf8_lossy(&created.body)
        );
    }
    let call = admin_http::with(
        Method::POST,
        format!("{path}/deduplication"),
        Some(serde_json::Value::Bool(dedup)),
    );
    let set = admin_http::send_as(admin_url, access, &call).await?;
    if !set.status.is_success() {
        bail!(
            "set deduplication of {namespace}: {} {}",
            set.status,
            String::from_utf8_lossy(&set.body)
        );
    }
    Ok(())
}

/// Whether the broker reports no backlog on any of the topic's
/// subscriptions (`false` when it cannot be asked).
async fn backlog_is_empty(admin_url: &str, access: &admin_http::AdminAccess, topic: &str) -> bool {
    let path = topic.replacen("persistent://", "/admin/v2/persistent/", 1) + "/stats";
    let call = admin_http::get(path);
    let Ok(answer) = admin_http::send_as(admin_url, access, &call).await else {
        return false;
    };
    let Some(stats) = answer.json().filter(|_| answer.status.is_success()) else {
        return false;
    };
    let Some(subscriptions) = stats["subscriptions"].as_object() else {
        return false;
    };
    subscriptions
        .values()
        .all(|sub| sub["msgBacklog"].as_u64() == Some(0))
}

/// A client that keeps reconnecting through broker restarts, and whose
/// sends time out after `--send-timeout-secs`.
async fn connect(args: &VerifyArgs) -> Result<Pulsar<TokioExecutor>> {
    let builder = Pulsar::builder(&args.url, TokioExecutor)
        .with_connection_retry_options(ConnectionRetryOptions {
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            max_retries: u32::MAX,
            connection_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            ..Default::default()
        })
        .with_operation_retry_options(OperationRetryOptions {
            operation_timeout: Duration::from_secs(args.send_timeout_secs),
            retry_delay: Duration::from_millis(250),
            max_retries: None,
        })
        .with_outbound_channel_size(10_000);
    args.auth
        .apply_to_pulsar_builder(builder)?
        .build()
        .await
        .with_context(|| format!("connect to {}", args.url))
}

/// The longest stretch without a receipt while the producers ran.
struct Unavailability {
    last: Instant,
    longest: Duration,
}

impl Unavailability {
    fn new(started: Instant) -> Self {
        Unavailability {
            last: started,
            longest: Duration::ZERO,
        }
    }

    fn acked_at(&mut self, at: Instant) {
        self.longest = self.longest.max(at.saturating_duration_since(self.last));
        self.last = at;
    }

    /// The longest gap, counting the one from the last receipt to `end`.
    fn longest(&self, end: Instant) -> Duration {
        self.longest.max(end.saturating_duration_since(self.last))
    }
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn counters(progress: &Progress) -> String {
    format!(
        "· sent {} acked {} failed {} delivered {}",
        progress.sent.load(Ordering::Relaxed),
        progress.acked.load(Ordering::Relaxed),
        progress.failed.load(Ordering::Relaxed),
        progress.delivered.load(Ordering::Relaxed)
    )
}

fn print_verdict(topic: &str, verdict: &Verdict, unavailable: Duration) {
    println!(
        "verdict: {} ({topic})",
        if verdict.passed { "PASSED" } else { "FAILED" }
    );
    println!(
        "sent {}, acked {}, not acked {}; longest time without a receipt {} ms",
        verdict.sent,
        verdict.acked,
        verdict.failed,
        unavailable.as_millis()
    );
    println!(
        "{:<18} {:<12} {:>9} {:>6} {:>10} {:>11} {:>9} {:>15} {:>7} {:>7}",
        "SUBSCRIPTION",
        "ORDER",
        "DELIVERED",
        "LOST",
        "DUPLICATED",
        "REDELIVERED",
        "REORDERED",
        "UNACKED-PRESENT",
        "PHANTOM",
        "CORRUPT"
    );
    for sub in &verdict.subscriptions {
        let c = &sub.counts;
        let order = serde_json::to_value(sub.order)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "{:<18} {:<12} {:>9} {:>6} {:>10} {:>11} {:>9} {:>15} {:>7} {:>7}",
            sub.name,
            order,
            c.delivered,
            c.lost,
            c.duplicated,
            c.redelivered,
            c.reordered,
            c.unacked_present,
            c.phantom,
            c.corrupt
        );
    }
    for violation in &verdict.violations {
        println!("violation: {violation}");
    }
}
