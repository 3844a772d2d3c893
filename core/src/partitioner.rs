//! Where a publish goes when the gateway has not yet seen the key's records: the
//! partitioner its back-end producers use, per topic. Records themselves are routed
//! from whichever partition they are on (`gateway/records.rs`); a partitioner only
//! picks the partition of a key the gateway has no record of.

use std::fmt;

/// A keyed-record partitioner, as Kafka producers implement them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Partitioner {
    /// `murmur2(key) & 0x7fffffff % partitions`: the Java client's default
    /// (`BuiltInPartitioner`), and librdkafka's `murmur2` / `murmur2_random`.
    #[default]
    Murmur2,
    /// `crc32(key) % partitions`: librdkafka's `consistent`, and its default
    /// `consistent_random` for keyed records (Python confluent-kafka, Go, .NET,
    /// node-rdkafka, kcat).
    Consistent,
}

impl Partitioner {
    pub const ALL: [Partitioner; 2] = [Partitioner::Murmur2, Partitioner::Consistent];

    pub fn as_str(self) -> &'static str {
        match self {
            Partitioner::Murmur2 => "murmur2",
            Partitioner::Consistent => "consistent",
        }
    }

    /// The partition of `key` among `partition_count`. Null keys go to partition 0:
    /// Sluice needs one ordered log per subject, and a sticky or random choice for
    /// null keys would scatter `/topic` over partitions.
    pub fn partition(self, key: Option<&[u8]>, partition_count: u32) -> u32 {
        match key {
            None => 0,
            Some(_) if partition_count == 0 => 0,
            Some(key) => match self {
                Partitioner::Murmur2 => {
                    (murmur2::murmur2(key, murmur2::KAFKA_SEED) & 0x7fff_ffff) % partition_count
                }
                // librdkafka's rd_kafka_msg_partitioner_consistent: rd_crc32(key) % cnt.
                Partitioner::Consistent => crc32fast::hash(key) % partition_count,
            },
        }
    }
}

impl fmt::Display for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kafka's default partitioner (murmur2); null keys go to partition 0.
pub fn partition_for_key(key: Option<&[u8]>, partition_count: u32) -> u32 {
    Partitioner::Murmur2.partition(key, partition_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn matches_kafka_murmur2() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2::murmur2(key, murmur2::KAFKA_SEED) as i32, *expected);
        }
    }

    /// librdkafka's CRC32 is the IEEE one (zlib's `crc32`): the check value of
    /// "123456789" is 0xCBF43926, so `consistent` maps it to 0xCBF43926 % n.
    #[test]
    fn consistent_is_ieee_crc32_mod_count() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            Partitioner::Consistent.partition(Some(b"123456789"), 8),
            0xCBF4_3926 % 8
        );
        assert_eq!(Partitioner::Consistent.partition(None, 8), 0);
    }

    #[test]
    fn spreads_and_stays_in_range() {
        for partitioner in Partitioner::ALL {
            for n in 1..10 {
                for k in 0..100u32 {
                    let key = k.to_string();
                    assert!(partitioner.partition(Some(key.as_bytes()), n) < n);
                }
            }
            assert_eq!(partitioner.partition(None, 8), 0);
        }
    }
}
