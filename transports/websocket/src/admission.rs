//! Connection limits, checked at accept: at most `connections_max` open in total and
//! `connections_per_ip_max` per source address. A refused connection still gets an
//! HTTP answer (503 / 429) from the handshake, within the handshake timeout. IPv6
//! sources count per /64 (one subscriber line's block), so a host cannot step
//! around the limit by changing its interface id.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sluice_driver::Refusal;

use crate::permessage_deflate::ContextSlots;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only addresses with open connections: bounded by `connections_max`.
    per_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
pub(crate) struct Admission {
    connections_max: usize,
    connections_per_ip_max: usize,
    counts: Mutex<Counts>,
    /// Connections that may keep permessage-deflate contexts.
    deflate_contexts: Arc<ContextSlots>,
}

/// A connection's place; given back when dropped.
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admitted {
    /// The places for connections that keep deflate contexts.
    pub fn deflate_contexts(&self) -> &Arc<ContextSlots> {
        &self.admission.deflate_contexts
    }
}

impl Admission {
    pub fn new(
        connections_max: usize,
        connections_per_ip_max: usize,
        deflate_contexts_max: usize,
    ) -> Arc<Self> {
        Arc::new(Admission {
            connections_max,
            connections_per_ip_max,
            counts: Mutex::new(Counts::default()),
            deflate_contexts: ContextSlots::new(deflate_contexts_max),
        })
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let ip = source_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.connections_max {
            return Err(Refusal::ConnectionsMax);
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.connections_per_ip_max {
            return Err(Refusal::ConnectionsPerIpMax);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Ok(Admitted {
            admission: self.clone(),
            ip,
        })
    }
}

/// The address a connection is counted under: IPv4 as it is (IPv4-mapped IPv6
/// too), IPv6 by its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_source_and_in_total() {
        let admission = Admission::new(3, 2, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Refusal::ConnectionsPerIpMax));
        let _third = admission.admit(b).unwrap();
        assert_eq!(
            admission.admit(b_same_64).err(),
            Some(Refusal::ConnectionsMax)
        );
        drop(first);
        let _fourth = admission.admit(b_same_64).unwrap();
        assert_eq!(
            admission.admit("::ffff:10.0.0.1".parse().unwrap()).err(),
            Some(Refusal::ConnectionsMax)
        );
    }
}
