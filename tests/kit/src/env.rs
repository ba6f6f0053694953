//! Where the test services are, and the one rule for when one is missing: in CI (`CI=true`) the test fails
//! loudly; elsewhere it prints what it skips and returns `None`, so the test can end early.

use std::path::PathBuf;

/// Whether this is a CI run (`CI=true`, set by `.ci/run`).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `what` is missing: panics in CI, else notes on stderr that `skipped` is skipped and returns `None`.
#[track_caller]
pub fn missing<T>(what: &str, skipped: &str) -> Option<T> {
    if in_ci() {
        panic!("{what}: required in CI (CI=true)");
    }
    eprintln!("skipping {skipped}: {what}");
    None
}

/// The variable's value when it is set and not empty, else [`missing`].
#[track_caller]
pub fn required(var: &str, skipped: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|value| !value.is_empty()) {
        Some(value) => Some(value),
        None => missing(&format!("{var} is not set"), skipped),
    }
}

/// `MYSQL_URL` (scripts/services.sh exports it), under the CI rule.
#[track_caller]
pub fn mysql_url() -> Option<String> {
    required("MYSQL_URL", "the MySQL backend")
}

/// `MONGODB_URI` (scripts/services.sh exports it), under the CI rule.
#[track_caller]
pub fn mongodb_uri() -> Option<String> {
    required("MONGODB_URI", "the MongoDB backend")
}

/// The API served by `cargo lambda watch`, as scripts/test.sh starts it.
#[derive(Debug, Clone)]
pub struct Served {
    /// `E2EE_SERVER`: the base URL, e.g. `http://127.0.0.1:9000`.
    pub base: String,
    /// `E2EE_DATA_DIR`: the directory of the server's SQLite store.
    pub data_dir: PathBuf,
}

impl Served {
    /// Every file the server wrote into its data directory (SQLite main file, WAL, journal, the development
    /// JWT secret), with its bytes.
    pub fn stored_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let entries = std::fs::read_dir(&self.data_dir).unwrap();
        let paths = entries.map(|entry| entry.unwrap().path());
        paths
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect()
    }
}

/// `E2EE_SERVER` and `E2EE_DATA_DIR`, under the CI rule.
#[track_caller]
pub fn served() -> Option<Served> {
    let skipped = "this test (run it through scripts/test.sh, which serves the API)";
    let base = required("E2EE_SERVER", skipped)?;
    let data_dir = required("E2EE_DATA_DIR", skipped)?;
    Some(Served {
        base,
        data_dir: PathBuf::from(data_dir),
    })
}
