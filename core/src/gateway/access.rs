//! Entitlement on a live connection: tokens in, permissions checked, expiry and
//! revocation enforced. Signatures are verified outside the core
//! ([`Output::Authenticate`]); times are the caller's `now_ms`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::check::Action;
use super::client::Access;
use super::Gateway;
use crate::auth::{AuthFailure, Grant};
use crate::ids::{ClientId, RequestId};
use crate::output::{close_code, Output};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::subject::Subject;

/// Why a verified token is still not taken.
struct Refusal {
    code: ErrorCode,
    message: String,
    revoked: bool,
}

impl Gateway {
    /// The access a new connection starts with.
    pub(super) fn initial_access(&self, now_ms: u64) -> Access {
        if self.config.auth_required {
            Access::AwaitingToken {
                deadline_ms: now_ms.saturating_add(self.config.auth_timeout_ms),
            }
        } else {
            Access::Open
        }
    }

    /// Whether `client` is still waiting for its token (and may send only `auth`).
    pub(super) fn awaiting_token(&self, client: ClientId) -> bool {
        self.clients
            .get(client)
            .is_some_and(|c| matches!(c.access, Access::AwaitingToken { .. }))
    }

    /// Closes a client that sent something else than `auth` before its token.
    pub(super) fn refuse_unauthenticated(&mut self, client: ClientId) {
        self.stats.unauthenticated_disconnects_total += 1;
        self.close(
            client,
            close_code::UNAUTHENTICATED,
            "authentication required",
        );
    }

    /// An `auth` frame: in mode `none` it is answered `ok` and changes nothing;
    /// otherwise the token goes out for verification.
    pub(super) fn on_auth_frame(
        &mut self,
        now_ms: u64,
        client: ClientId,
        id: RequestId,
        token: String,
    ) {
        if matches!(
            self.clients.get(client).map(|c| &c.access),
            Some(Access::Open)
        ) {
            self.send(client, ServerFrame::Ok { id });
            return;
        }
        // Verifying a signature costs CPU: `auth` frames draw on the publish rate.
        if !self.clients.take_publish_token(client, now_ms) {
            self.stats.tokens_refused_total += 1;
            let message = "more `auth` and `publish` frames than the rate allows".to_owned();
            self.send_error(client, id, None, ErrorCode::RateLimited, message);
            return;
        }
        self.outputs.push_back(Output::Authenticate {
            client,
            request: id,
            token,
        });
    }

    /// The verdict on a token. A refused refresh leaves the old token in force; a
    /// refused first `auth` frame leaves the connection waiting (until
    /// `auth_timeout_ms`); a refused handshake token closes it.
    pub(super) fn on_authenticated(
        &mut self,
        now_ms: u64,
        client: ClientId,
        request: Option<RequestId>,
        result: Result<Grant, AuthFailure>,
    ) {
        let Some(state) = self.clients.get(client) else {
            return;
        };
        let verdict = match result {
            Err(AuthFailure(message)) => Err(Refusal {
                code: ErrorCode::Unauthorized,
                message,
                revoked: false,
            }),
            Ok(grant) => self.admit(now_ms, &state.access, grant),
        };
        let grant = match verdict {
            Ok(grant) => grant,
            Err(refusal) => {
                self.stats.tokens_refused_total += 1;
                match request {
                    Some(id) => {
                        self.send_error(client, id, None, refusal.code, refusal.message);
                    }
                    None if refusal.revoked => {
                        self.stats.token_revoked_disconnects_total += 1;
                        self.close(client, close_code::TOKEN_REVOKED, "token revoked");
                    }
                    None => {
                        self.stats.unauthenticated_disconnects_total += 1;
                        self.close(client, close_code::UNAUTHENTICATED, "unauthorized");
                    }
                }
                return;
            }
        };
        self.stats.tokens_accepted_total += 1;
        let Some(state) = self.clients.get_mut(client) else {
            return;
        };
        state.access = Access::Granted {
            grant: Box::new(grant),
            notice_sent: false,
        };
        self.clients
            .arm_access_timer(client, self.config.token_expiry_notice_ms);
        if !self.drop_forbidden_subscriptions(client, request) {
            return;
        }
        if let Some(id) = request {
            self.send(client, ServerFrame::Ok { id });
        }
    }

