//! `magnetar produce` and `magnetar consume`: small clients built on the
//! Rust `pulsar` crate, so they exercise the broker exactly as users do.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{producer, ConsumerOptions, Pulsar, SubType, TokioExecutor};

use crate::args::{ClientArgs, ConsumeArgs, ProduceArgs, SubscriptionKind};

/// A client of `client.url`, with its credentials and TLS trust.
pub async fn connect(client: &ClientArgs) -> Result<Pulsar<TokioExecutor>> {
    let builder = Pulsar::builder(&client.url, TokioExecutor).with_outbound_channel_size(10_000);
    client
        .auth
        .apply_to_pulsar_builder(builder)?
        .build()
        .await
        .with_context(|| format!("connect to {}", client.url))
}

pub async fn produce(args: ProduceArgs) -> Result<()> {
    let mut payloads: Vec<Vec<u8>> = args
        .messages
        .iter()
        .map(|m| m.clone().into_bytes())
        .collect();
    if let Some(path) = &args.file {
        payloads.push(std::fs::read(path).with_context(|| format!("read {}", path.display()))?);
    }
    let properties: HashMap<String, String> = args.properties.iter().cloned().collect();
    let client = connect(&args.client).await?;
    let mut producer = client
        .producer()
        .with_topic(&args.client.topic)
        .build()
        .await
        .with_context(|| format!("create producer on {}", args.client.topic))?;
    let mut pace = (args.rate > 0).then(|| {
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        ticks
    });
    let mut receipts = Vec::new();
    for _ in 0..args.count {
        for payload in &payloads {
            if let Some(ticks) = pace.as_mut() {
                ticks.tick().await;
            }
            let message = producer::Message {
                payload: payload.clone(),
                partition_key: args.key.clone(),
                properties: properties.clone(),
                ..Default::default()
            };
            receipts.push(producer.send_non_blocking(message).await.context("send")?);
        }
    }
    for receipt in receipts {
        let receipt = receipt.await.context("receive send receipt")?;
        if let Some(id) = receipt.message_id {
            println!("sent {}:{}", id.ledger_id, id.entry_id);
        }
    }
    Ok(())
}

pub async fn consume(args: ConsumeArgs) -> Result<()> {
    let client = connect(&args.client).await?;
    let sub_type = match args.kind {
        SubscriptionKind::Exclusive => SubType::Exclusive,
        SubscriptionKind::Shared => SubType::Shared,
        SubscriptionKind::Failover => SubType::Failover,
        SubscriptionKind::KeyShared => SubType::KeyShared,
    };
    let mut consumer: pulsar::Consumer<Vec<u8>, TokioExecutor> = client
        .consumer()
        .with_topic(&args.client.topic)
        .with_subscription(&args.subscription)
        .with_subscription_type(sub_type)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await
        .with_context(|| format!("subscribe to {}", args.client.topic))?;
    let mut received = 0u64;
    while let Some(message) = consumer.try_next().await.context("receive")? {
        let payload = String::from_utf8_lossy(&message.payload.data);
        if args.json {
            let metadata = &message.payload.metadata;
            let properties: serde_json::Map<String, serde_json::Value> = metadata
                .properties
                .iter()
                .map(|p| (p.key.clone(), p.value.clone().into()))
                .collect();
            let id = &message.message_id.id;
            println!(
                "{}",
                serde_json::json!({
                    "messageId": format!("{}:{}", id.ledger_id, id.entry_id),
                    "key": metadata.partition_key,
                    "properties": properties,
                    "publishTime": metadata.publish_time,
                    "payload": payload,
                })
            );
        } else {
            println!("{payload}");
        }
        consumer.ack(&message).await.context("ack")?;
        received += 1;
        if args.count > 0 && received >= args.count {
            break;
        }
    }
    Ok(())
}
