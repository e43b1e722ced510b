#!/usr/bin/env node
// Refreshes infra/.types/bicep-types.json: a pinned, pruned snapshot of Azure's resource type data (the data
// the Bicep compiler type-checks with, "bicep-types-az") for exactly the `Type@apiVersion` pairs the Bicep
// under infra/ declares, plus the list of every apiVersion known for those types.
//
// Where the data comes from: the npm package @azure/mcp-linux-x64 (the Azure MCP server) embeds the
// Azure.Bicep.Types.Az assembly, whose manifest resources are `index.json` (every type@apiVersion → file)
// and one deflated `types.json` per provider/apiVersion. This script downloads the package tarball with
// `npm pack` (no install, no install scripts, any OS), reads the assembly — loose in dist/ (0.5.x), or
// inside the single-file `azmcp` bundle (later versions) — with a minimal PE/ECMA-335 reader, and writes
// the snapshot. It never runs the package's binary.
//
// Later builds (1.x, 2.x) embed a pruned "Compact" type assembly that lacks some providers (for instance
// Microsoft.Insights/scheduledQueryRules and actionGroups); 0.5.13 still ships the complete
// Azure.Bicep.Types.Az.dll. By default both are read: the newest package first, the complete one fills the
// gaps. The apiVersion list is the union of the sources' indexes.
//
// Usage:
//   node tools/bicep-check/refresh-types.mjs                 # default sources, write the snapshot
//   node tools/bicep-check/refresh-types.mjs --check         # exit 1 if the snapshot is out of date
//   node tools/bicep-check/refresh-types.mjs --package-version 2.0.5 --package-version 0.5.13
//   node tools/bicep-check/refresh-types.mjs --from /path/to/Azure.Bicep.Types.Az.dll
// Options: --infra <dir> (default infra), --out <file> (default infra/.types/bicep-types.json),
//          --cache <dir> (default $TMPDIR/azmcp-types), --help
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@azure/mcp-linux-x64';
const DEFAULT_VERSIONS = ['latest', '0.5.13'];
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage() {
  return fs
    .readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('//'))
    .map((l) => l.replace(/^\/\/ ?/, ''))
    .join('\n');
}

function parseArgs(argv) {
  const opts = {
    versions: [],
    from: [],
    infra: path.join(ROOT, 'infra'),
    out: null,
    cache: path.join(os.tmpdir(), 'azmcp-types'),
    check: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (a === '--package-version') opts.versions.push(next());
    else if (a === '--from') opts.from.push(path.resolve(next()));
    else if (a === '--infra') opts.infra = path.resolve(next());
    else if (a === '--out') opts.out = path.resolve(next());
    else if (a === '--cache') opts.cache = path.resolve(next());
    else if (a === '--check') opts.check = true;
    else throw new Error(`unknown argument ${a} (see --help)`);
  }
  if (opts.versions.length === 0 && opts.from.length === 0) opts.versions = DEFAULT_VERSIONS;
  opts.out ??= path.join(opts.infra, '.types', 'bicep-types.json');
  return opts;
}

// ---------------------------------------------------------------------------------------------------------
// Getting the package and the type assembly out of it.

