//! The proxy's HTTP port: `/health` and `/metrics` of the proxy itself,
//! and every other request (the admin API, `/lookup`, the brokers'
//! `/metrics` are not among them) forwarded to a registered broker.
//!
//! Brokers answer a request about a topic they do not own with a
//! `307 Temporary Redirect` to the owner, an address only the brokers'
//! network may resolve. The proxy follows such redirects itself, but only
//! to registered brokers, so the client sees the owner's answer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::directory::BrokerDirectory;
use crate::metrics;

/// Largest request body forwarded (admin requests are small).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

pub struct HttpContext {
    directory: Arc<BrokerDirectory>,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    max_redirects: usize,
}

impl HttpContext {
    pub fn new(
        directory: Arc<BrokerDirectory>,
        timeout: Duration,
        max_redirects: usize,
    ) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        Arc::new(HttpContext {
            directory,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            max_redirects,
        })
    }
}

pub fn router(context: Arc<HttpContext>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .fallback(forward)
        .with_state(context)
}

/// Healthy while at least one broker is registered.
async fn health(State(context): State<Arc<HttpContext>>) -> (StatusCode, String) {
    match context.directory.brokers().await {
        Ok(brokers) if !brokers.is_empty() => {
            (StatusCode::OK, format!("ok: {} brokers\n", brokers.len()))
        }
        Ok(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no broker registered\n".into(),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn render_metrics() -> Response {
    match metrics::render() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn forward(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    metrics::HTTP_REQUESTS.inc();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(e) => return failure(StatusCode::PAYLOAD_TOO_LARGE, e),
    };
    let broker = match context.directory.pick().await {
        Ok(broker) => broker,
        Err(e) => return failure(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let mut origin = broker.web_service_url.trim_end_matches('/').to_string();
    let mut path = parts
        .uri
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    for _ in 0..=context.max_redirects {
        let mut upstream = hyper::Request::builder()
            .method(parts.method.clone())
            .uri(format!("{origin}{path}"));
        if let Some(headers) = upstream.headers_mut() {
            copy_end_to_end(&parts.headers, headers);
        }
        let upstream = match upstream.body(Full::new(body.clone())) {
            Ok(request) => request,
            Err(e) => return failure(StatusCode::BAD_REQUEST, e),
        };
        let response =
            match tokio::time::timeout(context.timeout, context.client.request(upstream)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return failure(StatusCode::BAD_GATEWAY, format!("{origin}: {e}")),
                Err(_) => {
                    return failure(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("{origin} did not answer"),
                    )
                }
            };
        let status = response.status();
        if status == StatusCode::TEMPORARY_REDIRECT || status == StatusCode::PERMANENT_REDIRECT {
            if let Some((next_origin, next_path)) = redirect_target(response.headers(), &origin) {
                if context
                    .directory
                    .is_web_origin(&next_origin)
                    .await
                    .unwrap_or(false)
                {
                    origin = next_origin;
                    path = next_path;
                    continue;
                }
            }
        }
        let (parts, incoming) = response.into_parts();
        let mut answer = Response::new(Body::new(incoming));
        *answer.status_mut() = parts.status;
        copy_end_to_end(&parts.headers, answer.headers_mut());
        return answer;
    }
    failure(
        StatusCode::LOOP_DETECTED,
        "too many redirects between brokers",
    )
}

/// `(origin, path and query)` of a redirect's `Location`, relative to `origin`.
fn redirect_target(headers: &HeaderMap, origin: &str) -> Option<(String, String)> {
    let location: Uri = headers.get(header::LOCATION)?.to_str().ok()?.parse().ok()?;
    let path = location
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    match (location.scheme_str(), location.authority()) {
        (Some(scheme), Some(authority)) => Some((format!("{scheme}://{authority}"), path)),
        (None, None) => Some((origin.to_string(), path)),
        _ => None,
    }
}

/// Copies headers except hop-by-hop ones and `Host`.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    const HOP_BY_HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    for (name, value) in from {
        if name == header::HOST || HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn failure(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    // `{"reason": "..."}`, the shape of the brokers' admin errors.
    let body = serde_json::json!({ "reason": reason.to_string() }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn redirects_are_resolved_against_the_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("http://b2:8080/admin/v2/x?authoritative=true"),
        );
        assert_eq!(
            redirect_target(&headers, "http://b1:8080"),
            Some((
                "http://b2:8080".into(),
                "/admin/v2/x?authoritative=true".into()
            ))
        );
        headers.insert(header::LOCATION, HeaderValue::from_static("/admin/v2/y"));
        assert_eq!(
            redirect_target(&headers, "http://b1:8080"),
            Some(("http://b1:8080".into(), "/admin/v2/y".into()))
        );
    }

    #[test]
    fn hop_by_hop_headers_and_host_stay_behind() {
        let mut from = HeaderMap::new();
        from.insert(header::HOST, HeaderValue::from_static("proxy"));
        from.insert(header::CONNECTION, HeaderValue::from_static("close"));
        from.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        assert_eq!(to.len(), 1);
        assert_eq!(to[header::CONTENT_TYPE], "application/json");
    }
}
