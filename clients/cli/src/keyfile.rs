//! Key files on the device: private keys written owner-only (0600), optionally passphrase-encrypted.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use e2ee_crypto::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// The passphrase of a key file: none (unencrypted), or read from an environment variable (so scripts never
/// need a terminal).
pub struct Passphrase(Option<Zeroizing<String>>);

impl Passphrase {
    /// The passphrase in the environment variable `var` (which must be set and non-empty), if one is named.
    pub fn from_env(var: Option<&str>) -> Result<Passphrase> {
        var.map(passphrase_from_env).transpose().map(Passphrase)
    }

    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().map(String::as_str)
    }
}

/// Reads a passphrase from the environment variable `var`.
fn passphrase_from_env(var: &str) -> Result<Zeroizing<String>> {
    let value = Zeroizing::new(
        std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?,
    );
    if value.is_empty() {
        bail!("environment variable {var} is empty");
    }
    Ok(value)
}

/// Writes `contents` to a new file readable only by its owner. Refuses to overwrite an existing file.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_pem(path: &Path) -> Result<Zeroizing<String>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Zeroizing::new(text))
}

/// Loads a private key file; an encrypted one needs `passphrase`.
pub fn load_private(path: &Path, passphrase: &Passphrase) -> Result<PrivateKey> {
    let pem = read_pem(path)?;
    PrivateKey::from_pem(&pem, passphrase.get().map(str::as_bytes))
        .with_context(|| format!("{}", path.display()))
}

pub fn load_public(path: &Path) -> Result<PublicKey> {
    public_from_pem(&read_pem(path)?, path)
}

fn public_from_pem(pem: &str, path: &Path) -> Result<PublicKey> {
    PublicKey::from_spki_pem(pem).with_context(|| format!("{}", path.display()))
}

/// Loads the public key of a file that holds either a public or a private key.
pub fn load_any_public(path: &Path, passphrase: &Passphrase) -> Result<PublicKey> {
    let pem = read_pem(path)?;
    if pem.contains("PRIVATE KEY-----") {
        Ok(load_private(path, passphrase)?.public_key().clone())
    } else {
        public_from_pem(&pem, path)
    }
}
