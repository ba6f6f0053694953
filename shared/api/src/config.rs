//! Configuration, read once per cold start: from environment variables locally, and from one AWS Secrets
//! Manager secret (named by `APP_SECRET_ID`) in AWS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2ee_storage::StorageConfig;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Shortest accepted JWT secret: HS256 needs at least the hash length in key material.
const MIN_JWT_SECRET_BYTES: usize = 32;
/// Longest token lifetime we allow (1 h); the default.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read secret {secret_id} from Secrets Manager: {detail}")]
    Secret { secret_id: String, detail: String },
}

pub struct JwtSettings {
    pub secret: Zeroizing<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[derive(Debug)]
pub struct Config {
    pub jwt: JwtSettings,
    pub storage: StorageConfig,
    /// `SERVER_ASSISTED_CRYPTO=on` enables /api/crypto/generate-keys, /encrypt and /decrypt. Off by default:
    /// those routes let the server see a private key or a plaintext (docs/security.md).
    pub server_assisted_crypto: bool,
    pub quotas: Quotas,
}

/// Per-user quotas (docs/security.md, "Rate limits and quotas").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// `SEND_QUOTA_PER_HOUR`: messages one user may send per clock hour.
    pub sends_per_hour: u64,
    /// `KEY_QUOTA_PER_DAY`: key registrations plus revocations one user may make per UTC day.
    pub key_operations_per_day: u64,
    /// `CLAIM_QUOTA_PER_HOUR`: key package claims one device may make per clock hour.
    pub key_package_claims_per_hour: u64,
    /// `DEVICE_REGISTRATION_QUOTA_PER_DAY`: device registrations one user may make per UTC day.
    pub device_registrations_per_day: u64,
    /// `MAX_PENDING_DEVICES`: pending (unapproved) devices one user may have at once.
    pub max_pending_devices: u64,
    /// `MAX_DEVICES_PER_USER`: pending plus active devices one user may have at once.
    pub max_devices_per_user: u64,
    /// `CLAIM_QUOTA_PER_TARGET_PER_HOUR`: claims of one target user's packages that one other user (all of
    /// its devices together) may make per clock hour.
    pub claims_per_target_per_hour: u64,
    /// `GROUP_QUOTA_PER_DAY`: groups one user may create per UTC day.
    pub groups_per_day: u64,
    /// `COMMIT_QUOTA_PER_HOUR`: commit bundles one device may post per clock hour.
    pub commits_per_hour: u64,
    /// `GROUP_MESSAGE_QUOTA_PER_HOUR`: application messages one device may post to groups per clock hour.
    pub group_messages_per_hour: u64,
    /// `KEY_PACKAGE_SUPPLY_MAX`: unexpired one-time key packages one device may have stored.
    pub key_package_supply: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            sends_per_hour: 600,
            key_operations_per_day: 20,
            key_package_claims_per_hour: 300,
            device_registrations_per_day: 20,
            max_pending_devices: 10,
            max_devices_per_user: 100,
            claims_per_target_per_hour: 10,
            groups_per_day: 100,
            commits_per_hour: 500,
            group_messages_per_hour: 600,
            key_package_supply: 200,
        }
    }
}

