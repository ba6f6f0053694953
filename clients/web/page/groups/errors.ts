// The errors of group chats and what the user reads about them: part of the group chats' chunk, so the 1:1 chat does
// not carry them. Importing this module adds their descriptions to the page's alerts (errors.ts `describers`).

import { MlsError, StorageError } from "../../src/index.js";
import { describers, PageError } from "../errors.js";

/** Group chats run in one tab at a time (one MLS device per store): another tab of this browser has them. */
export class GroupsBusyError extends PageError {
  override name = "GroupsBusyError";
  constructor() {
    super("Group chats are open in another tab of this browser, and they run in one tab at a time. Close that tab, then set them up here again.");
  }
}

/** A Welcome that sync() refused (a member this browser does not trust, or a key package it does not hold). */
export class InvitationRefusedError extends PageError {
  override name = "InvitationRefusedError";
  constructor(readonly detail: string) {
    super(`A group invitation was refused: ${detail}. It stays pending on the server.`);
  }
}

/** Users asked for in a group who have no group device (they never set up group chats, or used up their key packages). */
export class NoGroupDeviceError extends PageError {
  override name = "NoGroupDeviceError";
  constructor(readonly usernames: string[]) {
    super(`Not in the group: ${usernames.join(", ")} ${usernames.length === 1 ? "has" : "have"} no group device yet (set up group chats first, then add them).`);
  }
}

const MLS_TEXT: Record<MlsError["code"], string> = {
  untrusted_device: "Trust refused",
  not_in_group: "You are not in this group (any more)",
  no_device: "This browser has no group device for your account yet",
  device_exists: "This browser already has a group device for your account",
  invalid_state: "The group state stored in this browser cannot be read",
  unknown_key_package: "A group invitation was made for a key package this browser does not hold",
  invalid_response: "The server's answer did not add up",
  mls_failure: "The MLS client core refused",
  core_unavailable: "Group chats could not load their client core",
};

describers.push((e) => {
  if (e instanceof MlsError) return `${MLS_TEXT[e.code]}: ${e.detail}.`;
  if (e instanceof StorageError && e.code === "wrong_password") {
    return "Your password does not unlock the group chat state stored in this browser (it was encrypted under another password), so group chats cannot open here. 1:1 chats work.";
  }
  return undefined;
});
