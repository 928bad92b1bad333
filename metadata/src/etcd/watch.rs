//! Turns an etcd watch into the store's [`WatchStream`].
//!
//! The first response must confirm the watch was created (or report that
//! its start revision was compacted) within the operation timeout; after
//! that the stream waits for events without a deadline. Any transport error,
//! cancellation or compaction ends the stream with one `Err` item, and the
//! caller resumes from the revision after the last event it received.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{EventType, WatchResponse};
use futures::StreamExt;

use super::map_error;
use crate::error::MetadataError;
use crate::prefix::KeyPrefix;
use crate::store::{Result, WatchEvent, WatchStream};

struct EventCursor {
    stream: etcd_client::WatchStream,
    prefix: KeyPrefix,
    buffered: VecDeque<Result<WatchEvent>>,
    finished: bool,
}

/// Waits for the watch to be created, then wraps it as a [`WatchStream`].
pub(super) async fn into_event_stream(
    mut stream: etcd_client::WatchStream,
    prefix: KeyPrefix,
    create_timeout: Duration,
) -> Result<WatchStream> {
    let first = match tokio::time::timeout(create_timeout, stream.message()).await {
        Ok(Ok(Some(response))) => response,
        Ok(Ok(None)) => {
            return Err(MetadataError::Unavailable(
                "etcd closed the watch stream".to_string(),
            ))
        }
        Ok(Err(error)) => return Err(map_error(error, None)),
        Err(_) => {
            return Err(MetadataError::Unavailable(format!(
                "etcd did not create the watch within {create_timeout:?}"
            )))
        }
    };
    let mut cursor = EventCursor {
        stream,
        prefix,
        buffered: VecDeque::new(),
        finished: false,
    };
    cursor.absorb(first);
    // A failure reported in the creation response is a failure to watch.
    if let Some(Err(error)) = cursor.buffered.front() {
        return Err(error.clone());
    }
    Ok(futures::stream::unfold(cursor, |mut cursor| async move {
        let item = cursor.next_item().await?;
        Some((item, cursor))
    })
    .boxed())
}

impl EventCursor {
    async fn next_item(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                return Some(item);
            }
            if self.finished {
                return None;
            }
            match self.stream.message().await {
                Ok(Some(response)) => self.absorb(response),
                Ok(None) => self.fail(MetadataError::Unavailable(
                    "etcd closed the watch stream".to_string(),
                )),
                Err(error) => self.fail(map_error(error, None)),
            }
        }
    }

    fn fail(&mut self, error: MetadataError) {
        self.buffered.push_back(Err(error));
        self.finished = true;
    }

    /// Queues the events of one response, or the error it reports.
    fn absorb(&mut self, response: WatchResponse) {
        if response.compact_revision() > 0 {
            let oldest = u64::try_from(response.compact_revision()).unwrap_or(0);
            return self.fail(MetadataError::Compacted(oldest));
        }
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let revision = u64::try_from(kv.mod_revision()).unwrap_or(0);
            let key = match self.prefix.strip(kv.key()) {
                Ok(key) => key,
                Err(error) => return self.fail(error),
            };
            let event = match event.event_type() {
                EventType::Put => WatchEvent::Put {
                    key,
                    value: Bytes::copy_from_slice(kv.value()),
                    version: revision,
                },
                EventType::Delete => WatchEvent::Delete { key, revision },
            };
            self.buffered.push_back(Ok(event));
        }
        if response.canceled() {
            let reason = response.cancel_reason().to_string();
            self.fail(MetadataError::Unavailable(format!(
                "etcd cancelled the watch: {reason}"
            )));
        }
    }
}