/// The JSON document stored in the Secrets Manager secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppSecret {
    jwt_secret: String,
    mysql_url: Option<String>,
    mongodb_uri: Option<String>,
    mongodb_database: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Loads the configuration: `APP_SECRET_ID` set → secrets from Secrets Manager; otherwise env vars, and
    /// with no `JWT_SECRET` a generated development secret persisted beside the SQLite file.
    pub async fn load() -> Result<Self, ConfigError> {
        let mut storage = StorageConfig::from_env();
        let secret = match env("APP_SECRET_ID") {
            Some(secret_id) => {
                let secret = fetch_app_secret(&secret_id).await?;
                storage.mysql_url = secret.mysql_url.or(storage.mysql_url);
                storage.mongodb_uri = secret.mongodb_uri.or(storage.mongodb_uri);
                if secret.mongodb_database.is_some() {
                    storage.mongodb_database = secret.mongodb_database;
                }
                Zeroizing::new(secret.jwt_secret.into_bytes())
            }
            None => match env("JWT_SECRET") {
                Some(secret) => Zeroizing::new(secret.into_bytes()),
                None => development_secret(&storage)?,
            },
        };
        Self::from_parts(secret, storage)
    }

    fn from_parts(secret: Zeroizing<Vec<u8>>, storage: StorageConfig) -> Result<Self, ConfigError> {
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid(format!(
                "the JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes"
            )));
        }
        let ttl = match env("JWT_TTL_SECONDS") {
            Some(text) => {
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| ConfigError::Invalid("JWT_TTL_SECONDS must be a number".into()))?;
                let ttl = Duration::from_secs(seconds);
                if seconds == 0 || ttl > MAX_TOKEN_TTL {
                    return Err(ConfigError::Invalid(
                        "JWT_TTL_SECONDS must be between 1 and 3600".into(),
                    ));
                }
                ttl
            }
            None => MAX_TOKEN_TTL,
        };
        let server_assisted_crypto =
            server_assisted_switch(env("SERVER_ASSISTED_CRYPTO").as_deref())?;
        Ok(Config {
            jwt: JwtSettings {
                secret,
                issuer: env("JWT_ISSUER").unwrap_or_else(|| "e2ee-api".into()),
                audience: env("JWT_AUDIENCE").unwrap_or_else(|| "e2ee-api".into()),
                ttl,
            },
            storage,
            server_assisted_crypto,
            quotas: Quotas::from_env()?,
        })
    }
}

impl Quotas {
    /// No limits at all (benchmarks measure handlers, not 429s).
    pub fn unlimited() -> Self {
        Quotas {
            sends_per_hour: u64::MAX,
            key_operations_per_day: u64::MAX,
            key_package_claims_per_hour: u64::MAX,
            claims_per_target_per_hour: u64::MAX,
            groups_per_day: u64::MAX,
            commits_per_hour: u64::MAX,
            group_messages_per_hour: u64::MAX,
            key_package_supply: u64::MAX,
            device_registrations_per_day: u64::MAX,
            max_pending_devices: u64::MAX,
            max_devices_per_user: u64::MAX,
        }
    }

    /// Every quota from its environment variable, the default where unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Quotas::default();
        Ok(Quotas {
            sends_per_hour: quota("SEND_QUOTA_PER_HOUR", default.sends_per_hour)?,
            key_operations_per_day: quota("KEY_QUOTA_PER_DAY", default.key_operations_per_day)?,
            key_package_claims_per_hour: quota(
                "CLAIM_QUOTA_PER_HOUR",
                default.key_package_claims_per_hour,
            )?,
            claims_per_target_per_hour: quota(
                "CLAIM_QUOTA_PER_TARGET_PER_HOUR",
                default.claims_per_target_per_hour,
            )?,
            groups_per_day: quota("GROUP_QUOTA_PER_DAY", default.groups_per_day)?,
            commits_per_hour: quota("COMMIT_QUOTA_PER_HOUR", default.commits_per_hour)?,
            group_messages_per_hour: quota(
                "GROUP_MESSAGE_QUOTA_PER_HOUR",
                default.group_messages_per_hour,
            )?,
            key_package_supply: supply_cap(env("KEY_PACKAGE_SUPPLY_MAX").as_deref())?
                .unwrap_or(default.key_package_supply),
            device_registrations_per_day: quota(
                "DEVICE_REGISTRATION_QUOTA_PER_DAY",
                default.device_registrations_per_day,
            )?,
            max_pending_devices: quota("MAX_PENDING_DEVICES", default.max_pending_devices)?,
            max_devices_per_user: quota("MAX_DEVICES_PER_USER", default.max_devices_per_user)?,
        })
    }
}

/// `SERVER_ASSISTED_CRYPTO`: off unless explicitly on.
fn server_assisted_switch(value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        Some("on" | "true" | "1") => Ok(true),
        None | Some("off" | "false" | "0") => Ok(false),
        Some(_) => Err(ConfigError::Invalid(
            "SERVER_ASSISTED_CRYPTO must be on or off".into(),
        )),
    }
}

