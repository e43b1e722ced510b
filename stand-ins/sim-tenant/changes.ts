/**
 * The simulated tenant changing between runs: joiners, leavers, attribute edits, renames and properties that
 * become null (or stop being null), seeded and deterministic, and exactly what a comparison of two complete
 * listings must then find (the change report's expected lines).
 *
 * Nothing is stored per user, so a 1,000,000-user tenant with every user changed costs no more memory than an
 * unchanged one. The population is a row of slots: 0..userCount-1 are the seeded users of users.ts, joiners
 * are appended after them (user N is generateUser(seed, N), so ids never collide). Each change set (a
 * "generation") picks its users through a seeded permutation of the slots that existed before it: the slot
 * whose permuted rank is below `leavers` leaves, the next `edits` ranks are edited, then `renames`, then
 * `nulls`. A user's state at generation k is its seeded self with generations 1..k applied in turn, each a
 * pure function of (change seed, slot) and the user's previous state: computed when asked, as the listing is.
 */
import {
  DEPARTMENTS,
  GIVEN_NAMES,
  JOB_TITLES,
  type Name,
  OFFICES,
  PLACES,
  PRODUCT_DEFAULT_SELECT,
  Prng,
  SURNAMES,
  generateUser,
  isoSeconds,
  matchesFilter,
  mix32,
  phone,
  projectUser,
} from './users.js';

/** One change set. Counts are of users; a count larger than the users there are is refused. */
export interface TenantChangeSpec {
  /** Seeds which values change and how (default: the generation's number). Which users change depends on the tenant's seed and the generation. */
  seed?: number;
  /** New users, appended after the existing ones. */
  joiners?: number;
  /** Users removed. */
  leavers?: number;
  /** Users with 1-3 of department, jobTitle, officeLocation, mobilePhone, businessPhones, accountEnabled changed (and sometimes also city, postalCode, streetAddress or employeeType, which the product's default select leaves out). */
  edits?: number;
  /** Users renamed: a new surname or given name, so displayName, userPrincipalName, mail (and mailNickname, proxyAddresses, imAddresses, identities) change. */
  renames?: number;
  /** Users with 1-3 of department, jobTitle, officeLocation, mobilePhone, mail, givenName, surname set to null when they had a value and to a value when they were null (businessPhones: [] and back). */
  nulls?: number;
}

/** What one change set did, by kind: the users it reached (a user removed earlier cannot leave or change again). */
export interface ChangeCounts {
  joiners: number;
  leavers: number;
  edits: number;
  renames: number;
  nulls: number;
}

/** One line of the change report, as `changes.ndjson` has it (README "The change report"; values as Graph serialises them). */
export type ExpectedChange =
  | { change: 'added'; id: string; user: Record<string, unknown> }
  | { change: 'removed'; id: string; user: Record<string, unknown> }
  | { change: 'changed'; id: string; changes: Record<string, { old: unknown; new: unknown }> };

/** Which listings to compare: generation `from` (default: the one before `to`) with `to` (default: now), as listed with `select` and `filter`. */
export interface DifferenceOptions {
  from?: number;
  to?: number;
  /** The `$select` of both listings (default: the product's default USERS_SELECT; [] = Graph's default set). */
  select?: readonly string[];
  /** The `$filter` of both listings (default: none). */
  filter?: string;
}

export interface AppliedChanges {
  /** 1 for the first change set; the unchanged tenant is generation 0. */
  readonly generation: number;
  readonly seed: number;
  readonly requested: ChangeCounts;
  readonly applied: ChangeCounts;
  /** Users listed from now on (all generations applied). */
  readonly userCount: number;
  /** Every difference between the listings before and after this change set, lazily, in no particular order. */
  differences(options?: Omit<DifferenceOptions, 'from' | 'to'>): Generator<ExpectedChange>;
  /** The same, sorted by id as the report is: for tests (holds every line). */
  expected(options?: Omit<DifferenceOptions, 'from' | 'to'>): ExpectedChange[];
}

/**
 * A bijection on [0, size): a 4-round Feistel network on the smallest even-bit power of two ≥ size, walked
 * until it lands inside (cycle-walking; < 4 steps on average). Both directions, so a change set can list the
 * users it picked (rank → slot) and the listing can tell whether a user was picked (slot → rank).
 */
class SlotPermutation {
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: readonly number[];

  constructor(
    readonly size: number,
    key: number,
  ) {
    let bits = 2;
    while (2 ** bits < size) bits += 2;
    this.half = bits / 2;
    this.mask = 2 ** this.half - 1;
    this.keys = [1, 2, 3, 4].map((r) => mix32(key ^ Math.imul(r, 0x9e3779b1)));
  }

