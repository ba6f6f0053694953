//! Every route of the HTTP API: the one list that `template.yaml`, `docs/openapi.yaml`, the `cargo lambda
//! watch` router in `Cargo.toml`, `functions/`, `events/` and the client are checked against
//! (`scripts/check_routes.py` reads this file; the API's route test compares it with the handlers).

/// One route: an HTTP method, a path template (`{name}` marks a path parameter) and the Lambda function
/// (`functions/<function>`) that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: &'static str,
}

impl Route {
    /// Whether a request `method` and `path` are this route: the same method, and the path's segments equal
    /// the template's, a `{name}` segment matching any one non-empty segment.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut template = self.path.split('/');
        let mut segments = path.split('/');
        loop {
            match (template.next(), segments.next()) {
                (None, None) => return true,
                (Some(expected), Some(segment)) => {
                    let parameter = expected.starts_with('{') && expected.ends_with('}');
                    if (parameter && segment.is_empty()) || (!parameter && expected != segment) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// The route of a request, if the API has one.
    pub fn of_request(method: &str, path: &str) -> Option<&'static Route> {
        ROUTES.iter().find(|route| route.matches(method, path))
    }

    /// The path with its parameters replaced, in order, by `segments` (which the caller has already
    /// percent-encoded). Missing segments leave the template's `{name}` in place; extra ones are ignored.
    pub fn fill(&self, segments: &[&str]) -> String {
        let mut path = String::with_capacity(self.path.len() + 64);
        let mut rest = self.path;
        let mut segments = segments.iter();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|at| open + at) else {
                break;
            };
            path.push_str(&rest[..open]);
            match segments.next() {
                Some(segment) => path.push_str(segment),
                None => path.push_str(&rest[open..=close]),
            }
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        path
    }
}

const fn route(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
    }
}

pub const AUTH_REGISTER: Route = route("POST", "/api/auth/register", "auth-register");
pub const AUTH_LOGIN: Route = route("POST", "/api/auth/login", "auth-login");
pub const LOOKUP_USER: Route = route("GET", "/api/users/{username}", "lookup-user");
pub const GENERATE_KEYS: Route = route("POST", "/api/crypto/generate-keys", "generate-keys");
pub const REGISTER_KEY: Route = route("POST", "/api/crypto/register-key", "register-key");
pub const REVOKE_KEY: Route = route("POST", "/api/crypto/revoke-key", "revoke-key");
pub const GET_PUBLIC_KEY: Route = route("GET", "/api/crypto/public-key/{userId}", "get-public-key");
pub const ENCRYPT: Route = route("POST", "/api/crypto/encrypt", "encrypt");
pub const DECRYPT: Route = route("POST", "/api/crypto/decrypt", "decrypt");
pub const SEND_MESSAGE: Route = route("POST", "/api/messages/send", "send-message");
pub const RECEIVE_MESSAGES: Route =
    route("GET", "/api/messages/receive/{userId}", "receive-messages");
pub const MARK_READ: Route = route("PATCH", "/api/messages/mark-read/{messageId}", "mark-read");
pub const CHAT_HISTORY: Route = route("GET", "/api/messages/history/{chatId}", "chat-history");
pub const REGISTER_DEVICE: Route = route("POST", "/api/devices", "register-device");
pub const DEVICE_SESSION: Route = route("POST", "/api/devices/session", "device-session");
pub const APPROVE_DEVICE: Route = route("POST", "/api/devices/approve", "approve-device");
pub const REVOKE_DEVICE: Route = route("POST", "/api/devices/revoke", "revoke-device");
pub const LIST_DEVICES: Route = route("GET", "/api/devices/{userId}", "list-devices");
pub const UPLOAD_KEY_PACKAGES: Route = route("POST", "/api/key-packages", "upload-key-packages");
pub const KEY_PACKAGE_SUPPLY: Route =
    route("GET", "/api/key-packages/supply", "key-package-supply");
pub const CLAIM_KEY_PACKAGES: Route =
    route("POST", "/api/key-packages/claim", "claim-key-packages");
pub const CREATE_GROUP: Route = route("POST", "/api/groups", "create-group");
pub const GET_GROUP: Route = route("GET", "/api/groups/{groupId}", "get-group");
pub const POST_COMMIT: Route = route("POST", "/api/groups/{groupId}/commits", "post-commit");
pub const POST_GROUP_MESSAGE: Route = route(
    "POST",
    "/api/groups/{groupId}/messages",
    "post-group-message",
);
pub const READ_GROUP_LOG: Route = route("GET", "/api/groups/{groupId}/log", "read-group-log");
pub const LIST_GROUPS: Route = route("GET", "/api/groups", "list-groups");
pub const LIST_WELCOMES: Route = route("GET", "/api/welcomes", "list-welcomes");
pub const ACK_WELCOME: Route = route("POST", "/api/welcomes/ack", "ack-welcome");

/// All routes, in the order the README and OpenAPI list them.
pub const ROUTES: [Route; 29] = [
    AUTH_REGISTER,
    AUTH_LOGIN,
    LOOKUP_USER,
    GENERATE_KEYS,
    REGISTER_KEY,
    REVOKE_KEY,
    GET_PUBLIC_KEY,
    ENCRYPT,
    DECRYPT,
    SEND_MESSAGE,
    RECEIVE_MESSAGES,
    MARK_READ,
    CHAT_HISTORY,
    REGISTER_DEVICE,
    DEVICE_SESSION,
    APPROVE_DEVICE,
    REVOKE_DEVICE,
    LIST_DEVICES,
    UPLOAD_KEY_PACKAGES,
    KEY_PACKAGE_SUPPLY,
    CLAIM_KEY_PACKAGES,
    CREATE_GROUP,
    GET_GROUP,
    POST_COMMIT,
    POST_GROUP_MESSAGE,
    READ_GROUP_LOG,
    LIST_GROUPS,
    LIST_WELCOMES,
    ACK_WELCOME,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_matched_to_their_route_template() {
        let commits = Route::of_request("POST", "/api/groups/0abc/commits").map(|r| r.path);
        assert_eq!(commits, Some("/api/groups/{groupId}/commits"));
        let group = Route::of_request("GET", "/api/groups/0abc").map(|r| r.path);
        assert_eq!(group, Some("/api/groups/{groupId}"));
        assert_eq!(
            Route::of_request("GET", "/api/groups").map(|r| r.function),
            Some("list-groups")
        );
        assert_eq!(
            Route::of_request("POST", "/api/groups").map(|r| r.function),
            Some("create-group")
        );
        assert_eq!(Route::of_request("DELETE", "/api/groups"), None);
        assert_eq!(Route::of_request("GET", "/api/groups//commits"), None);
        assert_eq!(Route::of_request("GET", "/api/groups/a/b/c"), None);
    }

    #[test]
    fn fill_replaces_parameters_in_order() {
        assert_eq!(CHAT_HISTORY.fill(&["c_1"]), "/api/messages/history/c_1");
        assert_eq!(SEND_MESSAGE.fill(&[]), "/api/messages/send");
        assert_eq!(LOOKUP_USER.fill(&[]), "/api/users/{username}");
    }

    #[test]
    fn routes_are_unique_and_each_function_serves_one() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!((a.method, a.path), (b.method, b.path));
                assert_ne!(a.function, b.function);
            }
        }
    }
}
