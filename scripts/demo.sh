#!/usr/bin/env bash
# The end-to-end encryption demo: two users on this machine chat through the local server with the `e2ee`
# CLI, and the transcript shows every command and its output.
#
#   ./scripts/serve.sh        # in another terminal: the API on http://127.0.0.1:9000
#   ./scripts/demo.sh         # E2EE_SERVER=URL to use another server
#
# Alice and Bob (random usernames) register, generate their keys on the device, compare fingerprints,
# exchange messages both ways, read the inbox and the history; then Alice rotates her key and still reads
# the old history, and Bob's client follows the rotation (her old key signed the new one) without a warning.
# The profiles live in a temporary directory that is removed at the end; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

server="${E2EE_SERVER:-http://127.0.0.1:9000}"
server="${server%/}"

echo "building the e2ee CLI (cargo build -p e2ee-cli --bin e2ee)" >&2
cargo build --quiet -p e2ee-cli --bin e2ee
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/debug/e2ee"
case "${CARGO_TARGET_DIR:-}" in /*) bin="$CARGO_TARGET_DIR/debug/e2ee" ;; esac
[ -x "$bin" ] || { echo "demo: $bin was not built" >&2; exit 1; }

# The server must answer (any HTTP status will do).
if command -v curl >/dev/null 2>&1; then
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{}' \
    "$server/api/auth/login" || true)
  if [ "$code" = "000" ]; then
    echo "demo: no server at $server: start it with ./scripts/serve.sh (or set E2EE_SERVER)" >&2
    exit 3
  fi
fi

profiles=$(mktemp -d)
trap 'rm -rf "$profiles"' EXIT
export E2EE_SERVER="$server" E2EE_PROFILE_DIR="$profiles"
unset E2EE_PROFILE
# Demo secrets, handed over in environment variables so no terminal is needed.
export ALICE_PASSWORD="alice demo password $RANDOM" BOB_PASSWORD="bob demo password $RANDOM"
export ALICE_PASSPHRASE="alice key passphrase" BOB_PASSPHRASE="bob key passphrase"

suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
alice="alice_$suffix"
bob="bob_$suffix"

e2ee() { "$bin" "$@"; }
say() { printf '\n### %s\n' "$*"; }
# The command line as one would type it: arguments with spaces or special characters in single quotes.
quoted() {
  local word line=""
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=@%+-]+$ ]]; then
      line+=" $word"
    else
      line+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '%s' "${line# }"
}
# Prints the command, runs it, prints its output (kept in $out).
run() {
  printf '\n$ %s\n' "$(quoted "$@")"
  out=$("$@")
  printf '%s\n' "$out"
}
# The same, with standard input.
run_with_input() {
  local input="$1"
  shift
  printf '\n$ printf %q | %s\n' "$input" "$(quoted "$@")"
  out=$(printf '%s' "$input" | "$@")
  printf '%s\n' "$out"
}
# A command that must fail with the given exit code.
run_expect_failure() {
  local want="$1" rc=0
  shift
  printf '\n$ %s\n' "$(quoted "$@")"
  "$@" || rc=$?
  printf '(exit code %s)\n' "$rc"
  if [ "$rc" -ne "$want" ]; then
    echo "demo: expected exit code $want, got $rc" >&2
    exit 1
  fi
}

echo "e2ee demo against $server (profiles in a temporary directory)"

say "Alice and Bob create accounts (register also logs in; the session token stays in the profile, mode 0600)"
run e2ee --profile alice register "$alice" --password-env ALICE_PASSWORD
run e2ee --profile bob register "$bob" --password-env BOB_PASSWORD

say "Each generates a key pair on the device; only the public key goes to the server"
run e2ee --profile alice keys init --passphrase-env ALICE_PASSPHRASE
run e2ee --profile bob keys init --passphrase-env BOB_PASSPHRASE
run e2ee --profile alice keys show

say "They compare fingerprints over another channel (first use pins the key)"
run e2ee --profile bob keys verify "$alice"
run e2ee --profile alice keys verify "$bob"

say "Alice writes to Bob: sealed for Bob and for herself, signed, sent"
run e2ee --profile alice send "$bob" "Hi Bob! This message is end-to-end encrypted." --passphrase-env ALICE_PASSPHRASE
first_id=$(printf '%s\n' "$out" | sed -n 's/.*: message \(m_[0-9a-zA-Z_]*\) in chat.*/\1/p')