    /// Checks what the signature check cannot: revocation, expiry on the core's
    /// clock, and that a refresh is for the same user.
    fn admit(&self, now_ms: u64, access: &Access, grant: Grant) -> Result<Grant, Refusal> {
        let refuse = |code, message: &str, revoked| Refusal {
            code,
            message: message.to_owned(),
            revoked,
        };
        if grant
            .token_id
            .as_ref()
            .is_some_and(|jti| self.clients.is_revoked(jti))
        {
            return Err(refuse(ErrorCode::Unauthorized, "token revoked", true));
        }
        if grant.expires_at_ms.is_some_and(|at| at <= now_ms) {
            return Err(refuse(ErrorCode::Unauthorized, "token expired", false));
        }
        if let Access::Granted { grant: held, .. } = access {
            if held.user != grant.user {
                return Err(refuse(
                    ErrorCode::Forbidden,
                    "a refresh must be for the same user (`sub`) as the connection's token",
                    false,
                ));
            }
        }
        Ok(grant)
    }

    /// After a refresh: subscriptions the new token no longer allows end, each with a
    /// `forbidden` error. False if the client is gone.
    fn drop_forbidden_subscriptions(
        &mut self,
        client: ClientId,
        request: Option<RequestId>,
    ) -> bool {
        let Some(state) = self.clients.get(client) else {
            return false;
        };
        let lost: Vec<(Subject, String)> = state
            .subscriptions
            .keys()
            .filter_map(|s| {
                self.check_permission(client, Action::Subscribe, s)
                    .err()
                    .map(|(_, message)| (s.clone(), message))
            })
            .collect();
        for (subject, message) in lost {
            self.stats.forbidden_total += 1;
            self.end_subscription(client, &subject);
            let error = ServerFrame::Error {
                id: request,
                subject: Some(subject.to_string()),
                code: ErrorCode::Forbidden,
                message,
            };
            if !self.send(client, error) {
                return false;
            }
        }
        true
    }

    /// Replaces the revocation list and closes the connections it names.
    pub(super) fn on_revoked_tokens(&mut self, token_ids: Arc<BTreeSet<String>>) {
        for client in self.clients.set_revoked(token_ids) {
            self.stats.token_revoked_disconnects_total += 1;
            self.close(client, close_code::TOKEN_REVOKED, "token revoked");
        }
    }

    /// Runs the access timers that are due.
    pub(super) fn expire_access(&mut self, now_ms: u64) {
        while let Some(client) = self.clients.pop_due_access(now_ms) {
            let Some(state) = self.clients.get_mut(client) else {
                continue;
            };
            match &mut state.access {
                Access::Open => {}
                Access::AwaitingToken { .. } => {
                    self.stats.unauthenticated_disconnects_total += 1;
                    self.close(client, close_code::UNAUTHENTICATED, "no token in time");
                }
                Access::Granted { grant, notice_sent } => {
                    let Some(expires_at_ms) = grant.expires_at_ms else {
                        continue;
                    };
                    if expires_at_ms <= now_ms {
                        self.stats.token_expired_disconnects_total += 1;
                        self.close(client, close_code::TOKEN_EXPIRED, "token expired");
                        continue;
                    }
                    *notice_sent = true;
                    let expires_in_ms = expires_at_ms - now_ms;
                    if self.send(client, ServerFrame::TokenExpiring { expires_in_ms }) {
                        self.clients
                            .arm_access_timer(client, self.config.token_expiry_notice_ms);
                    }
                }
            }
        }
    }
}
