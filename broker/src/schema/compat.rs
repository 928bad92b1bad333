//! Compatibility strategies (Pulsar's `SchemaCompatibilityStrategy`) and
//! the check of a new schema against the versions a topic has.
//!
//! For AVRO and JSON (whose definitions are Avro schemas) the check is
//! Avro's schema resolution, through `apache-avro`:
//! - BACKWARD: the new schema reads data written with the old one;
//! - FORWARD: the old schema reads data written with the new one;
//! - FULL: both;
//! - the `_TRANSITIVE` forms check every version, the others only the
//!   latest.
//!
//! KeyValue schemas are checked half by half when a half is AVRO or JSON.
//! For the other types a schema of the same type is compatible and one of
//! another type is not (unless ALWAYS_COMPATIBLE).

use super::kind::{split_key_value, SchemaKind};
use super::SchemaError;
use crate::namespace::CompatibilityStrategy;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema as AvroSchema;

/// A schema as a client or the admin API gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDefinition {
    pub kind: SchemaKind,
    pub data: Vec<u8>,
    pub properties: std::collections::BTreeMap<String, String>,
}

impl SchemaDefinition {
    /// Refuses a definition that does not parse for its type.
    pub fn validate(&self) -> Result<(), SchemaError> {
        match self.kind {
            kind if kind.is_avro_like() => parse_avro(&self.data).map(|_| ()),
            SchemaKind::KeyValue => {
                let (key, value) = split_key_value(&self.data).ok_or_else(|| {
                    SchemaError::Invalid("KEY_VALUE data is not a key half and a value half".into())
                })?;
                for (half, data) in [("key", key), ("value", value)] {
                    if let Some(kind) = half_kind(&self.properties, half) {
                        if kind.is_avro_like() && !data.is_empty() {
                            parse_avro(data).map_err(|e| {
                                SchemaError::Invalid(format!("the {half} schema: {e}"))
                            })?;
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Checks `candidate` against `existing` (oldest first; not empty) under
/// `strategy`.
pub fn check(
    strategy: CompatibilityStrategy,
    existing: &[SchemaDefinition],
    candidate: &SchemaDefinition,
) -> Result<(), SchemaError> {
    let Some(latest) = existing.last() else {
        return Ok(());
    };
    match strategy {
        CompatibilityStrategy::AlwaysCompatible => return Ok(()),
        CompatibilityStrategy::AlwaysIncompatible => {
            return Err(SchemaError::Incompatible(
                "the namespace's strategy is ALWAYS_INCOMPATIBLE".into(),
            ))
        }
        _ => {}
    }
    if latest.kind != candidate.kind {
        return Err(SchemaError::Incompatible(format!(
            "the topic's schema is {}, not {}",
            latest.kind, candidate.kind
        )));
    }
    let against: &[SchemaDefinition] = if strategy.transitive() {
        existing
    } else {
        std::slice::from_ref(latest)
    };
    for old in against.iter().filter(|old| old.kind == candidate.kind) {
        check_pair(strategy, old, candidate)?;
    }
    Ok(())
}

fn check_pair(
    strategy: CompatibilityStrategy,
    old: &SchemaDefinition,
    new: &SchemaDefinition,
) -> Result<(), SchemaError> {
    match new.kind {
        kind if kind.is_avro_like() => check_avro(strategy, &old.data, &new.data),
        SchemaKind::KeyValue => {
            let (Some(old_halves), Some(new_halves)) =
                (split_key_value(&old.data), split_key_value(&new.data))
            else {
                return Ok(());
            };
            for (half, old_data, new_data) in [
                ("key", old_halves.0, new_halves.0),
                ("value", old_halves.1, new_halves.1),
            ] {
                let old_kind = half_kind(&old.properties, half);
                let new_kind = half_kind(&new.properties, half);
                if old_kind != new_kind {
                    return Err(SchemaError::Incompatible(format!(
                        "the {half} schema changed type"
                    )));
                }
                if new_kind.is_some_and(SchemaKind::is_avro_like)
                    && !old_data.is_empty()
                    && !new_data.is_empty()
                {
                    check_avro(strategy, old_data, new_data).map_err(|e| match e {
                        SchemaError::Incompatible(reason) => {
                            SchemaError::Incompatible(format!("the {half} schema: {reason}"))
                        }
                        other => other,
                    })?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_avro(strategy: CompatibilityStrategy, old: &[u8], new: &[u8]) -> Result<(), SchemaError> {
    let old = parse_avro(old)?;
    let new = parse_avro(new)?;
    let (backward, forward) = strategy.directions();
    if backward {
        SchemaCompatibility::can_read(&old, &new).map_err(|e| {
            SchemaError::Incompatible(format!(
                "the new schema cannot read data written with the old one: {e}"
            ))
        })?;
    }
    if forward {
        SchemaCompatibility::can_read(&new, &old).map_err(|e| {
            SchemaError::Incompatible(format!(
                "the old schema cannot read data written with the new one: {e}"
            ))
        })?;
    }
    Ok(())
}

fn parse_avro(data: &[u8]) -> Result<AvroSchema, SchemaError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| SchemaError::Invalid("the schema definition is not UTF-8".into()))?;
    AvroSchema::parse_str(text)
        .map_err(|e| SchemaError::Invalid(format!("not an Avro schema: {e}")))
}

/// A KeyValue half's type, from the schema's properties
/// (`key.schema.type`, `value.schema.type`).
fn half_kind(
    properties: &std::collections::BTreeMap<String, String>,
    half: &str,
) -> Option<SchemaKind> {
    let name = properties.get(&format!("{half}.schema.type"))?;
    serde_json::from_value(serde_json::Value::String(name.clone())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(fields: &str) -> SchemaDefinition {
        SchemaDefinition {
            kind: SchemaKind::Avro,
            data: format!(r#"{{"type":"record","name":"User","fields":[{fields}]}}"#).into_bytes(),
            properties: Default::default(),
        }
    }

    const V1: &str = r#"{"name":"name","type":"string"}"#;
    const V2_OPTIONAL: &str =
        r#"{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null}"#;
    const V2_REQUIRED: &str = r#"{"name":"name","type":"string"},{"name":"age","type":"int"}"#;

    #[test]
    fn adding_an_optional_field_is_fully_compatible() {
        let old = [avro(V1)];
        for strategy in [
            CompatibilityStrategy::Backward,
            CompatibilityStrategy::Forward,
            CompatibilityStrategy::Full,
        ] {
            assert!(
                check(strategy, &old, &avro(V2_OPTIONAL)).is_ok(),
                "{strategy:?}"
            );
        }
    }

    #[test]
    fn a_required_field_without_default_breaks_backward_only() {
        let old = [avro(V1)];
        // The new schema cannot read old data (no value for `age`)...
        assert!(matches!(
            check(CompatibilityStrategy::Backward, &old, &avro(V2_REQUIRED)),
            Err(SchemaError::Incompatible(_))
        ));
        assert!(check(CompatibilityStrategy::Full, &old, &avro(V2_REQUIRED)).is_err());
        // ...but the old one reads new data (it ignores the extra field).
        assert!(check(CompatibilityStrategy::Forward, &old, &avro(V2_REQUIRED)).is_ok());
        assert!(check(
            CompatibilityStrategy::AlwaysCompatible,
            &old,
            &avro(V2_REQUIRED)
        )
        .is_ok());
    }

    #[test]
    fn transitive_strategies_check_every_version() {
        // v1 -> v2 removes `name` (readable: v2 ignores it); v3 adds it back
        // as required: compatible with v2 (FORWARD), not with v1? It is the
        // same field, so use a type change to break v1 only.
        let v1 = avro(r#"{"name":"id","type":"string"}"#);
        let v2 = avro(r#"{"name":"other","type":["null","int"],"default":null}"#);
        let v3 = avro(
            r#"{"name":"id","type":"long"},{"name":"other","type":["null","int"],"default":null}"#,
        );
        let history = [v1, v2];
        assert!(check(CompatibilityStrategy::Forward, &history, &v3).is_ok());
        assert!(check(CompatibilityStrategy::ForwardTransitive, &history, &v3).is_err());
    }

    #[test]
    fn other_types_and_bad_definitions() {
        let string = SchemaDefinition {
            kind: SchemaKind::String,
            data: Vec::new(),
            properties: Default::default(),
        };
        assert!(check(
            CompatibilityStrategy::Full,
            std::slice::from_ref(&string),
            &string
        )
        .is_ok());
        assert!(matches!(
            check(CompatibilityStrategy::Full, &[string], &avro(V1)),
            Err(SchemaError::Incompatible(_))
        ));
        assert!(check(
            CompatibilityStrategy::AlwaysIncompatible,
            &[avro(V1)],
            &avro(V2_OPTIONAL)
        )
        .is_err());
        let broken = SchemaDefinition {
            kind: SchemaKind::Json,
            data: b"{not json".to_vec(),
            properties: Default::default(),
        };
        assert!(matches!(broken.validate(), Err(SchemaError::Invalid(_))));
        assert!(avro(V1).validate().is_ok());
        assert_eq!(
            "backward_transitive".parse::<CompatibilityStrategy>(),
            Ok(CompatibilityStrategy::BackwardTransitive)
        );
        assert!("sideways".parse::<CompatibilityStrategy>().is_err());
    }
}
