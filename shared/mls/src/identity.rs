//! The identity a device's MLS credential carries (docs/mls.md, "Device certificates").

use crate::MlsError;

/// A user's device, as its `BasicCredential` names it: the UTF-8 bytes `userId "/" deviceId`. Device ids
/// never contain `/` (see [`e2ee_protocol::ids::is_device_id`]), so the last `/` splits the two unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceIdentity {
    pub user_id: String,
    pub device_id: String,
}

impl DeviceIdentity {
    /// Checks both ids: the user id by the id rule of docs/envelope.md, the device id by
    /// [`e2ee_protocol::ids::is_device_id`].
    pub fn new(user_id: &str, device_id: &str) -> Result<Self, MlsError> {
        let user_ok = !user_id.is_empty()
            && user_id.len() <= e2ee_protocol::ids::MAX_ID_BYTES
            && !user_id.chars().any(|c| c.is_ascii_control());
        if !user_ok {
            return Err(MlsError::InvalidCredential(
                "the user id breaks the id rule",
            ));
        }
        if !e2ee_protocol::ids::is_device_id(device_id) {
            return Err(MlsError::InvalidCredential(
                "the device id breaks the device id rule",
            ));
        }
        Ok(DeviceIdentity {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
        })
    }

    /// The credential identity bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}/{}", self.user_id, self.device_id).into_bytes()
    }

    /// The inverse of [`DeviceIdentity::to_bytes`]; anything else is [`MlsError::InvalidCredential`].
    pub fn parse(bytes: &[u8]) -> Result<Self, MlsError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| MlsError::InvalidCredential("the identity is not UTF-8"))?;
        let (user_id, device_id) = text.rsplit_once('/').ok_or(MlsError::InvalidCredential(
            "the identity is not userId/deviceId",
        ))?;
        Self::new(user_id, device_id)
    }
}

impl std::fmt::Display for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.user_id, self.device_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn identities_round_trip_and_split_at_the_device() {
        let id = DeviceIdentity::new("u_0123abcd", "laptop-1").unwrap();
        assert_eq!(id.to_bytes(), b"u_0123abcd/laptop-1");
        assert_eq!(DeviceIdentity::parse(&id.to_bytes()).unwrap(), id);
        // A user id may contain '/': the device id never does, so the last '/' splits.
        let odd = DeviceIdentity::parse(b"u/x/phone").unwrap();
        assert_eq!(
            (odd.user_id.as_str(), odd.device_id.as_str()),
            ("u/x", "phone")
        );
    }

    #[test]
    fn malformed_identities_are_refused() {
        for bad in [
            &b"no-separator"[..],
            b"/phone",
            b"u_1/",
            b"u_1/lap top",
            b"u_\n/phone",
            b"\xff/phone",
        ] {
            assert!(
                matches!(
                    DeviceIdentity::parse(bad),
                    Err(MlsError::InvalidCredential(_))
                ),
                "{bad:?}"
            );
        }
    }
}
