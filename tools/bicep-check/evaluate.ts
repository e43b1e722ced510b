/**
 * A small evaluator of the Bicep expressions in infra/, so that a check can ask "what does this app setting
 * become when deployed to cloud X with these parameters?" and compare the answer with a documented fact,
 * instead of matching the expression's text. It evaluates the files' own syntax trees (tree-sitter-bicep):
 * literals, interpolated strings, objects, arrays, variables, parameters (the value a module's caller
 * passes, else the default; the entry file's from the deployment, else the default), module outputs,
 * ternaries, logical/comparison/arithmetic operators, member and index access, environment() and the string
 * and object functions listed in FUNCTIONS below.
 *
 * What only the deployment knows (a resource's properties, uniqueString(), resourceGroup(), ...) evaluates to an
 * Opaque value that spreads through any expression using it. ARM's semantics that matter here are kept:
 * the conditional operator evaluates only the branch it takes ("Logical functions for ARM templates", if():
 * https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-logical#if), and
 * reading a property an object does not have is an error that fails the deployment.
 *
 * tree-sitter-bicep 1.1.0 parses `c ? a : b[i]` as `(c ? a : b)[i]` (and the same for `.x`), unlike the
 * Bicep compiler: such an unparenthesized ternary under an index or member access is refused, so a file never
 * evaluates differently here than in Azure.
 */
import type { Node } from 'web-tree-sitter';
import type { AzureEnvironment } from './clouds.js';
import { appSettingItems } from './app-settings.js';
import type { BicepFile, Loc, Value } from './parse.js';
import { Project, prop } from './project.js';

/** A value decided at deployment time (a resource property, uniqueString(), ...): described, not computed. */
export class Opaque {
  constructor(readonly text: string) {}
}

export type BicepValue = string | number | boolean | null | Opaque | BicepValue[] | { [key: string]: BicepValue };

export class EvaluationError extends Error {
  constructor(
    message: string,
    readonly loc?: Loc,
  ) {
    super(loc ? `${loc.file}:${loc.line}: ${message}` : message);
    this.name = 'EvaluationError';
  }
}

export interface Deployment {
  /** What environment() returns in the cloud deployed to (clouds.ts). */
  environment: AzureEnvironment;
  /** Parameter values of the entry file (main.bicep); others take their defaults. */
  parameters?: Record<string, BicepValue>;
  /** The tenant deployed to: tenant().tenantId (else tenant() is decided by the deployment). */
  tenantId?: string;
}

type Fn = (args: BicepValue[], at: Loc) => BicepValue;

const isObject = (v: BicepValue): v is { [key: string]: BicepValue } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Opaque);
const opaqueIn = (vs: BicepValue[]): Opaque | undefined => vs.find((v): v is Opaque => v instanceof Opaque);

/** ARM reads object properties case-insensitively. */
function member(obj: BicepValue, key: string, at: Loc): BicepValue {
  if (obj instanceof Opaque) return new Opaque(`${obj.text}.${key}`);
  if (!isObject(obj)) throw new EvaluationError(`cannot read property '${key}' of ${describe(obj)}`, at);
  const found = Object.keys(obj).find((k) => k.toLowerCase() === key.toLowerCase());
  if (found === undefined)
    throw new EvaluationError(
      `the language expression property '${key}' doesn't exist, available properties are '${Object.keys(obj).join(', ')}'`,
      at,
    );
  return obj[found]!;
}

export function describe(v: BicepValue): string {
  if (v instanceof Opaque) return `<${v.text}>`;
  return JSON.stringify(v);
}

function str(v: BicepValue, fn: string, at: Loc): string {
  if (typeof v !== 'string') throw new EvaluationError(`${fn}() expects a string, got ${describe(v)}`, at);
  return v;
}

