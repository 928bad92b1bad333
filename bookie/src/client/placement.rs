//! Ensemble placement: which bookies are available (ephemeral keys under
//! `/bookies/available/<bookie-id>`, JSON [`BookieRegistration`]; see
//! [`crate::keys`]) and a random choice among the writable ones.

use std::sync::Arc;

use magnetar_metadata::{MetadataStore, Version};
use rand::seq::SliceRandom;

use crate::client::metadata::BookieId;
use crate::keys::{bookie_of_available_key, BookieRegistration, AVAILABLE_BOOKIES_PREFIX};
use crate::ledger::LedgerError;

/// One registered bookie.
#[derive(Debug, Clone)]
pub struct AvailableBookie {
    pub id: BookieId,
    pub read_only: bool,
    /// Version of the registration key: it changes when the bookie registers
    /// again, after a restart.
    pub registration_version: Version,
}

/// Lists every registered bookie. Registrations that do not parse are skipped
/// (logged): one bad key must not stop ledger creation.
pub async fn available_bookies(
    store: &Arc<dyn MetadataStore>,
) -> Result<Vec<AvailableBookie>, LedgerError> {
    let mut bookies = Vec::new();
    for (key, versioned) in &store.list_all(AVAILABLE_BOOKIES_PREFIX).await? {
        let Some(id) = bookie_of_available_key(key) else {
            continue;
        };
        match serde_json::from_slice::<BookieRegistration>(&versioned.value) {
            Ok(registration) => bookies.push(AvailableBookie {
                id: id.to_string(),
                read_only: registration.read_only,
                registration_version: versioned.version,
            }),
            Err(error) => {
                tracing::warn!(key = %key, %error, "skipping unparsable bookie registration")
            }
        }
    }
    Ok(bookies)
}

/// Ids of the writable bookies.
pub async fn writable_bookies(
    store: &Arc<dyn MetadataStore>,
) -> Result<Vec<BookieId>, LedgerError> {
    Ok(available_bookies(store)
        .await?
        .into_iter()
        .filter(|b| !b.read_only)
        .map(|b| b.id)
        .collect())
}

/// Picks `count` distinct bookies at random from `candidates`, skipping `excluded`.
pub fn choose_bookies(
    candidates: &[BookieId],
    count: usize,
    excluded: &[BookieId],
) -> Result<Vec<BookieId>, LedgerError> {
    let eligible: Vec<&BookieId> = candidates
        .iter()
        .filter(|b| !excluded.contains(b))
        .collect();
    if eligible.len() < count {
        return Err(LedgerError::NotEnoughBookies {
            needed: count,
            available: eligible.len(),
        });
    }
    let mut rng = rand::thread_rng();
    Ok(eligible
        .choose_multiple(&mut rng, count)
        .map(|b| (*b).clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_is_distinct_and_respects_exclusions() {
        let candidates: Vec<BookieId> = (0..5).map(|i| format!("b{i}")).collect();
        let excluded = vec!["b1".to_string(), "b3".to_string()];
        for _ in 0..100 {
            let mut chosen = choose_bookies(&candidates, 3, &excluded).unwrap();
            chosen.sort();
            assert_eq!(chosen, vec!["b0", "b2", "b4"]);
        }
        assert_eq!(
            choose_bookies(&candidates, 4, &excluded).unwrap_err(),
            LedgerError::NotEnoughBookies {
                needed: 4,
                available: 3
            }
        );
    }
}
