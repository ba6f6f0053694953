// A strict JSON parser (RFC 8259) for envelopes. JSON.parse is not used because it silently accepts what the spec
// rejects: it keeps the last of two duplicate keys, turns 1.0 / 1e0 / 2^64 into JS numbers (so "not an integer"
// and "above 2^53 - 1" become undetectable), accepts lone surrogate escapes, and treats "__proto__" specially.
// Here objects become Maps (no prototype tricks), numbers keep their source text, and all of the above are errors.

import { isWellFormed } from "./bytes.js";

/** A JSON number as written in the source; the caller decides what it may be. */
export class JsonNumber {
  constructor(readonly text: string) {}

  /** The value if the text is a plain integer (no fraction, exponent, leading zero or "-0") within 0..2^53-1. */
  asSafeNonNegativeInteger(): number | null {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(this.text)) return null;
    const n = Number(this.text);
    return Number.isSafeInteger(n) ? n : null;
  }
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

// Envelopes nest three levels deep; a cap keeps hostile input ("[[[[…") from exhausting the stack.
const MAX_DEPTH = 32;

export function parseStrictJson(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.pos !== text.length) p.fail("trailing characters");
  return v;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError(`${what} at offset ${this.pos}`);
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      // Only the four JSON whitespace characters; a BOM or NBSP is an error.
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail("nested too deeply");
    const c = this.s[this.pos];
    switch (c) {
      case "{":
        return this.object(depth);
      case "[":
        return this.array(depth);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
        return this.fail("unexpected character");
    }
  }

  literal<T>(word: string, v: T): T {
    if (this.s.startsWith(word, this.pos)) {
      this.pos += word.length;
      return v;
    }
    return this.fail("invalid literal");
  }

  number(): JsonNumber {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (!m) return this.fail("invalid number");
    this.pos += m[0].length;
    return new JsonNumber(m[0]);
  }

  string(): string {
    const s = this.s;
    this.pos++; // opening quote
    let out = "";
    let start = this.pos;
    for (;;) {
      if (this.pos >= s.length) this.fail("unterminated string");
      const c = s.charCodeAt(this.pos);
      if (c === 0x22) break;
      if (c < 0x20) this.fail("raw control character in string");
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += s.slice(start, this.pos);
      const e = s[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = s.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.pos -= 2;
          this.fail("bad escape");
      }
      start = this.pos;
    }
    out += s.slice(start, this.pos);
    this.pos++; // closing quote
    // Escapes can form lone surrogates ("\ud800"), which have no UTF-8 encoding and so no defined AAD bytes.
    if (!isWellFormed(out)) this.fail("lone surrogate in string");
    return out;
  }

  array(depth: number): JsonValue[] {
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected , or ]");
    }
  }

  object(depth: number): JsonObject {
    this.pos++;
    const out: JsonObject = new Map();
    this.ws();
    if (this.s[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail("expected a string key");
      const k = this.string();
      if (out.has(k)) this.fail("duplicate key");
      this.ws();
      if (this.s[this.pos++] !== ":") this.fail("expected :");
      this.ws();
      out.set(k, this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos++];
      if (c === "}") return out;
      if (c !== ",") this.fail("expected , or }");
    }
  }
}
