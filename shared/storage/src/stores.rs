//! Composition of the three stores from configuration.

use std::sync::Arc;

use sqlx::{MySql, Sqlite};

use crate::config::StorageConfig;
use crate::engine::{Keys, Messages, Throttle, Users};
use crate::model::{KeyStore, MessageStore, StoreResult, ThrottleStore, UserStore};
use crate::mongo::MongoStore;
use crate::sql::SqlStore;

/// The stores one process uses. Build it once (e.g. at Lambda init) and clone it into handlers: cloning only
/// copies `Arc`s, and the connection pools inside are shared.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub keys: Arc<dyn KeyStore>,
    pub messages: Arc<dyn MessageStore>,
    /// Rate-limit, quota and login-backoff counters; always in the SQL database of users.
    pub throttle: Arc<dyn ThrottleStore>,
}

/// The stores are trait objects; Debug shows the type only (and never connection details).
impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Opens the configured databases, applying SQL migrations and MongoDB indexes (both idempotent and safe
    /// for concurrent cold starts):
    /// * users and throttle counters: MySQL if `mysql_url`, else SQLite;
    /// * keys and messages: MongoDB if `mongodb_uri`, else MySQL if `mysql_url`, else SQLite.
    ///
    /// An unreachable database gives `StoreError::Unavailable` within a few seconds; a malformed URL gives
    /// `StoreError::Internal` (whose message never contains the URL).
    pub async fn from_config(config: &StorageConfig) -> StoreResult<Self> {
        let sql = match &config.mysql_url {
            Some(url) => SqlBackend::MySql(SqlStore::open_mysql(url).await?),
            None => {
                SqlBackend::Sqlite(SqlStore::open_sqlite(&config.sqlite_path_or_default()).await?)
            }
        };
        let users = sql.users();
        let throttle = sql.throttle();
        let (keys, messages, keys_and_messages_backend): (
            Arc<dyn KeyStore>,
            Arc<dyn MessageStore>,
            _,
        ) = match &config.mongodb_uri {
            Some(uri) => {
                let mongo = MongoStore::open(uri, config.mongodb_database_or_default()).await?;
                (
                    Arc::new(Keys(mongo.clone())),
                    Arc::new(Messages(mongo)),
                    "mongodb",
                )
            }
            None => (sql.keys(), sql.messages(), sql.name()),
        };
        tracing::info!(
            users = sql.name(),
            keys_and_messages = keys_and_messages_backend,
            "storage ready"
        );
        Ok(Stores {
            users,
            keys,
            messages,
            throttle,
        })
    }

    /// [`Stores::from_config`] with [`StorageConfig::from_env`].
    pub async fn from_env() -> StoreResult<Self> {
        Self::from_config(&StorageConfig::from_env()).await
    }
}

/// The SQL database of this process: MySQL when configured, else the embedded SQLite file.
enum SqlBackend {
    MySql(SqlStore<MySql>),
    Sqlite(SqlStore<Sqlite>),
}

impl SqlBackend {
    fn name(&self) -> &'static str {
        match self {
            SqlBackend::MySql(_) => "mysql",
            SqlBackend::Sqlite(_) => "sqlite",
        }
    }

    fn users(&self) -> Arc<dyn UserStore> {
        match self {
            SqlBackend::MySql(store) => Arc::new(Users(store.clone())),
            SqlBackend::Sqlite(store) => Arc::new(Users(store.clone())),
        }
    }

    fn throttle(&self) -> Arc<dyn ThrottleStore> {
        match self {
            SqlBackend::MySql(store) => Arc::new(Throttle(store.clone())),
            SqlBackend::Sqlite(store) => Arc::new(Throttle(store.clone())),
        }
    }

    fn keys(&self) -> Arc<dyn KeyStore> {
        match self {
            SqlBackend::MySql(store) => Arc::new(Keys(store.clone())),
            SqlBackend::Sqlite(store) => Arc::new(Keys(store.clone())),
        }
    }

    fn messages(&self) -> Arc<dyn MessageStore> {
        match self {
            SqlBackend::MySql(store) => Arc::new(Messages(store.clone())),
            SqlBackend::Sqlite(store) => Arc::new(Messages(store.clone())),
        }
    }
}
