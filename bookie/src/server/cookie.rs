//! The cookie: the identity of a bookie's disk, checked on every start.
//!
//! A cookie names the bookie id, the data directories and the cluster
//! instance id. It lives in two places: `<data-dir>/current/VERSION` and
//! `/bookies/cookies/<bookie-id>` in the metadata store. A start is refused
//! when the two differ or exactly one is missing — a wiped or swapped disk,
//! or a bookie that changed address, must not come up looking healthy while
//! silently missing data. The one exception is a first start: empty disk and
//! no remote cookie.
//!
//! Self-initialization: there is no admin "format" step. The first bookie to
//! start against an empty store creates `/bookies/instance-id` with
//! `Expected::Absent`; racing bookies lose the CAS and read the winner's id.
//!
//! First-start write order: local cookie (durably) → remote cookie. A crash
//! in between leaves a local cookie, no remote one and no data; that case is
//! recognized and completed on the next start.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::durable_file;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions};
use serde::{Deserialize, Serialize};

use super::config::BookieConfig;
use super::error::StartError;
use crate::keys::{cookie_key, INSTANCE_ID_KEY};

/// A bookie's disk identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    pub bookie_id: String,
    pub data_dirs: Vec<String>,
    pub instance_id: String,
}

/// Reads or creates the cluster instance id.
pub async fn ensure_instance_id(metadata: &dyn MetadataStore) -> Result<String, StartError> {
    for _ in 0..3 {
        if let Some(existing) = metadata.get(INSTANCE_ID_KEY).await? {
            return String::from_utf8(existing.value.to_vec())
                .map_err(|_| StartError::CookieMismatch("instance id is not UTF-8".into()));
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        match metadata
            .put(
                INSTANCE_ID_KEY,
                Bytes::from(fresh.clone()),
                PutOptions::expect(Expected::Absent),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(instance_id = %fresh, "initialized cluster instance id");
                return Ok(fresh);
            }
            Err(MetadataError::BadVersion { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(StartError::CookieMismatch(
        "instance id kept changing while being read".into(),
    ))
}

fn read_local(path: &Path) -> Result<Option<Cookie>, StartError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StartError::CookieMismatch(format!("unreadable local cookie {}: {e}", path.display()))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StartError::Storage(super::error::StorageError::io(
            path, err,
        ))),
    }
}

/// True when the data dir holds journal, entry log or index data.
fn has_stored_data(config: &BookieConfig) -> bool {
    [
        config.journal_dir(),
        config.entry_log_dir(),
        config.index_dir(),
    ]
    .iter()
    .any(|dir| {
        std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    })
}

/// Verifies the cookie, creating it on a first start.
pub async fn verify_or_create_cookie(
    config: &BookieConfig,
    bookie_id: &str,
    metadata: &Arc<dyn MetadataStore>,
) -> Result<Cookie, StartError> {
    let instance_id = ensure_instance_id(metadata.as_ref()).await?;
    let expected = Cookie {
        bookie_id: bookie_id.to_string(),
        data_dirs: vec![config.data_dir.display().to_string()],
        instance_id,
    };
    let local_path = config.cookie_path();
    let local = read_local(&local_path)?;
    let key = cookie_key(bookie_id);
    let remote = match metadata.get(&key).await? {
        Some(versioned) => Some(serde_json::from_slice::<Cookie>(&versioned.value).map_err(
            |e| StartError::CookieMismatch(format!("unreadable remote cookie {key}: {e}")),
        )?),
        None => None,
    };
    let fresh_disk = !has_stored_data(config);
    match (local, remote) {
        (None, None) if fresh_disk => {
            write_local(&local_path, &expected)?;
            write_remote(metadata.as_ref(), &key, &expected).await?;
            tracing::info!(bookie_id, "created cookie on first start");
            Ok(expected)
        }
        (None, None) => Err(StartError::CookieMismatch(format!(
            "{} holds data but has no cookie, and none is registered",
            config.data_dir.display()
        ))),
        (Some(local), None) if fresh_disk && local == expected => {
            write_remote(metadata.as_ref(), &key, &expected).await?;
            tracing::info!(bookie_id, "completed interrupted first start");
            Ok(expected)
        }
        (Some(_), None) => Err(StartError::CookieMismatch(format!(
            "local cookie exists but {key} is missing from the metadata store"
        ))),
        (None, Some(_)) => Err(StartError::CookieMismatch(format!(
            "{key} is registered but {} has no cookie (wiped or replaced disk?)",
            local_path.display()
        ))),
        (Some(local), Some(remote)) if local != remote => Err(StartError::CookieMismatch(format!(
            "local cookie {local:?} differs from registered cookie {remote:?}"
        ))),
        (Some(local), Some(_)) if local != expected => Err(StartError::CookieMismatch(format!(
            "cookie {local:?} does not match this bookie {expected:?}"
        ))),
        (Some(local), Some(_)) => Ok(local),
    }
}

fn write_local(path: &Path, cookie: &Cookie) -> Result<(), StartError> {
    let io_err = |e| StartError::Storage(super::error::StorageError::io(path, e));
    if let Some(dir) = path.parent() {
        durable_file::create_dir_durably(dir).map_err(io_err)?;
    }
    let bytes = serde_json::to_vec_pretty(cookie).map_err(|e| StartError::Config(e.to_string()))?;
    durable_file::write_file_durably(path, &bytes).map_err(io_err)
}

async fn write_remote(
    metadata: &dyn MetadataStore,
    key: &str,
    cookie: &Cookie,
) -> Result<(), StartError> {
    let bytes = serde_json::to_vec(cookie).map_err(|e| StartError::Config(e.to_string()))?;
    match metadata
        .put(
            key,
            Bytes::from(bytes),
            PutOptions::expect(Expected::Absent),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(MetadataError::BadVersion { .. }) => Err(StartError::CookieMismatch(format!(
            "{key} was registered concurrently by another bookie"
        ))),
        Err(err) => Err(err.into()),
    }
}