/// A positive whole number from the environment, or `default` when unset.
fn quota(name: &str, default: u64) -> Result<u64, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|value| *value > 0)
            .ok_or_else(|| ConfigError::Invalid(format!("{name} must be a positive whole number"))),
    }
}

/// `KEY_PACKAGE_SUPPLY_MAX`: at least one full upload batch (100), so that a valid batch can always be stored
/// into an empty supply (the SDKs upload 50 when fewer than 10 are left).
fn supply_cap(value: Option<&str>) -> Result<Option<u64>, ConfigError> {
    let Some(text) = value else {
        return Ok(None);
    };
    let minimum = u64::try_from(e2ee_storage::MAX_KEY_PACKAGE_BATCH).unwrap_or(u64::MAX);
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|value| *value >= minimum)
        .map(Some)
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "KEY_PACKAGE_SUPPLY_MAX must be a whole number of at least {minimum}"
            ))
        })
}

/// Reads and parses the application secret. Bounded in time so a missing endpoint fails the cold start fast.
async fn fetch_app_secret(secret_id: &str) -> Result<AppSecret, ConfigError> {
    let failure = |detail: String| ConfigError::Secret {
        secret_id: secret_id.to_owned(),
        detail,
    };
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| failure(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    let text = Zeroizing::new(
        output
            .secret_string()
            .ok_or_else(|| failure("the secret has no string value".into()))?
            .to_owned(),
    );
    serde_json::from_str(&text).map_err(|e| {
        failure(format!("the secret must be JSON {{\"jwtSecret\", \"mysqlUrl\"?, \"mongodbUri\"?, \"mongodbDatabase\"?}}: {}", json_error_class(&e)))
    })
}

/// The error class only: serde_json's messages can quote parts of the (secret) input.
fn json_error_class(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "missing, unknown or mistyped field",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// The zero-setup development secret: 32 random bytes kept (0600) beside the SQLite file so every local
/// function process (one per binary under `cargo lambda watch`) shares it and tokens survive restarts.
fn development_secret(storage: &StorageConfig) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    if storage.mysql_url.is_some() || storage.mongodb_uri.is_some() {
        return Err(ConfigError::Invalid(
            "JWT_SECRET (or APP_SECRET_ID) is required when an external database is configured"
                .into(),
        ));
    }
    let sqlite = storage
        .sqlite_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("./.data/e2ee.sqlite3"));
    let dir = sqlite
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = dir.join("dev-jwt-secret");
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set: using a generated development secret (never do this in production)");
    read_or_create_secret(&path)
        .map_err(|e| ConfigError::Invalid(format!("cannot use {}: {e}", path.display())))
}

fn read_or_create_secret(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    use rand::Rng;
    use std::io::Write;
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(Zeroizing::new(text.trim().as_bytes().to_vec()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(raw.as_mut());
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw.as_ref()));
    // Write a private temporary file, then hard-link it into place: linking fails if another function
    // process won the race, and either way the file we then read is complete.
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(encoded.as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(Zeroizing::new(encoded.as_bytes().to_vec())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Zeroizing::new(
            std::fs::read_to_string(path)?.trim().as_bytes().to_vec(),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supply_cap_holds_at_least_one_batch() {
        assert_eq!(supply_cap(None).ok(), Some(None));
        assert_eq!(supply_cap(Some(" 200 ")).ok(), Some(Some(200)));
        assert_eq!(supply_cap(Some("100")).ok(), Some(Some(100)));
        assert!(supply_cap(Some("99")).is_err());
        assert!(supply_cap(Some("lots")).is_err());
    }

    #[test]
    fn server_assisted_crypto_is_off_unless_turned_on() {
        assert!(!server_assisted_switch(None).unwrap_or(true));
        assert!(!server_assisted_switch(Some("off")).unwrap_or(true));
        assert!(server_assisted_switch(Some("ON")).unwrap_or(false));
        assert!(server_assisted_switch(Some("maybe")).is_err());
    }
}
