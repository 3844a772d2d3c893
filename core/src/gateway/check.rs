//! Subject checks, in one place for subscribe and publish: the subject parses, the
//! connection's token allows the action on it, and its topic is exposed.
//! Permission comes before exposure, so a client learns nothing of topics it may
//! not use.

use super::client::Access;
use super::Gateway;
use crate::ids::ClientId;
use crate::protocol::ErrorCode;
use crate::subject::Subject;

/// The user an inbox subject belongs to: the first segment of its key.
fn inbox_owner(subject: &Subject) -> Option<&str> {
    subject.key()?.split('/').next()
}

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

    /// Whether `subject` is on the request/reply inbox topic.
    fn is_inbox(&self, subject: &Subject) -> bool {
        !self.config.inbox_topic.is_empty() && subject.topic() == self.config.inbox_topic
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
                // Inboxes are entitled by the token's identity, not its patterns:
                // each user reads only its own; anyone may reply into one.
                Action::Subscribe if self.is_inbox(subject) => {
                    inbox_owner(subject) == Some(grant.user.as_str())
                }
                Action::Publish if self.is_inbox(subject) => true,
                Action::Subscribe => grant.permissions.may_subscribe(subject),
                Action::Publish => grant.permissions.may_publish(subject),
            },
        };
        if allowed {
            return Ok(());
        }
        if action == Action::Subscribe && self.is_inbox(subject) {
            return Err((
                ErrorCode::Forbidden,
                format!(
                    "{subject} is not this token's inbox: /{}/<sub>/…",
                    subject.topic()
                ),
            ));
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