  private f(x: number, round: number): number {
    return mix32(x ^ (this.keys[round] as number)) & this.mask;
  }

  private forward(x: number): number {
    let l = Math.floor(x / (this.mask + 1));
    let r = x & this.mask;
    for (let round = 0; round < 4; round++) [l, r] = [r, l ^ this.f(r, round)];
    return l * (this.mask + 1) + r;
  }

  private backward(y: number): number {
    let l = Math.floor(y / (this.mask + 1));
    let r = y & this.mask;
    for (let round = 3; round >= 0; round--) [l, r] = [r ^ this.f(l, round), l];
    return l * (this.mask + 1) + r;
  }

  rank(slot: number): number {
    let x = slot;
    do x = this.forward(x);
    while (x >= this.size);
    return x;
  }

  slot(rank: number): number {
    let x = rank;
    do x = this.backward(x);
    while (x >= this.size);
    return x;
  }
}

type Kind = 'leaver' | 'edit' | 'rename' | 'nulls';

interface Generation {
  readonly number: number;
  readonly seed: number;
  /** Slots that existed before this generation (its joiners come after them). */
  readonly slotsBefore: number;
  readonly requested: ChangeCounts;
  /** leavers + edits + renames + nulls: the ranks this generation picks. */
  readonly picks: number;
  readonly permutation: SlotPermutation | undefined;
  /** Joiners' createdDateTime: the day of the change set, deterministic. */
  readonly joinedOn: number;
}

const JOINED_FROM = Date.UTC(2026, 0, 1);
const EDITABLE_SELECTED = ['department', 'jobTitle', 'officeLocation', 'mobilePhone', 'businessPhones', 'accountEnabled'] as const;
const EDITABLE_UNSELECTED = ['city', 'postalCode', 'streetAddress', 'employeeType'] as const;
const NULLABLE = ['department', 'jobTitle', 'officeLocation', 'mobilePhone', 'mail', 'givenName', 'surname', 'businessPhones'] as const;
const GIVEN_BY_ASCII = new Map(GIVEN_NAMES.map((n) => [n[1], n]));
const SURNAME_BY_ASCII = new Map(SURNAMES.map((n) => [n[1], n]));

