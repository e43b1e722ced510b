/**
 * Reads a Graph users page straight from its response bytes — the only way a page is read. It checks that
 * the bytes are valid UTF-8 holding one JSON text (RFC 8259: https://www.rfc-editor.org/rfc/rfc8259), that
 * the text is an object whose `value` is an array of objects, and records where each of those objects (the
 * users) and `@odata.nextLink` lie — without decoding the bytes to a string or building a single object.
 *
 * Why: the export stores each user exactly as Graph sent it (same tokens: names, order, escapes, numbers),
 * so it needs the users' bytes, not their values: a value read by JSON.parse and written by JSON.stringify
 * is not the token Graph sent (`-0` → `0`, `12345678901234567890123` → `1.2345678901234568e+22`, `1e400` →
 * `null`). Reading a page (~450 KiB for 999 users) this way also costs a fraction of decoding and parsing it.
 *
 * What it accepts is exactly RFC 8259's grammar: whitespace is space, tab, LF and CR only (§2), anywhere
 * between tokens; nesting as deep as the page is long (an explicit stack, no recursion: nothing valid is
 * refused for its depth, and no page can overflow the call stack). A user that contains whitespace between
 * its tokens is rewritten *in place* without it (the bytes of strings, names, escapes and numbers are left
 * as they are; the text only gets shorter, so it still lies at the start of its own range): a stored user is
 * one line, as ndjson needs, and a user without whitespace — every user of Graph's compact pages — is not
 * touched at all.
 *
 * Everything else is a {@link PageFormatError}, never a silent re-encoding:
 * - bytes that are not UTF-8 (JSON exchanged between systems MUST be UTF-8, RFC 8259 §8.1; decoding would
 *   replace them with U+FFFD, so what is stored would not be what was sent), and a byte order mark (§8.1:
 *   "MUST NOT add"; JSON.parse refuses it too);
 * - anything that is not valid JSON;
 * - a top-level value that is not an object, an object without `value`, a `value` that is not an array, or
 *   an element of it that is not an object (`null`, a string, a number, an array: none of them is a user);
 * - `value` or `@odata.nextLink` twice. RFC 8259 §4 leaves duplicate names' meaning "unpredictable" and I-JSON
 *   (RFC 7493 §2.3) forbids them; JSON.parse would keep the last, another reader the first: storing either
 *   page could drop users or follow the wrong link, so the page is refused. (Other top-level members are
 *   not read, so their duplicates do not matter; duplicates inside a user are stored as sent.)
 *
 * Top-level names are compared by their meaning, not their bytes: `"valu\u0065"` is `value` (JSON escapes in
 * a name are decoded before comparing; Graph never escapes these names, so this costs nothing on its pages).
 */
import { isUtf8 } from 'node:buffer';

export interface ScannedPage {
  /** User i is `bytes[ranges[2i] .. ranges[2i + 1])`: one JSON object, as Graph sent it (whitespace removed). */
  ranges: Uint32Array;
  /** Where the value of `@odata.nextLink` lies (a JSON value, to be decoded and checked), if the name is there. */
  nextLink: { start: number; end: number } | undefined;
}

/**
 * Why a page cannot be read, completing "the page …": `not-json` when the bytes are not a JSON text at all
 * (not UTF-8, a syntax error, empty), `shape` when they are JSON but not a page of users. `offset` is the
 * byte where the scan stopped, when it says.
 */
export class PageFormatError extends Error {
  constructor(
    readonly kind: 'not-json' | 'shape',
    message: string,
    readonly offset: number | undefined,
  ) {
    super(message);
    this.name = 'PageFormatError';
  }
}

/** RFC 8259 §2: `ws = *( %x20 / %x09 / %x0A / %x0D )` — nothing else (no U+00A0, no form feed). */
const WHITESPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WHITESPACE[c] = 1;
/** Bytes that end the plain run of a string: the closing quote, an escape, a raw control character (§7). */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c += 1) STRING_STOP[c] = 1;
STRING_STOP[0x22] = 1;
STRING_STOP[0x5c] = 1;
/** §7: the characters that may follow a backslash (`u` is handled apart). */
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

const VALUE_NAME = Buffer.from('value');
const NEXT_LINK_NAME = Buffer.from('@odata.nextLink');

/**
 * Reads the page in `bytes`; throws {@link PageFormatError} if it is not one (see the module comment).
 * Users that contain whitespace are compacted in place: the caller hands its buffer over.
 */
