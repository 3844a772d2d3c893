//! Connection limits, checked at accept: at most `connections_max` open in total and
//! `connections_per_ip_max` per source address. A refused connection still gets an
//! HTTP answer (503 / 429) from the handshake, within the handshake timeout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sluice_runtime::Refusal;

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
}

/// A connection's place; given back when dropped.
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    pub fn new(connections_max: usize, connections_per_ip_max: usize) -> Arc<Self> {
        Arc::new(Admission {
            connections_max,
            connections_per_ip_max,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
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