function checkCount(name: string, value: number | undefined): number {
  const n = value ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${name} must be an integer >= 0`);
  return n;
}

/** The seeded users of a tenant and every change set applied to them since it started. */
export class TenantUsers {
  private readonly generations: Generation[] = [];
  private slots: number;
  private live: number;
  private removedSoFar = 0;

  constructor(
    readonly seed: number,
    readonly initialCount: number,
  ) {
    this.slots = initialCount;
    this.live = initialCount;
  }

  /** The number of change sets applied (0: the tenant as seeded). */
  get generation(): number {
    return this.generations.length;
  }

  /** Users the tenant lists now. */
  get userCount(): number {
    return this.live;
  }

  /** Slots to scan for a complete listing now (listed users and the gaps leavers left). */
  get slotCount(): number {
    return this.slots;
  }

  /** The user in `slot` at `generation` (default: now), or undefined when it has left or not yet joined. */
  user(slot: number, generation = this.generations.length): Record<string, unknown> | undefined {
    if (slot < 0 || slot >= this.slotsAfter(generation)) return undefined;
    let user: Record<string, unknown> | undefined;
    if (slot < this.initialCount) {
      user = generateUser(this.seed, slot);
    } else {
      user = generateUser(this.seed, slot);
      const joined = this.generations.find((g) => slot < this.slotsAfter(g.number)) as Generation;
      user['createdDateTime'] = isoSeconds(joined.joinedOn + (slot % 86_400) * 1000);
    }
    for (let i = 0; i < generation; i++) {
      const g = this.generations[i] as Generation;
      const kind = this.kindIn(g, slot);
      if (kind === 'leaver') return undefined;
      if (kind !== undefined) user = mutate(user, kind, new Prng(mix32(g.seed ^ 0x2545f491) ^ g.number, slot));
    }
    return user;
  }

  /** Applies one change set; returns what it did and what a comparison of the listings before and after finds. */
  apply(spec: TenantChangeSpec = {}): AppliedChanges {
    const requested: ChangeCounts = {
      joiners: checkCount('joiners', spec.joiners),
      leavers: checkCount('leavers', spec.leavers),
      edits: checkCount('edits', spec.edits),
      renames: checkCount('renames', spec.renames),
      nulls: checkCount('nulls', spec.nulls),
    };
    if (spec.seed !== undefined && !Number.isInteger(spec.seed)) throw new TypeError('seed must be an integer');
    const picks = requested.leavers + requested.edits + requested.renames + requested.nulls;
    if (picks > this.slots) {
      throw new RangeError(
        `a change set can reach at most the ${this.slots} users there have been (leavers + edits + renames + nulls = ${picks})`,
      );
    }
    if (this.slots + requested.joiners >= 2 ** 32) throw new RangeError('the tenant would exceed 2^32 - 1 users');
    const number = this.generations.length + 1;
    const seed = spec.seed ?? number;
    const g: Generation = {
      number,
      seed,
      slotsBefore: this.slots,
      requested,
      picks,
      permutation:
        picks > 0 ? new SlotPermutation(this.slots, mix32(this.seed ^ 0x68e31da4) ^ Math.imul(number, 0x85ebca77) ^ seed) : undefined,
      joinedOn: JOINED_FROM + number * 86_400_000,
    };
    const applied = this.countApplied(g);
    this.generations.push(g);
    this.slots += requested.joiners;
    this.live += requested.joiners - applied.leavers;
    this.removedSoFar += applied.leavers;
    const differences = (options: Omit<DifferenceOptions, 'from' | 'to'> = {}): Generator<ExpectedChange> =>
      this.differences({ ...options, from: number - 1, to: number });
    return {
      generation: number,
      seed,
      requested,
      applied,
      userCount: this.live,
      differences,
      expected: (options = {}) => sortById([...differences(options)]),
    };
  }

  /** Exactly what a complete listing at `generation` (default: now) returns, in the order the sim pages it. Lazy. */
  *listing(options: { select?: readonly string[]; filter?: string; generation?: number } = {}): Generator<Record<string, unknown>> {
    const generation = options.generation ?? this.generations.length;
    const select = options.select ?? PRODUCT_DEFAULT_SELECT;
    const end = this.slotsAfter(generation);
    for (let slot = 0; slot < end; slot++) {
      const user = this.user(slot, generation);
      if (user !== undefined && matchesFilter(user, options.filter)) yield projectUser(user, select);
    }
  }

  /**
   * Every line of the change report between the listings at `from` and `to` (the users that joined, left, or
   * whose selected properties differ as JSON values), lazily and in no particular order: only the users the
   * change sets in between touched are looked at.
   */
  *differences(options: DifferenceOptions = {}): Generator<ExpectedChange> {
    const to = options.to ?? this.generations.length;
    const from = options.from ?? Math.max(0, to - 1);
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= this.generations.length)) {
      throw new RangeError(`generations must satisfy 0 <= from <= to <= ${this.generations.length}`);
    }
    const select = options.select ?? PRODUCT_DEFAULT_SELECT;
    for (let i = from; i < to; i++) {
      const g = this.generations[i] as Generation;
      for (let rank = 0; rank < g.picks; rank++) {
        const slot = (g.permutation as SlotPermutation).slot(rank);
        if (this.touchedBetween(slot, from, g.number)) continue;
        const line = this.difference(slot, from, to, select, options.filter);
        if (line !== undefined) yield line;
      }
      for (let slot = g.slotsBefore; slot < g.slotsBefore + g.requested.joiners; slot++) {
        const line = this.difference(slot, from, to, select, options.filter);
        if (line !== undefined) yield line;
      }
    }
  }

  private difference(
    slot: number,
    from: number,
    to: number,
    select: readonly string[],
    filter: string | undefined,
  ): ExpectedChange | undefined {
    const before = this.user(slot, from);
    const after = this.user(slot, to);
    const old = before !== undefined && matchesFilter(before, filter) ? projectUser(before, select) : undefined;
    const now = after !== undefined && matchesFilter(after, filter) ? projectUser(after, select) : undefined;
    if (old === undefined && now === undefined) return undefined;
    const id = String((after ?? before)?.['id']);
    if (old === undefined) return { change: 'added', id, user: now as Record<string, unknown> };
    if (now === undefined) return { change: 'removed', id, user: old };
    const changes: Record<string, { old: unknown; new: unknown }> = {};
    let any = false;
    for (const [name, value] of Object.entries(now)) {
      if (JSON.stringify(old[name]) !== JSON.stringify(value)) {
        changes[name] = { old: old[name], new: value };
        any = true;
      }
    }
    return any ? { change: 'changed', id, changes } : undefined;
  }

  /** Slots that existed once generations 1..generation were applied. */
  private slotsAfter(generation: number): number {
    if (generation >= this.generations.length) return this.slots;
    return (this.generations[generation] as Generation).slotsBefore;
  }

  /** What generation `g` does to the user in `slot` (undefined: nothing; the user may have left before). */
  private kindIn(g: Generation, slot: number): Kind | undefined {
    if (g.permutation === undefined || slot >= g.slotsBefore) return undefined;
    const rank = g.permutation.rank(slot);
    const r = g.requested;
    if (rank < r.leavers) return 'leaver';
    if (rank < r.leavers + r.edits) return 'edit';
    if (rank < r.leavers + r.edits + r.renames) return 'rename';
    if (rank < g.picks) return 'nulls';
    return undefined;
  }

  /** Whether a generation after `from` and before `before` joined or picked the slot (so it was reported there). */
  private touchedBetween(slot: number, from: number, before: number): boolean {
    for (let i = from; i < before - 1; i++) {
      const g = this.generations[i] as Generation;
      // A slot at or after g's first joiner joined in g or later: g cannot have picked it.
      if (slot >= g.slotsBefore) {
        if (slot < g.slotsBefore + g.requested.joiners) return true;
        continue;
      }
      if (this.kindIn(g, slot) !== undefined) return true;
    }
    return false;
  }

  private isLiveBefore(g: Generation, slot: number): boolean {
    for (let i = 0; i < g.number - 1; i++) if (this.kindIn(this.generations[i] as Generation, slot) === 'leaver') return false;
    return true;
  }

  /** Per kind, how many picked users are still there to be picked (all of them unless someone left earlier). */
  private countApplied(g: Generation): ChangeCounts {
    const applied: ChangeCounts = { ...g.requested };
    if (this.removedSoFar === 0 || g.permutation === undefined) return applied;
    for (let rank = 0; rank < g.picks; rank++) {
      const slot = g.permutation.slot(rank);
      if (this.isLiveBefore(g, slot)) continue;
      const kind = this.kindIn(g, slot) as Kind;
      const key = kind === 'leaver' ? 'leavers' : kind === 'edit' ? 'edits' : kind === 'rename' ? 'renames' : 'nulls';
      applied[key] -= 1;
    }
    return applied;
  }
}

/** Sorted by id (ordinal, as the report is). */
export function sortById(lines: ExpectedChange[]): ExpectedChange[] {
  return lines.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------------------------
// The changes themselves. Each returns a changed copy; every value it sets differs from the one before, so a
// user it touches always differs in at least one property of the product's default select.

function mutate(user: Record<string, unknown>, kind: Exclude<Kind, 'leaver'>, rng: Prng): Record<string, unknown> {
  const next = { ...user };
  if (kind === 'edit') {
    for (const property of pickSome(rng, EDITABLE_SELECTED, 1 + rng.int(3))) edit(next, property, rng);
    if (rng.chance(0.3)) edit(next, rng.pick(EDITABLE_UNSELECTED), rng);
  } else if (kind === 'rename') {
    rename(next, rng);
  } else {
    for (const property of pickSome(rng, NULLABLE, 1 + rng.int(3))) toggleNull(next, property, rng);
  }
  return next;
}

function pickSome<T>(rng: Prng, items: readonly T[], n: number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < n && pool.length > 0) out.push(pool.splice(rng.int(pool.length), 1)[0] as T);
  return out;
}

/** A value of `pool` other than `current` (and other than null). */
function another<T>(rng: Prng, pool: readonly (T | null)[], current: unknown): T {
  const candidates = pool.filter((v): v is T => v !== null && v !== current);
  return rng.pick(candidates);
}

function anotherPhone(rng: Prng, current: unknown): string {
  let p = phone(rng);
  while (p === current) p = phone(rng);
  return p;
}

function edit(user: Record<string, unknown>, property: string, rng: Prng): void {
  const current = user[property];
  switch (property) {
    case 'department':
      user[property] = another(rng, DEPARTMENTS, current);
      break;
    case 'jobTitle':
      user[property] = another(rng, JOB_TITLES, current);
      break;
    case 'officeLocation':
      user[property] = another(rng, OFFICES, current);
      break;
    case 'mobilePhone':
      user[property] = anotherPhone(rng, current);
      break;
    case 'accountEnabled':
      user[property] = current !== true;
      break;
    case 'businessPhones': {
      // Arrays are compared as JSON values, order included: a reordered list is a change.
      const phones = Array.isArray(current) ? (current as string[]) : [];
      let next: string[];
      if (phones.length === 0) next = [phone(rng)];
      else if (phones.length === 1)
        next = rng.chance(0.5) ? [anotherPhone(rng, phones[0])] : [phones[0] as string, anotherPhone(rng, phones[0])];
      else next = rng.chance(0.5) && phones[0] !== phones[1] ? [...phones].reverse() : [phones[0] as string];
      user[property] = next;
      break;
    }
    case 'city':
      user[property] = another(
        rng,
        PLACES.map((p) => p[0]),
        current,
      );
      break;
    case 'postalCode': {
      let code = String(10000 + rng.int(89999));
      while (code === current) code = String(10000 + rng.int(89999));
      user[property] = code;
      break;
    }
    case 'streetAddress': {
      let street = `${1 + rng.int(9999)} ${rng.chance(0.5) ? 'Main St.' : 'Hauptstraße'}`;
      while (street === current) street = `${1 + rng.int(9999)} Main St.`;
      user[property] = street;
      break;
    }
    case 'employeeType':
      user[property] = current === 'Employee' ? 'Contractor' : 'Employee';
      break;
    default:
      throw new Error(`sim-tenant: no edit for ${property}`);
  }
}

/** The user's name parts as its userPrincipalName spells them: `<given>.<surname><index>` (ASCII forms). */
function nameParts(user: Record<string, unknown>): { local: string; given: Name; surname: Name; index: string } | undefined {
  const m = /^([a-z]+)\.([a-z]+)(\d+)/.exec(String(user['userPrincipalName']));
  const given = GIVEN_BY_ASCII.get(m?.[1] ?? '');
  const surname = SURNAME_BY_ASCII.get(m?.[2] ?? '');
  if (m === null || given === undefined || surname === undefined) return undefined;
  return { local: m[0], given, surname, index: m[3] as string };
}

function rename(user: Record<string, unknown>, rng: Prng): void {
  const parts = nameParts(user);
  if (parts === undefined) throw new Error(`sim-tenant: cannot rename ${String(user['userPrincipalName'])}`);
  const byGivenName = rng.chance(0.3);
  const given = byGivenName
    ? another<Name>(
        rng,
        GIVEN_NAMES.filter((n) => n[1] !== parts.given[1]),
        undefined,
      )
    : parts.given;
  const surname = byGivenName
    ? parts.surname
    : another<Name>(
        rng,
        SURNAMES.filter((n) => n[1] !== parts.surname[1]),
        undefined,
      );
  const local = `${given[1]}.${surname[1]}${parts.index}`;
  const oldName = `${parts.given[0]} ${parts.surname[0]}`;
  const newName = `${given[0]} ${surname[0]}`;
  const displayName = String(user['displayName']);
  user['displayName'] = displayName.includes(oldName) ? displayName.replace(oldName, newName) : newName;
  if (user['givenName'] !== null) user['givenName'] = given[0];
  if (user['surname'] !== null) user['surname'] = surname[0];
  const swap = (v: unknown): unknown => (typeof v === 'string' ? v.split(parts.local).join(local) : v);
  for (const property of ['userPrincipalName', 'mail', 'mailNickname']) user[property] = swap(user[property]);
  for (const property of ['imAddresses', 'proxyAddresses', 'otherMails']) {
    const values = user[property];
    if (Array.isArray(values)) user[property] = values.map(swap);
  }
  const identities = user['identities'];
  if (Array.isArray(identities)) {
    user['identities'] = identities.map((i: Record<string, unknown>) => ({ ...i, issuerAssignedId: swap(i['issuerAssignedId']) }));
  }
}

function toggleNull(user: Record<string, unknown>, property: string, rng: Prng): void {
  const current = user[property];
  if (property === 'businessPhones') {
    // A collection is never null in Graph: it becomes empty, or gets a value.
    user[property] = Array.isArray(current) && current.length > 0 ? [] : [phone(rng)];
    return;
  }
  if (current !== null && current !== undefined) {
    user[property] = null;
    return;
  }
  const parts = nameParts(user);
  switch (property) {
    case 'department':
      user[property] = another(rng, DEPARTMENTS, null);
      break;
    case 'jobTitle':
      user[property] = another(rng, JOB_TITLES, null);
      break;
    case 'officeLocation':
      user[property] = another(rng, OFFICES, null);
      break;
    case 'mobilePhone':
      user[property] = phone(rng);
      break;
    case 'mail': {
      const other = Array.isArray(user['otherMails']) ? (user['otherMails'] as unknown[])[0] : undefined;
      user[property] = typeof other === 'string' ? other : user['userPrincipalName'];
      break;
    }
    case 'givenName':
      user[property] = parts?.given[0] ?? 'Alex';
      break;
    case 'surname':
      user[property] = parts?.surname[0] ?? 'Wilber';
      break;
    default:
      throw new Error(`sim-tenant: no value for ${property}`);
  }
}
