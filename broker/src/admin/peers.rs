//! Requests from this broker's admin API to other brokers' admin APIs, for
//! the partitions of a partitioned topic that are served elsewhere: one
//! client per admin request (its connections are reused from partition to
//! partition), and one way to send a request and read its answer. Every
//! request carries the broker's own client credential
//! ([`crate::security::Security::broker_client`]) when one is configured,
//! so the peers' authorization sees the broker's role.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use super::AdminError;
use crate::security::Security;

/// An HTTP client to other brokers' admin APIs.
pub(super) struct PeerClient {
    http: Client<HttpConnector, Empty<Bytes>>,
    /// The `Authorization` header of every request, if any.
    authorization: Option<HeaderValue>,
}

/// A client that presents `security`'s broker credential.
pub(super) fn peer_client(security: &Security) -> PeerClient {
    let authorization = security.broker_client.as_ref().and_then(|credential| {
        let mut value = HeaderValue::from_str(&credential.authorization_header()).ok()?;
        value.set_sensitive(true);
        Some(value)
    });
    PeerClient {
        http: Client::builder(TokioExecutor::new()).build_http(),
        authorization,
    }
}

/// Sends `method` to `url` and returns the answer's status and body; a
/// request that gets no answer is `Unavailable`, naming `url`.
pub(super) async fn send(
    peers: &PeerClient,
    method: Method,
    url: &str,
) -> Result<(StatusCode, Bytes), AdminError> {
    let unavailable = |reason: String| AdminError::Unavailable(format!("{url}: {reason}"));
    let mut request = hyper::Request::builder().method(method).uri(url);
    if let Some(authorization) = &peers.authorization {
        request = request.header(AUTHORIZATION, authorization.clone());
    }
    let request = request
        .body(Empty::new())
        .map_err(|e| unavailable(e.to_string()))?;
    let response = peers
        .http
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::HeaderMap;
    use axum::routing::get;
    use magnetar_metadata::memory::MemoryStore;

    use super::*;
    use crate::namespace::PolicyStore;
    use crate::security::credentials::ClientCredential;

    /// A peer that answers with the `Authorization` header it received.
    async fn echo_peer() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get(AUTHORIZATION)
                    .map(|value| value.to_str().unwrap_or("").to_string())
                    .unwrap_or_default()
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/echo")
    }

    fn security(broker_client: Option<ClientCredential>) -> Security {
        let policies = PolicyStore::new(Arc::new(MemoryStore::new()));
        let mut security = Security::open(policies);
        security.broker_client = broker_client;
        security
    }

    #[tokio::test]
    async fn requests_carry_the_broker_credential() {
        let url = echo_peer().await;
        let token = ClientCredential::Token("broker.token.value".into());
        let (status, body) = send(&peer_client(&security(Some(token))), Method::GET, &url)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"Bearer broker.token.value");

        let (_, body) = send(&peer_client(&security(None)), Method::GET, &url)
            .await
            .unwrap();
        assert!(
            body.is_empty(),
            "no credential configured, yet one was sent"
        );
    }
}
