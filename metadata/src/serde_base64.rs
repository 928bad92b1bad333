//! Serde helper that writes byte values as one base64 string.
//!
//! The Raft log, its RPCs and its snapshots are JSON. Plain `Bytes` would
//! become a JSON array of numbers, about 4 characters per byte and slow to
//! parse; a 1 MiB value would cost ~4 MiB of log. Base64 costs 4/3.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(value: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(value))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "super")]
        value: Bytes,
    }

    #[test]
    fn round_trips_and_is_compact() {
        let holder = Holder {
            value: Bytes::from(vec![0u8, 1, 255, 7, 7, 7]),
        };
        let json = serde_json::to_string(&holder).unwrap();
        assert_eq!(json, r#"{"value":"AAH/BwcH"}"#);
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), holder);
    }

    #[test]
    fn rejects_invalid_base64() {
        assert!(serde_json::from_str::<Holder>(r#"{"value":"!!"}"#).is_err());
    }
}
