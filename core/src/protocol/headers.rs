//! Record headers on the way to subscribers (protocol 1.1): bounded, since a
//! record may carry any number and they are kept in the caches with the message.

use std::sync::Arc;

use crate::broker::Header;

/// Bytes `headers` cost: names, values and a small allowance each.
pub fn headers_bytes(headers: &[Header]) -> usize {
    headers
        .iter()
        .map(|h| 8 + h.name.len() + h.value.len())
        .sum()
}

/// How many headers, and how many bytes of names and values, a message keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBounds {
    pub count_max: usize,
    pub bytes_max: usize,
}

impl HeaderBounds {
    /// The first of `headers` that fit; `None` when there are none. The record's
    /// own list is shared, not copied, when it fits. The flag says whether any
    /// were left out.
    pub fn apply(self, headers: &Arc<[Header]>) -> (Option<Arc<[Header]>>, bool) {
        if headers.is_empty() {
            return (None, false);
        }
        let mut bytes = 0;
        let fitting = headers
            .iter()
            .take(self.count_max)
            .take_while(|h| {
                bytes += h.name.len() + h.value.len();
                bytes <= self.bytes_max
            })
            .count();
        if fitting == headers.len() {
            (Some(headers.clone()), false)
        } else if fitting == 0 {
            (None, true)
        } else {
            (Some(headers[..fitting].iter().cloned().collect()), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Arc<[Header]> {
        pairs
            .iter()
            .map(|(name, value)| Header {
                name: (*name).to_owned(),
                value: bytes::Bytes::copy_from_slice(value.as_bytes()),
            })
            .collect()
    }

    #[test]
    fn headers_within_the_bounds_are_shared_and_the_rest_cut() {
        let bounds = |count_max, bytes_max| HeaderBounds {
            count_max,
            bytes_max,
        };
        let headers = list(&[("a", "1234"), ("bb", "5678"), ("c", "9")]);
        let (kept, cut) = bounds(8, 1024).apply(&headers);
        assert!(Arc::ptr_eq(kept.as_ref().unwrap(), &headers));
        assert!(!cut);
        // By count.
        let (kept, cut) = bounds(2, 1024).apply(&headers);
        assert_eq!(kept.unwrap().len(), 2);
        assert!(cut);
        // By bytes: "a"+"1234" = 5, "bb"+"5678" = 6 → 11 > 10.
        let (kept, cut) = bounds(8, 10).apply(&headers);
        assert_eq!(kept.unwrap().len(), 1);
        assert!(cut);
        assert_eq!(bounds(0, 1024).apply(&headers), (None, true));
        assert_eq!(bounds(8, 1024).apply(&list(&[])), (None, false));
    }
}
