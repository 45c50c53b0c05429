//! The JWT access + refresh pair (CONTRACT.md §2): HS256, raw tokens (no `Bearer`),
//! claims `sub` (user id as a string), `typ`, `iat`, `exp`, and the session: `sid`
//! (the refresh-token family, kept by the user service) and, on refresh tokens,
//! `gen` (its generation, moved on each rotation).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Access,
    Refresh,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub typ: Kind,
    pub iat: u64,
    pub exp: u64,
    /// Session (refresh-token family) id; 0 = none (a token from before sessions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sid: i64,
    /// Generation of a refresh token within its session.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The session a token pair belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Session {
    pub id: i64,
    pub generation: i64,
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    pub session: Session,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
    #[error("wrong kind of token")]
    WrongKind,
}

/// Issues and verifies tokens with one key.
#[derive(Clone)]
pub struct Jwt {
    enc: EncodingKey,
    dec: DecodingKey,
    access_ttl: u64,
    refresh_ttl: u64,
}

impl Jwt {
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        Self {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            access_ttl: access_ttl_secs,
            refresh_ttl: refresh_ttl_secs,
        }
    }

    pub fn issue_pair(&self, user_id: i64, session: Session) -> TokenPair {
        TokenPair {
            access: self.issue(user_id, Kind::Access, session),
            refresh: self.issue(user_id, Kind::Refresh, session),
        }
    }

    /// A token of `kind`; access tokens carry the session id, refresh tokens also
    /// its generation.
    pub fn issue(&self, user_id: i64, kind: Kind, session: Session) -> String {
        let now = unix_now();
        let (ttl, generation) = match kind {
            Kind::Access => (self.access_ttl, 0),
            Kind::Refresh => (self.refresh_ttl, session.generation),
        };
        self.sign(&Claims {
            sub: user_id.to_string(),
            typ: kind,
            iat: now,
            exp: now + ttl,
            sid: session.id,
            generation,
        })
    }

    /// When a refresh token issued now expires, in Unix ms.
    pub fn refresh_expiry_ms(&self) -> i64 {
        i64::try_from((unix_now() + self.refresh_ttl).saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Sign arbitrary claims (tests use it to forge expired tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 over serialisable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.enc).unwrap_or_default()
    }

    /// The user id of a valid token of the expected kind.
    pub fn verify(&self, token: &str, kind: Kind) -> Result<i64, TokenError> {
        self.verify_claims(token, kind).map(|v| v.user_id)
    }

    /// The user and session of a valid token of the expected kind.
    pub fn verify_claims(&self, token: &str, kind: Kind) -> Result<Verified, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.dec, &v).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.typ != kind {
            return Err(TokenError::WrongKind);
        }
        let user_id = data
            .claims
            .sub
            .parse::<i64>()
            .ok()
            .filter(|&id| id > 0)
            .ok_or(TokenError::Invalid)?;
        Ok(Verified {
            user_id,
            session: Session {
                id: data.claims.sid,
                generation: data.claims.generation,
            },
        })
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> Jwt {
        Jwt::new(b"0123456789abcdef0123456789abcdef", 60, 600)
    }

    #[test]
    fn pair_round_trip() {
        let j = jwt();
        let s = Session {
            id: 7,
            generation: 9,
        };
        let p = j.issue_pair(42, s);
        assert_eq!(j.verify(&p.access, Kind::Access), Ok(42));
        assert_eq!(j.verify(&p.refresh, Kind::Refresh), Ok(42));
        let r = j.verify_claims(&p.refresh, Kind::Refresh).unwrap();
        assert_eq!(r.session, s);
        let a = j.verify_claims(&p.access, Kind::Access).unwrap();
        assert_eq!(
            a.session,
            Session {
                id: 7,
                generation: 0
            }
        );
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        let j = jwt();
        let p = j.issue_pair(42, Session::default());
        assert_eq!(
            j.verify(&p.refresh, Kind::Access),
            Err(TokenError::WrongKind)
        );
        assert_eq!(
            j.verify(&p.access, Kind::Refresh),
            Err(TokenError::WrongKind)
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_fail() {
        let j = jwt();
        let old = j.sign(&Claims {
            sub: "42".into(),
            typ: Kind::Access,
            iat: 1,
            exp: unix_now() - 10,
            sid: 0,
            generation: 0,
        });
        assert_eq!(j.verify(&old, Kind::Access), Err(TokenError::Expired));

        let good = j.issue(42, Kind::Access, Session::default());
        let mut tampered = good.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(j.verify(&tampered, Kind::Access), Err(TokenError::Invalid));

        let other = Jwt::new(b"another-key-another-key-another-k", 60, 600);
        assert_eq!(other.verify(&good, Kind::Access), Err(TokenError::Invalid));
        assert_eq!(j.verify("garbage", Kind::Access), Err(TokenError::Invalid));
        assert_eq!(j.verify("", Kind::Access), Err(TokenError::Invalid));
    }
}
