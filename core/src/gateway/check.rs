//! Subject checks, in one place for subscribe and publish: the subject parses, the
//! connection's token allows the action on it, and its topic is exposed.
//! Permission comes before exposure, so a client learns nothing of topics it may
//! not use.

use super::client::Access;
use super::Gateway;
use crate::ids::ClientId;
use crate::protocol::ErrorCode;
use crate::subject::Subject;

/// What a client asks to do with a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Subscribe,
    Publish,
}

impl Gateway {
    /// The subject `text` names, if `client` may do `action` on it; else the error
    /// to answer with.
    pub(super) fn check_subject(
        &self,
        client: ClientId,
        action: Action,
        text: &str,
    ) -> Result<Subject, (ErrorCode, String)> {
        let subject =
            Subject::parse(text).map_err(|e| (ErrorCode::InvalidSubject, e.to_string()))?;
        self.check_permission(client, action, &subject)?;
        if !self.routing.is_exposed(subject.topic()) {
            return Err((
                ErrorCode::NotExposed,
                format!("topic {} is not exposed", subject.topic()),
            ));
        }
        Ok(subject)
    }

    /// Whether the connection's token allows `action` on `subject` (also asked of
    /// every subscription when a refresh brings other permissions).
    pub(super) fn check_permission(
        &self,
        client: ClientId,
        action: Action,
        subject: &Subject,
    ) -> Result<(), (ErrorCode, String)> {
        let allowed = match self.clients.get(client).map(|c| &c.access) {
            None | Some(Access::Open) => true,
            Some(Access::AwaitingToken { .. }) => false,
            Some(Access::Granted { grant, .. }) => match action {
                Action::Subscribe => grant.permissions.may_subscribe(subject),
                Action::Publish => grant.permissions.may_publish(subject),
            },
        };
        if allowed {
            return Ok(());
        }
        let verb = match action {
            Action::Subscribe => "subscribe to",
            Action::Publish => "publish to",
        };
        Err((
            ErrorCode::Forbidden,
            format!("the token does not allow to {verb} {subject}"),
        ))
    }
}
