//! Schema compatibility strategies (Pulsar's `SchemaCompatibilityStrategy`),
//! a namespace policy; the check itself is the schema registry's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityStrategy {
    AlwaysCompatible,
    AlwaysIncompatible,
    Backward,
    Forward,
    /// Pulsar's effective default (`schemaCompatibilityStrategy=FULL`).
    #[default]
    Full,
    BackwardTransitive,
    ForwardTransitive,
    FullTransitive,
}

impl std::str::FromStr for CompatibilityStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase()))
            .map_err(|_| format!("unknown compatibility strategy {s:?}"))
    }
}

impl std::fmt::Display for CompatibilityStrategy {
    /// The name Pulsar uses (`BACKWARD_TRANSITIVE`, ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

impl CompatibilityStrategy {
    /// Whether every version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityStrategy::BackwardTransitive
                | CompatibilityStrategy::ForwardTransitive
                | CompatibilityStrategy::FullTransitive
        )
    }

    /// (new reads old, old reads new): which directions are checked.
    pub fn directions(self) -> (bool, bool) {
        match self {
            CompatibilityStrategy::Backward | CompatibilityStrategy::BackwardTransitive => {
                (true, false)
            }
            CompatibilityStrategy::Forward | CompatibilityStrategy::ForwardTransitive => {
                (false, true)
            }
            _ => (true, true),
        }
    }
}
