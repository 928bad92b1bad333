//! Which namespace bundle a topic falls in, by the broker's own rules
//! (`magnetar_broker::namespace`), for tests that must aim at a bundle or
//! check where a topic went; and topic names chosen to land in a bundle.

use anyhow::{anyhow, bail, Context, Result};
use magnetar_broker::namespace::{
    topic_hash, BundleRange, BundlesData, NamespaceBundles, TopicName,
};

/// `persistent://tenant/namespace/topic` for `topic` given with or without
/// the scheme.
pub fn full_topic_name(topic: &str) -> String {
    if topic.contains("://") {
        topic.to_string()
    } else {
        format!("persistent://{topic}")
    }
}

/// `(lower, upper)` of a bundle name `0x%08x_0x%08x`.
pub fn parse_bundle(name: &str) -> Result<(u32, u32)> {
    let range = BundleRange::parse(name).with_context(|| format!("{name:?} is not a bundle"))?;
    Ok((range.lower, range.upper))
}

/// The bundle part of an owned-bundle key `tenant/namespace/0x…_0x…`.
pub fn bundle_of_key(key: &str) -> Result<&str> {
    key.rsplit_once('/')
        .map(|(_, bundle)| bundle)
        .with_context(|| format!("{key:?} is not tenant/namespace/bundle"))
}

/// Bundle names from a namespace's boundary list.
pub fn bundle_names(boundaries: &[String]) -> Result<Vec<String>> {
    let data = BundlesData {
        boundaries: boundaries.to_vec(),
        num_bundles: boundaries.len().saturating_sub(1) as u32,
    };
    let bundles = NamespaceBundles::from_data(&data).map_err(|e| anyhow!("{e}"))?;
    Ok(bundles.ranges().map(|r| r.to_string()).collect())
}

fn hash_of(topic: &str) -> Result<u32> {
    let name = TopicName::parse(&full_topic_name(topic)).map_err(|e| anyhow!("{e}"))?;
    Ok(topic_hash(&name))
}

/// The bundle among `bundles` that holds `topic`.
pub fn bundle_of(topic: &str, bundles: &[String]) -> Result<String> {
    let hash = hash_of(topic)?;
    for bundle in bundles {
        let range =
            BundleRange::parse(bundle).with_context(|| format!("{bundle:?} is not a bundle"))?;
        if range.contains(hash) {
            return Ok(bundle.clone());
        }
    }
    bail!("no bundle among {bundles:?} holds {topic} (hash {hash:#010x})")
}

/// The first topic `persistent://{namespace}/{prefix}-{k}` (k = 0, 1, …)
/// that falls in `bundle`.
pub fn topic_in_bundle(namespace: &str, prefix: &str, bundle: &str) -> Result<String> {
    let range =
        BundleRange::parse(bundle).with_context(|| format!("{bundle:?} is not a bundle"))?;
    for k in 0..10_000_000_u32 {
        let topic = format!("persistent://{namespace}/{prefix}-{k}");
        if range.contains(hash_of(&topic)?) {
            return Ok(topic);
        }
    }
    bail!("no topic {namespace}/{prefix}-k falls in bundle {bundle}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_land_in_the_bundle_asked_for() {
        let boundaries: Vec<String> = ["0x00000000", "0x40000000", "0x80000000", "0xffffffff"]
            .iter()
            .map(|b| b.to_string())
            .collect();
        let bundles = bundle_names(&boundaries).unwrap();
        assert_eq!(bundles.len(), 3);
        for bundle in &bundles {
            let topic = topic_in_bundle("public/ns", "t", bundle).unwrap();
            assert_eq!(&bundle_of(&topic, &bundles).unwrap(), bundle);
        }
        assert_eq!(
            bundle_of_key("public/ns/0x00000000_0x40000000").unwrap(),
            "0x00000000_0x40000000"
        );
        assert!(bundle_names(&boundaries[1..]).is_err());
    }
}
