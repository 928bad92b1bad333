//! The console's only way to the cluster: requests to the admin API, sent
//! in-process through the admin router (so they pass the same
//! authentication, authorization and validation as any client's), carrying
//! the signed-in user's credential. A `307` to the broker that serves a
//! topic is followed once, over plain HTTP, with the same credential.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use thiserror::Error;
use tower::ServiceExt;

use crate::security::tls::TlsPeer;

/// Bodies larger than this are refused (a peeked message is the largest).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Why an admin request gave no usable answer.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The admin API answered with an error status and Pulsar's reason.
    #[error("{reason}")]
    Status { status: StatusCode, reason: String },
    /// The request got no answer (a peer broker is down, say).
    #[error("no answer: {0}")]
    Unavailable(String),
    /// The answer was not what the console expected.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Status { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Decode(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Who the console acts for: the credential of the signed-in user (an
/// `Authorization` value) and, on HTTPS, the client certificate.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub authorization: Option<HeaderValue>,
    pub peer: Option<TlsPeer>,
}

/// A raw answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The admin API as the console calls it.
#[derive(Clone)]
pub struct AdminApi {
    router: Router,
    peers: Client<HttpConnector, Full<Bytes>>,
}

impl AdminApi {
    pub fn new(router: Router) -> Self {
        AdminApi {
            router,
            peers: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET path`, decoded from JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        path: &str,
    ) -> Result<T, ApiError> {
        let answer = self.ok(caller, Method::GET, path, None).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ApiError::Decode(format!("{path}: {e}")))
    }

    /// `method path` with an optional JSON body; any 2xx is success.
    pub async fn send(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let body = body.map(|value| Bytes::from(value.to_string()));
        self.ok(caller, method, path, body).await.map(|_| ())
    }

    /// The raw answer of a request that succeeded (2xx).
    pub async fn ok(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, ApiError> {
        let answer = self.call(caller, method, path, body).await?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        let reason = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(300)
                    .collect()
            });
        Err(ApiError::Status {
            status: answer.status,
            reason,
        })
    }

    async fn call(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, ApiError> {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some(authorization) = &caller.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let sent = body.unwrap_or_default();
        let mut request = request
            .body(Body::from(sent.clone()))
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        if let Some(peer) = &caller.peer {
            request.extensions_mut().insert(ConnectInfo(peer.clone()));
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        if status != StatusCode::TEMPORARY_REDIRECT {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| ApiError::Decode("a redirect without a location".into()))?
            .to_string();
        self.call_peer(caller, method, &location, sent).await
    }

    /// Sends the request on to another broker's admin API.
    async fn call_peer(
        &self,
        caller: &Caller,
        method: Method,
        url: &str,
        body: Bytes,
    ) -> Result<Answer, ApiError> {
        if !url.starts_with("http://") {
            return Err(ApiError::Unavailable(format!(
                "served by {url}; open that broker's console"
            )));
        }
        let unavailable = |e: String| ApiError::Unavailable(format!("{url}: {e}"));
        let mut request = hyper::Request::builder().method(method).uri(url);
        if let Some(authorization) = &caller.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| unavailable(e.to_string()))?;
        let response = self
            .peers
            .request(request)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .to_bytes();
        if body.len() > MAX_BODY {
            return Err(ApiError::Decode(format!("{url}: answer too large")));
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
