//! [`BookieDirectory`]: which bookies a writer may use right now.
//!
//! It reads the registrations under `/bookies/available` (through
//! [`placement`]) and keeps a quarantine: a bookie that just failed an add is
//! not chosen for new ledgers, replacements or fills for
//! [`ClientConfig::bookie_quarantine`](crate::client::ClientConfig), because
//! a killed bookie stays registered until its session expires. A bookie that
//! registers again (a new registration version: it restarted) leaves the
//! quarantine at once. One directory is shared by every writer of a client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use magnetar_metadata::{MetadataStore, Version};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::client::metadata::BookieId;
use crate::client::placement;
use crate::ledger::LedgerError;

/// The registration a quarantined bookie had when it was first listed after
/// its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeenRegistration {
    NotListedYet,
    Absent,
    Version(Version),
}

#[derive(Debug, Clone, Copy)]
struct Quarantine {
    until: Instant,
    seen: SeenRegistration,
}

/// Registered bookies and the client's quarantine.
pub struct BookieDirectory {
    store: Arc<dyn MetadataStore>,
    quarantine_for: Duration,
    quarantined: Mutex<HashMap<BookieId, Quarantine>>,
}

impl BookieDirectory {
    pub fn new(store: Arc<dyn MetadataStore>, quarantine_for: Duration) -> Self {
        BookieDirectory {
            store,
            quarantine_for,
            quarantined: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `bookie` out of new choices for the quarantine period.
    pub fn quarantine(&self, bookie: &str) {
        if self.quarantine_for.is_zero() {
            return;
        }
        let until = Instant::now() + self.quarantine_for;
        let mut quarantined = self.quarantined.lock();
        let entry = quarantined.entry(bookie.to_string()).or_insert(Quarantine {
            until,
            seen: SeenRegistration::NotListedYet,
        });
        entry.until = until;
    }

    /// Writable, registered bookies that are not quarantined.
    pub async fn healthy_writable(&self) -> Result<Vec<BookieId>, LedgerError> {
        let registered = placement::available_bookies(&self.store).await?;
        let now = Instant::now();
        let mut quarantined = self.quarantined.lock();
        quarantined.retain(|bookie, quarantine| {
            let current = registered
                .iter()
                .find(|b| &b.id == bookie)
                .map_or(SeenRegistration::Absent, |b| {
                    SeenRegistration::Version(b.registration_version)
                });
            let registered_again = match quarantine.seen {
                SeenRegistration::NotListedYet => {
                    quarantine.seen = current;
                    false
                }
                seen => matches!(current, SeenRegistration::Version(_)) && current != seen,
            };
            if registered_again {
                tracing::info!(bookie = %bookie, "bookie registered again; out of quarantine");
            }
            quarantine.until > now && !registered_again
        });
        Ok(registered
            .into_iter()
            .filter(|b| !b.read_only && !quarantined.contains_key(&b.id))
            .map(|b| b.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use magnetar_metadata::memory::MemoryStore;
    use magnetar_metadata::PutOptions;

    use super::*;
    use crate::keys::{available_key, BookieRegistration};

    async fn register(store: &Arc<dyn MetadataStore>, id: &str) {
        let registration = BookieRegistration {
            address: id.to_string(),
            read_only: false,
            free_bytes: 0,
        };
        let registration = serde_json::to_vec(&registration).unwrap();
        store
            .put(
                &available_key(id),
                Bytes::from(registration),
                PutOptions::ANY,
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn quarantine_lasts_its_period_or_until_the_bookie_registers_again() {
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        for id in ["a:1", "b:1", "c:1"] {
            register(&store, id).await;
        }
        let directory = BookieDirectory::new(store.clone(), Duration::from_millis(300));
        directory.quarantine("c:1");
        let mut healthy = directory.healthy_writable().await.unwrap();
        healthy.sort();
        assert_eq!(healthy, ["a:1", "b:1"]);

        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(directory.healthy_writable().await.unwrap().len(), 2);
        // The bookie restarted: a new registration version.
        register(&store, "c:1").await;
        assert_eq!(directory.healthy_writable().await.unwrap().len(), 3);

        directory.quarantine("b:1");
        assert_eq!(directory.healthy_writable().await.unwrap().len(), 2);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(directory.healthy_writable().await.unwrap().len(), 3);
    }
}
