/**
 * Reading one stored user — a JSON object exactly as Graph sent it (page-scan.ts cut it out of the page and
 * validated it) — without turning it into values: its `id`, its top-level members' names with the raw bytes
 * of their values, and JSON value equality of two raw values. The change report needs this because it emits
 * old and new values exactly as stored (the same tokens), yet calls two values different only when they
 * differ as JSON values (`"a"` and `"\u0061"` are one string, `1.0` and `1` one number).
 *
 * A previous snapshot's file is read back through the same functions, so they check what they walk: bytes
 * that are not one JSON object throw {@link UserJsonError} (the snapshot is then unreadable), never loop or
 * read out of bounds.
 */

export class UserJsonError extends Error {
  override readonly name = 'UserJsonError';
}

/** One top-level member: its name (decoded) and where its value's bytes lie. */
export interface Member {
  name: string;
  start: number;
  end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWhitespace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWhitespace(b: Uint8Array, pos: number, end: number): number {
  while (pos < end && isWhitespace(b[pos])) pos += 1;
  return pos;
}

/** At an opening quote: the position after the closing one. `escapes.seen` tells whether it had a backslash. */
function skipString(b: Uint8Array, pos: number, end: number, escapes: { seen: boolean }): number {
  pos += 1;
  while (pos < end) {
    const c = b[pos]!;
    if (c === QUOTE) return pos + 1;
    if (c === BACKSLASH) {
      escapes.seen = true;
      pos += 2;
    } else {
      if (c < 0x20) break;
      pos += 1;
    }
  }
  throw new UserJsonError('a string does not end');
}

/** Skips one value (whitespace before it already skipped); nested containers are counted, not recursed into. */
function skipValue(b: Uint8Array, pos: number, end: number): number {
  const escapes = { seen: false };
  let depth = 0;
  const start = pos;
  while (pos < end) {
    const c = b[pos]!;
    if (c === QUOTE) {
      pos = skipString(b, pos, end, escapes);
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth += 1;
      pos += 1;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) break;
      depth -= 1;
      pos += 1;
    } else if (c === COMMA && depth === 0) {
      break;
    } else {
      pos += 1;
    }
    if (depth === 0 && (c === QUOTE || c === CLOSE_OBJECT || c === CLOSE_ARRAY)) return pos;
  }
  // A scalar (number, true, false, null) ends at the delimiter that follows it.
  if (depth !== 0 || pos === start) throw new UserJsonError('a value does not end');
  let last = pos;
  while (last > start && isWhitespace(b[last - 1])) last -= 1;
  return last;
}

function memberName(b: Uint8Array, start: number, end: number, escaped: boolean): string {
  const text = Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
  if (!escaped) return text.slice(1, -1);
  try {
    return JSON.parse(text) as string;
  } catch {
    throw new UserJsonError('a member name is not a JSON string');
  }
}

/**
 * Calls `visit` for each top-level member of the object at `[start, end)`, in order. Throws
 * {@link UserJsonError} when the bytes are not one object.
 */
export function forEachMember(
  b: Uint8Array,
  start: number,
  end: number,
  visit: (nameStart: number, nameEnd: number, escaped: boolean, valueStart: number, valueEnd: number) => void,
): void {
  let pos = skipWhitespace(b, start, end);
  if (b[pos] !== OPEN_OBJECT) throw new UserJsonError('a user is not a JSON object');
  pos = skipWhitespace(b, pos + 1, end);
  if (b[pos] === CLOSE_OBJECT) {
    pos += 1;
  } else {
    for (;;) {
      if (b[pos] !== QUOTE) throw new UserJsonError('a member name is missing');
      const escapes = { seen: false };
      const nameStart = pos;
      pos = skipString(b, pos, end, escapes);
      const nameEnd = pos;
      pos = skipWhitespace(b, pos, end);
      if (b[pos] !== COLON) throw new UserJsonError("a ':' is missing");
      pos = skipWhitespace(b, pos + 1, end);
      const valueStart = pos;
      pos = skipValue(b, pos, end);
      visit(nameStart, nameEnd, escapes.seen, valueStart, pos);
      pos = skipWhitespace(b, pos, end);
      if (b[pos] === COMMA) {
        pos = skipWhitespace(b, pos + 1, end);
        continue;
      }
      if (b[pos] !== CLOSE_OBJECT) throw new UserJsonError("a ',' or '}' is missing");
      pos += 1;
      break;
    }
  }
  if (skipWhitespace(b, pos, end) !== end) throw new UserJsonError('something follows the object');
}

/** The top-level members of the user at `[start, end)`, keyed by their name in lower case (Graph's property names are case-insensitive). */
export function membersOf(b: Uint8Array, start: number, end: number): Map<string, Member> {
  const members = new Map<string, Member>();
  forEachMember(b, start, end, (nameStart, nameEnd, escaped, valueStart, valueEnd) => {
    const name = memberName(b, nameStart, nameEnd, escaped);
    members.set(name.toLowerCase(), { name, start: valueStart, end: valueEnd });
  });
  return members;
}

/**
 * The user's `id` as UTF-8 bytes (the string's value, escapes decoded), or undefined when it has no `id`
 * member or its `id` is not a string. Without escapes (every id Graph sends) the bytes are a view of `b`.
 */
export function userIdBytes(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
  return lastMemberId(b, start, end) ?? anyMemberId(b, start, end);
}

const ID_MEMBER = Buffer.from('"id":"');

