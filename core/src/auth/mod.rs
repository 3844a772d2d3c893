//! Entitlement: who may subscribe and publish to what. Pure policy — patterns,
//! permission checks and the verified claims of a token. Verifying a token's
//! signature is an adapter's job (`sluice-auth`, through [`TokenVerifier`]); it hands
//! the core a [`Grant`].

mod grant;
mod permissions;
mod subject_pattern;
mod token_verifier;

pub use grant::{AuthFailure, Grant};
pub use permissions::Permissions;
pub use subject_pattern::{PatternError, SubjectPattern};
pub use token_verifier::TokenVerifier;
