// What an MLS application message carries (docs/mls.md, "Application messages"; clients/sdk/src/content.rs): one
// UTF-8 JSON object tagged by `type`. Unknown fields are ignored; an unknown type decodes to null (the reader lists
// the message as failed, never drops it).

import { fromUtf8, isWellFormed, utf8 } from "../bytes.js";

export type Content = { type: "text"; text: string } | { type: "leave" };

/** The wire form: `{"type":"text","text":"…"}` or `{"type":"leave"}`, keys in that order (as serde writes them). */
export function encodeContent(c: Content): Uint8Array {
  return utf8(c.type === "text" ? JSON.stringify({ type: "text", text: c.text }) : JSON.stringify({ type: "leave" }));
}

/** null for anything that is not a content object this client knows (bad UTF-8, not JSON, unknown type). */
export function decodeContent(bytes: Uint8Array): Content | null {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as { type?: unknown; text?: unknown };
  // A lone surrogate (JSON allows "\ud800") has no UTF-8 form; serde_json refuses it, and so does this.
  if (o.type === "text" && typeof o.text === "string" && isWellFormed(o.text)) return { type: "text", text: o.text };
  if (o.type === "leave") return { type: "leave" };
  return null;
}
