//! In-memory bookies for unit tests of the client logic: each answers after
//! a random delay (so answers interleave arbitrarily), honours fencing and
//! master keys like a real bookie, and can be taken down, made to fail, or
//! made to hang.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use magnetar_metadata::{MetadataStore, PutOptions};
use magnetar_proto::bookie::{
    AddFlag, AddRequest, AddResponse, ReadLacResponse, ReadRequest, ReadResponse, StatusCode,
};
use parking_lot::Mutex;
use rand::Rng;

use crate::client::transport::{BookieConnector, BookieTransport, TransportError};
use crate::keys::AVAILABLE_BOOKIES_PREFIX;

#[derive(Default)]
struct FakeState {
    entries: BTreeMap<(i64, i64), Bytes>,
    fenced: BTreeSet<i64>,
    keys: HashMap<i64, Bytes>,
    down: bool,
    /// When set, adds are answered with this status instead of being stored.
    add_status: Option<StatusCode>,
    /// Adds are accepted and never answered (a hung bookie).
    silent: bool,
}

/// One fake bookie.
pub struct FakeBookie {
    id: String,
    max_delay: Duration,
    state: Mutex<FakeState>,
}

impl FakeBookie {
    fn delay(&self) -> Duration {
        if self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        rand::thread_rng().gen_range(Duration::ZERO..self.max_delay)
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// Makes adds hang: the connection stays up but no answer ever comes.
    pub fn set_silent(&self, silent: bool) {
        self.state.lock().silent = silent;
    }

    pub fn fail_adds_with(&self, status: Option<StatusCode>) {
        self.state.lock().add_status = status;
    }

    pub fn has_entry(&self, ledger_id: i64, entry_id: i64) -> bool {
        self.state
            .lock()
            .entries
            .contains_key(&(ledger_id, entry_id))
    }

    pub fn entry_ids(&self, ledger_id: i64) -> Vec<i64> {
        self.state
            .lock()
            .entries
            .range((ledger_id, i64::MIN)..=(ledger_id, i64::MAX))
            .map(|(k, _)| k.1)
            .collect()
    }

    fn unreachable(&self) -> TransportError {
        TransportError::Connect {
            bookie: self.id.clone(),
            reason: "fake bookie is down".into(),
        }
    }

    fn apply_add(&self, request: &AddRequest) -> Result<StatusCode, TransportError> {
        let mut state = self.state.lock();
        if state.down {
            return Err(self.unreachable());
        }
        if let Some(status) = state.add_status {
            return Ok(status);
        }
        if let Some(key) = state.keys.get(&request.ledger_id) {
            if *key != request.master_key {
                return Ok(StatusCode::StatusUnauthorized);
            }
        }
        let recovery = request.flags & AddFlag::Recovery as u32 != 0;
        if state.fenced.contains(&request.ledger_id) && !recovery {
            return Ok(StatusCode::StatusFenced);
        }
        state
            .keys
            .insert(request.ledger_id, request.master_key.clone());
        state
            .entries
            .insert((request.ledger_id, request.entry_id), request.body.clone());
        Ok(StatusCode::StatusOk)
    }

    fn apply_read(&self, request: &ReadRequest) -> Result<ReadResponse, TransportError> {
        let mut state = self.state.lock();
        if state.down {
            return Err(self.unreachable());
        }
        let answer = |status: StatusCode, entry_id: i64, body: Bytes| ReadResponse {
            status: status as i32,
            ledger_id: request.ledger_id,
            entry_id,
            body,
            message: String::new(),
        };
        if request.fence {
            if let Some(key) = state.keys.get(&request.ledger_id) {
                if *key != request.master_key {
                    return Ok(answer(
                        StatusCode::StatusUnauthorized,
                        request.entry_id,
                        Bytes::new(),
                    ));
                }
            }
            state.fenced.insert(request.ledger_id);
        }
        let range = (request.ledger_id, 0)..=(request.ledger_id, i64::MAX);
        let found = if request.entry_id < 0 {
            state
                .entries
                .range(range)
                .next_back()
                .map(|(k, v)| (k.1, v.clone()))
        } else {
            state
                .entries
                .get(&(request.ledger_id, request.entry_id))
                .map(|v| (request.entry_id, v.clone()))
        };
        Ok(match found {
            Some((entry_id, body)) => answer(StatusCode::StatusOk, entry_id, body),
            None => answer(StatusCode::StatusNoEntry, request.entry_id, Bytes::new()),
        })
    }
}

struct FakeTransport(Arc<FakeBookie>);

#[async_trait]
impl BookieTransport for FakeTransport {
    fn add(&self, request: AddRequest) -> BoxFuture<'static, Result<AddResponse, TransportError>> {
        let bookie = self.0.clone();
        async move {
            tokio::time::sleep(bookie.delay()).await;
            if bookie.state.lock().silent {
                futures::future::pending::<()>().await;
            }
            let status = bookie.apply_add(&request)?;
            Ok(AddResponse {
                request_id: request.request_id,
                status: status as i32,
                ledger_id: request.ledger_id,
                entry_id: request.entry_id,
                message: String::new(),
            })
        }
        .boxed()
    }

