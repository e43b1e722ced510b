/**
 * The Bicep files of infra/ as one project: which file calls which module with which parameters, and a
 * tracer that follows a value through variables, parameters (to what the callers pass), module outputs and
 * resource properties to where it comes from — e.g. an app setting's value to
 * `Microsoft.ManagedIdentity/userAssignedIdentities:properties.clientId`.
 */
import path from 'node:path';
import type { BicepFile, ModuleDecl, ParamDecl, ResourceDecl, Value } from './parse.js';

export interface CallSite {
  caller: BicepFile;
  module: ModuleDecl;
  /** The value passed for each parameter. */
  params: Map<string, Value>;
}

export function prop(v: Value | undefined, dotted: string): Value | undefined {
  let cur = v;
  for (const k of dotted.split('.')) {
    if (!cur || cur.kind !== 'object') return undefined;
    cur = cur.props.find((p) => p.key === k)?.value;
  }
  return cur;
}

export function valueText(v: Value | undefined): string {
  if (!v) return '';
  switch (v.kind) {
    case 'string':
      return `'${v.value}'`;
    case 'interp':
    case 'expr':
    case 'for':
      return v.text;
    case 'number':
      return String(v.value);
    case 'bool':
      return String(v.value);
    case 'null':
      return 'null';
    case 'ternary':
      return `${v.cond} ? ${valueText(v.then)} : ${valueText(v.else)}`;
    default:
      return `<${v.kind}>`;
  }
}

export class Project {
  readonly files: Map<string, BicepFile>;
  readonly callSites = new Map<string, CallSite[]>();

  constructor(files: BicepFile[]) {
    this.files = new Map(files.map((f) => [f.file, f]));
    for (const f of files)
      for (const m of f.modules) {
        const target = this.modulePath(f, m);
        if (!target) continue;
        const params = new Map<string, Value>();
        const p = prop(m.body, 'params');
        if (p?.kind === 'object') for (const x of p.props) params.set(x.key, x.value);
        const list = this.callSites.get(target) ?? [];
        list.push({ caller: f, module: m, params });
        this.callSites.set(target, list);
      }
  }

  /** The project-relative path a module declaration points to, if it is a local file. */
  modulePath(from: BicepFile, m: ModuleDecl): string | undefined {
    if (/^(br|ts)[:/]/.test(m.path)) return undefined;
    return path.posix.normalize(path.posix.join(path.posix.dirname(from.file), m.path));
  }

  /** Files no other file calls (main.bicep; resources.bicep is called by main). */
  entryFiles(): BicepFile[] {
    return [...this.files.values()].filter((f) => !this.callSites.has(f.file));
  }

  resource(file: BicepFile, symbol: string): ResourceDecl | undefined {
    return file.resources.find((r) => r.symbol === symbol);
  }

  allResources(): Array<{ file: BicepFile; r: ResourceDecl }> {
    return [...this.files.values()].flatMap((file) => file.resources.map((r) => ({ file, r })));
  }

