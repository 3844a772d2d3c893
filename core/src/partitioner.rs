//! Kafka's default partitioner for keyed records, so a subject lands on the same
//! partition whichever broker (embedded or Kafka) holds it.

/// `murmur2(key) & 0x7fffffff % partitions`, as Kafka's `BuiltInPartitioner` does.
/// Null keys go to partition 0: Sluice needs one ordered log per subject, and
/// Kafka's sticky choice for null keys would scatter `/topic` over partitions.
pub fn partition_for_key(key: Option<&[u8]>, partition_count: u32) -> u32 {
    match key {
        None => 0,
        Some(_) if partition_count == 0 => 0,
        Some(key) => (murmur2::murmur2(key, murmur2::KAFKA_SEED) & 0x7fff_ffff) % partition_count,
    }
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

    #[test]
    fn spreads_and_stays_in_range() {
        for n in 1..10 {
            for k in 0..100u32 {
                let key = k.to_string();
                assert!(partition_for_key(Some(key.as_bytes()), n) < n);
            }
        }
        assert_eq!(partition_for_key(None, 8), 0);
    }
}
