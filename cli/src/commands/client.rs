//! `magnetar produce` and `magnetar consume`: small clients built on the
//! Rust `pulsar` crate, so they exercise the broker exactly as users do.

use anyhow::{Context, Result};
use futures::TryStreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{producer, ConsumerOptions, Pulsar, SubType, TokioExecutor};

use crate::args::{ConsumeArgs, ProduceArgs, SubscriptionKind};

pub async fn connect(url: &str) -> Result<Pulsar<TokioExecutor>> {
    Pulsar::builder(url, TokioExecutor)
        .with_outbound_channel_size(10_000)
        .build()
        .await
        .with_context(|| format!("connect to {url}"))
}

pub async fn produce(args: ProduceArgs) -> Result<()> {
    let client = connect(&args.client.url).await?;
    let mut producer = client
        .producer()
        .with_topic(&args.client.topic)
        .build()
        .await
        .with_context(|| format!("create producer on {}", args.client.topic))?;
    let mut receipts = Vec::new();
    for _ in 0..args.count {
        for text in &args.messages {
            let message = producer::Message {
                payload: text.clone().into_bytes(),
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
    let client = connect(&args.client.url).await?;
    let sub_type = match args.kind {
        SubscriptionKind::Exclusive => SubType::Exclusive,
        SubscriptionKind::Shared => SubType::Shared,
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
        println!("{}", String::from_utf8_lossy(&message.payload.data));
        consumer.ack(&message).await.context("ack")?;
        received += 1;
        if args.count > 0 && received >= args.count {
            break;
        }
    }
    Ok(())
}
