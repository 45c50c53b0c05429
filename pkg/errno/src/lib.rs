//! The one registry of business codes (CONTRACT.md §3).
//!
//! Services raise [`Error`]s (usually via `From` impls on their own `thiserror`
//! enums), the Thrift layer carries them as `base.BizError`, and the gateway turns
//! them into the contract's envelope. Codes are decided here and nowhere else.

use std::fmt;

use volo_gen::base::BizError;

/// Business codes of the contract. Clients rely only on `Success == 10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    Success = 10000,
    Internal = 10001,
    Param = 10002,
    UserExists = 10003,
    AuthFailed = 10004,
    BadCredentials = 10005,
    Mfa = 10006,
    NotFound = 10007,
    Forbidden = 10008,
    Duplicate = 10009,
    ChatNotAllowed = 10010,
    /// Too many failed attempts (login, MFA): wait `retry_after_secs`.
    TooManyAttempts = 10011,
    /// The server is at capacity for this kind of work (e.g. image decoding).
    Busy = 10012,
    /// A service the request needs cannot be reached in time (down, overloaded, or
    /// every instance's breaker open). Retrying later may succeed.
    Unavailable = 10013,
}

impl Code {
    pub const ALL: [Code; 14] = [
        Code::Success,
        Code::Internal,
        Code::Param,
        Code::UserExists,
        Code::AuthFailed,
        Code::BadCredentials,
        Code::Mfa,
        Code::NotFound,
        Code::Forbidden,
        Code::Duplicate,
        Code::ChatNotAllowed,
        Code::TooManyAttempts,
        Code::Busy,
        Code::Unavailable,
    ];

    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code for a number received over the wire; unknown numbers are internal.
    pub fn from_i32(n: i32) -> Code {
        Code::ALL
            .into_iter()
            .find(|c| c.as_i32() == n)
            .unwrap_or(Code::Internal)
    }

    /// The default message for the code.
    pub fn message(self) -> &'static str {
        match self {
            Code::Success => "success",
            Code::Internal => "internal server error",
            Code::Param => "invalid parameter",
            Code::UserExists => "username already exists",
            Code::AuthFailed => "authentication failed",
            Code::BadCredentials => "wrong username or password",
            Code::Mfa => "MFA code required or invalid",
            Code::NotFound => "not found",
            Code::Forbidden => "permission denied",
            Code::Duplicate => "duplicate or no-op action",
            Code::ChatNotAllowed => "chat not allowed",
            Code::TooManyAttempts => "too many attempts, retry later",
            Code::Busy => "server busy, retry later",
            Code::Unavailable => "service unavailable, please retry",
        }
    }
}

/// A business error: a code from the table plus a message that is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub code: Code,
    pub msg: String,
    /// Seconds the client should wait before trying again (codes 10011, 10012);
    /// the gateway sends it as a `Retry-After` header.
    pub retry_after_secs: Option<u64>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.msg, self.code.as_i32())
    }
}

impl Error {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            retry_after_secs: None,
        }
    }

    /// Too many failed attempts; a new one is taken after `retry_after_secs`.
    pub fn throttled(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self {
            code: Code::TooManyAttempts,
            msg: format!("too many failed attempts, retry after {secs} s"),
            retry_after_secs: Some(secs),
        }
    }

    /// At capacity; worth retrying after `retry_after_secs`.
    pub fn busy(what: &str, retry_after_secs: u64) -> Self {
        Self {
            code: Code::Busy,
            msg: format!("{what} is busy, retry later"),
            retry_after_secs: Some(retry_after_secs.max(1)),
        }
    }

    pub fn param(msg: impl Into<String>) -> Self {
        Self::new(Code::Param, msg)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn auth(msg: impl Into<String>) -> Self {
        Self::new(Code::AuthFailed, msg)
    }

    /// An internal failure: logged in full here, shown to clients as a generic message.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(Code::Internal, Code::Internal.message())
    }
}

impl From<Error> for BizError {
    fn from(e: Error) -> Self {
        BizError {
            code: e.code.as_i32(),
            msg: e.msg.into(),
            retry_after_secs: e.retry_after_secs.and_then(|s| i64::try_from(s).ok()),
        }
    }
}

impl From<BizError> for Error {
    fn from(e: BizError) -> Self {
        let mut err = Error::new(Code::from_i32(e.code), e.msg.to_string());
        err.retry_after_secs = e.retry_after_secs.and_then(|s| u64::try_from(s).ok());
        err
    }
}

/// Failure of a remote call that produced no answer (no instance, refused,
/// deadline, breaker open, broken connection): the service is unavailable. Business
/// errors are answers and never arrive here.
impl From<volo_thrift::ClientError> for Error {
    fn from(e: volo_thrift::ClientError) -> Self {
        tracing::error!(error = %e, "rpc call failed");
        Error::new(Code::Unavailable, Code::Unavailable.message())
    }
}

impl Error {
    /// True for a failure to reach a service (as opposed to its answer).
    pub fn is_unavailable(&self) -> bool {
        self.code == Code::Unavailable
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Unwrap a client call: the answer, the callee's business error, or a transport failure.
pub fn from_rpc<T, E: volo_gen::BizException>(
    r: std::result::Result<volo_thrift::MaybeException<T, E>, volo_thrift::ClientError>,
) -> Result<T> {
    match r {
        Ok(volo_thrift::MaybeException::Ok(v)) => Ok(v),
        Ok(volo_thrift::MaybeException::Exception(e)) => Err(e.into_biz().into()),
        Err(e) => Err(e.into()),
    }
}

/// Wrap a handler's result for the generated server trait.
pub fn to_rpc<T, E: volo_gen::BizException>(
    r: Result<T>,
) -> std::result::Result<volo_thrift::MaybeException<T, E>, volo_thrift::ServerError> {
    Ok(match r {
        Ok(v) => volo_thrift::MaybeException::Ok(v),
        Err(e) => {
            let biz: BizError = e.into();
            fanone_telemetry::outcome::note_error(biz.code);
            volo_thrift::MaybeException::Exception(E::from_biz(biz))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for c in Code::ALL {
            assert_eq!(Code::from_i32(c.as_i32()), c);
        }
        let mut nums: Vec<i32> = Code::ALL.iter().map(|c| c.as_i32()).collect();
        nums.dedup();
        assert_eq!(nums.len(), Code::ALL.len());
        assert_eq!(Code::from_i32(424242), Code::Internal);
    }

    #[test]
    fn biz_error_round_trip() {
        let e = Error::new(Code::Duplicate, "already liked");
        let wire: BizError = e.clone().into();
        assert_eq!(wire.code, 10009);
        assert_eq!(Error::from(wire), e);
        let t = Error::throttled(42);
        let wire: BizError = t.clone().into();
        assert_eq!((wire.code, wire.retry_after_secs), (10011, Some(42)));
        assert_eq!(Error::from(wire), t);
    }

    #[test]
    fn internal_hides_the_cause() {
        let e = Error::internal("connection refused to 10.0.0.3:3306");
        assert_eq!(e.code, Code::Internal);
        assert!(!e.msg.contains("10.0.0.3"));
    }
}
