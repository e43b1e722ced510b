/**
 * A snapshot's index: for each user, its `id` and a 64-bit hash of its stored bytes, sorted by `id` — a few
 * bytes per user (24 for a GUID id), so that two snapshots of a million users are compared without holding
 * either one's users (README "The change report"). It is built while the users are streamed to the blob, stored
 * beside them as `users.index`, and read back by the next run; for a snapshot stored without one it is built by
 * streaming that snapshot's users file.
 *
 * Ids are compared as strings (their UTF-8 bytes, i.e. by code point). Graph's ids are GUIDs in lower case:
 * those are kept as their 16 bytes (same order as the text); an index in which any id is not one keeps every id
 * as its UTF-8 text instead.
 *
 * `users.index` is binary: one line of JSON (the header: format, version, count, id encoding, hash, and the
 * size and SHA-256 of the users file it describes; padded with spaces to a multiple of 8 bytes), then the ids
 * (four little-endian uint32 per GUID — its 16 bytes as four big-endian numbers; or n + 1 little-endian uint32
 * offsets and the UTF-8 texts, padded to 8 bytes), then the hashes (little-endian uint64), then each user's place
 * in the users file (little-endian uint32: 0 for the first user stored, padded to 8 bytes), then the SHA-256 of
 * everything before it — so that a damaged or foreign index is recognised as such and never used. Every section
 * starts at a multiple of 8: read back, the arrays are views of the downloaded bytes, not copies.
 *
 * The places let a reader of the users file tell, from a user's line number alone, whether the report needs it:
 * the ~99 % of users who did not change are skipped without looking for their id.
 *
 * Memory: while a run streams its users the ids and hashes go into arrays reserved for the users expected, are
 * sorted there in place at the end, and uploaded as views. At a million GUID ids that is 24 MiB for the ids and
 * hashes, plus 4 MiB for the places (the sort's own order) and 1 MiB for the sort.
 */
import { createHash, type Hash } from 'node:crypto';
import type { XXHashAPI } from 'xxhash-wasm';

export const INDEX_FORMAT = 'entra-users-export/users-index';
export const INDEX_VERSION = 2;
/** XXH64 (seed 0) of the user's stored bytes: https://github.com/Cyan4973/xxHash, via the xxhash-wasm package. */
export const INDEX_HASH = 'xxh64';

/** Hashes one user's stored bytes for the index. */
export type UserHasher = (bytes: Uint8Array) => bigint;

let hasher: Promise<UserHasher> | undefined;

/**
 * The index's hash function. XXH64 through WebAssembly: ~0.3 µs for a typical user here, several times faster
 * than node:crypto's SHA-1 (a new Hash object per user); its 64 bits make a missed change (two versions of one
 * user with one hash) a 1-in-2^64 event per changed user.
 */
export function userHasher(): Promise<UserHasher> {
  hasher ??= import('xxhash-wasm').then(async (module) => {
    const api: XXHashAPI = await module.default();
    return (bytes: Uint8Array) => api.h64Raw(bytes);
  });
  return hasher;
}

export type IdEncoding = 'guid' | 'utf8';

export interface IndexHeader {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  count: number;
  idEncoding: IdEncoding;
  hash: typeof INDEX_HASH;
  /** The users file this index describes: its stored size and SHA-256 (as in the manifest). */
  usersBytes: number;
  usersSha256: string;
}

export class IndexFormatError extends Error {
  override readonly name = 'IndexFormatError';
}

/** Two users with one id: the snapshot cannot be compared by id. */
export class DuplicateIdError extends Error {
  override readonly name = 'DuplicateIdError';
  constructor(readonly id: string) {
    super(`the id '${id}' appears twice`);
  }
}

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i += 1) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
const HYPHEN = 0x2d;
const HEX_DIGITS = '0123456789abcdef';

/**
 * Writes the 16 bytes of a lower-case GUID text (8-4-4-4-12 hex digits) as four big-endian words at `out[4o]`;
 * false when `key` is anything else.
 */
function guidWords(key: Uint8Array, out: Uint32Array, o: number): boolean {
  if (key.length !== 36 || key[8] !== HYPHEN || key[13] !== HYPHEN || key[18] !== HYPHEN || key[23] !== HYPHEN) return false;
  let word = 0;
  let nibbles = 0;
  for (let i = 0; i < 36; i += 1) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const v = HEX_VALUE[key[i]!]!;
    if (v < 0) return false;
    word = (word << 4) | v;
    nibbles += 1;
    if (nibbles % 8 === 0) {
      out[4 * o + nibbles / 8 - 1] = word >>> 0;
      word = 0;
    }
  }
  return true;
}

