//! The profile's MLS state file, `mls.sealed` (0600): the device's whole openmls state, sealed under the
//! profile passphrase by [`crate::mls`]. One file, no journal, no backup copy: a save writes the new file
//! beside it, overwrites the old file's bytes in place, and renames the new one over it, so that the secrets
//! MLS deleted since the last save (old epochs' keys: forward secrecy) are not left behind in a file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::Profile;
use super::files::{ensure_private_dir, write_new_private};
use crate::error::{ClientError, Result};

pub const MLS_STATE_FILE: &str = "mls.sealed";
/// The next state while it is being saved; found on open after a crash between overwriting the old file and
/// the rename.
const MLS_STATE_NEXT: &str = ".mls.sealed.next";

impl Profile {
    fn mls_state_paths(&self) -> (PathBuf, PathBuf) {
        (self.dir.join(MLS_STATE_FILE), self.dir.join(MLS_STATE_NEXT))
    }

    /// The sealed MLS state, if this profile has an MLS device; `looks_sealed` tells a complete blob from a
    /// file that a crash left overwritten (then the next state, written first, is used).
    pub fn load_mls_state(&self, looks_sealed: fn(&[u8]) -> bool) -> Result<Option<Vec<u8>>> {
        let (path, next) = self.mls_state_paths();
        for candidate in [&path, &next] {
            match fs::read(candidate) {
                Ok(bytes) if looks_sealed(&bytes) => return Ok(Some(bytes)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ClientError::io_path("read", candidate, e)),
            }
        }
        if path.exists() {
            return Err(ClientError::Profile(format!(
                "{} is damaged and no newer state was found",
                path.display()
            )));
        }
        Ok(None)
    }

    /// Replaces the sealed MLS state: write the next state (fsync), overwrite the old file with zeros
    /// (fsync), rename. Best effort against copies below the file: a copy-on-write file system, a flash
    /// translation layer or a backup of the disk may keep old blocks (docs/mls.md, "Client state at rest").
    pub fn save_mls_state(&self, sealed: &[u8]) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        let (path, next) = self.mls_state_paths();
        match fs::remove_file(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ClientError::io_path("remove", &next, e)),
        }
        write_new_private(&next, sealed)?;
        overwrite_in_place(&path)?;
        fs::rename(&next, &path).map_err(|e| ClientError::io_path("replace", &path, e))?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Deletes the MLS state (the device is gone), overwriting it first.
    pub fn delete_mls_state(&self) -> Result<()> {
        let (path, next) = self.mls_state_paths();
        for file in [&path, &next] {
            overwrite_in_place(file)?;
            match fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ClientError::io_path("remove", file, e)),
            }
        }
        Ok(())
    }
}

/// Zeros over the file's bytes, synced; nothing if it does not exist.
fn overwrite_in_place(path: &std::path::Path) -> Result<()> {
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ClientError::io_path("open", path, e)),
    };
    let length = file
        .metadata()
        .map_err(|e| ClientError::io_path("inspect", path, e))?
        .len();
    let zeros = [0u8; 8192];
    let mut left = length;
    while left > 0 {
        let chunk = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..chunk])
            .map_err(|e| ClientError::io_path("overwrite", path, e))?;
        left -= chunk as u64;
    }
    file.sync_all()
        .map_err(|e| ClientError::io_path("sync", path, e))
}
