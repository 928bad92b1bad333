//! The HTTP side of `magnetar admin`: one request to the admin API over
//! `http://` or `https://`, following a broker's redirects to a topic's
//! owner, and what came back.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::client_auth_args::ClientAuthArgs;

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

/// How requests reach the admin API: the `Authorization` header
/// (`Bearer …`, `Basic …`), and the TLS settings for `https://` URLs.
#[derive(Default)]
pub struct AdminAccess {
    pub authorization: Option<String>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl AdminAccess {
    /// The credential and TLS trust the client flags name.
    pub fn from_args(args: &ClientAuthArgs) -> Result<Self> {
        Ok(AdminAccess {
            authorization: args.http_authorization_header()?,
            tls: args.rustls_client_config()?,
        })
    }
}

/// Sends `call` to the admin API at `base`, following redirects.
pub async fn send_as(base: &str, access: &AdminAccess, call: &Call) -> Result<Answer> {
    let body = match &call.body {
        Some(value) => Bytes::from(serde_json::to_vec(value)?),
        None => Bytes::new(),
    };
    let mut url = format!("{}{}", base.trim_end_matches('/'), call.path);
    for _ in 0..=MAX_REDIRECTS {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        let host = uri.host().context("the URL names no host")?.to_string();
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(
                "host",
                uri.authority().map_or(host.as_str(), |a| a.as_str()),
            )
            .header("content-type", "application/json");
        if let Some(authorization) = &access.authorization {
            request = request.header("authorization", authorization);
        }
        let request = request
            .body(Full::new(body.clone()))
            .with_context(|| format!("bad URL {url:?}"))?;
        let response = exchange(&uri, &host, access, request)
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

/// One request on a fresh HTTP/1.1 connection: plain TCP for `http://`,
/// TLS with `access.tls` for `https://`.
async fn exchange(
    uri: &Uri,
    host: &str,
    access: &AdminAccess,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") | None => false,
        Some(other) => bail!("unsupported scheme {other}://"),
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .context("connect")?;
    if !https {
        return send_on(TokioIo::new(tcp), request).await;
    }
    let config = access.tls.clone().ok_or_else(|| {
        anyhow::anyhow!("an https:// URL needs --tls-trust-certs-file (the CA to trust)")
    })?;
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .with_context(|| format!("{host} is not a TLS server name"))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .context("TLS handshake")?;
    send_on(TokioIo::new(tls), request).await
}

async fn send_on<S>(
    io: TokioIo<S>,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "admin connection ended");
        }
    });
    Ok(sender.send_request(request).await?)
}
