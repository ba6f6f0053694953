//! Bearer tokens (HS256 JWTs, every registered claim required and checked) and argon2id passwords.
//!
//! Two kinds of token: a user token (from login) and a device token (from `POST /api/devices/session`), which
//! carries the extra claim `dev`, the device id, and stands for the user *and* that device. Every route accepts
//! either as the user; device-scoped routes require a device token ([`TokenService::authenticate_device`]) and
//! check that the device is still active.

use e2ee_protocol::ErrorCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};

use crate::config::JwtSettings;
use crate::error::ApiError;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;
const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    /// The device of a device token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dev: Option<String>,
}

/// Who sent a request: a user, and the device when the token is a device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub device_id: Option<String>,
}

/// The caller of a device-scoped route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCaller {
    pub user_id: String,
    pub device_id: String,
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// A freshly issued token.
pub struct IssuedToken {
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
}

impl TokenService {
    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        TokenService {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.ttl,
        }
    }

    /// A user token.
    pub fn issue(&self, user_id: &str) -> Result<IssuedToken, ApiError> {
        self.issue_with(user_id, None)
    }

    /// A device token: the user and one of their devices.
    pub fn issue_for_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<IssuedToken, ApiError> {
        self.issue_with(user_id, Some(device_id.to_owned()))
    }

    fn issue_with(&self, user_id: &str, dev: Option<String>) -> Result<IssuedToken, ApiError> {
        let now = unix_seconds();
        let exp = now + self.ttl.as_secs();
        let claims = Claims {
            sub: user_id.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp,
            nbf: now,
            iat: now,
            dev,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(IssuedToken {
            token,
            expires_at: (exp * 1000) as i64,
        })
    }

    /// The caller a valid token names. Any defect (signature, algorithm, time, issuer, audience, claims) is 401.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::unauthorized())?;
        let claims = data.claims;
        // `iat` in the future means a forged or badly clocked token.
        let bad_device = claims
            .dev
            .as_deref()
            .is_some_and(|dev| !e2ee_protocol::ids::is_device_id(dev));
        if claims.iat > unix_seconds() + LEEWAY_SECONDS || claims.sub.is_empty() || bad_device {
            return Err(ApiError::unauthorized());
        }
        Ok(Caller {
            user_id: claims.sub,
            device_id: claims.dev,
        })
    }

    /// The user id of the authenticated caller of a request (`Authorization: Bearer <token>`, either kind).
    pub fn authenticate(&self, request: &Request) -> Result<String, ApiError> {
        Ok(self.authenticate_caller(request)?.user_id)
    }

    /// The caller of a device-scoped route: a device token, or `403 device_token_required`. (Whether the
    /// device is still active is the handler's check, against the store.)
    pub fn authenticate_device(&self, request: &Request) -> Result<DeviceCaller, ApiError> {
        let caller = self.authenticate_caller(request)?;
        let device_id = caller.device_id.ok_or_else(|| {
            ApiError::forbidden(
                ErrorCode::DeviceTokenRequired,
                "this route needs a device token (POST /api/devices/session)",
            )
        })?;
        Ok(DeviceCaller {
            user_id: caller.user_id,
            device_id,
        })
    }

    /// The authenticated caller of a request, either kind of token.
    pub fn authenticate_caller(&self, request: &Request) -> Result<Caller, ApiError> {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized());
        }
        self.verify(token.trim())
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Password rules: at least 10 characters, at most 1024 bytes (which bounds the hashing cost). No composition
/// rules (NIST SP 800-63B).
pub fn check_password_rules(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1), run off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let password = zeroize::Zeroizing::new(password);
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Verifies `password` against `stored`, or against a fixed dummy hash when the user does not exist, so
/// both cases cost one argon2id evaluation and look the same from outside.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    let password = zeroize::Zeroizing::new(password);
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        Ok(exists && matches)
    })
    .await
    .map_err(ApiError::internal)?
}

/// An argon2id hash (of a password nobody knows) with the same parameters as `Argon2::default()`, which every
/// stored hash uses: verifying against it costs what a real verification costs. A constant, so a cold start
/// does not pay for computing it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$FXFWs+8J3DUYQyLXaPV5EQ$Hpsr5x9giYQ+DIQ8cr70hFV0f0Sm5yvMdgTCzhhKAtI";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_stored_hash_costs() {
        let dummy = argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).unwrap();
        let fresh_text = Argon2::default()
            .hash_password(b"any password")
            .unwrap()
            .to_string();
        let fresh = argon2::password_hash::phc::PasswordHash::new(&fresh_text).unwrap();
        assert_eq!(dummy.algorithm, fresh.algorithm);
        assert_eq!(dummy.version, fresh.version);
        assert_eq!(dummy.params.to_string(), fresh.params.to_string());
    }
}
