/**
 * Type check against Azure's resource type data (bicep-types-az, pinned and pruned in
 * infra/.types/bicep-types.json by tools/bicep-check/refresh-types.mjs): every `resource x 'Type@apiVersion'`
 * must exist, be deployable at the file's scope, and every property written (recursively, as far as the
 * schema describes it) must exist with the exact casing, not be read-only, and — for literal values — have
 * the right kind and an allowed value. Required properties missing from object literals are reported too.
 *
 * Microsoft Graph resources (`Microsoft.Graph/*@v1.0`, a Bicep extension) are not in Azure's data: they are
 * checked against the short hand-kept list in graph-types.ts instead.
 */
import fs from 'node:fs';
import { distance, finding, suggest, type Finding } from './findings.js';
import { GRAPH_TYPES, type GraphObject } from './graph-types.js';
import type { BicepFile, Prop, ResourceDecl, Value } from './parse.js';

export interface TypeNode {
  $type: string;
  name?: string;
  properties?: Record<string, { type: number; flags: number }>;
  baseProperties?: Record<string, { type: number; flags: number }>;
  additionalProperties?: number;
  discriminator?: string;
  elements?: number[] | Record<string, number>;
  itemType?: number;
  value?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minValue?: number;
  maxValue?: number;
}

export interface Schema {
  source: number;
  name: string;
  scopes: number;
  flags: number;
  body: number;
  types: TypeNode[];
}

export interface TypeSnapshot {
  sources: Array<{ package: string | null; version: string | null; assembly: string; indexEntries: number }>;
  declared: string[];
  knownTypes: string[];
  resourceTypes: Record<string, { apiVersions: string[]; schemas: Record<string, Schema> }>;
}

export function loadTypeSnapshot(file: string): TypeSnapshot {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TypeSnapshot;
}

const FLAG_REQUIRED = 1;
const FLAG_READONLY = 2;
/** Bicep keywords allowed at the top of a resource body besides the type's own properties. */
const RESOURCE_KEYWORDS = new Set(['parent', 'scope', 'dependsOn']);
const SCOPE_BITS: Record<string, number> = { tenant: 1, managementGroup: 2, subscription: 4, resourceGroup: 8 };

interface Ctx {
  schema: Schema;
  out: Finding[];
}

function lookupType(snapshot: TypeSnapshot, type: string) {
  const key = Object.keys(snapshot.resourceTypes).find((k) => k.toLowerCase() === type.toLowerCase());
  return key ? { key, entry: snapshot.resourceTypes[key]! } : undefined;
}

export function checkTypes(files: BicepFile[], snapshot: TypeSnapshot): Finding[] {
  const out: Finding[] = [];
  for (const f of files) {
    for (const r of f.resources) {
      if (r.type.toLowerCase().startsWith('microsoft.graph/')) {
        checkGraphResource(f, r, out);
        continue;
      }
      if (!r.apiVersion) {
        out.push(
          finding(
            'types',
            'missing-api-version',
            r.typeLoc,
            `resource ${r.symbol}: '${r.type}' has no @apiVersion (nested child resources with short types are not used here; give the full type)`,
          ),
        );
        continue;
      }
      const found = lookupType(snapshot, r.type);
      if (!found) {
        const exists = snapshot.knownTypes.find((t) => t.toLowerCase() === r.type.toLowerCase());
        if (exists)
          out.push(
            finding(
              'types',
              'not-in-snapshot',
              r.typeLoc,
              `resource ${r.symbol}: ${r.type} exists but is not in infra/.types/bicep-types.json: run node tools/bicep-check/refresh-types.mjs`,
            ),
          );
        else {
          const near = suggest(r.type, snapshot.knownTypes);
          out.push(
            finding(
              'types',
              'unknown-type',
              r.typeLoc,
              `resource ${r.symbol}: unknown resource type '${r.type}'${near ? ` (did you mean '${near}'?)` : ''}`,
            ),
          );
        }
        continue;
      }
      const { key, entry } = found;
      if (!entry.apiVersions.includes(r.apiVersion)) {
        const recent = entry.apiVersions
          .filter((v) => !v.includes('preview'))
          .slice(-4)
          .join(', ');
        out.push(
          finding(
            'types',
            'unknown-api-version',
            r.typeLoc,
            `resource ${r.symbol}: ${key} has no apiVersion '${r.apiVersion}' (recent stable: ${recent})`,
          ),
        );
        continue;
      }
      const schema = entry.schemas[r.apiVersion];
      if (!schema) {
        out.push(
          finding(
            'types',
            'not-in-snapshot',
            r.typeLoc,
            `resource ${r.symbol}: ${key}@${r.apiVersion} is not in infra/.types/bicep-types.json: run node tools/bicep-check/refresh-types.mjs`,
          ),
        );
        continue;
      }
      // Scope: a resource without `scope:` deploys at the file's target scope.
      const hasScope = r.body.kind === 'object' && r.body.props.some((p) => p.key === 'scope');
      const bit = SCOPE_BITS[f.targetScope] ?? 8;
      if (!hasScope && !r.existing && schema.scopes !== 0 && (schema.scopes & bit) === 0)
        out.push(
          finding(
            'types',
            'wrong-scope',
            r.typeLoc,
            `resource ${r.symbol}: ${key} cannot be deployed at ${f.targetScope} scope (targetScope of ${f.file})`,
          ),
        );
      const ctx: Ctx = { schema, out };
      if (r.body.kind !== 'object') continue;
      if (r.existing) {
        for (const p of r.body.props)
          if (!['name', 'parent', 'scope'].includes(p.key))
            out.push(
              finding(
                'types',
                'unknown-property',
                p.keyLoc,
                `existing resource ${r.symbol}: only name, parent and scope may be given, not '${p.key}'`,
              ),
            );
        continue;
      }
      checkValue(ctx, r.body, schema.body, r.symbol, true);
    }
  }
  return out;
}