/**
 * The fast path: Graph lists `id` last (the user entity's own properties, then the inherited `id`), so a user
 * usually ends with `,"id":"…"}`. Read backwards from the end, that text can only be the top-level `id` member:
 * a quote inside a string value is escaped, so a string with no backslash between two unescaped quotes followed
 * by `}` and preceded by `"id":` after `,` or `{` is a member of the outer object. Anything else (escapes,
 * whitespace, `id` elsewhere) takes the full walk.
 */
function lastMemberId(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
  if (b[end - 1] !== CLOSE_OBJECT || b[end - 2] !== QUOTE) return undefined;
  let q = end - 3;
  while (q > start && b[q] !== QUOTE) {
    if (b[q] === BACKSLASH) return undefined;
    q -= 1;
  }
  const member = q - (ID_MEMBER.length - 1);
  if (member <= start) return undefined;
  for (let k = 0; k < ID_MEMBER.length; k += 1) if (b[member + k] !== ID_MEMBER[k]) return undefined;
  const before = b[member - 1];
  if (before !== COMMA && before !== OPEN_OBJECT) return undefined;
  return b.subarray(q + 1, end - 2);
}

function anyMemberId(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
  let id: Uint8Array | undefined;
  forEachMember(b, start, end, (nameStart, nameEnd, escaped, valueStart, valueEnd) => {
    if (id !== undefined) return;
    const isId = escaped
      ? memberName(b, nameStart, nameEnd, true) === 'id'
      : nameEnd - nameStart === 4 && b[nameStart + 1] === 0x69 && b[nameStart + 2] === 0x64;
    if (!isId || b[valueStart] !== QUOTE) return;
    const view = b.subarray(valueStart + 1, valueEnd - 1);
    id = view.includes(BACKSLASH)
      ? Buffer.from(JSON.parse(Buffer.from(b.buffer, b.byteOffset + valueStart, valueEnd - valueStart).toString('utf8')) as string, 'utf8')
      : view;
  });
  return id;
}

/**
 * Whether two JSON texts (each one valid value) are the same JSON value: strings equal once unescaped, numbers
 * equal as decimal numbers (exactly, whatever their size or notation), objects with the same members whatever
 * their order, arrays element by element.
 */
export function jsonValuesEqual(a: string, b: string): boolean {
  return a === b || canonical(a) === canonical(b);
}

/** One text per JSON value: strings re-escaped one way, numbers as `[-]digits e exponent`, object members sorted. */
export function canonical(text: string): string {
  const reader = { text, pos: 0 };
  const value = readCanonical(reader);
  reader.pos = skipSpace(text, reader.pos);
  if (reader.pos !== text.length) throw new UserJsonError('something follows a value');
  return value;
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && isWhitespace(text.charCodeAt(pos))) pos += 1;
  return pos;
}

function readCanonical(r: { text: string; pos: number }): string {
  const { text } = r;
  r.pos = skipSpace(text, r.pos);
  const c = text[r.pos];
  if (c === '"') {
    const end = stringEnd(text, r.pos);
    const raw = text.slice(r.pos, end);
    r.pos = end;
    return JSON.stringify(JSON.parse(raw) as string);
  }
  if (c === '{') {
    r.pos += 1;
    const members: [string, string][] = [];
    r.pos = skipSpace(text, r.pos);
    if (text[r.pos] === '}') {
      r.pos += 1;
      return '{}';
    }
    for (;;) {
      r.pos = skipSpace(text, r.pos);
      const name = readCanonical(r);
      r.pos = skipSpace(text, r.pos);
      if (text[r.pos] !== ':') throw new UserJsonError("a ':' is missing");
      r.pos += 1;
      members.push([name, readCanonical(r)]);
      r.pos = skipSpace(text, r.pos);
      if (text[r.pos] === ',') {
        r.pos += 1;
        continue;
      }
      if (text[r.pos] !== '}') throw new UserJsonError("a ',' or '}' is missing");
      r.pos += 1;
      members.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
      return `{${members.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    }
  }
  if (c === '[') {
    r.pos += 1;
    const elements: string[] = [];
    r.pos = skipSpace(text, r.pos);
    if (text[r.pos] === ']') {
      r.pos += 1;
      return '[]';
    }
    for (;;) {
      elements.push(readCanonical(r));
      r.pos = skipSpace(text, r.pos);
      if (text[r.pos] === ',') {
        r.pos += 1;
        continue;
      }
      if (text[r.pos] !== ']') throw new UserJsonError("a ',' or ']' is missing");
      r.pos += 1;
      return `[${elements.join(',')}]`;
    }
  }
  for (const literal of ['true', 'false', 'null']) {
    if (text.startsWith(literal, r.pos)) {
      r.pos += literal.length;
      return literal;
    }
  }
  NUMBER.lastIndex = r.pos;
  const match = NUMBER.exec(text);
  if (match === null) throw new UserJsonError('a value is not JSON');
  r.pos += match[0].length;
  return canonicalNumber(match[1]!, match[2]!, match[3] ?? '', match[4] ?? '0');
}

/** RFC 8259 §6, anchored where it is applied (sticky). */
const NUMBER = /(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y;

function stringEnd(text: string, quote: number): number {
  for (let i = quote + 1; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i += 1;
    else if (c === 0x22) return i + 1;
  }
  throw new UserJsonError('a string does not end');
}

/** A decimal number as sign, significant digits and exponent: `1`, `1.0`, `10e-1` and `0.1e1` are all `1e0`. */
function canonicalNumber(sign: string, integer: string, fraction: string, exponent: string): string {
  let digits = integer + fraction;
  let exp = BigInt(exponent) - BigInt(fraction.length);
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const trailing = /0*$/.exec(digits)![0].length;
  digits = digits.slice(0, digits.length - trailing);
  exp += BigInt(trailing);
  return `${sign}${digits}e${exp}`;
}
