//! Composition of the four stores from configuration.

use std::sync::Arc;

use crate::config::StorageConfig;
use crate::devices::{DeviceStore, KeyPackageStore};
use crate::engine::{
    DeviceRecords, Devices, GroupRecords, Groups, KeyPackageRecords, KeyPackages, KeyRecords, Keys,
    MessageRecords, Messages, Throttle, ThrottleRecords, UserRecords, Users,
};
use crate::error::StoreResult;
use crate::groups::GroupStore;
use crate::model::{KeyStore, MessageStore, ThrottleStore, UserStore};
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
    /// The MLS device directory and key packages; with keys and messages.
    pub devices: Arc<dyn DeviceStore>,
    pub key_packages: Arc<dyn KeyPackageStore>,
    /// MLS group logs; with keys and messages.
    pub groups: Arc<dyn GroupStore>,
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
    /// * keys, messages, devices and key packages: MongoDB if `mongodb_uri`, else MySQL if `mysql_url`, else SQLite.
    ///
    /// An unreachable database gives `StoreError::Unavailable` within a few seconds; a malformed URL gives
    /// `StoreError::Internal` (whose message never contains the URL).
    pub async fn from_config(config: &StorageConfig) -> StoreResult<Self> {
        let (users_backend, mut stores) = match &config.mysql_url {
            Some(url) => ("mysql", Stores::all_in(SqlStore::open_mysql(url).await?)),
            None => {
                let path = config.sqlite_path_or_default();
                (
                    "sqlite",
                    Stores::all_in(SqlStore::open_sqlite(&path).await?),
                )
            }
        };
        let mut keys_and_messages_backend = users_backend;
        if let Some(uri) = &config.mongodb_uri {
            let mongo = MongoStore::open(uri, config.mongodb_database_or_default()).await?;
            stores.keys = Arc::new(Keys(mongo.clone()));
            stores.messages = Arc::new(Messages(mongo.clone()));
            stores.devices = Arc::new(Devices(mongo.clone()));
            stores.key_packages = Arc::new(KeyPackages(mongo.clone()));
            stores.groups = Arc::new(Groups(mongo));
            keys_and_messages_backend = "mongodb";
        }
        tracing::info!(
            users = users_backend,
            keys_and_messages = keys_and_messages_backend,
            "storage ready"
        );
        Ok(stores)
    }

    /// Every store on one backend (an SQL database holds every kind of record).
    fn all_in<B>(backend: B) -> Self
    where
        B: UserRecords
            + KeyRecords
            + MessageRecords
            + ThrottleRecords
            + DeviceRecords
            + KeyPackageRecords
            + GroupRecords
            + Clone,
    {
        Stores {
            users: Arc::new(Users(backend.clone())),
            keys: Arc::new(Keys(backend.clone())),
            messages: Arc::new(Messages(backend.clone())),
            throttle: Arc::new(Throttle(backend.clone())),
            devices: Arc::new(Devices(backend.clone())),
            key_packages: Arc::new(KeyPackages(backend.clone())),
            groups: Arc::new(Groups(backend)),
        }
    }
}
