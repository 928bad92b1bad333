//! One `AddEntries` stream on the bookie side: a reader that validates every
//! add of an incoming batch and journals the admitted ones as one request
//! (without waiting for earlier acks), and a responder that answers them in
//! the order they arrived.
//!
//! The journal makes records durable in the order they were queued, so
//! answering in arrival order costs no latency: the responder waits for the
//! oldest outstanding add, then collects every later answer that is already
//! known (the rest of its fsync group, refusals) into the same response
//! batch. One response message per fsync group instead of one per entry is
//! what keeps per-entry overhead low at high rates.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use magnetar_proto::bookie::{AddBatch, AddResponse, AddResponseBatch, StatusCode};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::bookie::Bookie;
use super::error::BookieError;

/// Answers (each covering one incoming batch) not yet sent, before the
/// reader waits.
const OUTSTANDING_BATCHES: usize = 1024;
/// Most answers carried by one response message.
const MAX_RESPONSES_PER_BATCH: usize = 1024;

/// The answers to one incoming batch, in the order its adds arrived.
type Answer = Pin<Box<dyn Future<Output = Vec<AddResponse>> + Send>>;

/// Serves one stream until the client closes it or it breaks. Response
/// batches go to `responses`.
pub async fn serve_add_stream(
    bookie: Arc<Bookie>,
    mut inbound: Streaming<AddBatch>,
    responses: mpsc::Sender<Result<AddResponseBatch, Status>>,
) {
    let (answers, queued_answers) = mpsc::channel::<Answer>(OUTSTANDING_BATCHES);
    let responder = tokio::spawn(respond_in_order(queued_answers, responses));
    loop {
        let batch = match inbound.message().await {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(code = ?status.code(), "add stream ended with an error");
                break;
            }
        };
        let answer = admit_batch(&bookie, batch).await;
        if answers.send(answer).await.is_err() {
            break;
        }
    }
    // Accepted adds are durable whether or not the client still listens; let
    // the responder finish answering them.
    drop(answers);
    let _ = responder.await;
}

/// Admits every add of `batch` (or refuses it), journals the admitted ones
/// as one request, and returns the future of the batch's answers.
async fn admit_batch(bookie: &Arc<Bookie>, batch: AddBatch) -> Answer {
    let received = Instant::now();
    if let Err(err) = bookie.wait_for_write_cache_room().await {
        tracing::debug!(adds = batch.adds.len(), error = %err, "add batch refused");
        let (status, message) = (err.status() as i32, err.to_string());
        let answers = batch
            .adds
            .iter()
            .map(|add| AddResponse {
                status,
                message: message.clone(),
                ..add_response(add.request_id, add.ledger_id, add.entry_id, Ok(()))
            })
            .collect();
        return Box::pin(std::future::ready(answers));
    }
    let mut records = Vec::with_capacity(batch.adds.len());
    // Each add's answer, and whether it waits for the journal (admitted) or
    // is already final (refused).
    let mut answers = Vec::with_capacity(batch.adds.len());
    for add in batch.adds {
        let (request_id, ledger_id, entry_id) = (add.request_id, add.ledger_id, add.entry_id);
        let admitted = bookie.admit_add(add, &mut records);
        let journaled = admitted.is_ok();
        answers.push((
            journaled,
            add_response(request_id, ledger_id, entry_id, admitted),
        ));
    }
    let journal_request = if records.is_empty() {
        None
    } else {
        Some(bookie.journal_records(records, received).await)
    };
    Box::pin(async move {
        let outcome = match journal_request {
            Some(Ok(adds)) => adds.wait().await,
            Some(Err(err)) => Err(err),
            None => Ok(()),
        };
        if let Err(err) = outcome {
            tracing::debug!(error = %err, "journal write of an add batch failed");
            let (status, message) = (err.status() as i32, err.to_string());
            for (_, answer) in answers.iter_mut().filter(|(journaled, _)| *journaled) {
                answer.status = status;
                answer.message = message.clone();
            }
        }
        answers.into_iter().map(|(_, answer)| answer).collect()
    })
}

/// Awaits answers in arrival order and sends them in batches: everything
/// already answered goes out together as soon as the oldest answer is known.
async fn respond_in_order(
    mut queued: mpsc::Receiver<Answer>,
    responses: mpsc::Sender<Result<AddResponseBatch, Status>>,
) {
    let mut batch = Vec::new();
    let mut carried: Option<Answer> = None;
    loop {
        let mut next = match carried.take() {
            Some(answer) => answer,
            None => match queued.recv().await {
                Some(answer) => answer,
                None => return,
            },
        };
        batch.extend(next.as_mut().await);
        // Collect every later answer that is already known.
        while batch.len() < MAX_RESPONSES_PER_BATCH {
            let Ok(mut answer) = queued.try_recv() else {
                break;
            };
            match futures::poll!(answer.as_mut()) {
                Poll::Ready(responses) => batch.extend(responses),
                Poll::Pending => {
                    carried = Some(answer);
                    break;
                }
            }
        }
        let message = AddResponseBatch {
            responses: std::mem::take(&mut batch),
        };
        if responses.send(Ok(message)).await.is_err() {
            // The client went away; the adds are durable regardless.
            return;
        }
    }
}

/// The answer to one add: OK, or the refusal's status and message.
pub(crate) fn add_response(
    request_id: u64,
    ledger_id: i64,
    entry_id: i64,
    result: Result<(), BookieError>,
) -> AddResponse {
    let (status, message) = match result {
        Ok(()) => (StatusCode::StatusOk, String::new()),
        Err(err) => {
            tracing::debug!(ledger_id, entry_id, error = %err, "add refused");
            (err.status(), err.to_string())
        }
    };
    AddResponse {
        request_id,
        status: status as i32,
        ledger_id,
        entry_id,
        message,
    }
}
