//! The HTTP side of `magnetar admin`: one request to the admin API,
//! following a broker's redirects to a topic's owner, and what came back.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Redirects followed per request (a topic's owner answers directly).
const MAX_REDIRECTS: usize = 3;

/// One request: method, path below the admin URL, optional JSON body.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

pub fn get(path: String) -> Call {
    Call {
        method: Method::GET,
        path,
        body: None,
    }
}

pub fn with(method: Method, path: String, body: Option<Value>) -> Call {
    Call { method, path, body }
}

/// A response: status, headers (names lower case) and body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (text that is not JSON becomes a JSON string);
    /// `None` for an empty body.
    pub fn json(&self) -> Option<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(
            serde_json::from_slice(&self.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&self.body).into_owned())
            }),
        )
    }

    /// The answer if it is a success; otherwise prints the broker's reason
    /// on stderr and exits 1.
    pub fn success(self) -> Result<Answer> {
        if self.status.is_success() {
            return Ok(self);
        }
        let reason = self
            .json()
            .as_ref()
            .and_then(|v| v.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        eprintln!(
            "error: {} {}: {reason}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("")
        );
        std::process::exit(1);
    }
}

/// Sends `call` to the admin API at `base`, following redirects, with an
/// `Authorization` header (`Bearer …`, `Basic …`) when given.
pub async fn send_as(base: &str, authorization: Option<&str>, call: &Call) -> Result<Answer> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = match &call.body {
        Some(value) => Bytes::from(serde_json::to_vec(value)?),
        None => Bytes::new(),
    };
    let mut url = format!("{}{}", base.trim_end_matches('/'), call.path);
    for _ in 0..=MAX_REDIRECTS {
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(&url)
            .header("content-type", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let request = request
            .body(Full::new(body.clone()))
            .with_context(|| format!("bad URL {url:?}"))?;
        let response = client
            .request(request)
            .await
            .with_context(|| format!("{} {url}", call.method))?;
        let status = response.status();
        if status.is_redirection() {
            if let Some(location) = response.headers().get("location") {
                url = location.to_str().context("redirect location")?.to_string();
                continue;
            }
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.into_body().collect().await?.to_bytes();
        return Ok(Answer {
            status,
            headers,
            body,
        });
    }
    bail!("{} {url}: more than {MAX_REDIRECTS} redirects", call.method)
}
