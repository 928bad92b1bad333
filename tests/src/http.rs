//! A minimal blocking HTTP/1.0 GET for the broker's `/health`, `/metrics`
//! and admin endpoints (no HTTP client dependency in the tests).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// One response: status code and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// `GET http://{addr}{path}` with a 5 s timeout per read and write.
pub fn http_get(addr: &str, path: &str) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .context("send request")?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .context("read response")?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("malformed response to GET {path}: {response:?}");
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status code in {head:?}"))?;
    Ok(HttpResponse {
        status,
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
    use super::metric_value;

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
}