say "Bob's inbox: decrypted and verified on his device (still unread)"
run e2ee --profile bob inbox --passphrase-env BOB_PASSPHRASE
run e2ee --profile bob read "$first_id" --passphrase-env BOB_PASSPHRASE

say "Bob replies, the text on standard input"
run_with_input $'Hi Alice!\nThe server only ever sees ciphertext.\n' \
  e2ee --profile bob send "$alice" --passphrase-env BOB_PASSPHRASE

say "Alice reads her inbox and marks it read, then the whole conversation"
run e2ee --profile alice inbox --mark-read --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice history "$bob" --passphrase-env ALICE_PASSPHRASE

say "Alice rotates her key (signed by her current key, so no password is needed): the old private key stays on her device"
run e2ee --profile alice keys rotate --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice keys show
run e2ee --profile alice history "$bob" --passphrase-env ALICE_PASSPHRASE

say "Bob's client checks Alice's new key: her old (pinned) key signed it, so it is followed, not a key change"
run e2ee --profile bob keys verify "$alice"
run e2ee --profile bob send "$alice" "Got your new key, all good." --passphrase-env BOB_PASSPHRASE

say "Both histories: old messages (sealed for Alice's old key) and new ones, all verified"
run e2ee --profile alice history "$bob" --all --passphrase-env ALICE_PASSPHRASE
run e2ee --profile bob history "$alice" --all --passphrase-env BOB_PASSPHRASE

say "MLS: Alice's and Bob's profiles become MLS devices, certified by their identity keys"
run e2ee --profile alice device init --device-id laptop --passphrase-env ALICE_PASSPHRASE
run e2ee --profile bob device init --device-id laptop --passphrase-env BOB_PASSPHRASE
run e2ee --profile alice device list --user "$bob"

say "Alice creates a group with Bob; Bob joins it from his Welcome"
run e2ee --profile alice --json group create --name demo --member "$bob" --passphrase-env ALICE_PASSPHRASE
group=$(printf '%s' "$out" | sed -n 's/.*"groupId":"\([0-9a-f]*\)".*/\1/p')
run e2ee --profile bob sync --passphrase-env BOB_PASSPHRASE

say "Alice's phone: it logs in, asks to be a device, and Alice's laptop approves it with the phone's link code (from which the phone learns Alice's identity key)"
run e2ee --profile alice-phone login "$alice" --password-env ALICE_PASSWORD
run e2ee --profile alice-phone --json device request --device-id phone --passphrase-env ALICE_PASSPHRASE
link_code=$(printf '%s' "$out" | sed -n 's/.*"linkCode":"\([A-Z2-7-]*\)".*/\1/p')
run e2ee --profile alice device approve --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice device approve phone --code "$link_code" --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice-phone sync --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice sync --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice-phone sync --passphrase-env ALICE_PASSPHRASE

say "Bob writes to the group: both of Alice's devices read it; the phone answers"
run e2ee --profile bob group send "$group" "Hello to all of Alice's devices" --passphrase-env BOB_PASSPHRASE
run e2ee --profile alice group read "$group" --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice-phone group read "$group" --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice-phone group send "$group" "Hi Bob, from my phone" --passphrase-env ALICE_PASSPHRASE
run e2ee --profile bob group read "$group" --passphrase-env BOB_PASSPHRASE
run e2ee --profile bob group members "$group" --passphrase-env BOB_PASSPHRASE

say "Bob leaves the group; Alice's laptop reads his leave message and commits his removal"
run e2ee --profile bob group leave "$group" --passphrase-env BOB_PASSPHRASE
run e2ee --profile alice group read "$group" --passphrase-env ALICE_PASSPHRASE
run e2ee --profile alice group members "$group" --passphrase-env ALICE_PASSPHRASE

printf '\ndemo finished: %s and %s exchanged 3 messages and an MLS group conversation through %s\n' \
  "$alice" "$bob" "$server"
