//! The HTTP upgrade: connection limits, path, `Origin`, token, subprotocol.

use std::sync::Arc;

use sluice_core::protocol::Encoding;
use sluice_core::Grant;
use sluice_driver::{Refusal, Runtime};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use crate::config::WebSocketConfig;
use crate::permessage_deflate::{self, ContextSlot, ContextSlots, Negotiated};

/// The only path protocol v1 is served on.
pub const PATH: &str = "/v1/ws";

/// What an accepted upgrade settled.
pub struct Accepted {
    pub encoding: Encoding,
    /// The verified token of the `Authorization` header or `token` query parameter.
    pub grant: Option<Grant>,
    /// permessage-deflate, if the client offered it and `websocket.deflate` is on.
    pub deflate: Option<Negotiated>,
    /// Its place among the connections that keep deflate contexts, if it does.
    pub deflate_slot: Option<ContextSlot>,
}

/// Checks the upgrade request and picks the encoding: the first subprotocol offered
/// that Sluice speaks; JSON when none is offered. `refused` is the admission verdict
/// taken at accept.
pub fn negotiate(
    request: &Request,
    response: Response,
    refused: Option<Refusal>,
    config: &WebSocketConfig,
    runtime: &Runtime,
    deflate_contexts: Option<&Arc<ContextSlots>>,
) -> Result<(Response, Accepted), ErrorResponse> {
    match refused {
        Some(Refusal::ConnectionsMax) => {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections".to_owned(),
            ))
        }
        Some(_) => {
            return Err(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address".to_owned(),
            ))
        }
        None => {}
    }
    if request.uri().path() != PATH {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("not found; protocol v1 is served on {PATH}"),
        ));
    }
    if !origin_allowed(request, config) {
        runtime.count_refusal(Refusal::Origin);
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "origin not allowed".to_owned(),
        ));
    }
    let grant = match runtime.auth_required().then(|| token_of(request)).flatten() {
        None => None,
        Some(token) => match runtime.verify_token(token) {
            Ok(grant) => Some(grant),
            Err(failure) => {
                runtime.count_refusal(Refusal::Token);
                return Err(refuse(StatusCode::UNAUTHORIZED, failure.0));
            }
        },
    };
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // No subprotocol offered: JSON, and none named in the answer.
    let encoding = match offered.is_empty() {
        true => None,
        false => match offered
            .iter()
            .find_map(|name| Encoding::from_subprotocol(name))
        {
            Some(encoding) => Some(encoding),
            None => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "no supported subprotocol; offer sluice.v1.json or sluice.v1.bin".to_owned(),
                ))
            }
        },
    };
    let mut response = response;
    if let Some(encoding) = encoding {
        response.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(encoding.subprotocol()),
        );
    }
    let (deflate, deflate_slot) = deflate_of(request, config, deflate_contexts);
    if let Some(negotiated) = deflate {
        if let Ok(value) = HeaderValue::from_str(&negotiated.response_header()) {
            response
                .headers_mut()
                .insert("sec-websocket-extensions", value);
        }
    }
    let accepted = Accepted {
        encoding: encoding.unwrap_or(Encoding::Json),
        grant,
        deflate,
        deflate_slot,
    };
    Ok((response, accepted))
}

/// The permessage-deflate the gateway answers the request's offers with, and the
/// place it took among the connections that keep contexts, if it keeps any.
fn deflate_of(
    request: &Request,
    config: &WebSocketConfig,
    contexts: Option<&Arc<ContextSlots>>,
) -> (Option<Negotiated>, Option<ContextSlot>) {
    if !config.deflate {
        return (None, None);
    }
    let offers = request
        .headers()
        .get_all("sec-websocket-extensions")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let mut slot = config
        .deflate_context_takeover
        .then(|| contexts.and_then(|c| c.take()))
        .flatten();
    let negotiated = permessage_deflate::negotiate(offers, slot.is_some());
    if !negotiated.is_some_and(|n| n.server_takeover || n.client_takeover) {
        slot = None;
    }
    (negotiated, slot)
}

/// No `Origin` (not a browser), an empty allow-list, or a listed origin.
fn origin_allowed(request: &Request, config: &WebSocketConfig) -> bool {
    if config.allowed_origins.is_empty() {
        return true;
    }
    match request.headers().get("origin") {
        None => true,
        Some(origin) => origin
            .to_str()
            .is_ok_and(|o| config.allowed_origins.iter().any(|a| a == o)),
    }
}

/// The token of `Authorization: Bearer <token>`, else of the `token` query
/// parameter (JWTs need no percent-decoding).
fn token_of(request: &Request) -> Option<&str> {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    header.or_else(|| {
        request
            .uri()
            .query()?
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    })
}

fn refuse(status: StatusCode, message: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message));
    *response.status_mut() = status;
    response
}
