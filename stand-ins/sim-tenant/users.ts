/**
 * The simulated directory's users: a seeded, lazy generator (user N is a pure function of (seed, N), so a
 * 2,000,000-user tenant costs no memory), Graph's `$select` projection and the `$filter` forms the sim
 * understands (by default and as advanced queries). Tests import this module to compute exactly what a full
 * listing must return.
 *
 * The data is deliberately awkward, because an exporter that survives only ASCII has not been tested:
 * non-ASCII and right-to-left names, emoji with surrogate pairs and ZWJ sequences, quotes, backslashes,
 * control characters, `</script>`, nulls, empty arrays, ~2 KB strings and guest `#EXT#` UPNs.
 */
import { DEFAULTS } from '../../src/settings.js';

/**
 * Every user property the sim knows, in Graph's schema order (the order of the `user` entity in the v1.0 CSDL,
 * which is alphabetical, with the inherited `id` last). Graph returns properties in this order whatever the
 * order of `$select`, so the projection does too.
 */
export const USER_PROPERTIES: readonly string[] = Object.freeze([
  'accountEnabled',
  'ageGroup',
  'businessPhones',
  'city',
  'companyName',
  'country',
  'createdDateTime',
  'creationType',
  'department',
  'displayName',
  'employeeHireDate',
  'employeeId',
  'employeeType',
  'externalUserState',
  'faxNumber',
  'givenName',
  'identities',
  'imAddresses',
  'jobTitle',
  'mail',
  'mailNickname',
  'mobilePhone',
  'officeLocation',
  'onPremisesImmutableId',
  'onPremisesSamAccountName',
  'onPremisesSyncEnabled',
  'otherMails',
  'postalCode',
  'preferredLanguage',
  'proxyAddresses',
  'state',
  'streetAddress',
  'surname',
  'usageLocation',
  'userPrincipalName',
  'userType',
  'id',
]);

/** What Graph returns for `GET /users` without `$select` (in the order Graph emits it). */
export const DEFAULT_USER_SELECT: readonly string[] = Object.freeze([
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
]);

/** The product's default `USERS_SELECT` (README "Settings"), read from the product so that it cannot drift. */
export const PRODUCT_DEFAULT_SELECT: readonly string[] = Object.freeze(DEFAULTS.USERS_SELECT.split(','));

/** The verified domains user principal names are drawn from (independent of the sim's tenantDomain option). */
const UPN_DOMAINS = ['contoso.onmicrosoft.com', 'contoso.com'] as const;

// ---------------------------------------------------------------------------------------------------------------
// PRNG: a 32-bit integer hash seeds a mulberry32 stream per user. Cheap (no crypto), deterministic, and good
// enough to spread values; uniqueness of ids never relies on it (see userGuid).

export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Prng {
  private state: number;
  constructor(seed: number, index: number) {
    this.state = mix32(mix32(seed ^ 0x5bd1e995) ^ Math.imul(index + 1, 0x9e3779b1));
  }
  /** Uniform 32-bit unsigned integer. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 4294967296 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** Two hex digits per byte value: formatting GUIDs by table is several times faster than toString(16). */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const hex16 = (n: number): string => (HEX_BYTE[(n >>> 8) & 0xff] as string) + (HEX_BYTE[n & 0xff] as string);
const hex32 = (n: number): string => hex16(n >>> 16) + hex16(n & 0xffff);

/**
 * A bijection on 32-bit integers (xor with a seed constant, odd multiplications and xor-shifts are all
 * invertible), so the last 8 hex digits of a GUID are distinct for every index: ids never collide, even
 * among 2,000,000 users whose 32-bit PRNG states would.
 */
function permuteIndex(seed: number, index: number): number {
  let x = (index ^ mix32(seed)) >>> 0;
  x = Math.imul(x, 0x9e3779b1) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca77) >>> 0;
  return (x ^ (x >>> 13)) >>> 0;
}

