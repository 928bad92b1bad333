//! `magnetar health TARGET`: one probe of a server, for container health
//! checks in images that hold no shell and no curl. An HTTP target passes
//! on any 2xx answer (brokers, the proxy and etcd serve `/health`); a
//! `bookie://` target passes when the bookie answers `Info`.

use std::time::Duration;

use super::perf_bookie::bookie_info;
use crate::args::HealthArgs;
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub async fn run(args: HealthArgs) -> Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let probe = async {
        match args.target.strip_prefix("bookie://") {
            Some(address) => bookie(address).await,
            None => http(&args.target).await,
        }
    };
    let outcome = tokio::time::timeout(timeout, probe)
        .await
        .with_context(|| format!("{} did not answer within {timeout:?}", args.target))?;
    match outcome {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(e) => {
            // Exit status 1 is what health checks look at.
            eprintln!("unhealthy: {e:#}");
            std::process::exit(1)
        }
    }
}

async fn http(url: &str) -> Result<String> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client
        .get(uri)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).trim().to_string();
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    Ok(format!("{url}: {status}"))
}

async fn bookie(address: &str) -> Result<String> {
    let info = bookie_info(address, false).await?;
    Ok(format!(
        "bookie {}: {}, {} of {} bytes free",
        info.bookie_id,
        if info.read_only {
            "read-only"
        } else {
            "writable"
        },
        info.free_bytes,
        info.total_bytes
    ))
}
