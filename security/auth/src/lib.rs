//! # sluice-auth
//!
//! Entitlement mode `jwt`: verifies tokens with the `jsonwebtoken` crate (HS256/384/512
//! keys chosen by `kid`, RS256/ES256 PEM public keys), reads Sluice's `permissions`
//! claim into the core's [`sluice_core::Permissions`], and reads the revocation list.
//! The core applies the resulting [`sluice_core::Grant`]; nothing here decides who
//! gets what beyond "is this token genuine and current".

mod claims;
mod config;
mod issue;
mod jwt_verifier;
mod revocation_list;

pub use claims::{Claims, PermissionClaims};
pub use config::{AuthConfig, AuthMode, KeyAlgorithm, KeyConfig};
pub use issue::{issue_token, IssueError};
pub use jwt_verifier::{JwtVerifier, KeyError};
pub use revocation_list::read_revocation_list;
