/**
 * Users kept aside for the change report — the few whose bytes it must print (joiners, leavers, changed users),
 * or in the worst case all of them — read back sorted by id, in bounded memory: records collect in one buffer of
 * at most {@link RUN_BYTES}; a full buffer is sorted by id and written to a local temporary file as a run of
 * compressed blocks; reading merges the runs (one block of each in memory) with the buffer still held. With
 * ~1 % of a million users changed, everything stays in the one buffer and nothing touches the disk.
 *
 * The files live in a directory of their own under the OS temporary directory, removed by {@link close} (and
 * never needed after the run). Azure Functions gives each Flex Consumption instance 0.8 GB of temporary storage
 * ("Azure Functions hosting options", Service limits, "Storage (temporary)":
 * https://learn.microsoft.com/azure/azure-functions/functions-scale#service-limits); compressed, a million
 * changed users take about a third of it (docs/performance.md).
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** The most bytes of records held in memory per spill before a run is written out. */
export const RUN_BYTES = 8 * 1024 * 1024;
/** Records are compressed in blocks of about this many bytes: what one run's reader holds. */
const BLOCK_BYTES = 64 * 1024;
const RECORD_HEADER = 8;

export interface SpilledUser {
  /** The user's id, as UTF-8 bytes (the index's order). */
  id: Buffer;
  /** The user's stored bytes. Valid until the next record is taken. */
  bytes: Buffer;
}

/** One buffer of records: `[u32 id length][u32 bytes length][id][bytes]` each, in the order added. */
class RecordBuffer {
  buffer: Buffer;
  used = 0;
  starts = new Uint32Array(1024);
  count = 0;

  constructor(initial: number) {
    this.buffer = Buffer.allocUnsafeSlow(initial);
  }

  add(id: Uint8Array, bytes: Uint8Array): void {
    const size = RECORD_HEADER + id.length + bytes.length;
    if (this.used + size > this.buffer.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.used + size, this.buffer.length * 2));
      this.buffer.copy(bigger, 0, 0, this.used);
      this.buffer = bigger;
    }
    if (this.count === this.starts.length) {
      const more = new Uint32Array(this.starts.length * 2);
      more.set(this.starts);
      this.starts = more;
    }
    this.starts[this.count++] = this.used;
    const b = this.buffer;
    b.writeUInt32LE(id.length, this.used);
    b.writeUInt32LE(bytes.length, this.used + 4);
    b.set(id, this.used + RECORD_HEADER);
    b.set(bytes, this.used + RECORD_HEADER + id.length);
    this.used += size;
  }

  id(start: number): Buffer {
    return this.buffer.subarray(start + RECORD_HEADER, start + RECORD_HEADER + this.buffer.readUInt32LE(start));
  }

  record(start: number): SpilledUser {
    const idLength = this.buffer.readUInt32LE(start);
    const length = this.buffer.readUInt32LE(start + 4);
    const at = start + RECORD_HEADER + idLength;
    return { id: this.buffer.subarray(start + RECORD_HEADER, at), bytes: this.buffer.subarray(at, at + length) };
  }

  /** The records' starts sorted by id. */
  sorted(): Uint32Array {
    const order = this.starts.slice(0, this.count);
    order.sort((x, y) => Buffer.compare(this.id(x), this.id(y)));
    return order;
  }

  clear(): void {
    this.used = 0;
    this.count = 0;
  }
}

/** Reads one run file back, block by block. */
class RunReader {
  readonly #fd: number;
  #position = 0;
  #block: Buffer = Buffer.alloc(0);
  #offset = 0;
  head: SpilledUser | undefined;

  constructor(fd: number) {
    this.#fd = fd;
    this.advance();
  }