  /**
   * Where a value comes from, as a set of endpoints:
   *   `Type:path [file#symbol]` (a resource's property, e.g.
   *   `Microsoft.KeyVault/vaults:properties.vaultUri [modules/keyvault-access.bicep#vault]`, or `Type:id [...]`),
   *   `'literal'`, `interp:<text with ${...} resolved where possible>`, `expr:<text>`, `param:<file>:<name>`
   *   (an entry file's parameter; its default follows as `default:` when it has one).
   */
  trace(file: BicepFile, v: Value | string | undefined, depth = 0): string[] {
    if (v === undefined) return ['undefined'];
    if (depth > 25) return ['expr:<too deep>'];
    if (typeof v !== 'string') {
      switch (v.kind) {
        case 'string':
          return [`'${v.value}'`];
        case 'number':
        case 'bool':
          return [String(v.value)];
        case 'interp':
          return [`interp:${this.render(file, v, depth)}`];
        case 'ternary':
          return [...this.trace(file, v.then, depth + 1), ...this.trace(file, v.else, depth + 1)];
        case 'expr':
          return this.trace(file, v.text, depth + 1);
        default:
          return [`${v.kind}`];
      }
    }
    const text = v.trim();
    const ident = /^([A-Za-z_]\w*)$/.exec(text);
    if (ident) {
      const name = ident[1]!;
      const variable = file.vars.get(name);
      if (variable) return this.trace(file, variable.value, depth + 1);
      const param = file.params.get(name);
      if (param) return this.traceParam(file, param, depth);
      return [`expr:${text}`];
    }
    // `m!.outputs.x`: the non-null assertion on a conditional module changes nothing about where the value comes from.
    const out = /^([A-Za-z_]\w*)!?\.outputs\.([A-Za-z_]\w*)$/.exec(text);
    if (out) {
      const m = file.modules.find((x) => x.symbol === out[1]);
      const target = m && this.modulePath(file, m);
      const mf = target ? this.files.get(target) : undefined;
      const o = mf?.outputs.find((x) => x.name === out[2]);
      if (mf && o) return this.trace(mf, o.value, depth + 1);
      return [`expr:${text}`];
    }
    const res = /^([A-Za-z_]\w*)\.((?:properties\.)?[A-Za-z_][\w.]*)$/.exec(text);
    if (res) {
      const r = this.resource(file, res[1]!);
      if (r) return [`${r.type}:${res[2]} [${file.file}#${r.symbol}]`];
    }
    return [`expr:${text}`];
  }

  traceParam(file: BicepFile, param: ParamDecl, depth = 0): string[] {
    const sites = this.callSites.get(file.file);
    if (!sites || sites.length === 0)
      return [
        `param:${file.file}:${param.name}`,
        ...(param.default ? this.trace(file, param.default, depth + 1).map((d) => `default:${d}`) : []),
      ];
    const out: string[] = [];
    for (const s of sites) {
      const passed = s.params.get(param.name);
      if (passed) out.push(...this.trace(s.caller, passed, depth + 1));
      else if (param.default) out.push(...this.trace(file, param.default, depth + 1));
      else out.push('undefined');
    }
    return out;
  }

  /**
   * The chain of parameters a parameter is fed from, up to an entry file: [this param, the caller's param it
   * is passed, ...]. Stops at literals/expressions.
   */
  paramChain(file: BicepFile, name: string): Array<{ file: BicepFile; param: ParamDecl; passed?: Value }> {
    const chain: Array<{ file: BicepFile; param: ParamDecl; passed?: Value }> = [];
    let cur: { file: BicepFile; name: string } | undefined = { file, name };
    for (let i = 0; cur && i < 10; i++) {
      const param = cur.file.params.get(cur.name);
      if (!param) break;
      const sites: CallSite[] = this.callSites.get(cur.file.file) ?? [];
      const site: CallSite | undefined = sites[0];
      const passed: Value | undefined = site?.params.get(cur.name);
      chain.push({ file: cur.file, param, passed });
      if (site && passed?.kind === 'expr' && /^[A-Za-z_]\w*$/.test(passed.text) && site.caller.params.has(passed.text))
        cur = { file: site.caller, name: passed.text };
      else cur = undefined;
    }
    return chain;
  }

  /** The text of an interpolated string with `${param}` / `${var}` replaced by their literal defaults. */
  render(file: BicepFile, v: Value, depth = 0): string {
    if (v.kind === 'string') return v.value;
    if (v.kind !== 'interp') return valueText(v);
    return v.parts
      .map((p) => {
        if (typeof p === 'string') return p;
        const t = this.trace(file, p.expr, depth + 1);
        const lit = t.map((x) => x.replace(/^default:/, '')).find((x) => /^'.*'$|^\d+$|^(true|false)$/.test(x));
        return lit ? lit.replace(/^'|'$/g, '') : `\${${p.expr}}`;
      })
      .join('');
  }

  /** The literal default a parameter ends up with at the entry file (following the chain). */
  effectiveDefault(file: BicepFile, name: string): Value | undefined {
    const chain = this.paramChain(file, name);
    const last = chain.at(-1);
    if (!last) return undefined;
    if (last.passed && last.passed.kind !== 'expr') return last.passed;
    return last.param.default;
  }
}
