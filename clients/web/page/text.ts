// Text from the server or from other users (names, usernames, group names, message texts, the server's error
// messages) is made safe to show: the Rust core's rule (clients/core/src/text.rs `sanitize`). Bidirectional
// controls are removed (they can make text display in another order than it is stored, e.g. hide or reorder a
// fingerprint, fake a status), other control characters except newline and tab become U+FFFD. The DOM helpers
// (dom.ts: h, setText, announce, field errors) apply it to every string they show, so no display point is missed.

/** The bidi controls: embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), LRM, RLM, ALM. */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
/** Control characters (Unicode Cc: U+0000–U+001F, U+007F–U+009F) other than tab (U+0009) and newline (U+000A). */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` for display: bidi controls removed, other controls except \n and \t replaced with U+FFFD. */
export function displayText(text: string): string {
  return text.replace(BIDI, "").replace(CONTROL, "\ufffd");
}
