//! Requests from this broker's admin API to other brokers' admin APIs, for
//! the partitions of a partitioned topic that are served elsewhere: one
//! client per admin request (its connections are reused from partition to
//! partition), and one way to send a request and read its answer.

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use super::AdminError;

/// An HTTP client to other brokers' admin APIs.
pub(super) type PeerClient = Client<HttpConnector, Empty<Bytes>>;

pub(super) fn peer_client() -> PeerClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `method` to `url` and returns the answer's status and body; a
/// request that gets no answer is `Unavailable`, naming `url`.
pub(super) async fn send(
    peers: &PeerClient,
    method: Method,
    url: &str,
) -> Result<(StatusCode, Bytes), AdminError> {
    let unavailable = |reason: String| AdminError::Unavailable(format!("{url}: {reason}"));
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())
        .map_err(|e| unavailable(e.to_string()))?;
    let response = peers
        .request(request)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .to_bytes();
    Ok((status, body))
}

/// Sends `method` to `url` and reads a successful answer's JSON body as
/// `what`; any other answer is `Unavailable`, with its status and body.
pub(super) async fn peer_json<T: DeserializeOwned>(
    peers: &PeerClient,
    method: Method,
    url: &str,
    what: &str,
) -> Result<T, AdminError> {
    let (status, body) = send(peers, method, url).await?;
    let unavailable = |reason: String| AdminError::Unavailable(format!("{url}: {reason}"));
    if !status.is_success() {
        return Err(unavailable(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| unavailable(format!("bad {what}: {e}")))
}
