//! A produce stream on one topic whose every receipted message must come
//! back: the subscription that keeps every message is created before the
//! stream starts, and once the stream stops the whole subscription is
//! consumed and compared with the receipts (nothing lost, first
//! occurrences in order, no more duplicates than the client can resend).
//! Blocking: call it from async tests through [`crate::wait::blocking`].

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::stream::{consume_seqs, delivery, Delivery, SendError, StreamProducer};

/// The subscription that keeps every message of a [`TopicStream`].
pub const KEEP_ALL: &str = "keeps-everything";

/// A running `stream_producer.py` on a topic with a [`KEEP_ALL`]
/// subscription.
pub struct TopicStream {
    topic: String,
    max_pending: u32,
    stream: StreamProducer,
}

impl TopicStream {
    /// Creates the subscription through `url`, then starts producing to
    /// `topic` through `url` at `rate` msg/s.
    pub fn start(url: &str, topic: &str, rate: u32, max_pending: u32) -> Result<TopicStream> {
        let seen = consume_seqs(url, topic, KEEP_ALL, false, Some(0))
            .with_context(|| format!("subscribe to {topic}"))?;
        ensure!(seen.is_empty(), "{topic} already holds messages {seen:?}");
        let stream = StreamProducer::start(url, topic, rate, max_pending)?;
        Ok(TopicStream {
            topic: topic.to_string(),
            max_pending,
            stream,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Receipts so far.
    pub fn receipt_count(&self) -> usize {
        self.stream.receipts().len()
    }

    /// Failed sends so far.
    pub fn errors(&self) -> Vec<SendError> {
        self.stream.errors()
    }

    /// Waits up to `limit` until at least `count` receipts arrived; returns
    /// how long that took.
    pub fn wait_for_receipts(&self, count: usize, limit: Duration) -> Result<Duration> {
        self.stream
            .wait_until(limit, &format!("at {count} receipts"), |receipts, _| {
                receipts.len() >= count
            })
            .with_context(|| format!("stream on {}", self.topic))
    }

    /// Waits up to `limit` for `more` receipts beyond those so far.
    pub fn wait_for_more(&self, more: usize, limit: Duration) -> Result<Duration> {
        self.wait_for_receipts(self.receipt_count() + more, limit)
    }

    /// Stops the stream (it flushes first) and returns its JSON summary.
    pub fn stop(&mut self, limit: Duration) -> Result<Value> {
        self.stream
            .stop(limit)
            .with_context(|| format!("stop the stream on {}", self.topic))
    }

    /// Stops the stream, then fails when a send failed or when
    /// [`TopicStream::check_delivery`] through `url` fails.
    pub fn finish(&mut self, url: &str, limit: Duration) -> Result<Delivery> {
        let summary = self.stop(limit)?;
        tracing::info!(%summary, topic = %self.topic, "stream stopped");
        let errors = self.errors();
        let seen = self.check_delivery(url)?;
        ensure!(
            errors.is_empty(),
            "{}: {} sends failed, first {:?}; summary {summary}",
            self.topic,
            errors.len(),
            errors.first()
        );
        Ok(seen)
    }

    /// After [`TopicStream::stop`]: consumes the whole subscription through
    /// `url` and fails when a receipted message is missing, when first
    /// occurrences are out of order, or when there are more duplicates than
    /// the producer's pending limit.
    pub fn check_delivery(&self, url: &str) -> Result<Delivery> {
        let receipted = self.stream.receipts();
        ensure!(!receipted.is_empty(), "no receipt on {}", self.topic);
        let consumed = consume_seqs(url, &self.topic, KEEP_ALL, false, None)
            .with_context(|| format!("consume {}", self.topic))?;
        let seen = delivery(&consumed, &receipted);
        ensure!(
            seen.lost_count == 0,
            "{}: {} of {} receipted messages lost, first {:?}",
            self.topic,
            seen.lost_count,
            receipted.len(),
            seen.lost
        );
        ensure!(
            seen.first_occurrences_in_order,
            "{}: consumed out of order",
            self.topic
        );
        ensure!(
            seen.duplicates <= self.max_pending as usize,
            "{}: {} duplicates, more than the {} a producer can resend",
            self.topic,
            seen.duplicates,
            self.max_pending
        );
        Ok(seen)
    }
}
