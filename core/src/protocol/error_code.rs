use std::fmt;

/// The closed set of error codes a gateway sends. Clients may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame could not be decoded (malformed JSON, truncated binary, missing field).
    InvalidFrame,
    /// The frame decoded but its `op` is not one this protocol knows.
    UnknownOp,
    /// A subject does not parse (see `docs/protocol.md`, Subjects).
    InvalidSubject,
    /// A payload is not what it claims (bad base64).
    InvalidData,
    /// The subject's topic is not exposed by this gateway.
    NotExposed,
    /// A frame or payload is larger than the configured limit.
    TooLarge,
    /// The connection already holds the maximum number of subscriptions.
    TooManySubscriptions,
    /// The client's credentials do not allow this.
    Forbidden,
    /// The broker did not answer in time or is down; retry later.
    Unavailable,
    /// Too many requests of this kind right now; retry later.
    RateLimited,
    /// A bug in the gateway; the request may be retried.
    Internal,
    /// The token of an `auth` frame is missing, malformed, forged, expired or revoked.
    Unauthorized,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidFrame,
        ErrorCode::UnknownOp,
        ErrorCode::InvalidSubject,
        ErrorCode::InvalidData,
        ErrorCode::NotExposed,
        ErrorCode::TooLarge,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Forbidden,
        ErrorCode::Unavailable,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unauthorized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::InvalidSubject => "invalid_subject",
            ErrorCode::InvalidData => "invalid_data",
            ErrorCode::NotExposed => "not_exposed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The code's byte in the binary encoding.
    pub fn to_byte(self) -> u8 {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8 + 1
    }

    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte).checked_sub(1)?).copied()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
