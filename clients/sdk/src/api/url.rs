//! Server base URLs and path segments.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{ClientError, Result};

/// Characters escaped in a path segment: everything but the RFC 3986 unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `host` is a loopback host: `localhost`, 127.0.0.0/8 or ::1 (plain `http` is allowed only there).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks and normalizes a server base URL: `https` (or `http` to a loopback host only), no query or
/// fragment, no credentials, no trailing slash.
pub fn normalize_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim();
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| ClientError::Usage(format!("invalid server URL {trimmed:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ClientError::Usage(format!(
            "invalid server URL {trimmed:?}: the scheme must be http or https"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ClientError::Usage(format!(
            "invalid server URL {trimmed:?}: no query or fragment allowed"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ClientError::Usage(
            "invalid server URL: credentials in the URL are not allowed".into(),
        ));
    }
    if parsed.scheme() == "http" && !is_loopback(&parsed) {
        return Err(ClientError::Usage(format!(
            "refusing {trimmed:?}: plain http is only allowed to this machine (localhost, 127.0.0.0/8, ::1); \
             use https"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// `value` escaped as one path segment.
pub(super) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}