function literalKind(v: Value): 'string' | 'number' | 'bool' | 'null' | 'object' | 'array' | undefined {
  switch (v.kind) {
    case 'string':
    case 'interp':
      return 'string';
    case 'number':
      return 'number';
    case 'bool':
      return 'bool';
    case 'null':
      return 'null';
    case 'object':
      return 'object';
    case 'array':
    case 'for':
      return 'array';
    default:
      return undefined;
  }
}

/** Whether the value can be of this type, without reporting (used to pick a union member). */
function accepts(ctx: Ctx, v: Value, t: number): boolean {
  const probe: Ctx = { schema: ctx.schema, out: [] };
  checkValue(probe, v, t, '', false);
  return probe.out.length === 0;
}

function describe(ctx: Ctx, t: number): string {
  const n = ctx.schema.types[t]!;
  switch (n.$type) {
    case 'StringLiteralType':
      return `'${n.value}'`;
    case 'UnionType':
      return (n.elements as number[]).map((e) => describe(ctx, e)).join(' | ');
    case 'ObjectType':
      return `object${n.name ? ` (${n.name})` : ''}`;
    case 'ArrayType':
      return `array`;
    case 'StringType':
      return 'string';
    case 'IntegerType':
      return 'int';
    case 'BooleanType':
      return 'bool';
    default:
      return n.$type.replace(/Type$/, '').toLowerCase();
  }
}

