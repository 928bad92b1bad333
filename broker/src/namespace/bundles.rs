//! Namespace bundles: a namespace's 32-bit hash space cut into ranges by a
//! sorted boundary list. A topic belongs to the bundle containing
//! `CRC32(utf8(full topic name))` (IEEE CRC32, as Guava's and zlib's), so
//! every broker computes the same placement. Bundle `[lower, upper)`; the
//! last bundle also contains `0xffffffff`. Names are `0x%08x_0x%08x`.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{NamespaceError, TopicName};

pub const FULL_LOWER: u32 = 0x0000_0000;
pub const FULL_UPPER: u32 = 0xffff_ffff;
pub const DEFAULT_BUNDLE_COUNT: u32 = 4;

/// The hash a topic is placed by.
pub fn topic_hash(topic: &TopicName) -> u32 {
    crc32fast::hash(topic.to_string().as_bytes())
}

/// One bundle's hash range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleRange {
    pub lower: u32,
    pub upper: u32,
}

impl BundleRange {
    pub fn contains(&self, hash: u32) -> bool {
        (self.lower <= hash && hash < self.upper)
            || (self.upper == FULL_UPPER && hash == FULL_UPPER)
    }

    /// Parses `0x%08x_0x%08x`.
    pub fn parse(name: &str) -> Option<Self> {
        let (lower, upper) = name.split_once('_')?;
        let parse_hex = |s: &str| u32::from_str_radix(s.strip_prefix("0x")?, 16).ok();
        let range = BundleRange {
            lower: parse_hex(lower)?,
            upper: parse_hex(upper)?,
        };
        (range.lower < range.upper).then_some(range)
    }
}

impl fmt::Display for BundleRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}_0x{:08x}", self.lower, self.upper)
    }
}

/// Bundle boundaries as stored in namespace policies (hex strings, like Pulsar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundlesData {
    pub boundaries: Vec<String>,
    pub num_bundles: u32,
}

/// Validated, sorted boundaries of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceBundles {
    boundaries: Vec<u32>,
}

impl NamespaceBundles {
    /// `count` equal-width bundles.
    pub fn equal(count: u32) -> Result<Self, NamespaceError> {
        if count == 0 || count > 1 << 16 {
            return Err(NamespaceError::InvalidBundles(
                "bundle count must be in 1..=65536".into(),
            ));
        }
        let mut boundaries: Vec<u32> = (0..count)
            .map(|i| ((u64::from(i) << 32) / u64::from(count)) as u32)
            .collect();
        boundaries.push(FULL_UPPER);
        Self::from_boundaries(boundaries)
    }

    /// Checks the boundaries: strictly increasing, from 0 to 0xffffffff.
    pub fn from_boundaries(boundaries: Vec<u32>) -> Result<Self, NamespaceError> {
        let invalid = |reason: &str| Err(NamespaceError::InvalidBundles(reason.to_string()));
        if boundaries.len() < 2 {
            return invalid("need at least two boundaries");
        }
        if boundaries.first() != Some(&FULL_LOWER) || boundaries.last() != Some(&FULL_UPPER) {
            return invalid("boundaries must start at 0x00000000 and end at 0xffffffff");
        }
        if boundaries.windows(2).any(|w| w[0] >= w[1]) {
            return invalid("boundaries must be strictly increasing");
        }
        Ok(NamespaceBundles { boundaries })
    }

    pub fn from_data(data: &BundlesData) -> Result<Self, NamespaceError> {
        let parsed: Option<Vec<u32>> = data
            .boundaries
            .iter()
            .map(|b| u32::from_str_radix(b.trim_start_matches("0x"), 16).ok())
            .collect();
        match parsed {
            Some(boundaries) => Self::from_boundaries(boundaries),
            None => Err(NamespaceError::InvalidBundles(
                "boundaries must be hex numbers".into(),
            )),
        }
    }

    pub fn to_data(&self) -> BundlesData {
        BundlesData {
            boundaries: self
                .boundaries
                .iter()
                .map(|b| format!("0x{b:08x}"))
                .collect(),
            num_bundles: self.len() as u32,
        }
    }

    pub fn len(&self) -> usize {
        self.boundaries.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ranges(&self) -> impl Iterator<Item = BundleRange> + '_ {
        self.boundaries.windows(2).map(|w| BundleRange {
            lower: w[0],
            upper: w[1],
        })
    }

    /// The bundle containing `hash`.
    pub fn range_for_hash(&self, hash: u32) -> BundleRange {
        // Index of the first boundary > hash; the bundle starts one before it.
        let index = self
            .boundaries
            .partition_point(|b| *b <= hash)
            .clamp(1, self.boundaries.len() - 1);
        BundleRange {
            lower: self.boundaries[index - 1],
            upper: self.boundaries[index],
        }
    }

    pub fn range_for_topic(&self, topic: &TopicName) -> BundleRange {
        self.range_for_hash(topic_hash(topic))
    }

    /// Whether `range` is one of these bundles.
    pub fn contains_range(&self, range: &BundleRange) -> bool {
        self.ranges().any(|r| r == *range)
    }

