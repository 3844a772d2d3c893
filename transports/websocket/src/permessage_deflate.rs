//! permessage-deflate (RFC 7692), negotiated in the upgrade: which offer of the
//! client's `Sec-WebSocket-Extensions` the gateway takes, and what it answers.
//! tungstenite has no extensions, so the connection does the rest itself:
//! `inflating` turns the client's compressed frames into plain ones before
//! tungstenite reads them, and `deflating` compresses what the gateway sends.
//!
//! By default both sides compress each message on its own (`server_no_context_takeover`
//! and `client_no_context_takeover`, which a server may always ask for): no deflate
//! state stays with a connection between messages, so an idle connection costs what
//! it costs without compression, and a live update is compressed once for all its
//! subscribers. `websocket.deflate_context_takeover = true` keeps a compressor and a
//! decompressor per connection instead: better ratios on similar messages, for
//! about 340 KiB per connection (miniz_oxide's compressor 300 KiB, decompressor
//! 43 KiB, measured).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The connections that may keep deflate contexts between messages, at most
/// `websocket.deflate_context_takeover_connections_max`: a bound on the ~340 KiB
/// each costs. Beyond it, connections negotiate without context takeover.
#[derive(Debug)]
pub struct ContextSlots {
    max: usize,
    used: AtomicUsize,
}

/// One connection's place among [`ContextSlots`], given back when dropped.
#[derive(Debug)]
pub struct ContextSlot(Arc<ContextSlots>);

impl ContextSlots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ContextSlots {
            max,
            used: AtomicUsize::new(0),
        })
    }

    /// A place, if one is free.
    pub fn take(self: &Arc<Self>) -> Option<ContextSlot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max).then_some(used + 1)
            })
            .ok()
            .map(|_| ContextSlot(self.clone()))
    }
}

impl Drop for ContextSlot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The parameters both sides settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The gateway keeps its compression context from message to message.
    pub server_takeover: bool,
    /// The client keeps its context: the gateway's decompressor must too.
    pub client_takeover: bool,
}

impl Negotiated {
    /// The `Sec-WebSocket-Extensions` value of the answer.
    pub fn response_header(&self) -> String {
        let mut value = "permessage-deflate".to_owned();
        if !self.server_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if !self.client_takeover {
            value.push_str("; client_no_context_takeover");
        }
        value
    }
}

/// Takes the first permessage-deflate offer among `headers` (the values of every
/// `Sec-WebSocket-Extensions` header) whose parameters the gateway can honour; `None`
/// when there is none, and the connection goes uncompressed. `context_takeover` is
/// `websocket.deflate_context_takeover`.
pub fn negotiate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    context_takeover: bool,
) -> Option<Negotiated> {
    headers
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(|offer| accept_offer(offer, context_takeover))
}

fn accept_offer(offer: &str, context_takeover: bool) -> Option<Negotiated> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut server_no_takeover = false;
    let mut client_no_takeover = false;
    let mut seen: Vec<&str> = Vec::new();
    for param in parts.filter(|p| !p.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        // A parameter given twice makes the offer invalid (RFC 7692 §7).
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        match (name, value) {
            ("server_no_context_takeover", None) => server_no_takeover = true,
            ("client_no_context_takeover", None) => client_no_takeover = true,
            // The client can limit its window if asked; the gateway does not ask.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(bits)) if window_bits(bits).is_some() => {}
            // The gateway compresses with a 32 KiB window (15 bits) only.
            ("server_max_window_bits", Some(bits)) if window_bits(bits) == Some(15) => {}
            _ => return None,
        }
    }
    Some(Negotiated {
        server_takeover: context_takeover && !server_no_takeover,
        client_takeover: context_takeover && !client_no_takeover,
    })
}

fn window_bits(value: &str) -> Option<u8> {
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both_off() -> Option<Negotiated> {
        Some(Negotiated {
            server_takeover: false,
            client_takeover: false,
        })
    }

    #[test]
    fn context_slots_are_bounded_and_given_back() {
        let slots = ContextSlots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }

    #[test]
    fn a_browsers_offer_is_taken_without_context_takeover() {
        // What Chromium and Firefox send.
        let offer = "permessage-deflate; client_max_window_bits";
        let taken = negotiate([offer], false);
        assert_eq!(taken, both_off());
        assert_eq!(
            taken.unwrap().response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn with_context_takeover_the_clients_wishes_still_count() {
        let taken = negotiate(["permessage-deflate; client_no_context_takeover"], true);
        let expected = Negotiated {
            server_takeover: true,
            client_takeover: false,
        };
        assert_eq!(taken, Some(expected));
        assert_eq!(
            expected.response_header(),
            "permessage-deflate; client_no_context_takeover"
        );
    }

    #[test]
    fn offers_the_gateway_cannot_honour_are_passed_over() {
        assert_eq!(
            negotiate(["permessage-deflate; server_max_window_bits=10"], false),
            None
        );
        assert_eq!(negotiate(["permessage-deflate; unknown"], false), None);
        assert_eq!(
            negotiate(
                ["permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
                false
            ),
            None
        );
        assert_eq!(negotiate(["x-webkit-deflate-frame"], false), None);
        assert_eq!(negotiate([], false), None);
        // The next offer is taken when the first cannot be.
        let offers = "permessage-deflate; server_max_window_bits=9, permessage-deflate";
        assert_eq!(negotiate([offers], false), both_off());
        assert_eq!(
            negotiate(["permessage-deflate; server_max_window_bits=15"], false),
            both_off()
        );
    }
}