function checkValue(ctx: Ctx, v: Value, t: number, path: string, top: boolean): void {
  const n = ctx.schema.types[t];
  if (!n) return;
  if (v.kind === 'ternary') {
    checkValue(ctx, v.then, t, path, top);
    checkValue(ctx, v.else, t, path, top);
    return;
  }
  const kind = literalKind(v);
  if (!kind) return; // an expression: its type is not known offline
  const mismatch = (): void => {
    ctx.out.push(
      finding(
        'types',
        'type-mismatch',
        v.loc,
        `${path}: expected ${describe(ctx, t)}, got ${kind === 'string' && v.kind === 'string' ? `'${v.value}'` : kind}`,
      ),
    );
  };
  switch (n.$type) {
    case 'AnyType':
      return;
    case 'NullType':
      if (kind !== 'null') mismatch();
      return;
    case 'BooleanType':
      if (kind !== 'bool') mismatch();
      return;
    case 'IntegerType':
      if (kind !== 'number') return mismatch();
      if (v.kind === 'number' && ((n.minValue != null && v.value < n.minValue) || (n.maxValue != null && v.value > n.maxValue)))
        ctx.out.push(finding('types', 'out-of-range', v.loc, `${path}: ${v.value} is outside [${n.minValue ?? ''}, ${n.maxValue ?? ''}]`));
      return;
    case 'StringType':
      if (kind !== 'string') return mismatch();
      if (v.kind === 'string') {
        if ((n.minLength != null && v.value.length < n.minLength) || (n.maxLength != null && v.value.length > n.maxLength))
          ctx.out.push(
            finding('types', 'out-of-range', v.loc, `${path}: '${v.value}' length must be ${n.minLength ?? 0}-${n.maxLength ?? '∞'}`),
          );
        if (n.pattern) {
          let re: RegExp | undefined;
          try {
            re = new RegExp(n.pattern);
          } catch {
            re = undefined;
          }
          if (re && !re.test(v.value))
            ctx.out.push(finding('types', 'pattern', v.loc, `${path}: '${v.value}' does not match ${n.pattern}`));
        }
      }
      return;
    case 'StringLiteralType':
      if (kind !== 'string') return mismatch();
      if (v.kind === 'string' && v.value !== n.value)
        ctx.out.push(finding('types', 'invalid-value', v.loc, `${path}: '${v.value}' is not allowed, expected '${n.value}'`));
      return;
    case 'UnionType': {
      const elements = n.elements as number[];
      if (elements.some((e) => accepts(ctx, v, e))) {
        // An open enum ('A' | 'B' | string) takes any string, as in Bicep; a value one or two edits away from a
        // known one is almost certainly a typo of it (TLS12 for TLS1_2).
        if (v.kind === 'string') {
          const literals = elements
            .map((e) => ctx.schema.types[e]!)
            .filter((x) => x.$type === 'StringLiteralType')
            .map((x) => x.value!);
          if (literals.length && !literals.includes(v.value)) {
            const scored = literals.map((l) => ({ l, d: distance(l.toLowerCase(), v.value.toLowerCase()) })).sort((a, b) => a.d - b.d);
            const near = scored.find((x) => x.d <= 2 && x.l.toLowerCase() !== v.value.toLowerCase())?.l;
            if (near)
              ctx.out.push(
                finding('types', 'suspicious-value', v.loc, `${path}: '${v.value}' is not a known value (did you mean '${near}'?)`),
              );
          }
        }
        return;
      }
      if (kind === 'string' || kind === 'number' || kind === 'bool' || kind === 'null') {
        const literal = v.kind === 'string' ? `'${v.value}'` : kind;
        ctx.out.push(finding('types', 'invalid-value', v.loc, `${path}: ${literal} is not allowed, expected ${describe(ctx, t)}`));
        return;
      }
      // An object or array no member accepts: report against the closest member.
      let best: Finding[] | undefined;
      for (const e of elements) {
        const probe: Ctx = { schema: ctx.schema, out: [] };
        checkValue(probe, v, e, path, top);
        if (!best || probe.out.length < best.length) best = probe.out;
      }
      ctx.out.push(...(best ?? []));
      return;
    }
    case 'ArrayType':
      if (kind !== 'array') return mismatch();
      if (v.kind === 'array') v.items.forEach((item, i) => checkValue(ctx, item, n.itemType!, `${path}[${i}]`, false));
      else if (v.kind === 'for') checkValue(ctx, v.body, n.itemType!, `${path}[]`, false);
      return;
    case 'ObjectType':
      if (kind !== 'object' || v.kind !== 'object') return mismatch();
      checkObject(ctx, v.props, n.properties ?? {}, n.additionalProperties, path, top, v.loc);
      return;
    case 'DiscriminatedObjectType': {
      if (kind !== 'object' || v.kind !== 'object') return mismatch();
      const elements = n.elements as Record<string, number>;
      const disc = v.props.find((p) => p.key === n.discriminator);
      if (disc && disc.value.kind === 'string') {
        const el = elements[disc.value.value];
        if (el === undefined) {
          ctx.out.push(
            finding(
              'types',
              'invalid-value',
              disc.value.loc,
              `${path}.${n.discriminator}: '${disc.value.value}' is not one of ${Object.keys(elements)
                .map((k) => `'${k}'`)
                .join(', ')}`,
            ),
          );
          return;
        }
        const elNode = ctx.schema.types[el]!;
        checkObject(
          ctx,
          v.props,
          { ...(n.baseProperties ?? {}), ...(elNode.properties ?? {}) },
          elNode.additionalProperties,
          path,
          top,
          v.loc,
        );
        return;
      }
      // Discriminator not a literal: any element's properties are acceptable.
      const all: Record<string, { type: number; flags: number }> = { ...(n.baseProperties ?? {}) };
      for (const el of Object.values(elements)) Object.assign(all, ctx.schema.types[el]?.properties ?? {});
      checkObject(ctx, v.props, all, undefined, path, top, v.loc, false);
      return;
    }
    default:
      return;
  }
}

