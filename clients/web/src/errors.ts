// Typed errors. EnvelopeError carries exactly the four outcomes of docs/envelope.md ("Error names"); problems with
// the caller's own arguments (a bad key, an over-long id passed to seal) are a different kind of error and get
// their own class, so a UI can tell "this message is bad" from "this program is wrong".

export type EnvelopeErrorCode = "invalid_envelope" | "not_recipient" | "bad_signature" | "cannot_decrypt";

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
  constructor(
    readonly code: EnvelopeErrorCode,
    /** A short reason for debugging; never contains key material or plaintext. */
    readonly detail = "",
  ) {
    super(detail ? `${code}: ${detail}` : code);
  }
}

export type InputErrorCode = "invalid_key" | "invalid_input";

export class InputError extends Error {
  override name = "InputError";
  constructor(
    readonly code: InputErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}