function fetchPackage(version, cache) {
  const resolved = execFileSync('npm', ['view', `${PACKAGE}@${version}`, 'version'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()
    .replace(/^.*'(.+)'.*$/, '$1');
  const dir = path.join(cache, resolved);
  const done = path.join(dir, '.extracted');
  if (!fs.existsSync(done)) {
    fs.mkdirSync(dir, { recursive: true });
    console.error(`Downloading ${PACKAGE}@${resolved} (npm pack, ~60-140 MB) ...`);
    const out = execFileSync('npm', ['pack', `${PACKAGE}@${resolved}`, '--pack-destination', dir, '--json'], { encoding: 'utf8' });
    const tgz = path.join(dir, JSON.parse(out)[0].filename);
    execFileSync('tar', ['-xzf', tgz, '-C', dir]);
    fs.rmSync(tgz);
    fs.writeFileSync(done, new Date().toISOString());
  }
  return { version: resolved, dir: path.join(dir, 'package') };
}

// A .NET single-file bundle: the manifest is at the offset stored just before the bundle signature.
const BUNDLE_SIGNATURE = Buffer.from('8b1202b96a612038727b930214d7a03213f5b9e6efae3318ee3b2dce24b36aae', 'hex');

function bundleEntries(buf) {
  const at = buf.indexOf(BUNDLE_SIGNATURE);
  if (at < 8) return null;
  let p = Number(buf.readBigInt64LE(at - 8));
  const major = buf.readUInt32LE(p);
  const count = buf.readInt32LE(p + 8);
  p += 12;
  const str = () => {
    let len = 0;
    let shift = 0;
    let b;
    do {
      b = buf[p++];
      len |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    const s = buf.toString('utf8', p, p + len);
    p += len;
    return s;
  };
  str(); // bundle id
  if (major >= 2) p += 8 * 4 + 8; // deps.json and runtimeconfig.json locations, flags
  const entries = [];
  for (let i = 0; i < count; i++) {
    const offset = Number(buf.readBigInt64LE(p));
    const size = Number(buf.readBigInt64LE(p + 8));
    p += 16;
    let compressed = 0;
    if (major >= 6) {
      compressed = Number(buf.readBigInt64LE(p));
      p += 8;
    }
    p += 1; // file type
    entries.push({ name: str(), offset, size, compressed });
  }
  return entries;
}

function bundleFile(buf, e) {
  if (e.compressed > 0) return zlib.inflateSync(buf.subarray(e.offset, e.offset + e.compressed));
  return buf.subarray(e.offset, e.offset + e.size);
}

function findTypeAssembly(pkgDir) {
  const dist = path.join(pkgDir, 'dist');
  const loose = path.join(dist, 'Azure.Bicep.Types.Az.dll');
  if (fs.existsSync(loose)) return { name: 'Azure.Bicep.Types.Az.dll', bytes: fs.readFileSync(loose) };
  for (const exe of ['azmcp', 'azmcp.exe']) {
    const f = path.join(dist, exe);
    if (!fs.existsSync(f)) continue;
    const buf = fs.readFileSync(f);
    const entries = bundleEntries(buf) ?? [];
    const e = entries.find((x) => x.name === 'Azure.Bicep.Types.Az.dll') ?? entries.find((x) => /AzTypes.*\.dll$/i.test(x.name));
    if (e) return { name: e.name, bytes: bundleFile(buf, e) };
  }
  throw new Error(`no Azure.Bicep.Types.Az assembly found under ${dist}`);
}

// ---------------------------------------------------------------------------------------------------------
// ECMA-335: the ManifestResource table gives each embedded resource's name and offset.

function manifestResources(buf) {
  const pe = buf.readUInt32LE(0x3c);
  const sections = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const dataDirs = opt + (buf.readUInt16LE(opt) === 0x20b ? 112 : 96);
  const secs = [];
  for (let s = 0; s < sections; s++) {
    const o = opt + optSize + s * 40;
    secs.push({ va: buf.readUInt32LE(o + 12), vsize: buf.readUInt32LE(o + 8), raw: buf.readUInt32LE(o + 20) });
  }
  const at = (rva) => {
    const s = secs.find((x) => rva >= x.va && rva < x.va + Math.max(x.vsize, 1));
    if (!s) throw new Error(`RVA ${rva} is in no section`);
    return rva - s.va + s.raw;
  };
  const cli = at(buf.readUInt32LE(dataDirs + 14 * 8));
  const md = at(buf.readUInt32LE(cli + 8));
  const resources = at(buf.readUInt32LE(cli + 24));
  let q = md + 16 + buf.readUInt32LE(md + 12) + 2;
  const streamCount = buf.readUInt16LE(q);
  q += 2;
  const streams = {};
  for (let s = 0; s < streamCount; s++) {
    const off = buf.readUInt32LE(q);
    q += 8;
    let e = q;
    while (buf[e]) e++;
    streams[buf.toString('ascii', q, e)] = md + off;
    q = (e + 4) & ~3;
  }
  const t = streams['#~'] ?? streams['#-'];
  const heapSizes = buf[t + 6];
  const valid = buf.readBigUInt64LE(t + 8);
  let r = t + 24;
  const rows = [];
  for (let k = 0; k < 64; k++) {
    if ((valid >> BigInt(k)) & 1n) {
      rows[k] = buf.readUInt32LE(r);
      r += 4;
    } else rows[k] = 0;
  }
  const S = heapSizes & 1 ? 4 : 2;
  const G = heapSizes & 2 ? 4 : 2;
  const B = heapSizes & 4 ? 4 : 2;
  const idx = (tbl) => (rows[tbl] < 65536 ? 2 : 4);
  const coded = (tables, bits) => (Math.max(...tables.map((x) => rows[x] ?? 0)) < 1 << (16 - bits) ? 2 : 4);
  const TypeDefOrRef = coded([2, 1, 27], 2);
  const HasConstant = coded([4, 8, 23], 2);
  const HasCustomAttribute = coded([6, 4, 1, 2, 8, 9, 10, 0, 14, 23, 20, 17, 26, 27, 32, 35, 38, 39, 40, 42, 44, 43], 5);
  const HasFieldMarshal = coded([4, 8], 1);
  const HasDeclSecurity = coded([2, 6, 32], 2);
  const MemberRefParent = coded([2, 1, 26, 6, 27], 3);
  const HasSemantics = coded([20, 23], 1);
  const MethodDefOrRef = coded([6, 10], 1);
  const MemberForwarded = coded([4, 6], 1);
  const Implementation = coded([38, 35, 39], 2);
  const CustomAttributeType = coded([6, 10], 3);
  const ResolutionScope = coded([0, 26, 35, 1], 2);
  // Row sizes of the tables that precede ManifestResource (0x28).
  const size = {
    0: 2 + S + G + G + G,
    1: ResolutionScope + S + S,
    2: 4 + S + S + TypeDefOrRef + idx(4) + idx(6),
    3: idx(4),
    4: 2 + S + B,
    5: idx(6),
    6: 4 + 2 + 2 + S + B + idx(8),
    7: idx(8),
    8: 2 + 2 + S,
    9: idx(2) + TypeDefOrRef,
    10: MemberRefParent + S + B,
    11: 2 + HasConstant + B,
    12: HasCustomAttribute + CustomAttributeType + B,
    13: HasFieldMarshal + B,
    14: 2 + HasDeclSecurity + B,
    15: 2 + 4 + idx(2),
    16: 4 + idx(4),
    17: B,
    18: idx(2) + idx(20),
    19: idx(20),
    20: 2 + S + TypeDefOrRef,
    21: idx(2) + idx(23),
    22: idx(23),
    23: 2 + S + B,
    24: 2 + idx(6) + HasSemantics,
    25: idx(2) + MethodDefOrRef + MethodDefOrRef,
    26: S,
    27: B,
    28: 2 + MemberForwarded + S + idx(26),
    29: 4 + idx(4),
    30: 4 + 4,
    31: 4,
    32: 4 + 2 + 2 + 2 + 2 + 4 + B + S + S,
    33: 4,
    34: 4 + 4 + 4,
    35: 2 + 2 + 2 + 2 + 4 + B + S + S + B,
    36: 4 + idx(35),
    37: 4 + 4 + 4 + idx(35),
    38: 4 + B + S + B,
    39: 4 + 4 + S + S + Implementation,
  };
  let p = r;
  for (let k = 0; k < 0x28; k++) p += rows[k] * (size[k] ?? 0);
  const strings = streams['#Strings'];
  const out = new Map();
  for (let k = 0; k < rows[0x28]; k++) {
    const offset = buf.readUInt32LE(p);
    const nameAt = S === 2 ? buf.readUInt16LE(p + 8) : buf.readUInt32LE(p + 8);
    p += 4 + 4 + S + Implementation;
    let e = strings + nameAt;
    while (buf[e]) e++;
    const name = buf.toString('utf8', strings + nameAt, e);
    const len = buf.readUInt32LE(resources + offset);
    out.set(name, buf.subarray(resources + offset + 4, resources + offset + 4 + len));
  }
  return out;
}

function openSource(label, assembly) {
  const res = manifestResources(assembly.bytes);
  const read = (name) => {
    const raw = res.get(`${name}.deflated`) ?? res.get(name);
    if (!raw) return null;
    return JSON.parse((res.has(`${name}.deflated`) ? zlib.inflateRawSync(raw) : raw).toString('utf8'));
  };
  const index = read('index.json');
  if (!index?.resources) throw new Error(`${label}: no index.json in ${assembly.name}`);
  const files = new Map();
  return {
    label,
    assembly: assembly.name,
    index,
    indexEntries: Object.keys(index.resources).length,
    types(file) {
      if (!files.has(file)) files.set(file, read(file));
      return files.get(file);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// What the Bicep declares.

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const f = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(f));
    else if (e.name.endsWith('.bicep')) out.push(f);
  }
  return out;
}

function declaredTypes(infraDir) {
  const found = new Set();
  for (const f of walk(infraDir)) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*resource\s+\w+\s+'([^'@]+)@([^']+)'/gm)) {
      if (m[1].toLowerCase().startsWith('microsoft.graph/')) continue; // Bicep extension types, not in Az data
      found.add(`${m[1]}@${m[2]}`);
    }
  }
  return [...found].sort();
}

