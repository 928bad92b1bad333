//! A minimal blocking HTTP/1.0 client for the broker's `/health`, `/metrics`
//! and admin endpoints (no HTTP client dependency in the tests): GET, and
//! PUT that follows the 307/308 redirects a non-owner broker answers with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Read and write timeout of a GET.
const GET_TIMEOUT: Duration = Duration::from_secs(5);
/// Read and write timeout of a PUT (an unload closes topics first).
const PUT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects a PUT follows at most.
const MAX_REDIRECTS: usize = 5;

/// One response: status code, headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// `GET http://{addr}{path}` with a 5 s timeout per read and write.
/// Redirects are returned, not followed.
pub fn http_get(addr: &str, path: &str) -> Result<HttpResponse> {
    request(addr, "GET", path, None, GET_TIMEOUT)
}

/// `POST http://{addr}{path}` with a JSON `body` (may be empty).
/// Redirects are returned, not followed.
pub fn http_post(addr: &str, path: &str, body: &str) -> Result<HttpResponse> {
    request(addr, "POST", path, Some(body), PUT_TIMEOUT)
}

/// `PUT http://{addr}{path}` with a JSON `body` (may be empty). A 307 or
/// 308 is followed: the same PUT goes to the `Location` it names, at most
/// 5 times. Returns the first response that is not a redirect.
pub fn http_put(addr: &str, path: &str, body: &str) -> Result<HttpResponse> {
    let (mut addr, mut path) = (addr.to_string(), path.to_string());
    for _ in 0..=MAX_REDIRECTS {
        let response = request(&addr, "PUT", &path, Some(body), PUT_TIMEOUT)?;
        if !matches!(response.status, 307 | 308) {
            return Ok(response);
        }
        let location = response.header("location").with_context(|| {
            format!(
                "PUT {path} on {addr}: {} without a Location header",
                response.status
            )
        })?;
        (addr, path) = redirect_target(&addr, location)?;
    }
    bail!("PUT {path}: more than {MAX_REDIRECTS} redirects (last to {addr})")
}

/// `(host:port, path)` a `Location` header points to; a relative location
/// stays on `from`.
pub fn redirect_target(from: &str, location: &str) -> Result<(String, String)> {
    if location.starts_with('/') {
        return Ok((from.to_string(), location.to_string()));
    }
    let Some(rest) = location.strip_prefix("http://") else {
        bail!("unsupported redirect location {location:?}");
    };
    Ok(match rest.split_once('/') {
        Some((host, path)) => (host.to_string(), format!("/{path}")),
        None => (rest.to_string(), "/".to_string()),
    })
}

fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(body) = body {
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body.unwrap_or_default().as_bytes());
    stream.write_all(&request).context("send request")?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .with_context(|| format!("read response to {method} {path} from {addr}"))?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("malformed response to {method} {path}: {response:?}");
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status code in {head:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// The value of an unlabelled sample `name` in an OpenMetrics text body.
pub fn metric_value(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::{metric_value, redirect_target};

    #[test]
    fn metric_value_reads_only_the_named_sample() {
        let body = "# TYPE magnetar_broker_ml_not_writable gauge\n\
                    magnetar_broker_ml_not_writable_total 7\n\
                    magnetar_broker_ml_not_writable 1\n\
                    magnetar_broker_ml_open 2\n";
        assert_eq!(
            metric_value(body, "magnetar_broker_ml_not_writable"),
            Some(1.0)
        );
        assert_eq!(metric_value(body, "magnetar_broker_ml_open"), Some(2.0));
        assert_eq!(metric_value(body, "magnetar_broker_ml_adds_held"), None);
    }

    #[test]
    fn redirect_target_reads_absolute_and_relative_locations() {
        let target = |location| redirect_target("127.0.0.1:1", location).unwrap();
        assert_eq!(
            target("http://127.0.0.1:2/admin/v2/x/unload"),
            ("127.0.0.1:2".to_string(), "/admin/v2/x/unload".to_string())
        );
        assert_eq!(
            target("/admin/v2/y"),
            ("127.0.0.1:1".to_string(), "/admin/v2/y".to_string())
        );
        assert_eq!(
            target("http://localhost:3"),
            ("localhost:3".to_string(), "/".to_string())
        );
        assert!(redirect_target("127.0.0.1:1", "https://h:4/x").is_err());
    }
}