  advance(): void {
    if (this.#offset >= this.#block.length && !this.#readBlock()) {
      this.head = undefined;
      return;
    }
    const b = this.#block;
    const idLength = b.readUInt32LE(this.#offset);
    const length = b.readUInt32LE(this.#offset + 4);
    const at = this.#offset + RECORD_HEADER + idLength;
    this.head = { id: b.subarray(this.#offset + RECORD_HEADER, at), bytes: b.subarray(at, at + length) };
    this.#offset = at + length;
  }

  #readBlock(): boolean {
    const header = Buffer.alloc(4);
    if (readSync(this.#fd, header, 0, 4, this.#position) < 4) return false;
    const compressed = Buffer.allocUnsafe(header.readUInt32LE(0));
    if (readSync(this.#fd, compressed, 0, compressed.length, this.#position + 4) !== compressed.length)
      throw new Error('a spill file is shorter than written');
    this.#position += 4 + compressed.length;
    this.#block = inflateRawSync(compressed);
    this.#offset = 0;
    return true;
  }
}

/** Users added in any order, taken back sorted by id (see the module comment). */
export class SortedSpill {
  readonly #records: RecordBuffer;
  readonly #runBytes: number;
  readonly #runs: number[] = [];
  #directory: string | undefined;
  #readers: RunReader[] | undefined;
  #memory: { order: Uint32Array; next: number } | undefined;
  /** Where the record {@link peek} returned comes from: a run, or (undefined) the buffer. */
  #source: RunReader | undefined;
  #bytes = 0;

  /** Bytes written to disk so far (compressed). */
  get diskBytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#records.count + this.#spilledCount;
  }

  #spilledCount = 0;

  /** `runBytes`: how many bytes of records are held before a run is written ({@link RUN_BYTES}). */
  constructor(options: { runBytes?: number } = {}) {
    this.#runBytes = options.runBytes ?? RUN_BYTES;
    // Reserved whole (allocUnsafeSlow does not touch its pages: only the bytes written are resident), so the
    // buffer is never grown and copied on the way to a full run.
    this.#records = new RecordBuffer(this.#runBytes + 1024 * 1024);
  }

  add(id: Uint8Array, bytes: Uint8Array): void {
    if (this.#readers) throw new Error('the spill is being read');
    this.#records.add(id, bytes);
    if (this.#records.used >= this.#runBytes) this.#writeRun();
  }

  /** Forgets every record (a listing that starts again). */
  clear(): void {
    this.#closeRuns();
    this.#records.clear();
    this.#spilledCount = 0;
  }

  #writeRun(): void {
    this.#directory ??= mkdtempSync(path.join(os.tmpdir(), 'entra-users-changes-'));
    const fd = openSync(path.join(this.#directory, `run-${this.#runs.length}`), 'w+');
    this.#runs.push(fd);
    const records = this.#records;
    const order = records.sorted();
    let block = Buffer.allocUnsafe(BLOCK_BYTES * 2);
    let used = 0;
    let position = 0;
    const flush = (): void => {
      if (used === 0) return;
      const compressed = deflateRawSync(block.subarray(0, used), { level: 1 });
      const header = Buffer.alloc(4);
      header.writeUInt32LE(compressed.length, 0);
      position += writeSync(fd, header, 0, 4, position);
      position += writeSync(fd, compressed, 0, compressed.length, position);
      this.#bytes += 4 + compressed.length;
      used = 0;
    };
    for (let k = 0; k < order.length; k += 1) {
      const start = order[k]!;
      const size = RECORD_HEADER + records.buffer.readUInt32LE(start) + records.buffer.readUInt32LE(start + 4);
      if (used > 0 && used + size > BLOCK_BYTES) flush();
      if (used + size > block.length) {
        const bigger = Buffer.allocUnsafe(used + size);
        block.copy(bigger, 0, 0, used);
        block = bigger;
      }
      records.buffer.copy(block, used, start, start + size);
      used += size;
    }
    flush();
    this.#spilledCount += records.count;
    records.clear();
  }

  /** The record with the smallest id not yet taken, or undefined at the end. Nothing can be added after the first call. */
  peek(): SpilledUser | undefined {
    if (!this.#readers) {
      this.#readers = this.#runs.map((fd) => new RunReader(fd));
      this.#memory = { order: this.#records.sorted(), next: 0 };
    }
    let best: SpilledUser | undefined;
    let source: RunReader | undefined;
    for (const reader of this.#readers) {
      if (reader.head && (best === undefined || Buffer.compare(reader.head.id, best.id) < 0)) {
        best = reader.head;
        source = reader;
      }
    }
    const memory = this.#memory!;
    if (memory.next < memory.order.length) {
      const record = this.#records.record(memory.order[memory.next]!);
      if (best === undefined || Buffer.compare(record.id, best.id) < 0) {
        best = record;
        source = undefined;
      }
    }
    this.#source = source;
    return best;
  }

  /** Takes the record {@link peek} returns. */
  take(): SpilledUser | undefined {
    const best = this.peek();
    if (best === undefined) return undefined;
    if (this.#source) this.#source.advance();
    else this.#memory!.next += 1;
    return best;
  }

  #closeRuns(): void {
    for (const fd of this.#runs) closeSync(fd);
    this.#runs.length = 0;
    this.#readers = undefined;
    this.#memory = undefined;
    if (this.#directory) rmSync(this.#directory, { recursive: true, force: true });
    this.#directory = undefined;
  }

  /** Removes the temporary files. Always called, whatever happened. */
  close(): void {
    this.#closeRuns();
  }
}