function userGuid(rng: Prng, seed: number, index: number): string {
  const a = rng.next();
  const b = rng.next();
  const c = rng.next();
  // Version 4, variant 10xx, like Entra's object ids.
  return `${hex32(a)}-${hex16(b >>> 16)}-${hex16(0x4000 | (b & 0x0fff))}-${hex16(0x8000 | (c & 0x3fff))}-${hex16(c >>> 16)}${hex32(permuteIndex(seed, index))}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Pools. Each name carries an ASCII form for the UPN/mail (real UPNs are restricted to ASCII).

export type Name = readonly [display: string, ascii: string];

export const GIVEN_NAMES: readonly Name[] = [
  ['Adele', 'adele'],
  ['Alex', 'alex'],
  ['Allan', 'allan'],
  ['Diego', 'diego'],
  ['Grady', 'grady'],
  ['Henrietta', 'henrietta'],
  ['Isaiah', 'isaiah'],
  ['Johanna', 'johanna'],
  ['Joni', 'joni'],
  ['Lee', 'lee'],
  ['Lidia', 'lidia'],
  ['Lynne', 'lynne'],
  ['Megan', 'megan'],
  ['Miriam', 'miriam'],
  ['Nestor', 'nestor'],
  ['Patti', 'patti'],
  ['Pradeep', 'pradeep'],
  ['José', 'jose'],
  ['Jürgen', 'juergen'],
  ['Renée', 'renee'],
  ['Søren', 'soeren'],
  ['Łukasz', 'lukasz'],
  ['Çağla', 'cagla'],
  ['Zoë', 'zoe'],
  ['伟', 'wei'],
  ['秀英', 'xiuying'],
  ['Αλέξανδρος', 'alexandros'],
  ['Νίκη', 'niki'],
  ['محمد', 'mohammed'],
  ['فاطمة', 'fatima'],
  ['Ольга', 'olga'],
  ['Đorđe', 'djordje'],
  ['Siobhán', 'siobhan'],
];

export const SURNAMES: readonly Name[] = [
  ['Vance', 'vance'],
  ['Wilber', 'wilber'],
  ['Deacon', 'deacon'],
  ['Salazar', 'salazar'],
  ['Archie', 'archie'],
  ['Cantrell', 'cantrell'],
  ['Langer', 'langer'],
  ['Lauer', 'lauer'],
  ['Sherman', 'sherman'],
  ['Gu', 'gu'],
  ['Holt', 'holt'],
  ['Olsen', 'olsen'],
  ['Bowen', 'bowen'],
  ['Grey', 'grey'],
  ['Sharma', 'sharma'],
  ['Müller', 'mueller'],
  ['Weiß', 'weiss'],
  ['Straße', 'strasse'],
  ["O'Brien", 'obrien'],
  ['García', 'garcia'],
  ['Núñez', 'nunez'],
  ['王', 'wang'],
  ['李', 'li'],
  ['张', 'zhang'],
  ['Παπαδόπουλος', 'papadopoulos'],
  ['Οικονόμου', 'oikonomou'],
  ['العلي', 'alali'],
  ['الهاشمي', 'alhashimi'],
  ['Иванова', 'ivanova'],
  ['Nguyễn', 'nguyen'],
  ['van der Berg', 'vanderberg'],
];

/** Display-name decorations: emoji (surrogate pairs, ZWJ sequences, flags, skin tones) and hostile text. */
const DISPLAY_DECORATIONS: readonly ((name: string) => string)[] = [
  (n) => `${n} 😀`,
  (n) => `${n} 👩‍💻`,
  (n) => `${n} 🏳️‍🌈`,
  (n) => `${n} 👍🏽`,
  (n) => `${n} (she/her) 🇩🇪`,
  (n) => `"${n}" \\ Contractor`,
  (n) => `${n} </script><script>alert(1)</script>`,
  (n) => `${n} — Ops‏`,
];

export const JOB_TITLES: readonly (string | null)[] = [
  'Software Engineer',
  'Senior Program Manager',
  'Marketing Manager',
  'Sales Representative',
  'CEO',
  'Directeur général',
  'Geschäftsführerin',
  '软件工程师',
  'مديرة المبيعات',
  'Διευθυντής',
  'Engineer\tLevel 2',
  'Marketing\nManager',
  'Director "Special Projects"',
  'C:\\Ops\\Night Shift',
  'Head of R&D <Europe>',
  null,
  null,
  null,
];

export const DEPARTMENTS: readonly (string | null)[] = [
  'Sales',
  'Marketing',
  'Engineering',
  'Finance',
  'Human Resources',
  'IT',
  'Legal',
  'Operations',
  'Retail',
  'R&D',
  'Ventes & Marketing',
  'Forschung & Entwicklung',
  '研发部',
  'المالية',
  null,
];

export const OFFICES: readonly (string | null)[] = [
  '18/2111',
  '20/1101',
  '131/1104',
  'Building 4, Floor 2',
  'Zürich HQ',
  '北京 3F',
  'Remote',
  null,
];

export type Place = readonly [city: string, state: string | null, country: string, usage: string, language: string];
export const PLACES: readonly Place[] = [
  ['Redmond', 'WA', 'United States', 'US', 'en-US'],
  ['Seattle', 'WA', 'United States', 'US', 'en-US'],
  ['München', 'BY', 'Germany', 'DE', 'de-DE'],
  ['Paris', null, 'France', 'FR', 'fr-FR'],
  ['北京', null, 'China', 'CN', 'zh-CN'],
  ['الرياض', null, 'Saudi Arabia', 'SA', 'ar-SA'],
  ['Αθήνα', null, 'Greece', 'GR', 'el-GR'],
  ['São Paulo', 'SP', 'Brazil', 'BR', 'pt-BR'],
];

const GUEST_DOMAINS = ['fabrikam.com', 'gmail.com', 'outlook.com', 'adatum.de'] as const;

const LONG_TEXT =
  'This value is deliberately long, to test buffers and line handling: lorem ipsum dolor sit amet, ' +
  'consectetur adipiscing elit — ünïcödé 中文 Ελληνικά العربية 🎉. ';
/** ~2 KB, repeated from LONG_TEXT. */
const LONG_STRING = LONG_TEXT.repeat(Math.ceil(2048 / LONG_TEXT.length)).slice(0, 2048);

const CREATED_FROM = Date.UTC(2016, 0, 1);
const CREATED_SPAN_S = 9 * 365 * 24 * 3600;

const PAD2 = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));

/**
 * `yyyy-MM-ddTHH:mm:ssZ` for epoch milliseconds (years 1970-9999). Date#toISOString was the generator's main
 * cost; this is the days-to-civil conversion from Howard Hinnant's date algorithms.
 */
export function isoSeconds(ms: number): string {
  const total = Math.floor(ms / 1000);
  const secs = total % 86400;
  const z = (total - secs) / 86400 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const p2 = (n: number): string => PAD2[n] as string;
  return `${year}-${p2(month)}-${p2(day)}T${p2(Math.floor(secs / 3600))}:${p2(Math.floor(secs / 60) % 60)}:${p2(secs % 60)}Z`;
}

export function phone(rng: Prng): string {
  return `+1 425 555 ${String(rng.int(10000)).padStart(4, '0')}`;
}

/**
 * User `index` (0-based) of the tenant generated from `seed`. Deterministic; ids are GUIDs unique per seed;
 * every property of USER_PROPERTIES is present (null or [] when the user has no value, as Graph returns them).
 */
export function generateUser(seed: number, index: number): Record<string, unknown> {
  const rng = new Prng(seed, index);
  const id = userGuid(rng, seed, index);
  const given = rng.pick(GIVEN_NAMES);
  const sur = rng.pick(SURNAMES);
  const place = rng.pick(PLACES);
  const guest = rng.chance(0.1);
  /** A sparse user: created by a script that filled in almost nothing. */
  const sparse = rng.chance(0.06);
  const upnDomain = rng.pick(UPN_DOMAINS);
  const local = `${given[1]}.${sur[1]}${index}`;

  let displayName: string = `${given[0]} ${sur[0]}`;
  if (rng.chance(0.08)) displayName = rng.pick(DISPLAY_DECORATIONS)(displayName);
  let jobTitle: string | null = rng.pick(JOB_TITLES);
  if (rng.chance(0.005)) jobTitle = LONG_STRING;

  let userPrincipalName: string;
  let mail: string | null;
  let identities: unknown[];
  if (guest) {
    const home = rng.pick(GUEST_DOMAINS);
    mail = `${local}@${home}`;
    userPrincipalName = `${local}_${home}#EXT#@${UPN_DOMAINS[0]}`;
    identities = [{ signInType: 'federated', issuer: 'ExternalAzureAD', issuerAssignedId: null }];
  } else {
    userPrincipalName = `${local}@${upnDomain}`;
    mail = sparse ? null : userPrincipalName;
    identities = [{ signInType: 'userPrincipalName', issuer: UPN_DOMAINS[0], issuerAssignedId: userPrincipalName }];
  }

  const synced = !guest && rng.chance(0.4);
  const created = CREATED_FROM + rng.int(CREATED_SPAN_S) * 1000;
  const businessPhones = sparse ? [] : rng.chance(0.7) ? [phone(rng)] : rng.chance(0.3) ? [phone(rng), phone(rng)] : [];
  const employeeId = guest || sparse ? null : String(100000 + rng.int(900000));

  // Built in USER_PROPERTIES (schema) order, so a full user is already in the order Graph would emit it.
  return {
    accountEnabled: rng.chance(0.9),
    ageGroup: null,
    businessPhones,
    city: sparse ? null : place[0],
    companyName: guest ? null : sparse ? null : rng.chance(0.9) ? 'Contoso Ltd.' : 'Contoso "Labs" GmbH',
    country: sparse ? null : place[2],
    createdDateTime: isoSeconds(created),
    creationType: guest ? 'Invitation' : null,
    department: sparse ? null : rng.pick(DEPARTMENTS),
    displayName,
    employeeHireDate: employeeId === null ? null : isoSeconds(created + 86_400_000 * rng.int(30)),
    employeeId,
    employeeType: guest ? null : sparse ? null : rng.chance(0.85) ? 'Employee' : 'Contractor',
    externalUserState: guest ? (rng.chance(0.8) ? 'Accepted' : 'PendingAcceptance') : null,
    faxNumber: null,
    givenName: sparse ? null : given[0],
    identities,
    imAddresses: sparse || guest ? [] : [`sip:${local}@${upnDomain}`],
    jobTitle: sparse ? null : jobTitle,
    mail,
    mailNickname: guest ? `${local}_${mail?.split('@')[1] ?? ''}#EXT#` : local,
    mobilePhone: sparse || rng.chance(0.5) ? null : phone(rng),
    officeLocation: sparse ? null : rng.pick(OFFICES),
    onPremisesImmutableId: synced ? Buffer.from(id.replace(/-/g, ''), 'hex').toString('base64') : null,
    onPremisesSamAccountName: synced ? local.slice(0, 20) : null,
    onPremisesSyncEnabled: synced ? true : null,
    otherMails: guest && mail !== null ? [mail] : [],
    postalCode: sparse ? null : String(10000 + rng.int(89999)),
    preferredLanguage: sparse ? null : place[4],
    proxyAddresses: guest || mail === null ? [] : [`SMTP:${mail}`, `smtp:${local}@${UPN_DOMAINS[0]}`],
    state: sparse ? null : place[1],
    streetAddress: sparse ? null : `${1 + rng.int(9999)} ${rng.chance(0.5) ? 'Main St.' : 'Hauptstraße'}`,
    surname: sparse ? null : sur[0],
    usageLocation: sparse ? null : place[3],
    userPrincipalName,
    userType: guest ? 'Guest' : 'Member',
    id,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// $select

const CANONICAL_PROPERTY = new Map(USER_PROPERTIES.map((p) => [p.toLowerCase(), p]));

/** The canonical (schema-cased) name of a property, or undefined when the sim does not know it. */
export function canonicalPropertyName(name: string): string | undefined {
  return CANONICAL_PROPERTY.get(name.trim().toLowerCase());
}

type Projection = (user: Record<string, unknown>) => Record<string, unknown>;
const projectionCache = new Map<string, Projection>();

function compileProjection(select: readonly string[]): Projection {
  const wanted = new Set<string>();
  for (const name of select) {
    const canonical = canonicalPropertyName(name);
    if (canonical === undefined) throw new Error(`Could not find a property named '${name}' on type 'microsoft.graph.user'.`);
    wanted.add(canonical);
  }
  const order = USER_PROPERTIES.filter((p) => wanted.has(p));
  return (user) => {
    const out: Record<string, unknown> = {};
    for (const p of order) out[p] = user[p] === undefined ? null : user[p];
    return out;
  };
}

/**
 * The user as Graph returns it for `$select=<select>`: only the selected properties (names matched
 * case-insensitively), in schema order. An empty select means Graph's default property set.
 * Throws for a property the sim does not know.
 */
export function projectUser(user: Record<string, unknown>, select: readonly string[]): Record<string, unknown> {
  // Graph's default set happens to be in schema order too (alphabetical, id last).
  const effective = select.length === 0 ? DEFAULT_USER_SELECT : select;
  const key = effective.join(',');
  let projection = projectionCache.get(key);
  if (projection === undefined) {
    projection = compileProjection(effective);
    if (projectionCache.size > 100) projectionCache.clear();
    projectionCache.set(key, projection);
  }
  return projection(user);
}

// ---------------------------------------------------------------------------------------------------------------
// $filter: eq, ne, not, startsWith, endsWith, null comparisons, and/or and parentheses, on the single-valued
// properties of the sim's users — each allowed only where Graph allows it, by default or only as an advanced
// query (ConsistencyLevel: eventual + $count=true). Anything else is refused the way Graph refuses it.

/** Thrown for a `$filter` Graph does not support on users, even as an advanced query (or cannot parse). */
export class UnsupportedFilterError extends Error {
  override readonly name = 'UnsupportedFilterError';
}

type Predicate = (user: Record<string, unknown>) => boolean;

/** A compiled `$filter`: how to evaluate it, and whether Graph serves it only as an advanced query. */
export interface CompiledFilter {
  predicate: Predicate;
  /**
   * Graph's 400 `Request_UnsupportedQuery` message for this filter sent without the advanced query parameters,
   * or undefined when it works by default.
   */
  needsAdvancedQuery: string | undefined;
}

type Token = { kind: 'ident'; text: string } | { kind: 'string'; text: string } | { kind: 'punct'; text: '(' | ')' | ',' };

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const ch = filter[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: 'punct', text: ch });
      i++;
    } else if (ch === "'") {
      // OData string literal: '' is an escaped quote.
      let text = '';
      i++;
      for (;;) {
        if (i >= filter.length) throw new UnsupportedFilterError('Unsupported Query.');
        if (filter[i] === "'") {
          if (filter[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += filter[i];
        i++;
      }
      tokens.push({ kind: 'string', text });
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_./]*/.exec(filter.slice(i));
      if (m === null) throw new UnsupportedFilterError('Unsupported Query.');
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

/** Works by default (D) or only as an advanced query (A). */
type Support = 'D' | 'A';
type FilterOperator = 'eq' | 'ne' | 'startsWith' | 'endsWith' | 'null';

/**
 * Which `$filter` operators Graph supports on which user properties, by default or only as an advanced query —
 * the sim's single-valued properties from the user table of "Advanced query capabilities on Microsoft Entra ID
 * objects", "Support for filter by properties of Microsoft Entra ID (directory) objects"
 * (https://learn.microsoft.com/graph/aad-advanced-queries; microsoftgraph/microsoft-graph-docs-contrib
 * includes/filter-directory-objects.md). `null` is the table's "null values" column (`eq null` / `ne null`).
 * From the same page: `endsWith` works "only with advanced query parameters by mail, otherMails,
 * userPrincipalName, and proxyAddresses"; "the not and ne negation operators are supported only with advanced
 * query parameters" and "all properties that support the eq operator also support the ne or not operators".
 * "Properties that are not listed here do not support $filter at all." Collection properties (any/all lambdas)
 * and ge/le/in are not simulated: the sim refuses them.
 */
const USER_FILTER_SUPPORT: Readonly<Record<string, Partial<Record<FilterOperator, Support>>>> = {
  accountEnabled: { eq: 'D', ne: 'A' },
  ageGroup: { eq: 'D', ne: 'A' },
  city: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  companyName: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  country: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  creationType: { eq: 'D', ne: 'A' },
  department: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  displayName: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  employeeId: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  employeeType: { eq: 'A', ne: 'A', startsWith: 'A' },
  givenName: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  id: { eq: 'D', ne: 'A' },
  jobTitle: { eq: 'D', ne: 'A', null: 'A' },
  mail: { eq: 'D', ne: 'A', startsWith: 'D', endsWith: 'A' },
  mailNickname: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  mobilePhone: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  officeLocation: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  onPremisesImmutableId: { eq: 'A', ne: 'A' },
  onPremisesSamAccountName: { eq: 'A', ne: 'A', startsWith: 'A' },
  onPremisesSyncEnabled: { eq: 'D', ne: 'A' },
  postalCode: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  preferredLanguage: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  state: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  streetAddress: { eq: 'A', ne: 'A', startsWith: 'A', null: 'A' },
  surname: { eq: 'D', ne: 'A', startsWith: 'D', null: 'A' },
  usageLocation: { eq: 'D', ne: 'A', startsWith: 'D' },
  userPrincipalName: { eq: 'D', ne: 'A', startsWith: 'D', endsWith: 'A' },
  userType: { eq: 'D', ne: 'A', null: 'A' },
};

const BOOLEAN_PROPERTIES = new Set(['accountEnabled', 'onPremisesSyncEnabled']);

/** Graph's answer to a clause that works only as an advanced query, sent without the advanced query parameters. */
function advancedOnlyMessage(operator: FilterOperator | 'not', property: string): string {
  switch (operator) {
    case 'ne':
      // Reported from Graph in 2024 for `$filter=companyName ne null` without the advanced query parameters
      // (microsoftgraph/microsoft-graph-docs-contrib#9043).
      return "Filter operator 'NotEqualsMatch' is not supported.";
    case 'endsWith':
    case 'not':
      // Graph's documented answer to `$filter=endsWith(userPrincipalName,…)` without them ("Advanced query
      // capabilities on Microsoft Entra ID objects", "Error handling for advanced queries on directory objects",
      // https://learn.microsoft.com/graph/aad-advanced-queries). For `not` no answer is documented: the same form.
      return `Operator '${operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information`;
    default:
      // A property filterable only with advanced query parameters (e.g. `userType ne 'Member'` in 2021,
      // microsoftgraph/microsoft-graph-docs#14586): the same message as a clause Graph does not support at all.
      return unsupportedClauseMessage(property);
  }
}

/** Graph's message for a clause it does not support on the property ("Advanced query capabilities…", error handling). */
function unsupportedClauseMessage(property: string): string {
  return `Unsupported or invalid query filter clause specified for property '${property}' of resource 'User'.`;
}

/**
 * Recursive-descent parser, OData precedence (not binds tighter than and, and tighter than or):
 * or-expr := and-expr ('or' and-expr)*; and-expr := unary ('and' unary)*; unary := 'not' unary | primary;
 * primary := '(' or-expr ')' | (startsWith|endsWith) '(' property ',' string ')' | property (eq|ne) literal.
 * Keywords and function names are case-insensitive (the docs write both `NOT` and `not`, `endsWith` and `endswith`).
 */
class FilterParser {
  private pos = 0;
  /** The message for the first clause that needs an advanced query, if any does. */
  needsAdvancedQuery: string | undefined;
  constructor(private readonly tokens: Token[]) {}

  parse(): Predicate {
    const p = this.orExpr();
    if (this.pos !== this.tokens.length) throw new UnsupportedFilterError('Unsupported Query.');
    return p;
  }

  private peekWord(): string | undefined {
    const t = this.tokens[this.pos];
    return t?.kind === 'ident' ? t.text.toLowerCase() : undefined;
  }

  private expectPunct(text: '(' | ')' | ','): void {
    const t = this.tokens[this.pos++];
    if (t?.kind !== 'punct' || t.text !== text) throw new UnsupportedFilterError('Unsupported Query.');
  }

  /** Checks the operator against the support table: refuses what Graph refuses, notes what needs an advanced query. */
  private allow(property: string, operator: FilterOperator): void {
    const support = USER_FILTER_SUPPORT[property]?.[operator];
    if (support === undefined) throw new UnsupportedFilterError(unsupportedClauseMessage(property));
    if (support === 'A') this.needsAdvanced(operator, property);
  }

  private needsAdvanced(operator: FilterOperator | 'not', property = ''): void {
    this.needsAdvancedQuery ??= advancedOnlyMessage(operator, property);
  }

  private orExpr(): Predicate {
    const parts = [this.andExpr()];
    while (this.peekWord() === 'or') {
      this.pos++;
      parts.push(this.andExpr());
    }
    return parts.length === 1 ? (parts[0] as Predicate) : (u) => parts.some((p) => p(u));
  }

  private andExpr(): Predicate {
    const parts = [this.unary()];
    while (this.peekWord() === 'and') {
      this.pos++;
      parts.push(this.unary());
    }
    return parts.length === 1 ? (parts[0] as Predicate) : (u) => parts.every((p) => p(u));
  }

  private unary(): Predicate {
    if (this.peekWord() !== 'not') return this.primary();
    this.pos++;
    // What `not` wraps must itself be a supported filter; the negation makes the whole an advanced query.
    const inner = this.unary();
    this.needsAdvanced('not');
    return (u) => !inner(u);
  }

  private property(): string {
    const t = this.tokens[this.pos++];
    if (t?.kind !== 'ident') throw new UnsupportedFilterError('Unsupported Query.');
    const canonical = canonicalPropertyName(t.text);
    if (canonical === undefined)
      throw new UnsupportedFilterError(`Could not find a property named '${t.text}' on type 'microsoft.graph.user'.`);
    return canonical;
  }

  private primary(): Predicate {
    const t = this.tokens[this.pos];
    if (t?.kind === 'punct' && t.text === '(') {
      this.pos++;
      const inner = this.orExpr();
      this.expectPunct(')');
      return inner;
    }
    const word = this.peekWord();
    if (word === 'startswith' || word === 'endswith') {
      this.pos++;
      this.expectPunct('(');
      const prop = this.property();
      this.expectPunct(',');
      const lit = this.tokens[this.pos++];
      if (lit?.kind !== 'string') throw new UnsupportedFilterError('Unsupported Query.');
      this.expectPunct(')');
      const operator = word === 'startswith' ? 'startsWith' : 'endsWith';
      this.allow(prop, operator);
      // Directory string comparisons are case-insensitive.
      const text = lit.text.toLowerCase();
      return (u) => {
        const v = u[prop];
        return typeof v === 'string' && (operator === 'startsWith' ? v.toLowerCase().startsWith(text) : v.toLowerCase().endsWith(text));
      };
    }
    const prop = this.property();
    const op = this.peekWord();
    if (op !== 'eq' && op !== 'ne') throw new UnsupportedFilterError('Unsupported Query.');
    this.pos++;
    const lit = this.tokens[this.pos++];
    const negate = op === 'ne';
    let equals: Predicate;
    if (lit?.kind === 'ident' && lit.text === 'null') {
      // `ne null` is refused for its `ne` first, as Graph does ("Filter operator 'NotEqualsMatch' is not
      // supported.", microsoftgraph/microsoft-graph-docs-contrib#9043).
      if (negate) this.allow(prop, 'ne');
      this.allow(prop, 'null');
      equals = (u) => u[prop] === null || u[prop] === undefined;
    } else if (BOOLEAN_PROPERTIES.has(prop)) {
      const word = lit?.kind === 'ident' ? lit.text : undefined;
      if (word !== 'true' && word !== 'false') throw new UnsupportedFilterError('Unsupported Query.');
      this.allow(prop, op);
      const want = word === 'true';
      equals = (u) => u[prop] === want;
    } else {
      if (lit?.kind !== 'string') throw new UnsupportedFilterError('Unsupported Query.');
      this.allow(prop, op);
      const want = lit.text.toLowerCase();
      equals = (u) => {
        const v = u[prop];
        return typeof v === 'string' && v.toLowerCase() === want;
      };
    }
    // `ne` is the negation of `eq`, so a user without a value matches `ne 'x'` (the docs pair
    // `companyName ne null` with `NOT(companyName eq 'Microsoft')` to exclude those): the sim's reading.
    return negate ? (u) => !equals(u) : equals;
  }
}

const filterCache = new Map<string, CompiledFilter>();

/**
 * Compiles a `$filter` (cached per text). Throws UnsupportedFilterError for a filter Graph refuses even as an
 * advanced query; `needsAdvancedQuery` says whether it works only as one.
 */
export function compileFilter(filter: string): CompiledFilter {
  let compiled = filterCache.get(filter);
  if (compiled === undefined) {
    const parser = new FilterParser(tokenize(filter));
    compiled = { predicate: parser.parse(), needsAdvancedQuery: parser.needsAdvancedQuery };
    if (filterCache.size > 100) filterCache.clear();
    filterCache.set(filter, compiled);
  }
  return compiled;
}

/** Whether the user matches `filter` (undefined or blank = every user), advanced or not. Throws like compileFilter. */
export function matchesFilter(user: Record<string, unknown>, filter: string | undefined): boolean {
  if (filter === undefined || filter.trim() === '') return true;
  return compileFilter(filter).predicate(user);
}

/** Exactly what a complete listing (`$select`/`$filter` as given, all pages) returns, in order. Lazy. */
export function* expectedUsers(opts: {
  seed: number;
  userCount: number;
  select: string[];
  filter?: string;
}): Generator<Record<string, unknown>> {
  const predicate = opts.filter === undefined || opts.filter.trim() === '' ? undefined : compileFilter(opts.filter).predicate;
  for (let i = 0; i < opts.userCount; i++) {
    const user = generateUser(opts.seed, i);
    if (predicate === undefined || predicate(user)) yield projectUser(user, opts.select);
  }
}