function guidText(words: Uint32Array, o: number): string {
  let hex = '';
  for (let w = 0; w < 4; w += 1) {
    const word = words[4 * o + w]!;
    for (let shift = 28; shift >= 0; shift -= 4) hex += HEX_DIGITS[(word >>> shift) & 15];
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Order of GUIDs `x` and `y` (their four words each in `g`). */
function compareGuids(g: Uint32Array, x: number, y: number): number {
  return g[4 * x]! - g[4 * y]! || g[4 * x + 1]! - g[4 * y + 1]! || g[4 * x + 2]! - g[4 * y + 2]! || g[4 * x + 3]! - g[4 * y + 3]!;
}

/** Entries per bucket of the first 16 bits of an id: random GUIDs spread evenly over them. */
const BUCKETS = 65536;

/** For each bucket b (the first 16 bits of the first word), where its ids start among the sorted ones; [b + 1] where they end. */
function bucketStarts(g: Uint32Array, n: number, order?: Uint32Array): Uint32Array {
  const starts = new Uint32Array(BUCKETS + 1);
  for (let i = 0; i < n; i += 1) starts[(g[4 * (order ? order[i]! : i)]! >>> 16) + 1]! += 1;
  for (let b = 1; b <= BUCKETS; b += 1) starts[b]! += starts[b - 1]!;
  return starts;
}

/**
 * Sorts `order` (positions of GUIDs in `g`) by GUID: a counting sort on the first 16 bits, then each bucket by
 * insertion (a handful of ids each when they are random), or by a comparison sort when a bucket is large (ids
 * that are not random). A million ids sort in tens of milliseconds instead of seconds.
 */
function sortGuids(g: Uint32Array, order: Uint32Array): void {
  const n = order.length;
  const starts = bucketStarts(g, n);
  const next = starts.slice(0, BUCKETS);
  for (let i = 0; i < n; i += 1) order[next[g[4 * i]! >>> 16]!++] = i;
  for (let b = 0; b < BUCKETS; b += 1) {
    const lo = starts[b]!;
    const hi = starts[b + 1]!;
    if (hi - lo > 64) {
      order.subarray(lo, hi).sort((x, y) => compareGuids(g, x, y));
      continue;
    }
    for (let i = lo + 1; i < hi; i += 1) {
      const v = order[i]!;
      let j = i - 1;
      while (j >= lo && compareGuids(g, order[j]!, v) > 0) {
        order[j + 1] = order[j]!;
        j -= 1;
      }
      order[j + 1] = v;
    }
  }
}

function grow<T extends Uint32Array | Uint8Array>(array: T, needed: number, make: (n: number) => T): T {
  if (needed <= array.length) return array;
  const bigger = make(Math.max(needed, array.length * 2, 1024));
  bigger.set(array);
  return bigger;
}

/**
 * Room for this many users before an array grows, unless told how many to expect. Reserving costs address space,
 * not memory: a new typed array's pages are zero pages until written, so only what is filled is resident.
 */
const DEFAULT_CAPACITY = 1 << 20;

/**
 * Collects (id, hash) pairs in the order the users come; {@link finish} sorts them into a {@link SnapshotIndex}.
 * Ids are kept as GUID words while every id is one, else as UTF-8 texts. The arrays are reserved once for the
 * users expected (the previous snapshot's count, with room to spare), filled in place and sorted in place: no
 * array is grown and copied unless the tenant outgrows the reservation.
 */
export class IndexBuilder {
  #capacity: number;
  #guids: Uint32Array | undefined;
  #offsets = new Uint32Array(0);
  #text = new Uint8Array(0);
  #hashes: BigUint64Array;
  #count = 0;

  constructor(options: { expectedCount?: number } = {}) {
    this.#capacity = Math.max(1024, options.expectedCount === undefined ? DEFAULT_CAPACITY : Math.ceil(options.expectedCount * 1.1) + 1024);
    this.#guids = new Uint32Array(4 * this.#capacity);
    this.#hashes = new BigUint64Array(this.#capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Adds a user; returns its position in arrival order. */
  push(id: Uint8Array, hash: bigint): number {
    const position = this.#count;
    if (position === this.#capacity) this.#grow();
    this.#hashes[position] = hash;
    if (this.#guids) {
      if (guidWords(id, this.#guids, position)) {
        this.#count += 1;
        return position;
      }
      this.#toText();
    }
    const offsets = (this.#offsets = grow(this.#offsets, position + 2, (n) => new Uint32Array(n)));
    const at = offsets[position]!;
    if (at + id.length > 0xffffffff) throw new IndexFormatError('the ids take more than 4 GiB');
    this.#text = grow(this.#text, at + id.length, (n) => new Uint8Array(n));
    this.#text.set(id, at);
    offsets[position + 1] = at + id.length;
    this.#count += 1;
    return position;
  }

  #grow(): void {
    this.#capacity *= 2;
    const hashes = new BigUint64Array(this.#capacity);
    hashes.set(this.#hashes);
    this.#hashes = hashes;
    if (this.#guids) {
      const guids = new Uint32Array(4 * this.#capacity);
      guids.set(this.#guids);
      this.#guids = guids;
    }
  }

  /** An id is not a GUID: every id so far becomes text (once per index). */
  #toText(): void {
    const guids = this.#guids!;
    this.#guids = undefined;
    this.#offsets = new Uint32Array(this.#count * 2 + 2);
    this.#text = new Uint8Array(Math.max(4096, this.#count * 72));
    for (let i = 0; i < this.#count; i += 1) {
      const id = Buffer.from(guidText(guids, i), 'latin1');
      this.#text.set(id, this.#offsets[i]);
      this.#offsets[i + 1] = this.#offsets[i]! + id.length;
    }
  }

  /**
   * The index, sorted by id. Throws {@link DuplicateIdError} when two users share an id. The index takes over the
   * builder's arrays.
   */
  finish(users: { bytes: number; sha256: string }): SnapshotIndex {
    const n = this.#count;
    const header: IndexHeader = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      count: n,
      idEncoding: this.#guids ? 'guid' : 'utf8',
      hash: INDEX_HASH,
      usersBytes: users.bytes,
      usersSha256: users.sha256,
    };
    const hashes = this.#hashes.subarray(0, n);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i += 1) order[i] = i;
    let index: SnapshotIndex;
    if (this.#guids) {
      const guids = this.#guids.subarray(0, 4 * n);
      sortGuids(guids, order);
      permute(
        order,
        (to, from) => guids.copyWithin(4 * to, 4 * from, 4 * from + 4),
        (to) => guids.set(saved.subarray(0, 4), 4 * to),
        (from) => saved.set(guids.subarray(4 * from, 4 * from + 4)),
      );
      index = new SnapshotIndex(header, { guids }, permuteHashes(hashes, order), order);
    } else {
      const offsets = this.#offsets;
      const text = this.#text;
      const key = (i: number): Uint8Array => text.subarray(offsets[i], offsets[i + 1]);
      order.sort((x, y) => Buffer.compare(key(x), key(y)));
      const sortedOffsets = new Uint32Array(n + 1);
      const sortedText = new Uint8Array(offsets[n]!);
      for (let i = 0; i < n; i += 1) {
        const k = key(order[i]!);
        sortedText.set(k, sortedOffsets[i]);
        sortedOffsets[i + 1] = sortedOffsets[i]! + k.length;
      }
      index = new SnapshotIndex(header, { offsets: sortedOffsets, text: sortedText }, permuteHashes(hashes, order), order);
    }
    // The arrays now belong to the index: this builder starts again with new ones.
    this.#count = 0;
    this.#capacity = 1024;
    this.#guids = new Uint32Array(4 * this.#capacity);
    this.#hashes = new BigUint64Array(this.#capacity);
    this.#offsets = new Uint32Array(0);
    this.#text = new Uint8Array(0);
    for (let i = 1; i < n; i += 1) if (index.compare(i - 1, index, i) === 0) throw new DuplicateIdError(index.id(i));
    return index;
  }
}

/** Scratch for moving one GUID (four words) during an in-place permutation. */
const saved = new Uint32Array(4);

/**
 * Applies `order` in place (position i gets what was at order[i]), cycle by cycle: no second array. `move`
 * copies entry `from` to `to`, `save`/`restore` hold the one entry a cycle starts with.
 */
function permute(
  order: Uint32Array,
  move: (to: number, from: number) => void,
  restore: (to: number) => void,
  save: (from: number) => void,
): void {
  const done = new Uint8Array(order.length);
  for (let start = 0; start < order.length; start += 1) {
    if (done[start] === 1 || order[start] === start) continue;
    save(start);
    let to = start;
    for (;;) {
      done[to] = 1;
      const from = order[to]!;
      if (from === start) {
        restore(to);
        break;
      }
      move(to, from);
      to = from;
    }
  }
}

function permuteHashes(hashes: BigUint64Array, order: Uint32Array): BigUint64Array {
  let held = 0n;
  permute(
    order,
    (to, from) => (hashes[to] = hashes[from]!),
    (to) => (hashes[to] = held),
    (from) => (held = hashes[from]!),
  );
  return hashes;
}

/** A snapshot's users by id (sorted), each with the hash of its stored bytes and its place in the users file. */
export class SnapshotIndex {
  readonly header: IndexHeader;
  readonly hashes: BigUint64Array;
  /** For each sorted position, the user's place in the users file (0: the first user stored). */
  readonly places: Uint32Array;
  readonly #guids: Uint32Array | undefined;
  readonly #offsets: Uint32Array | undefined;
  readonly #text: Uint8Array | undefined;
  readonly #scratch = new Uint32Array(4);
  /** Where each bucket of ids starts (GUID indexes), made at the first lookup. */
  #buckets: Uint32Array | undefined;

  constructor(
    header: IndexHeader,
    ids: { guids: Uint32Array } | { offsets: Uint32Array; text: Uint8Array },
    hashes: BigUint64Array,
    places: Uint32Array,
  ) {
    this.header = header;
    this.hashes = hashes;
    this.places = places;
    if ('guids' in ids) this.#guids = ids.guids;
    else {
      this.#offsets = ids.offsets;
      this.#text = ids.text;
    }
  }

  get count(): number {
    return this.header.count;
  }

  /** The id at sorted position `i`. */
  id(i: number): string {
    return this.#guids
      ? guidText(this.#guids, i)
      : Buffer.from(this.#text!.buffer, this.#text!.byteOffset + this.#offsets![i]!, this.#offsets![i + 1]! - this.#offsets![i]!).toString(
          'utf8',
        );
  }

  #idBytes(i: number): Uint8Array {
    return this.#guids ? Buffer.from(guidText(this.#guids, i), 'latin1') : this.#text!.subarray(this.#offsets![i], this.#offsets![i + 1]);
  }

  /** Order of this index's id `i` against `other`'s id `j`: negative, 0 or positive. */
  compare(i: number, other: SnapshotIndex, j: number): number {
    const a = this.#guids;
    const b = other.#guids;
    if (a && b)
      return a[4 * i]! - b[4 * j]! || a[4 * i + 1]! - b[4 * j + 1]! || a[4 * i + 2]! - b[4 * j + 2]! || a[4 * i + 3]! - b[4 * j + 3]!;
    return Buffer.compare(this.#idBytes(i), other.#idBytes(j));
  }

  /** The sorted position of the user with this id (its UTF-8 bytes), or -1. */
  find(id: Uint8Array): number {
    let lo = 0;
    let hi = this.count - 1;
    const guids = this.#guids;
    if (guids) {
      const w = this.#scratch;
      if (!guidWords(id, w, 0)) return -1;
      const bucket = w[0]! >>> 16;
      this.#buckets ??= bucketStarts(guids, this.count);
      lo = this.#buckets[bucket]!;
      hi = this.#buckets[bucket + 1]! - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const d = guids[4 * mid]! - w[0]! || guids[4 * mid + 1]! - w[1]! || guids[4 * mid + 2]! - w[2]! || guids[4 * mid + 3]! - w[3]!;
        if (d === 0) return mid;
        if (d < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const d = Buffer.compare(this.#idBytes(mid), id);
      if (d === 0) return mid;
      if (d < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * `users.index` (see the module comment) as parts to store one after the other — views of the index's own
   * arrays, not copies — the last being the SHA-256 of the others.
   */
  serialize(): Buffer[] {
    const parts: Buffer[] = [padded(Buffer.from(JSON.stringify(this.header), 'utf8'), 0x20, 0x0a)];
    if (this.#guids) {
      parts.push(littleEndian(this.#guids));
    } else {
      parts.push(
        padded(littleEndian(this.#offsets!), 0, undefined),
        padded(Buffer.from(this.#text!.buffer, this.#text!.byteOffset, this.#offsets![this.count]), 0, undefined),
      );
    }
    parts.push(littleEndian(this.hashes), padded(littleEndian(this.places), 0, undefined));
    const sha256: Hash = createHash('sha256');
    for (const part of parts) sha256.update(part);
    parts.push(sha256.digest());
    return parts;
  }

  /** Reads `users.index`; throws {@link IndexFormatError} for anything that is not a complete, intact index. */
  static parse(bytes: Buffer): SnapshotIndex {
    if (bytes.length < 32) throw new IndexFormatError('it is shorter than its checksum');
    const body = bytes.subarray(0, bytes.length - 32);
    if (
      !createHash('sha256')
        .update(body)
        .digest()
        .equals(bytes.subarray(bytes.length - 32))
    )
      throw new IndexFormatError('its checksum does not match (damaged or cut short)');
    const newline = body.indexOf(0x0a);
    let header: IndexHeader;
    try {
      header = JSON.parse(body.subarray(0, newline).toString('utf8')) as IndexHeader;
    } catch {
      throw new IndexFormatError('its header is not JSON');
    }
    if (
      header.format !== INDEX_FORMAT ||
      header.version !== INDEX_VERSION ||
      header.hash !== INDEX_HASH ||
      !Number.isSafeInteger(header.count) ||
      header.count < 0
    ) {
      throw new IndexFormatError(`it is not a ${INDEX_FORMAT} version ${INDEX_VERSION} with ${INDEX_HASH} hashes`);
    }
    if ((newline + 1) % 8 !== 0) throw new IndexFormatError('its header is not padded');
    const n = header.count;
    let pos = newline + 1;
    /** `length` bytes from `pos` as a view when they are aligned for `size`-byte numbers (else copied), then skips padding. */
    const take = (length: number, size: number): Buffer => {
      if (pos + length > body.length) throw new IndexFormatError('it is shorter than its header says');
      let part = body.subarray(pos, pos + length);
      if (part.byteOffset % size !== 0) {
        const copy = new Uint8Array(part);
        part = Buffer.from(copy.buffer, 0, copy.length);
      }
      pos += length + ((8 - (length % 8)) % 8);
      return part;
    };
    let ids: { guids: Uint32Array } | { offsets: Uint32Array; text: Uint8Array };
    if (header.idEncoding === 'guid') {
      ids = { guids: fromLittleEndian(take(16 * n, 4), Uint32Array) };
    } else if (header.idEncoding === 'utf8') {
      const offsets = fromLittleEndian(take(4 * (n + 1), 4), Uint32Array);
      for (let i = 0; i < n; i += 1) if (offsets[i + 1]! < offsets[i]!) throw new IndexFormatError('its id offsets go backwards');
      ids = { offsets, text: take(offsets[n]!, 1) };
    } else {
      throw new IndexFormatError(`its id encoding '${String(header.idEncoding)}' is unknown`);
    }
    const hashes = fromLittleEndian(take(8 * n, 8), BigUint64Array);
    const places = fromLittleEndian(take(4 * n, 4), Uint32Array);
    if (pos !== body.length) throw new IndexFormatError('it is longer than its header says');
    const placed = new Uint8Array(n);
    for (let i = 0; i < n; i += 1) {
      const place = places[i]!;
      if (place >= n || placed[place] === 1) throw new IndexFormatError('its places in the users file are not one per user');
      placed[place] = 1;
    }
    const index = new SnapshotIndex(header, ids, hashes, places);
    if ('guids' in ids) {
      for (let i = 1; i < n; i += 1) if (compareGuids(ids.guids, i - 1, i) >= 0) throw new IndexFormatError('its ids are not sorted');
    } else {
      for (let i = 1; i < n; i += 1) if (index.compare(i - 1, index, i) >= 0) throw new IndexFormatError('its ids are not sorted');
    }
    return index;
  }
}

/** `bytes` followed by `fill` up to a multiple of 8 bytes (the last of them `last`, when given). */
function padded(bytes: Buffer, fill: number, last: number | undefined): Buffer {
  const extra = (8 - ((bytes.length + (last === undefined ? 0 : 1)) % 8)) % 8;
  if (extra === 0 && last === undefined) return bytes;
  const out = Buffer.alloc(bytes.length + extra + (last === undefined ? 0 : 1), fill);
  bytes.copy(out);
  if (last !== undefined) out[out.length - 1] = last;
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndian(array: Uint32Array | BigUint64Array): Buffer {
  const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const copy = Buffer.from(bytes);
  if (array instanceof Uint32Array) copy.swap32();
  else copy.swap64();
  return copy;
}

function fromLittleEndian<T extends Uint32Array | BigUint64Array>(
  bytes: Buffer,
  type: { new (buffer: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number },
): T {
  if (!LITTLE_ENDIAN) {
    if (type.BYTES_PER_ELEMENT === 4) bytes.swap32();
    else bytes.swap64();
  }
  return new type(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length / type.BYTES_PER_ELEMENT);
}
