//! Publishing numbered rounds before and after a storm: every subject gets one
//! message per round, numbered by the round, and the acks say where each was
//! written, so storm clients can resume from them.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use crate::conn::Conn;
use crate::load::numbered_payload;
use crate::wire::{Ack, Wire};

/// How long the system may take to acknowledge one round.
const ROUND_ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Publishes rounds `rounds` to every subject of `subjects` (message number = the
/// round) and waits for every ack, round by round, so at most one round is in
/// flight. Returns `acks[subject][round - rounds.start]`.
pub async fn publish_rounds(
    conn: &mut Conn,
    wire: &dyn Wire,
    subjects: &[String],
    rounds: Range<u64>,
    payload_bytes: usize,
    origin: Instant,
) -> anyhow::Result<Vec<Vec<Ack>>> {
    let mut acks: Vec<Vec<Ack>> = vec![Vec::new(); subjects.len()];
    let mut partial = Vec::new();
    for round in rounds {
        // Request ids are unique per connection: one per (round, subject).
        let id_of = |s: usize| round * subjects.len() as u64 + s as u64 + 1;
        let mut waiting: HashMap<u64, usize> = HashMap::with_capacity(subjects.len());
        for (s, subject) in subjects.iter().enumerate() {
            let payload = numbered_payload(origin, payload_bytes, round);
            conn.send(wire, wire.publish(subject, &payload, id_of(s)))
                .await?;
            waiting.insert(id_of(s), s);
        }
        let deadline = tokio::time::Instant::now() + ROUND_ACK_TIMEOUT;
        while !waiting.is_empty() {
            let message = tokio::time::timeout_at(deadline, conn.recv())
                .await
                .map_err(|_| {
                    anyhow!(
                        "{} publishes of round {round} unacknowledged",
                        waiting.len()
                    )
                })??
                .ok_or_else(|| anyhow!("the publisher's connection ended"))?;
            for ack in wire.receive(&message, &mut partial).acks {
                match waiting.remove(&ack.id) {
                    Some(s) => acks[s].push(ack),
                    None => bail!("an ack for an unknown publish {}", ack.id),
                }
            }
        }
    }
    Ok(acks)
}
