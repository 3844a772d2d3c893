//! The HTTP upgrade: path check and subprotocol negotiation.

use sluice_core::protocol::Encoding;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// The only path protocol v1 is served on.
pub const PATH: &str = "/v1/ws";

/// Checks the upgrade request and picks the encoding: the first subprotocol offered
/// that Sluice speaks; JSON when none is offered.
pub fn negotiate(
    request: &Request,
    response: Response,
) -> Result<(Response, Encoding), ErrorResponse> {
    if request.uri().path() != PATH {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("not found; protocol v1 is served on {PATH}"),
        ));
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok((response, Encoding::Json));
    }
    let Some(encoding) = offered
        .iter()
        .find_map(|name| Encoding::from_subprotocol(name))
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "no supported subprotocol; offer sluice.v1.json or sluice.v1.bin".to_owned(),
        ));
    };
    let mut response = response;
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(encoding.subprotocol()),
    );
    Ok((response, encoding))
}

fn refuse(status: StatusCode, message: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message));
    *response.status_mut() = status;
    response
}