    async fn read_entry(&self, request: ReadRequest) -> Result<ReadResponse, TransportError> {
        tokio::time::sleep(self.0.delay()).await;
        self.0.apply_read(&request)
    }

    async fn read_lac(&self, _ledger_id: i64) -> Result<ReadLacResponse, TransportError> {
        Ok(ReadLacResponse {
            status: StatusCode::StatusOk as i32,
            lac: -1,
            message: String::new(),
        })
    }
}

/// A set of fake bookies, usable as the client's [`BookieConnector`].
#[derive(Default)]
pub struct FakeCluster {
    bookies: Mutex<BTreeMap<String, Arc<FakeBookie>>>,
}

impl FakeCluster {
    /// `count` bookies `fake-0..`, each answering within `max_delay`, all
    /// registered as writable in `metadata`.
    pub async fn start(
        count: usize,
        max_delay: Duration,
        metadata: &Arc<dyn MetadataStore>,
    ) -> Arc<Self> {
        let cluster = Arc::new(FakeCluster::default());
        for index in 0..count {
            cluster
                .add_bookie(&format!("fake-{index}"), max_delay, metadata)
                .await;
        }
        cluster
    }

    pub async fn add_bookie(
        &self,
        id: &str,
        max_delay: Duration,
        metadata: &Arc<dyn MetadataStore>,
    ) {
        let bookie = Arc::new(FakeBookie {
            id: id.to_string(),
            max_delay,
            state: Mutex::new(FakeState::default()),
        });
        self.bookies.lock().insert(id.to_string(), bookie);
        let registration = serde_json::json!({ "address": id, "read_only": false }).to_string();
        metadata
            .put(
                &format!("{AVAILABLE_BOOKIES_PREFIX}{id}"),
                Bytes::from(registration),
                PutOptions::ANY,
            )
            .await
            .expect("registering a fake bookie in the memory store");
    }

    pub fn get(&self, id: &str) -> Arc<FakeBookie> {
        self.bookies
            .lock()
            .get(id)
            .cloned()
            .expect("fake bookie exists")
    }
}

impl BookieConnector for FakeCluster {
    fn bookie(&self, bookie_id: &str) -> Arc<dyn BookieTransport> {
        let bookie = self
            .bookies
            .lock()
            .get(bookie_id)
            .cloned()
            .unwrap_or_else(|| {
                let down = FakeBookie {
                    id: bookie_id.to_string(),
                    max_delay: Duration::ZERO,
                    state: Mutex::default(),
                };
                down.state.lock().down = true;
                Arc::new(down)
            });
        Arc::new(FakeTransport(bookie))
    }
}
