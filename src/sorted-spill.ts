/**
 * Users kept aside for the change report — the few whose bytes it must print (joiners, leavers, changed users),
 * or in the worst case all of them — read back sorted by id, in bounded memory: records collect in one buffer of
 * at most {@link RUN_BYTES}; a full buffer is sorted by id and written to a local temporary file as a run of
 * compressed blocks; reading merges the runs (one block of each in memory; records still in the buffer then become
 * one more run, and the buffer is let go). With ~1 % of a million users changed, everything stays in the one
 * buffer and nothing touches the disk.
 *
 * The files live in a directory of their own under the OS temporary directory, removed by {@link close} (and
 * never needed after the run). Azure Functions gives each Flex Consumption instance 0.8 GB of temporary storage
 * ("Azure Functions hosting options", Service limits, "Storage (temporary)":
 * https://learn.microsoft.com/azure/azure-functions/functions-scale#service-limits); compressed (~4 × on the
 * simulated tenant's users), a million changed users take ~110 MB per side, ~220 MB for both: about a quarter of it.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * The most bytes of records held in memory per spill before a run is written out. ~1 % of a million users (~3.5 MB
 * per side) stays within it; every user changed makes ~120 runs per side.
 */
export const RUN_BYTES = 4 * 1024 * 1024;
/** Records are compressed in blocks of about this many bytes: what one run's reader holds. */
const BLOCK_BYTES = 32 * 1024;
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

  record(start: number): SpilledUser {
    const idLength = this.buffer.readUInt32LE(start);
    const length = this.buffer.readUInt32LE(start + 4);
    const at = start + RECORD_HEADER + idLength;
    return { id: this.buffer.subarray(start + RECORD_HEADER, at), bytes: this.buffer.subarray(at, at + length) };
  }

  /** The records' starts sorted by id. */
  sorted(): Uint32Array {
    const order = this.starts.slice(0, this.count);
    const b = this.buffer;
    // Compared where they lie (no view made per comparison): x's id against y's.
    order.sort((x, y) =>
      b.compare(b, y + RECORD_HEADER, y + RECORD_HEADER + b.readUInt32LE(y), x + RECORD_HEADER, x + RECORD_HEADER + b.readUInt32LE(x)),
    );
    return order;
  }

  clear(): void {
    this.used = 0;
    this.count = 0;
  }

  /** Empties the buffer and lets its memory go. */
  release(): void {
    this.clear();
    this.buffer = Buffer.alloc(0);
    this.starts = new Uint32Array(0);
  }
}

/** A sorted source of records for the merge: a run on disk, or the buffer still in memory. */
interface RecordSource {
  /** The source's next record, undefined at its end. */
  head: SpilledUser | undefined;
  advance(): void;
}

/** Reads one run file back, block by block. */
class RunReader implements RecordSource {
  readonly #fd: number;
  readonly #size = Buffer.alloc(4);
  #position = 0;
  /** The compressed block read last, in a buffer kept for the next one. */
  #compressed = Buffer.alloc(0);
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
    if (readSync(this.#fd, this.#size, 0, 4, this.#position) < 4) return false;
    const size = this.#size.readUInt32LE(0);
    if (size > this.#compressed.length) this.#compressed = Buffer.allocUnsafeSlow(Math.max(size, 2 * BLOCK_BYTES));
    const compressed = this.#compressed.subarray(0, size);
    if (readSync(this.#fd, compressed, 0, size, this.#position + 4) !== size) throw new Error('a spill file is shorter than written');
    this.#position += 4 + size;
    this.#block = inflateRawSync(compressed);
    this.#offset = 0;
    return true;
  }
}

/** The records still in memory, in id order. */
class BufferReader implements RecordSource {
  readonly #records: RecordBuffer;
  readonly #order: Uint32Array;
  #next = 0;
  head: SpilledUser | undefined;

  constructor(records: RecordBuffer) {
    this.#records = records;
    this.#order = records.sorted();
    this.advance();
  }

  advance(): void {
    this.head = this.#next < this.#order.length ? this.#records.record(this.#order[this.#next++]!) : undefined;
  }
}

/**
 * The sources ordered by their heads' ids (a binary min-heap): the smallest is at [0], and taking a record costs
 * log(runs) comparisons, not one per run — a million changed users make ~120 runs per spill.
 */
class SourceHeap {
  readonly #heap: RecordSource[];

  constructor(sources: RecordSource[]) {
    this.#heap = sources.filter((s) => s.head !== undefined);
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i -= 1) this.#down(i);
  }

  get head(): SpilledUser | undefined {
    return this.#heap[0]?.head;
  }

  /** Moves the smallest source to its next record. */
  advance(): void {
    const top = this.#heap[0];
    if (top === undefined) return;
    top.advance();
    if (top.head === undefined) {
      const last = this.#heap.pop()!;
      if (this.#heap.length === 0) return;
      this.#heap[0] = last;
    }
    this.#down(0);
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && Buffer.compare(heap[right]!.head!.id, heap[left]!.head!.id) < 0 ? right : left;
      if (Buffer.compare(heap[child]!.head!.id, heap[i]!.head!.id) >= 0) return;
      [heap[i], heap[child]] = [heap[child]!, heap[i]!];
      i = child;
    }
  }
}

/** Users added in any order, taken back sorted by id (see the module comment). */
export class SortedSpill {
  readonly #records: RecordBuffer;
  readonly #runBytes: number;
  readonly #runs: number[] = [];
  #directory: string | undefined;
  /** The merge of the runs and the buffer, once reading has begun. */
  #merge: SourceHeap | undefined;
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
    if (this.#merge) throw new Error('the spill is being read');
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
    if (!this.#merge) {
      // With runs on disk already (many users kept aside), the records still held become one more run and their
      // buffer is let go: the merge then holds one block per run, not the buffer too.
      if (this.#runs.length > 0) {
        if (this.#records.count > 0) this.#writeRun();
        this.#records.release();
      }
      this.#merge = new SourceHeap([...this.#runs.map((fd) => new RunReader(fd)), new BufferReader(this.#records)]);
    }
    return this.#merge.head;
  }

  /** Takes the record {@link peek} returns. */
  take(): SpilledUser | undefined {
    const best = this.peek();
    this.#merge!.advance();
    return best;
  }

  #closeRuns(): void {
    for (const fd of this.#runs) closeSync(fd);
    this.#runs.length = 0;
    this.#merge = undefined;
    if (this.#directory) rmSync(this.#directory, { recursive: true, force: true });
    this.#directory = undefined;
  }

  /** Removes the temporary files. Always called, whatever happened. */
  close(): void {
    this.#closeRuns();
  }
}
