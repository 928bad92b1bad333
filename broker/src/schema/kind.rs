//! Schema types: the wire enum (`Schema.Type`), Pulsar's admin names
//! (`AVRO`, `KEY_VALUE`, ...), and how a KeyValue schema packs its two
//! halves.

use std::fmt;

use magnetar_proto::pulsar::api::schema::Type as WireType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A schema's type. `None` is a schema-less (bytes) topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchemaKind {
    None,
    String,
    Json,
    Protobuf,
    Avro,
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float,
    Double,
    Date,
    Time,
    Timestamp,
    KeyValue,
    Instant,
    LocalDate,
    LocalTime,
    LocalDateTime,
    ProtobufNative,
}

impl SchemaKind {
    /// From the wire value; `None` for a value this broker does not know.
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match WireType::try_from(value).ok()? {
            WireType::None => SchemaKind::None,
            WireType::String => SchemaKind::String,
            WireType::Json => SchemaKind::Json,
            WireType::Protobuf => SchemaKind::Protobuf,
            WireType::Avro => SchemaKind::Avro,
            WireType::Bool => SchemaKind::Boolean,
            WireType::Int8 => SchemaKind::Int8,
            WireType::Int16 => SchemaKind::Int16,
            WireType::Int32 => SchemaKind::Int32,
            WireType::Int64 => SchemaKind::Int64,
            WireType::Float => SchemaKind::Float,
            WireType::Double => SchemaKind::Double,
            WireType::Date => SchemaKind::Date,
            WireType::Time => SchemaKind::Time,
            WireType::Timestamp => SchemaKind::Timestamp,
            WireType::KeyValue => SchemaKind::KeyValue,
            WireType::Instant => SchemaKind::Instant,
            WireType::LocalDate => SchemaKind::LocalDate,
            WireType::LocalTime => SchemaKind::LocalTime,
            WireType::LocalDateTime => SchemaKind::LocalDateTime,
            WireType::ProtobufNative => SchemaKind::ProtobufNative,
        })
    }

    pub fn to_wire(self) -> WireType {
        match self {
            SchemaKind::None => WireType::None,
            SchemaKind::String => WireType::String,
            SchemaKind::Json => WireType::Json,
            SchemaKind::Protobuf => WireType::Protobuf,
            SchemaKind::Avro => WireType::Avro,
            SchemaKind::Boolean => WireType::Bool,
            SchemaKind::Int8 => WireType::Int8,
            SchemaKind::Int16 => WireType::Int16,
            SchemaKind::Int32 => WireType::Int32,
            SchemaKind::Int64 => WireType::Int64,
            SchemaKind::Float => WireType::Float,
            SchemaKind::Double => WireType::Double,
            SchemaKind::Date => WireType::Date,
            SchemaKind::Time => WireType::Time,
            SchemaKind::Timestamp => WireType::Timestamp,
            SchemaKind::KeyValue => WireType::KeyValue,
            SchemaKind::Instant => WireType::Instant,
            SchemaKind::LocalDate => WireType::LocalDate,
            SchemaKind::LocalTime => WireType::LocalTime,
            SchemaKind::LocalDateTime => WireType::LocalDateTime,
            SchemaKind::ProtobufNative => WireType::ProtobufNative,
        }
    }

    /// Types whose definition is an Avro schema (JSON records are
    /// described in Avro's notation too), checked field by field.
    pub fn is_avro_like(self) -> bool {
        matches!(self, SchemaKind::Avro | SchemaKind::Json)
    }
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name: what the admin API shows.
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// The two halves of a KeyValue schema's data: `[key length (4 bytes, big
/// endian)][key][value length][value]`. `None` when the data is not in
/// that form.
pub fn split_key_value(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (key, rest) = take_sized(data)?;
    let (value, rest) = take_sized(rest)?;
    rest.is_empty().then_some((key, value))
}

fn take_sized(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let length: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let length = u32::from_be_bytes(length);
    let rest = &data[4..];
    // A negative length (Pulsar writes -1 for an empty half) is empty.
    if length == u32::MAX {
        return Some((&[], rest));
    }
    let length = usize::try_from(length).ok()?;
    Some((rest.get(..length)?, rest.get(length..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_admin_names_round_trip() {
        for value in 0..=20 {
            let kind = SchemaKind::from_wire(value).unwrap();
            assert_eq!(kind.to_wire() as i32, value);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<SchemaKind>(&json).unwrap(), kind);
        }
        assert_eq!(SchemaKind::from_wire(99), None);
        assert_eq!(SchemaKind::KeyValue.to_string(), "KEY_VALUE");
        assert_eq!(SchemaKind::ProtobufNative.to_string(), "PROTOBUF_NATIVE");
        assert_eq!(SchemaKind::Boolean.to_string(), "BOOLEAN");
    }

    #[test]
    fn key_value_data_splits_in_two() {
        let mut data = Vec::new();
        data.extend_from_slice(&3u32.to_be_bytes());
        data.extend_from_slice(b"key");
        data.extend_from_slice(&5u32.to_be_bytes());
        data.extend_from_slice(b"value");
        assert_eq!(split_key_value(&data), Some((&b"key"[..], &b"value"[..])));
        assert_eq!(split_key_value(&data[..data.len() - 1]), None);
        assert_eq!(split_key_value(b"\x00\x00"), None);
    }
}
