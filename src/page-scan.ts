/**
 * Reads a Graph users page straight from its response bytes: checks that they are one valid JSON object
 * (RFC 8259, exactly what JSON.parse accepts) and finds where each element of its `value` array and its
 * `@odata.nextLink` lie — without decoding the bytes to a string or building a single object.
 *
 * Why: the export stores each user exactly as Graph sent it, so it needs the users' bytes, not their
 * values. Decoding a page (~450 KiB for 999 users) and parsing it cost ~3 ms of CPU and a page's worth of
 * strings and objects for the garbage collector; this scan costs ~1.3 ms and allocates next to nothing,
 * and the users are then copied into the blob as they came.
 *
 * It only vouches for what it fully understands: bytes that are valid UTF-8 (`isUtf8`, so the bytes are
 * the text), a top-level object whose keys have no escapes, `value` an array of objects and present once,
 * `@odata.nextLink` at most once, no line break anywhere (an element could then span lines, which ndjson
 * cannot store) and nesting at most {@link MAX_DEPTH} deep. Anything else — including invalid JSON — gives
 * undefined, and the caller falls back to JSON.parse, which has the last word (and the error message).
 */
import { isUtf8 } from 'node:buffer';

export interface ScannedPage {
  /** User i is `bytes[ranges[2i] .. ranges[2i + 1])`: one JSON object, as Graph sent it. */
  ranges: Uint32Array;
  /** Where the value of `@odata.nextLink` lies (a JSON string or null, to be decoded), if the key is there. */
  nextLink: { start: number; end: number } | undefined;
}

/** Deeper than any Graph user (its deepest properties are arrays of objects in an object): left to JSON.parse. */
const MAX_DEPTH = 32;

/** Thrown inside the scan for anything it does not vouch for; never escapes it. */
class Doubt extends Error {}
const DOUBT = new Doubt();

const WHITESPACE = new Uint8Array(256);
for (const c of [0x20, 0x09]) WHITESPACE[c] = 1; // line breaks are never accepted (see above)
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

export function scanUsersPage(bytes: Uint8Array): ScannedPage | undefined {
  if (!isUtf8(bytes) || bytes.includes(0x0a) || bytes.includes(0x0d)) return undefined;
  const b = bytes;
  const n = b.length;
  let pos = 0;

  const skipWhitespace = (): void => {
    while (pos < n && WHITESPACE[b[pos]!] === 1) pos += 1;
  };
  /** At an opening quote: skips the string, returns whether it had an escape. */
  const string = (): boolean => {
    pos += 1;
    let escaped = false;
    for (;;) {
      if (pos >= n) throw DOUBT;
      const c = b[pos]!;
      if (c === QUOTE) {
        pos += 1;
        return escaped;
      }
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[pos + 1]!;
        if (e === 0x75 /* u */) {
          if (HEX[b[pos + 2]!] !== 1 || HEX[b[pos + 3]!] !== 1 || HEX[b[pos + 4]!] !== 1 || HEX[b[pos + 5]!] !== 1) throw DOUBT;
          pos += 6;
        } else if (SIMPLE_ESCAPE[e] === 1) {
          pos += 2;
        } else {
          throw DOUBT;
        }
      } else if (c < 0x20) {
        throw DOUBT; // a raw control character
      } else {
        pos += 1;
      }
    }
  };
  const digits = (): void => {
    const start = pos;
    while (pos < n && b[pos]! >= ZERO && b[pos]! <= NINE) pos += 1;
    if (pos === start) throw DOUBT;
  };
  /** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
  const number = (): void => {
    if (b[pos] === MINUS) pos += 1;
    if (b[pos] === ZERO) pos += 1;
    else digits();
    if (b[pos] === DOT) {
      pos += 1;
      digits();
    }
    if (b[pos] === 0x65 /* e */ || b[pos] === 0x45 /* E */) {
      pos += 1;
      if (b[pos] === PLUS || b[pos] === MINUS) pos += 1;
      digits();
    }
  };
  const literal = (text: string): void => {
    for (let k = 0; k < text.length; k += 1) if (b[pos + k] !== text.charCodeAt(k)) throw DOUBT;
    pos += text.length;
  };
  const value = (depth: number): void => {
    skipWhitespace();
    const c = b[pos];
    if (c === QUOTE) string();
    else if (c === OPEN_OBJECT) object(depth + 1);
    else if (c === OPEN_ARRAY) array(depth + 1);
    else if (c === 0x74) literal('true');
    else if (c === 0x66) literal('false');
    else if (c === 0x6e) literal('null');
    else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) number();
    else throw DOUBT;
    skipWhitespace();
  };
  /** After a member or an element: true if another follows, false at the closing bracket (consumed). */
  const more = (close: number): boolean => {
    const c = b[pos];
    pos += 1;
    if (c === COMMA) {
      skipWhitespace();
      return true;
    }
    if (c === close) return false;
    throw DOUBT;
  };
  const object = (depth: number): void => {
    if (depth > MAX_DEPTH) throw DOUBT;
    pos += 1;
    skipWhitespace();
    if (b[pos] === CLOSE_OBJECT) {
      pos += 1;
      return;
    }
    do {
      if (b[pos] !== QUOTE) throw DOUBT;
      string();
      skipWhitespace();
      if (b[pos] !== COLON) throw DOUBT;
      pos += 1;
      value(depth);
    } while (more(CLOSE_OBJECT));
  };
  const array = (depth: number): void => {
    if (depth > MAX_DEPTH) throw DOUBT;
    pos += 1;
    skipWhitespace();
    if (b[pos] === CLOSE_ARRAY) {
      pos += 1;
      return;
    }
    do value(depth);
    while (more(CLOSE_ARRAY));
  };

  try {
    const ranges: number[] = [];
    let nextLink: ScannedPage['nextLink'];
    let sawValue = false;
    skipWhitespace();
    if (b[pos] !== OPEN_OBJECT) throw DOUBT;
    pos += 1;
    skipWhitespace();
    if (b[pos] === CLOSE_OBJECT) throw DOUBT; // no value array
    do {
      if (b[pos] !== QUOTE) throw DOUBT;
      const keyStart = pos + 1;
      if (string()) throw DOUBT; // an escaped key could spell "value" to JSON.parse
      const key = Buffer.from(b.buffer, b.byteOffset + keyStart, pos - 1 - keyStart).toString('latin1');
      skipWhitespace();
      if (b[pos] !== COLON) throw DOUBT;
      pos += 1;
      skipWhitespace();
      if (key === 'value') {
        if (sawValue || b[pos] !== OPEN_ARRAY) throw DOUBT;
        sawValue = true;
        pos += 1;
        skipWhitespace();
        if (b[pos] === CLOSE_ARRAY) {
          pos += 1;
        } else {
          do {
            if (b[pos] !== OPEN_OBJECT) throw DOUBT;
            const start = pos;
            object(1);
            ranges.push(start, pos);
            skipWhitespace();
          } while (more(CLOSE_ARRAY));
        }
        skipWhitespace();
      } else {
        const start = pos;
        value(0);
        if (key === '@odata.nextLink') {
          if (nextLink !== undefined) throw DOUBT;
          nextLink = { start, end: pos };
        }
      }
    } while (more(CLOSE_OBJECT));
    skipWhitespace();
    if (pos !== n || !sawValue) throw DOUBT;
    return { ranges: Uint32Array.from(ranges), nextLink };
  } catch (e) {
    if (e === DOUBT) return undefined;
    throw e;
  }
}