    /// Halves `range` at its midpoint (Pulsar's `range_equally_divide`):
    /// the bundles with `range` replaced by its two halves, and the halves.
    pub fn split(&self, range: &BundleRange) -> Result<(Self, [BundleRange; 2]), NamespaceError> {
        if !self.contains_range(range) {
            return Err(NamespaceError::BundleNotFound(range.to_string()));
        }
        if range.upper - range.lower < 2 {
            return Err(NamespaceError::InvalidBundles(format!(
                "bundle {range} is too narrow to split"
            )));
        }
        let middle = range.lower + (range.upper - range.lower) / 2;
        let mut boundaries = self.boundaries.clone();
        let at = boundaries.partition_point(|b| *b <= range.lower);
        boundaries.insert(at, middle);
        let halves = [
            BundleRange {
                lower: range.lower,
                upper: middle,
            },
            BundleRange {
                lower: middle,
                upper: range.upper,
            },
        ];
        Ok((Self::from_boundaries(boundaries)?, halves))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit reflected CRC32 (polynomial 0xEDB88320), independent of crc32fast.
    fn reference_crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32_matches_reference_and_known_vector() {
        // The standard CRC32 check value.
        assert_eq!(reference_crc32(b"123456789"), 0xcbf4_3926);
        for name in [
            "persistent://public/default/foo",
            "persistent://t/ns/x-partition-7",
            "persistent://a/b/é",
        ] {
            let topic = TopicName::parse(name).unwrap();
            assert_eq!(
                topic_hash(&topic),
                reference_crc32(name.as_bytes()),
                "{name}"
            );
        }
    }

    #[test]
    fn default_bundles_tile_the_full_range() {
        let bundles = NamespaceBundles::equal(DEFAULT_BUNDLE_COUNT).unwrap();
        let names: Vec<String> = bundles.ranges().map(|r| r.to_string()).collect();
        assert_eq!(
            names,
            [
                "0x00000000_0x40000000",
                "0x40000000_0x80000000",
                "0x80000000_0xc0000000",
                "0xc0000000_0xffffffff"
            ]
        );
        for count in [1, 3, 4, 7, 128] {
            let bundles = NamespaceBundles::equal(count).unwrap();
            let ranges: Vec<BundleRange> = bundles.ranges().collect();
            assert_eq!(ranges.len(), count as usize);
            assert_eq!(ranges[0].lower, FULL_LOWER);
            assert_eq!(ranges.last().unwrap().upper, FULL_UPPER);
            assert!(
                ranges.windows(2).all(|w| w[0].upper == w[1].lower),
                "no gaps or overlaps"
            );
            for hash in [
                0,
                1,
                0x3fff_ffff,
                0x4000_0000,
                0x9abc_def0,
                FULL_UPPER - 1,
                FULL_UPPER,
            ] {
                let containing: Vec<_> = ranges.iter().filter(|r| r.contains(hash)).collect();
                assert_eq!(containing.len(), 1, "hash {hash:#x} in exactly one bundle");
                assert_eq!(*containing[0], bundles.range_for_hash(hash));
            }
        }
    }

    #[test]
    fn split_halves_one_range_and_still_tiles_everything() {
        let bundles = NamespaceBundles::equal(4).unwrap();
        let parent = BundleRange::parse("0x40000000_0x80000000").unwrap();
        let (split, [low, high]) = bundles.split(&parent).unwrap();
        assert_eq!(split.len(), 5);
        assert_eq!(low.to_string(), "0x40000000_0x60000000");
        assert_eq!(high.to_string(), "0x60000000_0x80000000");
        let ranges: Vec<BundleRange> = split.ranges().collect();
        assert!(ranges.windows(2).all(|w| w[0].upper == w[1].lower));
        for hash in [parent.lower, 0x5fff_ffff, 0x6000_0000, parent.upper - 1] {
            let child = split.range_for_hash(hash);
            assert!(child == low || child == high, "{hash:#x} lands in a half");
            assert!(parent.contains(hash));
        }
        assert!(split.range_for_hash(0x1000_0000) == bundles.range_for_hash(0x1000_0000));

        let last = BundleRange::parse("0xc0000000_0xffffffff").unwrap();
        let (split, [_, high]) = bundles.split(&last).unwrap();
        assert_eq!(
            split.range_for_hash(FULL_UPPER),
            high,
            "the top hash stays in the last bundle"
        );

        assert!(matches!(
            bundles.split(&BundleRange::parse("0x00000000_0x20000000").unwrap()),
            Err(NamespaceError::BundleNotFound(_))
        ));
        let narrow = NamespaceBundles::from_boundaries(vec![0, 1, FULL_UPPER]).unwrap();
        assert!(narrow.split(&BundleRange { lower: 0, upper: 1 }).is_err());
    }

    #[test]
    fn boundaries_round_trip_and_are_validated() {
        let bundles = NamespaceBundles::equal(4).unwrap();
        assert_eq!(
            NamespaceBundles::from_data(&bundles.to_data()).unwrap(),
            bundles
        );
        assert!(NamespaceBundles::from_boundaries(vec![0, 5, 5, FULL_UPPER]).is_err());
        assert!(NamespaceBundles::from_boundaries(vec![1, FULL_UPPER]).is_err());
        assert_eq!(
            BundleRange::parse("0x00000000_0x40000000"),
            Some(BundleRange {
                lower: 0,
                upper: 0x4000_0000
            })
        );
        assert_eq!(BundleRange::parse("junk"), None);
    }
}
