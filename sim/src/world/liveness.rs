//! After healing, the world has settled: every subscriber must be at the head of
//! the log, every request answered, every acknowledged publish delivered.

use super::World;
use crate::check::{Oracle, Phase};
use crate::violation::{Broken, Invariant, Violation};

impl World {
    pub(super) fn check_liveness(&self) -> Result<(), Violation> {
        let Some(gateway) = self.gateway.as_ref() else {
            return Err(self.violation(
                (
                    Invariant::Liveness,
                    "the gateway never came back".to_owned(),
                ),
                None,
            ));
        };
        let log = &self.broker.log;
        for t in 0..log.topic_count() {
            let positions = gateway.topic_positions(log.topic_name(t));
            for p in 0..log.partition_count(t) {
                let head = positions.get(p as usize).map_or(0, |(_, next)| *next);
                let end = log.end_offset(t, p);
                if head != end {
                    return Err(self.violation(
                        (
                            Invariant::Liveness,
                            format!(
                                "the gateway read {}/{p} up to {head}, but the log ends at {end}",
                                log.topic_name(t)
                            ),
                        ),
                        None,
                    ));
                }
            }
        }
        let oracle = Oracle {
            subjects: &self.subjects,
            broker: &self.broker,
            reads: &self.reads,
            gateway,
        };
        for (c, client) in self.clients.iter().enumerate() {
            let Some(conn) = client.conn.as_ref() else {
                return Err(self.violation(
                    (Invariant::Liveness, format!("client {c} is not connected")),
                    None,
                ));
            };
            let who = Some((c, conn.id));
            let settled = || -> Result<(), Broken> {
                if let Some((id, request)) = conn.requests.iter().next() {
                    return Err((
                        Invariant::Liveness,
                        format!("request {id} ({request:?}) was never answered"),
                    ));
                }
                let queued = gateway.client_queue_bytes(conn.id).unwrap_or(0);
                if queued > 0 {
                    return Err((Invariant::Liveness, format!("{queued} bytes still queued")));
                }
                let wanted = client.session.iter().flat_map(|session| session.subjects());
                for subject in wanted.filter_map(|text| self.subjects.find(text)) {
                    if conn.views.get(subject).is_none() {
                        return Err((
                            Invariant::Liveness,
                            format!(
                                "{} is wanted but not subscribed",
                                self.subjects.get(subject).text
                            ),
                        ));
                    }
                }
                for (subject, view) in conn.views.iter() {
                    let text = &self.subjects.get(subject).text;
                    if view.phase == Phase::Resuming {
                        return Err((
                            Invariant::Liveness,
                            format!("{text}: the resume never ended with sync or resync"),
                        ));
                    }
                    let Some(on) = view.on else {
                        // Nothing since the start or the last resync: nothing was owed.
                        if let Some(missing) = self.reads.first_after(subject, view.start_reads()) {
                            return Err((
                                Invariant::Liveness,
                                format!(
                                    "{text}: record {} of partition {} never arrived (nothing since the start or resync; log head reached by the gateway)",
                                    missing.offset, missing.partition
                                ),
                            ));
                        }
                        if matches!(view.phase, Phase::SnapshotStart | Phase::Resynced) {
                            oracle.check_no_snapshot(subject, view.start_reads())?;
                        }
                        continue;
                    };
                    if let Some(now) = self
                        .reads
                        .current(subject, self.reads.count())
                        .filter(|r| r.partition != on.partition)
                    {
                        return Err((
                            Invariant::Liveness,
                            format!(
                                "{text}: the client is on partition {}'s log (last seq {:?}), but the subject's records are on partition {} (its record at {}), and no resync came",
                                on.partition, view.last, now.partition, now.offset
                            ),
                        ));
                    }
                    if let Some(missing) = log.next_routed(subject, on.partition, on.from) {
                        return Err((
                            Invariant::Liveness,
                            format!(
                                "{text}: record {missing} of partition {} never arrived (last seq {:?}, log head reached by the gateway)",
                                on.partition, view.last
                            ),
                        ));
                    }
                }
                for &(subject, partition, seq) in &self.acked {
                    let Some(view) = conn.views.get(subject) else {
                        continue;
                    };
                    let Some(on) = view.on.filter(|on| on.partition == partition) else {
                        continue;
                    };
                    if on.origin <= seq && view.last.is_none_or(|last| last < seq) {
                        return Err((
                            Invariant::AckedPublish,
                            format!(
                                "{}: the acknowledged publish at seq {seq} of partition {partition} never reached this subscriber (on that log from {})",
                                self.subjects.get(subject).text,
                                on.origin
                            ),
                        ));
                    }
                }
                Ok(())
            };
            settled().map_err(|broken| self.violation(broken, who))?;
        }
        Ok(())
    }
}