export function scanUsersPage(bytes: Uint8Array): ScannedPage {
  if (!isUtf8(bytes))
    throw new PageFormatError('not-json', 'is not valid UTF-8 (RFC 8259 §8.1 requires it; decoding would replace those bytes)', undefined);
  const b = bytes;
  const n = b.length;
  let pos = 0;
  /** Set when whitespace is skipped: tells whether a user needs compacting. */
  let spaced: boolean;
  /** Kinds of the containers open inside the value being skipped (1 object, 2 array); grows as needed. */
  let stack = new Uint8Array(64);

  const fail = (what: string): never => {
    if (pos >= n) throw new PageFormatError('not-json', `is not valid JSON: it ends (after ${n} bytes) where ${what} should follow`, n);
    throw new PageFormatError('not-json', `is not valid JSON: byte ${pos} is ${describeByte(b[pos])} where ${what} should be`, pos);
  };
  const skipWhitespace = (): void => {
    // (Bounds checked: an index past the end would read undefined, and a table indexed by it is slower ever after.)
    if (pos >= n || WHITESPACE[b[pos]!] !== 1) return;
    spaced = true;
    do pos += 1;
    while (pos < n && WHITESPACE[b[pos]!] === 1);
  };
  /** At an opening quote: skips the string, returns whether it had an escape. */
  const string = (): boolean => {
    pos += 1;
    let escaped = false;
    for (;;) {
      while (pos < n && STRING_STOP[b[pos]!] === 0) pos += 1;
      const c = b[pos];
      if (c === QUOTE) {
        pos += 1;
        return escaped;
      }
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[pos + 1]!;
        if (e === 0x75 /* u */) {
          pos += 2;
          for (let k = 0; k < 4; k += 1, pos += 1) if (HEX[b[pos]!] !== 1) fail('a hexadecimal digit of a \\u escape');
        } else if (SIMPLE_ESCAPE[e] === 1) {
          pos += 2;
        } else {
          pos += 1;
          fail('an escape character (one of "\\/bfnrtu)');
        }
      } else {
        fail('the rest of a string (a control character must be escaped)');
      }
    }
  };
  const digits = (): void => {
    const start = pos;
    while (b[pos]! >= ZERO && b[pos]! <= NINE) pos += 1;
    if (pos === start) fail('a digit');
  };
  /** §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
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
    for (let k = 0; k < text.length; k += 1, pos += 1) if (b[pos] !== text.charCodeAt(k)) fail(`the literal ${text}`);
  };
  /** At `"`: a member's name and its colon, and the whitespace after them. */
  const name = (): void => {
    if (b[pos] !== QUOTE) fail('a member name (a string)');
    string();
    skipWhitespace();
    if (b[pos] !== COLON) fail("':'");
    pos += 1;
    skipWhitespace();
  };
  /**
   * Skips one value starting at `pos` (whitespace before it already skipped), however deeply nested: the
   * open containers are kept in `stack`, not on the call stack.
   */
  const value = (): void => {
    let depth = 0;
    for (;;) {
      const c = b[pos];
      if (c === QUOTE) string();
      else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY;
        pos += 1;
        skipWhitespace();
        if (b[pos] === close) {
          pos += 1;
        } else {
          if (depth === stack.length) {
            const bigger = new Uint8Array(stack.length * 2);
            bigger.set(stack);
            stack = bigger;
          }
          stack[depth] = c === OPEN_OBJECT ? 1 : 2;
          depth += 1;
          if (c === OPEN_OBJECT) name();
          continue; // to the first member's or element's value
        }
      } else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) number();
      else if (c === 0x74) literal('true');
      else if (c === 0x66) literal('false');
      else if (c === 0x6e) literal('null');
      else fail('a value');
      // A value is complete: close what it completes, up to the next value (or the end of this one).
      for (;;) {
        if (depth === 0) return;
        skipWhitespace();
        const d = b[pos];
        const inObject = stack[depth - 1] === 1;
        if (d === COMMA) {
          pos += 1;
          skipWhitespace();
          if (inObject) name();
          break;
        }
        if (d !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) fail(inObject ? "',' or '}'" : "',' or ']'");
        pos += 1;
        depth -= 1;
      }
    }
  };
  /** After a member or an element: true if another follows (whitespace after the comma skipped), false at the closing bracket (consumed). */
  const more = (close: number): boolean => {
    skipWhitespace();
    const c = b[pos];
    if (c === COMMA) {
      pos += 1;
      skipWhitespace();
      return true;
    }
    if (c === close) {
      pos += 1;
      return false;
    }
    return fail(close === CLOSE_OBJECT ? "',' or '}'" : "',' or ']'");
  };
  /** Removes the whitespace between the tokens of the valid JSON text at [start, end); returns its new end. */
  const compact = (start: number, end: number): number => {
    let w = start;
    let inString = false;
    for (let r = start; r < end; r += 1) {
      const c = b[r]!;
      if (inString) {
        b[w++] = c;
        if (c === BACKSLASH) b[w++] = b[++r]!;
        else if (c === QUOTE) inString = false;
      } else if (WHITESPACE[c] !== 1) {
        b[w++] = c;
        if (c === QUOTE) inString = true;
      }
    }
    return w;
  };

  const ranges: number[] = [];
  let nextLink: ScannedPage['nextLink'];
  let sawValue = false;
  // The first thing wrong with the page's shape; reported once the whole page is known to be JSON, so that
  // a body that is not JSON at all is called that.
  let shapeError: PageFormatError | undefined;
  const wrongShape = (message: string, at: number): void => {
    shapeError ??= new PageFormatError('shape', message, at);
  };
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf)
    throw new PageFormatError('not-json', 'starts with a byte order mark, which JSON text must not have (RFC 8259 §8.1)', 0);
  skipWhitespace();
  if (pos >= n) throw new PageFormatError('not-json', 'is empty (no JSON at all)', pos);
  if (b[pos] !== OPEN_OBJECT) {
    const at = pos;
    value();
    skipWhitespace();
    if (pos !== n) fail('the end of the page');
    throw new PageFormatError('shape', `is JSON, but not an object (byte ${at} is ${describeByte(b[at])})`, at);
  }
  pos += 1;
  skipWhitespace();
  if (b[pos] === CLOSE_OBJECT) {
    pos += 1;
  } else {
    do {
      const nameAt = pos;
      if (b[pos] !== QUOTE) fail('a member name (a string)');
      const escaped = string();
      const key = topLevelName(b, nameAt, pos, escaped);
      skipWhitespace();
      if (b[pos] !== COLON) fail("':'");
      pos += 1;
      skipWhitespace();
      const start = pos;
      if (key === 'value' && !sawValue && b[start] === OPEN_ARRAY) {
        sawValue = true;
        pos += 1;
        skipWhitespace();
        if (b[pos] === CLOSE_ARRAY) {
          pos += 1;
        } else {
          let index = 0;
          do {
            const element = pos;
            spaced = false;
            value();
            if (b[element] === OPEN_OBJECT) ranges.push(element, spaced ? compact(element, pos) : pos);
            else
              wrongShape(
                `has an element of 'value' that is not an object, so not a user: element ${index} (byte ${element}) is ${describeValue(b[element]!)}`,
                element,
              );
            index += 1;
          } while (more(CLOSE_ARRAY));
        }
        continue;
      }
      value();
      if (key === 'value') {
        if (sawValue)
          wrongShape(
            'has two members named "value" (RFC 8259 §4: their meaning is unpredictable), so which users it holds is ambiguous',
            nameAt,
          );
        else wrongShape(`has a 'value' that is not an array (byte ${start} is ${describeByte(b[start])})`, start);
        sawValue = true;
      } else if (key === '@odata.nextLink') {
        if (nextLink !== undefined)
          wrongShape(
            'has two members named "@odata.nextLink" (RFC 8259 §4: their meaning is unpredictable), so which page follows is ambiguous',
            nameAt,
          );
        nextLink = { start, end: pos };
      }
    } while (more(CLOSE_OBJECT));
  }
  skipWhitespace();
  if (pos !== n) fail('the end of the page');
  if (shapeError !== undefined) throw shapeError;
  if (!sawValue) throw new PageFormatError('shape', "has no 'value' array", undefined);
  return { ranges: Uint32Array.from(ranges), nextLink };
}

/** A top-level member's name: decoded when it has escapes; else `value` or `@odata.nextLink` if it is one of them, or '' (not read). */
function topLevelName(b: Uint8Array, quote: number, end: number, escaped: boolean): string {
  if (escaped) return JSON.parse(Buffer.from(b.buffer, b.byteOffset + quote, end - quote).toString('utf8')) as string;
  const length = end - quote - 2;
  const matches = (known: Buffer): boolean => {
    if (length !== known.length) return false;
    for (let k = 0; k < length; k += 1) if (b[quote + 1 + k] !== known[k]) return false;
    return true;
  };
  if (matches(VALUE_NAME)) return 'value';
  if (matches(NEXT_LINK_NAME)) return '@odata.nextLink';
  return '';
}

function describeByte(c: number | undefined): string {
  if (c === undefined) return 'missing';
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

function describeValue(c: number): string {
  if (c === QUOTE) return 'a string';
  if (c === OPEN_ARRAY) return 'an array';
  if (c === 0x6e) return 'null';
  if (c === 0x74 || c === 0x66) return 'a boolean';
  return 'a number';
}
