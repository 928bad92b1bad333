//! What a replicator ships: a stored message body stamped with the
//! cluster it comes from, or nothing for an entry that stays home.

use bytes::Bytes;
use magnetar_proto::pulsar::{decode_metadata, encode_body, split_body, FrameError};

/// A message body stamped for the remote.
pub struct Shipped {
    pub messages: i32,
    pub body: Bytes,
    pub publish_time: u64,
}

/// The message body `body` as shipped from `local` to `remote`
/// (`replicated_from` set, all else kept), or `None` when it is not to be
/// shipped: it came from another cluster, its `replicate_to` leaves
/// `remote` out, or it is a marker.
pub fn stamp(body: &Bytes, local: &str, remote: &str) -> Result<Option<Shipped>, FrameError> {
    let mut metadata = decode_metadata(body)?;
    if metadata.replicated_from.is_some()
        || metadata.marker_type.is_some()
        || (!metadata.replicate_to.is_empty() && !metadata.replicate_to.iter().any(|c| c == remote))
    {
        return Ok(None);
    }
    let (_, payload) = split_body(body)?;
    metadata.replicated_from = Some(local.to_string());
    Ok(Some(Shipped {
        messages: metadata.num_messages_in_batch.unwrap_or(1).max(1),
        publish_time: metadata.publish_time,
        body: encode_body(&metadata, &payload),
    }))
}

#[cfg(test)]
mod tests {
    use magnetar_proto::pulsar::api::MessageMetadata;

    use super::*;

    fn body(metadata: MessageMetadata) -> Bytes {
        encode_body(&metadata, b"payload")
    }

    fn metadata() -> MessageMetadata {
        MessageMetadata {
            producer_name: "p".into(),
            sequence_id: 7,
            publish_time: 1234,
            num_messages_in_batch: Some(3),
            partition_key: Some("k".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_local_message_ships_stamped_with_its_origin_and_otherwise_unchanged() {
        let shipped = stamp(&body(metadata()), "east", "west")
            .expect("decodes")
            .expect("ships");
        assert_eq!((shipped.messages, shipped.publish_time), (3, 1234));
        let sent = decode_metadata(&shipped.body).expect("decodes");
        assert_eq!(sent.replicated_from.as_deref(), Some("east"));
        assert_eq!(
            MessageMetadata {
                replicated_from: None,
                ..sent
            },
            metadata()
        );
        let (_, payload) = split_body(&shipped.body).expect("splits");
        assert_eq!(&payload[..], b"payload");
    }

    #[test]
    fn replicated_messages_markers_and_other_destinations_stay_home() {
        let from_elsewhere = MessageMetadata {
            replicated_from: Some("north".into()),
            ..metadata()
        };
        let marker = MessageMetadata {
            marker_type: Some(10),
            ..metadata()
        };
        let only_north = MessageMetadata {
            replicate_to: vec!["north".into()],
            ..metadata()
        };
        let west_too = MessageMetadata {
            replicate_to: vec!["north".into(), "west".into()],
            ..metadata()
        };
        for skipped in [from_elsewhere, marker, only_north] {
            assert!(stamp(&body(skipped), "east", "west")
                .expect("decodes")
                .is_none());
        }
        assert!(stamp(&body(west_too), "east", "west")
            .expect("decodes")
            .is_some());
        assert!(stamp(&Bytes::from_static(b"\0\0\0\x09xx"), "east", "west").is_err());
    }
}