function toText(v: BicepValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function equal(a: BicepValue, b: BicepValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The functions infra/ uses where a value matters (an unknown one is refused) (bicep-functions-string.md, -object.md, -array.md). */
const FUNCTIONS: Record<string, Fn> = {
  endsWith: ([s, x], at) =>
    str(s!, 'endsWith', at)
      .toLowerCase()
      .endsWith(str(x!, 'endsWith', at).toLowerCase()),
  substring: ([s, start, len], at) => {
    const text = str(s!, 'substring', at);
    const from = Number(start ?? 0);
    const n = len === undefined ? text.length - from : Number(len);
    if (from < 0 || n < 0 || from + n > text.length) throw new EvaluationError(`substring('${text}', ${from}, ${n}) is out of range`, at);
    return text.substring(from, from + n);
  },
  length: ([v], at) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isObject(v!)) return Object.keys(v).length;
    throw new EvaluationError(`length() of ${describe(v!)}`, at);
  },
  empty: ([v]) => v === null || v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v!) && Object.keys(v).length === 0),
  toLower: ([s], at) => str(s!, 'toLower', at).toLowerCase(),
  take: ([v, n], at) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.slice(0, Number(n));
    throw new EvaluationError('take() expects a string or an array', at);
  },
  union: (args, at) => {
    if (args.every(isObject)) return Object.assign({}, ...args) as { [key: string]: BicepValue };
    if (args.every((a) => Array.isArray(a)))
      return [...new Map((args as BicepValue[][]).flat().map((i) => [JSON.stringify(i), i])).values()];
    throw new EvaluationError('union() of values of different kinds', at);
  },
  join: ([a, sep], at) => {
    if (!Array.isArray(a)) throw new EvaluationError('join() expects an array', at);
    return a.map(toText).join(str(sep!, 'join', at));
  },
  concat: (args, at) => {
    if (args.every((a) => Array.isArray(a))) return (args as BicepValue[][]).flat();
    if (args.every((a) => typeof a === 'string')) return args.join('');
    throw new EvaluationError('concat() of values of different kinds', at);
  },
  // "Bicep functions - flow control", fail(): the deployment stops with this message.
  fail: ([message], at) => {
    throw new EvaluationError(`fail(): ${typeof message === 'string' ? message : describe(message!)}`, at);
  },
};

/** Functions whose value only the deployment knows. */
const DEPLOYMENT_FUNCTIONS = new Set([
  'uniqueString',
  'guid',
  'resourceGroup',
  'subscription',
  'tenant',
  'deployment',
  'deployer',
  'resourceId',
  'subscriptionResourceId',
  'tenantResourceId',
  'extensionResourceId',
  'reference',
  'list',
  'utcNow',
  'newGuid',
  'loadJsonContent',
  'loadTextContent',
]);

export class Evaluator {
  readonly #project: Project;
  readonly #deployment: Deployment;
  readonly #cache = new Map<string, BicepValue>();

  constructor(project: Project, deployment: Deployment) {
    this.#project = project;
    this.#deployment = deployment;
  }

  /** The value of a parsed Value (e.g. an app setting's `value:`), evaluated where it is written. */
  value(file: BicepFile, v: Value | undefined): BicepValue {
    if (!v) throw new EvaluationError(`no value in ${file.file}`);
    switch (v.kind) {
      case 'string':
        return v.value;
      case 'number':
        return v.value;
      case 'bool':
        return v.value;
      case 'null':
        return null;
      case 'object':
        return Object.fromEntries(v.props.map((p) => [p.key, this.value(file, p.value)]));
      case 'array':
        return v.items.map((i) => this.value(file, i));
      default:
        return this.node(file, nodeAt(file, v.loc));
    }
  }