// ---------------------------------------------------------------------------------------------------------
// Pruning: the closure of type nodes reachable from a resource's body, renumbered, without descriptions.

const BUILTIN = {
  1: 'AnyType',
  2: 'NullType',
  3: 'BooleanType',
  4: 'IntegerType',
  5: 'StringType',
  6: 'ObjectType',
  7: 'ArrayType',
  8: 'AnyType',
};

function prune(types, bodyIndex) {
  const order = new Map();
  const out = [];
  const refOf = (r) => Number(String(r.$ref).replace(/^#\//, ''));
  const visit = (i) => {
    if (order.has(i)) return order.get(i);
    const at = out.length;
    order.set(i, at);
    out.push(null);
    const t = types[i];
    let n;
    switch (t.$type) {
      case 'ObjectType': {
        n = { $type: 'ObjectType', name: t.name, properties: {} };
        for (const [k, v] of Object.entries(t.properties ?? {})) n.properties[k] = { type: visit(refOf(v.type)), flags: v.flags ?? 0 };
        if (t.additionalProperties) n.additionalProperties = visit(refOf(t.additionalProperties));
        if (t.sensitive) n.sensitive = true;
        break;
      }
      case 'DiscriminatedObjectType': {
        n = { $type: 'DiscriminatedObjectType', name: t.name, discriminator: t.discriminator, baseProperties: {}, elements: {} };
        for (const [k, v] of Object.entries(t.baseProperties ?? {}))
          n.baseProperties[k] = { type: visit(refOf(v.type)), flags: v.flags ?? 0 };
        for (const [k, v] of Object.entries(t.elements ?? {})) n.elements[k] = visit(refOf(v));
        break;
      }
      case 'ArrayType':
        n = { $type: 'ArrayType', itemType: visit(refOf(t.itemType)) };
        if (t.minLength != null) n.minLength = t.minLength;
        if (t.maxLength != null) n.maxLength = t.maxLength;
        break;
      case 'UnionType':
        n = { $type: 'UnionType', elements: t.elements.map((e) => visit(refOf(e))) };
        break;
      case 'StringLiteralType':
        n = { $type: 'StringLiteralType', value: t.value };
        break;
      case 'StringType':
        n = { $type: 'StringType' };
        for (const k of ['minLength', 'maxLength', 'pattern', 'sensitive']) if (t[k] != null) n[k] = t[k];
        break;
      case 'IntegerType':
        n = { $type: 'IntegerType' };
        for (const k of ['minValue', 'maxValue']) if (t[k] != null) n[k] = t[k];
        break;
      case 'BuiltInType':
        n = { $type: BUILTIN[t.kind] ?? 'AnyType' };
        break;
      case 'BooleanType':
      case 'AnyType':
      case 'NullType':
        n = { $type: t.$type };
        break;
      default:
        n = { $type: 'AnyType', was: t.$type };
    }
    out[at] = n;
    return at;
  };
  const root = visit(bodyIndex);
  return { root, types: out };
}

function snapshot(sources, wanted) {
  const resourceTypes = {};
  const problems = [];
  for (const key of wanted) {
    const [type, version] = key.split('@');
    const lower = type.toLowerCase();
    const versions = new Set();
    for (const s of sources)
      for (const k of Object.keys(s.index.resources)) if (k.split('@')[0].toLowerCase() === lower) versions.add(k.split('@')[1]);
    const entry = (resourceTypes[type] ??= { apiVersions: [...versions].sort(), schemas: {} });
    let done = false;
    for (const [si, s] of sources.entries()) {
      const k = Object.keys(s.index.resources).find((x) => x.toLowerCase() === key.toLowerCase());
      if (!k) continue;
      const [file, at] = s.index.resources[k].$ref.split('#/');
      const types = s.types(file);
      if (!types) continue; // this build of the assembly lacks the file
      const rt = types[Number(at)];
      const { root, types: pruned } = prune(types, Number(String(rt.body.$ref).replace(/^#\//, '')));
      // scopeType (older data) or writableScopes (newer): 0 = any, 1 tenant, 2 management group, 4 subscription, 8 resource group, 16 extension.
      const scopes = rt.writableScopes ?? rt.scopeType ?? 0;
      entry.schemas[version] = { source: si, name: rt.name, scopes, flags: rt.flags ?? 0, body: root, types: pruned };
      done = true;
      break;
    }
    if (!done)
      problems.push(
        versions.has(version) ? `${key}: apiVersion exists but no source has its schema` : `${key}: no such type/apiVersion in any source`,
      );
  }
  return { resourceTypes, problems };
}

function stable(value) {
  // One type node per line keeps the file diff-friendly and small.
  const lines = ['{'];
  const top = Object.entries(value);
  top.forEach(([k, v], i) => {
    const comma = i < top.length - 1 ? ',' : '';
    if (k !== 'resourceTypes') {
      lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
      return;
    }
    lines.push(`  "resourceTypes": {`);
    const rts = Object.entries(v).sort(([a], [b]) => a.localeCompare(b));
    rts.forEach(([type, e], ti) => {
      lines.push(`    ${JSON.stringify(type)}: {`);
      lines.push(`      "apiVersions": ${JSON.stringify(e.apiVersions)},`);
      lines.push(`      "schemas": {`);
      const ss = Object.entries(e.schemas).sort(([a], [b]) => a.localeCompare(b));
      ss.forEach(([ver, s], vi) => {
        const { types, ...head } = s;
        lines.push(`        ${JSON.stringify(ver)}: ${JSON.stringify(head).slice(0, -1)}, "types": [`);
        types.forEach((t, i) => lines.push(`          ${JSON.stringify(t)}${i < types.length - 1 ? ',' : ''}`));
        lines.push(`        ]}${vi < ss.length - 1 ? ',' : ''}`);
      });
      lines.push('      }');
      lines.push(`    }${ti < rts.length - 1 ? ',' : ''}`);
    });
    lines.push(`  }${comma}`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const sources = [];
  for (const v of opts.versions) {
    const pkg = fetchPackage(v, opts.cache);
    const assembly = findTypeAssembly(pkg.dir);
    const src = openSource(`${PACKAGE}@${pkg.version}`, assembly);
    sources.push({ ...src, package: PACKAGE, version: pkg.version });
  }
  for (const f of opts.from) {
    const bytes = fs.readFileSync(f);
    const entries = bundleEntries(bytes);
    const e = entries?.find((x) => /Bicep\.Types\.Az\.dll$|AzTypes.*\.dll$/i.test(x.name));
    const assembly = e ? { name: e.name, bytes: bundleFile(bytes, e) } : { name: path.basename(f), bytes };
    sources.push({ ...openSource(f, assembly), package: null, version: null, file: path.basename(f) });
  }
  const wanted = declaredTypes(opts.infra);
  const { resourceTypes, problems } = snapshot(sources, wanted);
  // Every resource type name of the namespaces used, so a checker can tell a misspelled type from one
  // that exists but is not in the snapshot.
  const namespaces = new Set(wanted.map((k) => k.split('/')[0].toLowerCase()));
  const known = new Map();
  for (const s of sources)
    for (const k of Object.keys(s.index.resources)) {
      const t = k.split('@')[0];
      if (namespaces.has(t.split('/')[0].toLowerCase()) && !known.has(t.toLowerCase())) known.set(t.toLowerCase(), t);
    }
  const doc = {
    comment:
      'Generated by tools/bicep-check/refresh-types.mjs from Azure resource type data (bicep-types-az) embedded in the npm package @azure/mcp-linux-x64. Pruned to the types and apiVersions infra/ declares; descriptions removed. Do not edit: re-run the script.',
    sources: sources.map((s) => ({
      package: s.package,
      version: s.version,
      file: s.file,
      assembly: s.assembly,
      indexEntries: s.indexEntries,
    })),
    declared: wanted,
    knownTypes: [...known.values()].sort((a, b) => a.localeCompare(b)),
    resourceTypes,
  };
  const text = stable(doc);
  for (const p of problems) console.error(`warning: ${p}`);
  if (opts.check) {
    const current = fs.existsSync(opts.out) ? fs.readFileSync(opts.out, 'utf8') : '';
    if (current !== text) {
      console.error(`${path.relative(ROOT, opts.out)} is out of date: run node tools/bicep-check/refresh-types.mjs`);
      process.exit(1);
    }
    console.error(`${path.relative(ROOT, opts.out)} is up to date.`);
    return;
  }
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, text);
  const n = Object.values(resourceTypes).reduce((a, e) => a + Object.keys(e.schemas).length, 0);
  console.error(
    `Wrote ${path.relative(ROOT, opts.out)}: ${n} schemas of ${wanted.length} declared type@apiVersion pairs, ${(text.length / 1024).toFixed(0)} KiB.`,
  );
  if (problems.length) process.exit(1);
}

try {
  main();
} catch (e) {
  console.error(`refresh-bicep-types: ${e instanceof Error ? e.message : e}`);
  process.exit(2);
}
