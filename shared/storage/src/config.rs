//! Where the stores live. Read from the environment in production ([`StorageConfig::from_env`]).

use std::path::PathBuf;

pub(crate) const DEFAULT_MONGODB_DATABASE: &str = "e2ee";
pub(crate) const DEFAULT_SQLITE_PATH: &str = "./.data/e2ee.sqlite3";

/// Which databases back the stores. Composition (see [`crate::Stores::from_config`]):
/// users from MySQL when `mysql_url` is set, else SQLite; keys and messages from MongoDB when `mongodb_uri` is
/// set, else MySQL when `mysql_url` is set, else SQLite.
#[derive(Clone, Default)]
pub struct StorageConfig {
    /// `mysql://user:password@host:3306/database` (MySQL 8 or MariaDB 10.11+). Must name a database.
    pub mysql_url: Option<String>,
    /// Any MongoDB connection string (`mongodb://` or `mongodb+srv://`), e.g. a local `mongod` or Atlas.
    pub mongodb_uri: Option<String>,
    /// Database for the MongoDB collections; `None` → `"e2ee"`.
    pub mongodb_database: Option<String>,
    /// SQLite file; `None` → `./.data/e2ee.sqlite3`. Its directory is created when missing.
    pub sqlite_path: Option<PathBuf>,
}

impl StorageConfig {
    /// Reads `MYSQL_URL`, `MONGODB_URI`, `MONGODB_DATABASE` (default `e2ee`) and `SQLITE_PATH`
    /// (default `./.data/e2ee.sqlite3`). Empty values count as unset.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        StorageConfig {
            mysql_url: var("MYSQL_URL"),
            mongodb_uri: var("MONGODB_URI"),
            mongodb_database: Some(
                var("MONGODB_DATABASE").unwrap_or_else(|| DEFAULT_MONGODB_DATABASE.to_owned()),
            ),
            sqlite_path: Some(
                var("SQLITE_PATH")
                    .map_or_else(|| PathBuf::from(DEFAULT_SQLITE_PATH), PathBuf::from),
            ),
        }
    }

    pub(crate) fn sqlite_path_or_default(&self) -> PathBuf {
        self.sqlite_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SQLITE_PATH))
    }

    pub(crate) fn mongodb_database_or_default(&self) -> &str {
        self.mongodb_database
            .as_deref()
            .unwrap_or(DEFAULT_MONGODB_DATABASE)
    }
}

/// Connection strings carry credentials (and Atlas URIs may carry tokens in their options), so Debug shows only
/// the scheme, host part and path.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("mysql_url", &self.mysql_url.as_deref().map(redact_url))
            .field("mongodb_uri", &self.mongodb_uri.as_deref().map(redact_url))
            .field("mongodb_database", &self.mongodb_database)
            .field("sqlite_path", &self.sqlite_path)
            .finish()
    }
}

/// `scheme://user:secret@host/db?opts` → `scheme://***@host/db?***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let (location, has_query) = match rest.split_once('?') {
        Some((location, _)) => (location, true),
        None => (rest, false),
    };
    let authority_end = location.find('/').unwrap_or(location.len());
    let (authority, path) = location.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let query = if has_query { "?***" } else { "" };
    format!("{scheme}://{host}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let config = StorageConfig {
            mysql_url: Some("mysql://root:hunter2@db.internal:3306/e2ee".into()),
            mongodb_uri: Some(
                "mongodb+srv://app:s3cr%40t@cluster0.example.net/?authMechanismProperties=AWS_SESSION_TOKEN:tok"
                    .into(),
            ),
            mongodb_database: None,
            sqlite_path: None,
        };
        let shown = format!("{config:?}");
        for secret in ["hunter2", "s3cr", "tok", "app:", "root"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("mysql://***@db.internal:3306/e2ee"));
        assert!(shown.contains("mongodb+srv://***@cluster0.example.net/?***"));
    }

    #[test]
    fn redaction_keeps_urls_without_credentials_readable() {
        assert_eq!(
            redact_url("mongodb://127.0.0.1:27017/"),
            "mongodb://127.0.0.1:27017/"
        );
        assert_eq!(redact_url("not a url"), "***");
        // An '@' inside the password must not leak the part before the last '@'.
        assert_eq!(redact_url("mysql://u:p@ss@h/db"), "mysql://***@h/db");
    }
}