function checkObject(
  ctx: Ctx,
  props: Prop[],
  properties: Record<string, { type: number; flags: number }>,
  additional: number | undefined,
  path: string,
  top: boolean,
  loc: Value['loc'],
  checkRequired = true,
): void {
  const seen = new Set<string>();
  for (const p of props) {
    seen.add(p.key);
    const where = path ? `${path}.${p.key}` : p.key;
    if (top && RESOURCE_KEYWORDS.has(p.key)) continue;
    const def = properties[p.key];
    if (!def) {
      const other = Object.keys(properties).find((k) => k.toLowerCase() === p.key.toLowerCase());
      if (other) {
        ctx.out.push(finding('types', 'property-case', p.keyLoc, `${where}: the property is spelled '${other}'`));
        checkValue(ctx, p.value, properties[other]!.type, where, false);
      } else if (additional !== undefined) {
        checkValue(ctx, p.value, additional, where, false);
      } else {
        const near = suggest(p.key, Object.keys(properties));
        ctx.out.push(
          finding('types', 'unknown-property', p.keyLoc, `${where}: no such property${near ? ` (did you mean '${near}'?)` : ''}`),
        );
      }
      continue;
    }
    if (def.flags & FLAG_READONLY) {
      ctx.out.push(finding('types', 'read-only-property', p.keyLoc, `${where}: read-only, cannot be set`));
      continue;
    }
    checkValue(ctx, p.value, def.type, where, false);
  }
  if (!checkRequired) return;
  for (const [k, def] of Object.entries(properties)) {
    if (!(def.flags & FLAG_REQUIRED) || def.flags & FLAG_READONLY || seen.has(k)) continue;
    if (top && k === 'name') continue;
    ctx.out.push(finding('types', 'missing-required', loc, `${path ? `${path}: ` : ''}required property '${k}' is missing`));
  }
}

function checkGraphResource(f: BicepFile, r: ResourceDecl, out: Finding[]): void {
  const key = `${r.type}@${r.apiVersion}`;
  const spec = Object.entries(GRAPH_TYPES).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
  if (!spec) {
    out.push(
      finding(
        'types',
        'unknown-type',
        r.typeLoc,
        `resource ${r.symbol}: '${key}' is not a Microsoft Graph Bicep type this check knows (${Object.keys(GRAPH_TYPES).join(', ')})`,
      ),
    );
    return;
  }
  if (!f.extensions.some((e) => e.alias === 'microsoftGraphV1' || e.alias.includes('microsoftgraph/v1.0')))
    out.push(
      finding(
        'types',
        'missing-extension',
        r.typeLoc,
        `resource ${r.symbol}: Microsoft.Graph types need 'extension microsoftGraphV1' in ${f.file}`,
      ),
    );
  if (r.body.kind !== 'object') return;
  if (r.existing) {
    const ids = r.body.props.map((p) => p.key);
    if (!ids.some((k) => spec.identifiers.includes(k)))
      out.push(finding('types', 'missing-required', r.body.loc, `existing ${r.symbol}: give one of ${spec.identifiers.join(', ')}`));
    for (const p of r.body.props)
      if (!spec.identifiers.includes(p.key))
        out.push(finding('types', 'unknown-property', p.keyLoc, `existing ${r.symbol}: '${p.key}' is not an identifier of ${r.type}`));
    return;
  }
  checkGraphObject(r.body.props, spec, r.symbol, r.body.loc, out, true);
}

function checkGraphObject(props: Prop[], spec: GraphObject, path: string, loc: Value['loc'], out: Finding[], top: boolean): void {
  for (const p of props) {
    if (top && RESOURCE_KEYWORDS.has(p.key)) continue;
    const where = `${path}.${p.key}`;
    if (spec.readOnly?.includes(p.key)) {
      out.push(finding('types', 'read-only-property', p.keyLoc, `${where}: read-only, cannot be set`));
      continue;
    }
    const nested = spec.objects?.[p.key];
    if (!spec.properties.includes(p.key) && !nested) {
      const near = suggest(p.key, [...spec.properties, ...Object.keys(spec.objects ?? {})]);
      out.push(finding('types', 'unknown-property', p.keyLoc, `${where}: no such property${near ? ` (did you mean '${near}'?)` : ''}`));
      continue;
    }
    if (nested) {
      const items = p.value.kind === 'array' ? p.value.items : [p.value];
      for (const it of items) if (it.kind === 'object') checkGraphObject(it.props, nested, where, it.loc, out, false);
    }
  }
  for (const req of spec.required ?? [])
    if (!props.some((p) => p.key === req))
      out.push(finding('types', 'missing-required', loc, `${path}: required property '${req}' is missing`));
}