  /** The value of a variable of a file. */
  variable(file: BicepFile, name: string): BicepValue {
    const key = `var:${file.file}:${name}`;
    if (this.#cache.has(key)) return this.#cache.get(key)!;
    const decl = file.vars.get(name);
    if (!decl) throw new EvaluationError(`no variable '${name}' in ${file.file}`);
    const v = this.value(file, decl.value);
    this.#cache.set(key, v);
    return v;
  }

  /** The value a parameter of a file gets in this deployment. */
  parameter(file: BicepFile, name: string): BicepValue {
    const key = `param:${file.file}:${name}`;
    if (this.#cache.has(key)) return this.#cache.get(key)!;
    const decl = file.params.get(name);
    if (!decl) throw new EvaluationError(`no parameter '${name}' in ${file.file}`);
    const sites = this.#project.callSites.get(file.file) ?? [];
    let v: BicepValue;
    if (sites.length > 1) throw new EvaluationError(`${file.file} is called from ${sites.length} places: which one's '${name}'?`, decl.loc);
    const passed = sites[0]?.params.get(name);
    if (sites[0] && passed) v = this.value(sites[0].caller, passed);
    else if (!sites[0] && this.#deployment.parameters && name in this.#deployment.parameters) v = this.#deployment.parameters[name]!;
    else if (decl.default) v = this.value(file, decl.default);
    else throw new EvaluationError(`parameter '${name}' of ${file.file} has no value (required, not given)`, decl.loc);
    this.#cache.set(key, v);
    return v;
  }

  node(file: BicepFile, n: Node): BicepValue {
    const at: Loc = { file: file.file, line: n.startPosition.row + 1, column: n.startPosition.column + 1 };
    const kids = n.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');
    switch (n.type) {
      case 'string': {
        if (n.text.startsWith("'''")) return n.text.slice(3, -3).replace(/^\r?\n/, '');
        let s = '';
        const parts: BicepValue[] = [];
        for (const c of kids) {
          if (c.type === 'string_content') s += c.text;
          else if (c.type === 'escape_sequence') s += unescape(c.text);
          else if (c.type === 'interpolation') {
            const inner = c.namedChildren.find((x): x is Node => !!x && x.type !== 'comment');
            if (!inner) throw new EvaluationError('empty interpolation', at);
            const v = this.node(file, inner);
            parts.push(v);
            s += v instanceof Opaque ? `\${${v.text}}` : toText(v);
          }
        }
        return opaqueIn(parts) ? new Opaque(s) : s;
      }
      case 'number':
        return Number(n.text);
      case 'boolean':
        return n.text === 'true';
      case 'null':
        return null;
      case 'parenthesized_expression':
        return this.node(file, kids[0]!);
      case 'object': {
        const out: { [key: string]: BicepValue } = {};
        for (const p of kids) {
          if (p.type !== 'object_property') continue;
          const pk = p.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');
          const k = pk[0]!;
          const key = k.type === 'string' ? this.node(file, k) : k.text;
          if (typeof key !== 'string') throw new EvaluationError('object key is not a string', at);
          out[key] = this.node(file, pk[pk.length - 1]!);
        }
        return out;
      }
      case 'array':
        return kids.map((c) => this.node(file, c));
      case 'identifier':
        return this.identifier(file, n.text, at);
      case 'ternary_expression': {
        const cond = this.node(file, n.childForFieldName('condition')!);
        if (cond instanceof Opaque) return new Opaque(`${cond.text} ? … : …`);
        if (typeof cond !== 'boolean') throw new EvaluationError(`condition is ${describe(cond)}, not a bool`, at);
        // ARM evaluates only the branch it takes.
        return this.node(file, n.childForFieldName(cond ? 'consequence' : 'alternative')!);
      }
      case 'unary_expression': {
        const op = n.childForFieldName('operator')?.text;
        const v = this.node(file, n.childForFieldName('argument')!);
        if (v instanceof Opaque) return new Opaque(`${op}${v.text}`);
        if (op === '!' && typeof v === 'boolean') return !v;
        if (op === '-' && typeof v === 'number') return -v;
        throw new EvaluationError(`${op} of ${describe(v)}`, at);
      }
      case 'binary_expression':
        return this.binary(file, n, at);
      case 'member_expression': {
        const objNode = n.childForFieldName('object')!;
        refuseMisparsedTernary(objNode, at);
        const property = n.childForFieldName('property')!.text;
        // module.outputs.x: the module's output, evaluated in the module.
        if (objNode.type === 'member_expression' && objNode.childForFieldName('property')?.text === 'outputs') {
          const sym = objNode.childForFieldName('object');
          const m = sym?.type === 'identifier' ? file.modules.find((x) => x.symbol === sym.text) : undefined;
          if (m) return this.moduleOutput(file, m.symbol, property, at);
        }
        return member(this.node(file, objNode), property, at);
      }
      case 'subscript_expression': {
        const objNode = n.childForFieldName('object')!;
        refuseMisparsedTernary(objNode, at);
        const obj = this.node(file, objNode);
        const index = this.node(file, n.childForFieldName('index')!);
        if (index instanceof Opaque || obj instanceof Opaque) return new Opaque(`${describe(obj)}[${describe(index)}]`);
        if (Array.isArray(obj) && typeof index === 'number') {
          if (index < 0 || index >= obj.length) throw new EvaluationError(`index ${index} out of range`, at);
          return obj[index]!;
        }
        if (typeof index === 'string') return member(obj, index, at);
        throw new EvaluationError(`cannot index ${describe(obj)} with ${describe(index)}`, at);
      }
      case 'call_expression':
        return this.call(file, n, at);
      default:
        throw new EvaluationError(`cannot evaluate ${n.type}: ${n.text.slice(0, 60)}`, at);
    }
  }

  private identifier(file: BicepFile, name: string, at: Loc): BicepValue {
    if (file.vars.has(name)) return this.variable(file, name);
    if (file.params.has(name)) return this.parameter(file, name);
    const r = file.resources.find((x) => x.symbol === name);
    if (r) return new Opaque(`${r.type} ${name}`);
    const m = file.modules.find((x) => x.symbol === name);
    if (m) return new Opaque(`module ${name}`);
    if (file.localNames.has(name)) return new Opaque(name);
    throw new EvaluationError(`'${name}' is not declared in ${file.file}`, at);
  }

  private moduleOutput(file: BicepFile, symbol: string, output: string, at: Loc): BicepValue {
    const m = file.modules.find((x) => x.symbol === symbol)!;
    const target = this.#project.modulePath(file, m);
    const mf = target ? this.#project.files.get(target) : undefined;
    const o = mf?.outputs.find((x) => x.name === output);
    if (!mf || !o) throw new EvaluationError(`module ${symbol} has no output '${output}'`, at);
    return this.value(mf, o.value);
  }

  private binary(file: BicepFile, n: Node, at: Loc): BicepValue {
    const op = n.childForFieldName('operator')!.text;
    const left = this.node(file, n.childForFieldName('left')!);
    // Short-circuit operators evaluate their right side only when needed.
    if (op === '&&' && left === false) return false;
    if (op === '||' && left === true) return true;
    if (op === '??' && left !== null) return left;
    const right = this.node(file, n.childForFieldName('right')!);
    const o = opaqueIn([left, right]);
    if (o) return new Opaque(`${describe(left)} ${op} ${describe(right)}`);
    switch (op) {
      case '&&':
      case '||':
        if (typeof right !== 'boolean' || typeof left !== 'boolean') throw new EvaluationError(`${op} of non-bools`, at);
        return right;
      case '??':
        return right;
      case '==':
        return equal(left, right);
      case '!=':
        return !equal(left, right);
      case '=~':
        return typeof left === 'string' && typeof right === 'string' ? left.toLowerCase() === right.toLowerCase() : equal(left, right);
      case '!~':
        return typeof left === 'string' && typeof right === 'string' ? left.toLowerCase() !== right.toLowerCase() : !equal(left, right);
    }
    if (typeof left !== 'number' || typeof right !== 'number') throw new EvaluationError(`${describe(left)} ${op} ${describe(right)}`, at);
    switch (op) {
      case '+':
        return left + right;
      case '-':
        return left - right;
      case '*':
        return left * right;
      case '/':
        return Math.trunc(left / right);
      case '%':
        return left % right;
      case '<':
        return left < right;
      case '>':
        return left > right;
      case '<=':
        return left <= right;
      case '>=':
        return left >= right;
      default:
        throw new EvaluationError(`operator ${op}`, at);
    }
  }

  private call(file: BicepFile, n: Node, at: Loc): BicepValue {
    const fnNode = n.childForFieldName('function')!;
    // sys.x / az.x namespaces.
    const name = fnNode.type === 'member_expression' ? fnNode.childForFieldName('property')!.text : fnNode.text;
    const argsNode = n.childForFieldName('arguments');
    const argNodes = argsNode ? argsNode.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment') : [];
    if (name === 'environment') return this.#deployment.environment as unknown as BicepValue;
    if (name === 'tenant' && this.#deployment.tenantId) return { tenantId: this.#deployment.tenantId };
    if (DEPLOYMENT_FUNCTIONS.has(name)) return new Opaque(`${name}(…)`);
    const fn = FUNCTIONS[name];
    if (!fn) throw new EvaluationError(`function ${name}() is not known to the evaluator (tools/bicep-check/evaluate.ts)`, at);
    const args = argNodes.map((a) => this.node(file, a));
    const o = opaqueIn(args);
    if (o) return new Opaque(`${name}(${args.map(describe).join(', ')})`);
    return fn(args, at);
  }
}

function unescape(e: string): string {
  const map: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };
  return map[e] ?? e.slice(1);
}

function refuseMisparsedTernary(objNode: Node, at: Loc): void {
  if (objNode.type === 'ternary_expression')
    throw new EvaluationError(
      'an unparenthesized conditional under [index] or .member: tree-sitter-bicep 1.1.0 groups it differently from Bicep; put the indexed part in its own variable or in parentheses',
      at,
    );
}

/** The largest expression node that starts at a model Value's position. */
function nodeAt(file: BicepFile, loc: Loc): Node {
  const pos = { row: loc.line - 1, column: loc.column - 1 };
  let n: Node | null = file.root.descendantForPosition(pos);
  if (!n) throw new EvaluationError('no syntax node', loc);
  const STOP = new Set([
    'object_property',
    'arguments',
    'array',
    'object',
    'variable_declaration',
    'parameter_declaration',
    'output_declaration',
    'resource_declaration',
    'module_declaration',
    'infrastructure',
    'decorator',
    'decorators',
    'if_statement',
    'for_statement',
    'interpolation',
  ]);
  while (n.parent && !STOP.has(n.parent.type) && n.parent.startIndex === n.startIndex) n = n.parent;
  // A `string` node's first child is the quote: climb to the string itself.
  if ((n.type === "'" || n.type === 'string_content') && n.parent?.type === 'string') n = n.parent;
  return n;
}

/**
 * The app settings of the (single) function app, evaluated for a deployment: name → value (Opaque when the
 * deployment decides it). `only`: evaluate just these settings (the others may depend on what a check does
 * not provide).
 */
export function evaluateAppSettings(project: Project, deployment: Deployment, only?: readonly string[]): Map<string, BicepValue> {
  const site = project.allResources().find(({ r }) => r.type.toLowerCase() === 'microsoft.web/sites' && !r.existing);
  if (!site) throw new EvaluationError('no Microsoft.Web/sites resource');
  const ev = new Evaluator(project, deployment);
  const settings = prop(site.r.body, 'properties.siteConfig.appSettings');
  // A list built from parts (concat, a conditional per credential type): only the branches this deployment takes.
  const items = appSettingItems(site.file, settings, (file, cond) => {
    const v = ev.node(file, cond);
    if (typeof v !== 'boolean') throw new EvaluationError(`the condition ${cond.text} is ${describe(v)}, not a bool`);
    return v;
  });
  if (!items)
    throw new EvaluationError('siteConfig.appSettings is not an array literal, concat() of lists, or a conditional list', site.r.loc);
  const out = new Map<string, BicepValue>();
  for (const { item } of items) {
    const nameV = prop(item, 'name');
    if (only && !(nameV?.kind === 'string' && only.includes(nameV.value))) continue;
    const name = ev.value(site.file, nameV);
    if (typeof name !== 'string') throw new EvaluationError(`an app setting's name evaluates to ${describe(name)}`, item.loc);
    out.set(name, ev.value(site.file, prop(item, 'value')));
  }
  return out;
}
