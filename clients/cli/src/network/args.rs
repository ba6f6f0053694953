//! The messaging commands' arguments (clap).

use clap::Subcommand;

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create an account on the server and log in (the session is saved in the profile).
    Register {
        username: String,
        /// Shown to others instead of the username.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password (at least 10 characters) from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Log in; the session token (valid for up to an hour) is saved in the profile (mode 0600).
    Login {
        username: String,
        /// Read the password from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Forget the session token of the profile.
    Logout,
    /// Your keys and your contacts' keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Seal a message for USER on this device, sign it and send it.
    ///
    /// The message is sealed for USER's active key and for your own key (so your history stays readable),
    /// and signed with your key. Refuses (exit code 5) if USER's key changed since you first saw it.
    Send {
        /// The receiver's username.
        user: String,
        /// The text to send (default: standard input).
        message: Option<String>,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// List your unread messages, decrypted and verified.
    ///
    /// Oldest first. They stay unread unless --mark-read is given (or you `read` them one by one).
    Inbox {
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Mark every listed message read.
        #[arg(long)]
        mark_read: bool,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Show one received message and mark it read.
    Read {
        /// The message id (m_...), as `inbox` shows it.
        message_id: String,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Your MLS devices (multi-device, groups): `device init` on the account's first device.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// MLS group conversations: forward secrecy, post-compromise security, all of each member's devices.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Join pending groups (Welcomes), then process every group's new commits and messages.
    Sync {
        /// Read your passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Show the conversation with USER, decrypted and verified.
    ///
    /// Oldest first: the latest --limit messages, or all with --all. Every message says whether it
    /// verified; unreadable ones are shown as failed, never dropped.
    History {
        /// The other user's username.
        user: String,
        /// Show the latest N messages.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// Every message of the chat (pages through the whole history).
        #[arg(long)]
        all: bool,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate your key pair on this device and register its public key.
    ///
    /// The private key is stored encrypted with a passphrase (asked twice, or --passphrase-env VAR).
    Init {
        /// RSA modulus size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// The passphrase for the new key, from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Register a new key even if the account already has an active key that is not on this device.
        #[arg(long)]
        replace: bool,
        /// The account password, from this environment variable, when the key change needs it (the
        /// account already has a key and this device does not hold the active one); else it is asked for.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Replace your key with a new one (the old one stays on this device).
    ///
    /// The new key becomes your active key on the server; the old private key is kept so the history
    /// sealed for it stays readable. The new key uses the same passphrase. The change is signed by your
    /// current active key; if this device does not hold it (e.g. it was revoked), your account password is
    /// asked for instead.
    Rotate {
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The account password, from this environment variable, when it is needed (see above).
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Revoke one of your keys: it verifies no message any more and nobody can seal for it.
    ///
    /// Signed by your active key when it is on this device (passphrase), else authorized by your account
    /// password. Revoking your active key leaves the account without one until `keys rotate` or
    /// `keys init`. The private key stays on this device, so what was sealed for it stays readable.
    Revoke {
        /// The key id (64 hex digits, as `e2ee keys show` lists it).
        key_id: String,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The account password, from this environment variable, when it is needed.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Show this device's keys and fingerprints (and their status on the server).
    Show,
    /// Show USER's fingerprint and whether it changed since first use.
    ///
    /// Compare it with USER over another channel (in person, on a call). If USER's key changed, sending to
    /// them is refused until you accept the new key with --accept.
    Verify {
        /// The contact's username.
        user: String,
        /// Trust USER's current key (after comparing fingerprints).
        #[arg(long)]
        accept: bool,
    },
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Make this profile an MLS device, certified by your identity key on this device.
    ///
    /// Generates the device's signature key here, certifies it with your key (`keys init` first), registers
    /// it and uploads key packages. The MLS state is stored sealed under your passphrase.
    Init {
        /// The device id (1-64 of A-Z a-z 0-9 _ -; default: a random one).
        #[arg(long)]
        device_id: Option<String>,
        /// Read your passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// On a new device (after `login`): register this profile as a pending device of your account.
    ///
    /// Prints the device's fingerprint and a link code: give the code to `e2ee device approve ID --code CODE`
    /// on a device that holds your key.
    Request {
        #[arg(long)]
        device_id: Option<String>,
        /// The passphrase that will seal this device's MLS state, from this environment variable.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Certify a pending device of yours with your identity key (then it joins your groups).
    ///
    /// Without DEVICE_ID or --all, lists the pending devices and their fingerprints. With --code, the link
    /// code the new device printed: it must name that device, and the approval then proves to the new device
    /// which identity key certified it (so it trusts your other devices without asking the server).
    Approve {
        device_id: Option<String>,
        #[arg(long, conflicts_with = "device_id")]
        all: bool,
        /// The new device's link code (from `e2ee device request`).
        #[arg(
            long,
            value_name = "CODE",
            requires = "device_id",
            conflicts_with = "all"
        )]
        code: Option<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Revoke one of your devices: it leaves the directory and every group this device is in.
    Revoke {
        device_id: String,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// List your devices (or USER's) with their fingerprints and whether this device trusts them.
    List {
        /// Another user's devices.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group with you (all your devices) and the members' devices; prints the group id.
    Create {
        #[arg(long)]
        name: Option<String>,
        /// A member's username (repeat for more).
        #[arg(long = "member", value_name = "USER")]
        members: Vec<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Add users (every certified device of each) to a group.
    Add {
        group: String,
        #[arg(required = true)]
        users: Vec<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Remove users (every device of each) from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        users: Vec<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Leave a group on all your devices (another member's device commits the removal).
    Leave {
        group: String,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// The group's member devices.
    Members {
        group: String,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// The groups this device is in.
    List {
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Send a message to a group (MESSAGE, or standard input).
    Send {
        group: String,
        message: Option<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Process the group's new commits and messages and print the new messages.
    Read {
        group: String,
        /// Every message this device has read in the group, not only new ones.
        #[arg(long)]
        all: bool,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
}
