//! Opening received and stored messages on the device: the rules are the client core's
//! (`e2ee_client_core::envelope`); this module finds the key of this device the message is sealed for, unlocking
//! an older key from the profile on demand.

pub use e2ee_client_core::envelope::{
    MessageReport, Opening, Participant, Signer, Verification, failed, parse_envelope, report,
    short,
};
use e2ee_crypto::Envelope;

use crate::error::ClientError;
use crate::keyring::KeyRing;
use crate::profile::Profile;

/// Opens `envelope` for `me` with whichever key of `ring` it is sealed for, checking the signature when
/// the signer's key is known. `profile` lets the ring decrypt older keys on demand.
pub fn open_envelope(
    envelope: &Envelope,
    me: &str,
    ring: &mut KeyRing,
    profile: Option<&Profile>,
    signer: Signer<'_>,
    sender_name: &str,
) -> Opening {
    use e2ee_client_core::envelope::{open_with, sealed_for};
    let Some(key_id) = sealed_for(envelope, me, |k| ring.holds(k)) else {
        return failed("not sealed for any key on this device");
    };
    let key = match ring.private(&key_id, profile) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err("not sealed for any key on this device".to_owned()),
        Err(ClientError::WrongPassphrase) => Err(format!(
            "the passphrase does not unlock the older key {} this message is sealed for",
            short(&key_id)
        )),
        Err(error) => Err(error.to_string()),
    };
    open_with(envelope, key_id, key, signer, sender_name)
}

#[cfg(test)]
mod tests;
