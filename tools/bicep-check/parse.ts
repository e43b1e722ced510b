/**
 * Bicep parsing for the offline checks: tree-sitter-bicep (its WebAssembly build, run by web-tree-sitter — no
 * native code, no network) turns each file into a syntax tree; syntax errors are ERROR / MISSING nodes. The
 * tree is then reduced to a small model (parameters, variables, resources, modules, outputs, values) that
 * the type and posture checks read.
 *
 * tree-sitter-bicep 1.1.0 does not know some newer Bicep syntax: `extension` declarations, typed variables
 * (`var x string = ...`), the spread operator (`...x`), `resourceInput<>`/`resourceOutput<>` types and
 * `.bicepparam` files. `extension <alias>` lines are blanked before parsing (same length, so positions
 * stay right) and reported as notes; this repository's Bicep avoids the other constructs, and a file that
 * uses them fails the syntax check with a message that says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export interface Loc {
  file: string;
  line: number;
  column: number;
}

export type Value =
  | { kind: 'string'; value: string; loc: Loc }
  | { kind: 'interp'; text: string; parts: Array<string | { expr: string }>; loc: Loc }
  | { kind: 'number'; value: number; loc: Loc }
  | { kind: 'bool'; value: boolean; loc: Loc }
  | { kind: 'null'; loc: Loc }
  | { kind: 'object'; props: Prop[]; loc: Loc }
  | { kind: 'array'; items: Value[]; loc: Loc }
  | { kind: 'ternary'; cond: string; then: Value; else: Value; loc: Loc }
  | { kind: 'for'; body: Value; text: string; loc: Loc }
  | { kind: 'expr'; text: string; loc: Loc };

export interface Prop {
  key: string;
  keyLoc: Loc;
  value: Value;
}

export interface Decorator {
  name: string;
  args: Value[];
  loc: Loc;
}

export interface ParamDecl {
  name: string;
  type: string;
  default?: Value;
  decorators: Decorator[];
  loc: Loc;
}

export interface VarDecl {
  name: string;
  value: Value;
  loc: Loc;
}

export interface ResourceDecl {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  condition?: string;
  loop: boolean;
  body: Value;
  loc: Loc;
  typeLoc: Loc;
}

export interface ModuleDecl {
  symbol: string;
  path: string;
  condition?: string;
  body: Value;
  loc: Loc;
}

export interface OutputDecl {
  name: string;
  type: string;
  value: Value;
  decorators: Decorator[];
  loc: Loc;
}

export interface IdentifierRef {
  name: string;
  loc: Loc;
  /** `x.outputs.y`: the property chain after the identifier, when there is one. */
  member?: string[];
}

export interface SyntaxProblem {
  loc: Loc;
  message: string;
}

export interface BicepFile {
  /** Path relative to the infra root, with forward slashes (e.g. `modules/storage.bicep`). */
  file: string;
  text: string;
  targetScope: string;
  params: Map<string, ParamDecl>;
  vars: Map<string, VarDecl>;
  resources: ResourceDecl[];
  modules: ModuleDecl[];
  outputs: OutputDecl[];
  extensions: Array<{ alias: string; loc: Loc }>;
  /** `//` and `/* *\/` comments by 1-based line. */
  comments: Map<number, string>;
  /** Identifiers used as values (not declarations, keys, function names or types). */
  references: IdentifierRef[];
  /** Names bound by loops and lambdas (valid references inside them). */
  localNames: Set<string>;
  syntaxErrors: SyntaxProblem[];
  notes: string[];
  /** The syntax tree (of the preprocessed text: same positions), for the expression evaluator (evaluate.ts). */
  root: Node;
}

let parserPromise: Promise<Parser> | undefined;

/** The tree-sitter parser with the Bicep grammar (loaded once per process). */
export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const wasm = require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm');
    const language = await Language.load(fs.readFileSync(wasm));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

const UNSUPPORTED_HINTS: Array<[RegExp, string]> = [
  [
    /^\s*var\s+\w+\s+\w+(\[\])?\s*=/,
    'typed variable declarations (var x string = ...) are not understood by tree-sitter-bicep 1.1.0: drop the type',
  ],
  [/\.\.\.\w/, 'the spread operator (...) is not understood by tree-sitter-bicep 1.1.0: use union()/concat()'],
  [/resource(Input|Output)</, 'resourceInput<>/resourceOutput<> types are not understood by tree-sitter-bicep 1.1.0'],
];

/** Blanks `extension <alias>` / `extension '<ref>'` lines (tree-sitter-bicep 1.1.0 does not parse them). */
export function preprocess(text: string): { text: string; extensions: Array<{ alias: string; line: number }> } {
  const extensions: Array<{ alias: string; line: number }> = [];
  const lines = text.split('\n').map((l, i) => {
    const m = /^(\s*)extension\s+('[^']*'|\w+)(\s+with\s+\{[^}]*\})?(\s+as\s+\w+)?\s*(\/\/.*)?$/.exec(l.replace(/\r$/, ''));
    if (!m) return l;
    extensions.push({ alias: m[2]!.replace(/'/g, ''), line: i + 1 });
    return ' '.repeat(l.length);
  });
  return { text: lines.join('\n'), extensions };
}

function locOf(file: string, n: Node): Loc {
  return { file, line: n.startPosition.row + 1, column: n.startPosition.column + 1 };
}

function named(n: Node): Node[] {
  return n.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment' && c.type !== 'diagnostic_comment');
}

function unquote(n: Node): string {
  // A `string` node: its string_content and escape_sequence children (no interpolation).
  let s = '';
  for (const c of n.namedChildren) {
    if (!c) continue;
    if (c.type === 'string_content') s += c.text;
    else if (c.type === 'escape_sequence') s += unescape(c.text);
  }
  if (n.text.startsWith("'''")) return n.text.slice(3, -3).replace(/^\r?\n/, '');
  return s;
}

function unescape(e: string): string {
  switch (e) {
    case "\\'":
      return "'";
    case '\\\\':
      return '\\';
    case '\\n':
      return '\n';
    case '\\r':
      return '\r';
    case '\\t':
      return '\t';
    case '\\$':
      return '$';
    default:
      return e.slice(1);
  }
}

export function toValue(file: string, n: Node): Value {
  const loc = locOf(file, n);
  switch (n.type) {
    case 'string': {
      const inner = n.namedChildren.filter((c): c is Node => !!c);
      if (inner.some((c) => c.type === 'interpolation')) {
        const parts: Array<string | { expr: string }> = [];
        for (const c of inner) {
          if (c.type === 'interpolation') parts.push({ expr: c.text.replace(/^\$\{/, '').replace(/\}$/, '').trim() });
          else if (c.type === 'string_content') parts.push(c.text);
          else if (c.type === 'escape_sequence') parts.push(unescape(c.text));
        }
        return { kind: 'interp', text: n.text, parts, loc };
      }
      return { kind: 'string', value: unquote(n), loc };
    }
    case 'number':
      return { kind: 'number', value: Number(n.text), loc };
    case 'boolean':
      return { kind: 'bool', value: n.text === 'true', loc };
    case 'null':
      return { kind: 'null', loc };
    case 'unary_expression':
      if (/^-\s*\d/.test(n.text)) return { kind: 'number', value: Number(n.text.replace(/\s+/g, '')), loc };
      return { kind: 'expr', text: n.text, loc };
    case 'object': {
      const props: Prop[] = [];
      for (const p of named(n)) {
        if (p.type !== 'object_property') continue;
        const kids = named(p);
        const keyNode = kids[0];
        const valueNode = kids[kids.length - 1];
        if (!keyNode || !valueNode || kids.length < 2) continue;
        const interpolatedKey = keyNode.type === 'string' && keyNode.namedChildren.some((c) => c?.type === 'interpolation');
        const key = keyNode.type === 'string' ? (interpolatedKey ? keyNode.text : unquote(keyNode)) : keyNode.text;
        props.push({ key, keyLoc: locOf(file, keyNode), value: toValue(file, valueNode) });
      }
      return { kind: 'object', props, loc };
    }
    case 'array': {
      const kids = named(n);
      if (kids.length === 1 && kids[0]!.type === 'for_statement') return forValue(file, kids[0]!);
      return { kind: 'array', items: kids.map((c) => toValue(file, c)), loc };
    }
    case 'for_statement':
      return forValue(file, n);
    case 'ternary_expression': {
      const cond = n.childForFieldName('condition');
      const then = n.childForFieldName('consequence');
      const otherwise = n.childForFieldName('alternative');
      if (cond && then && otherwise)
        return { kind: 'ternary', cond: cond.text, then: toValue(file, then), else: toValue(file, otherwise), loc };
      return { kind: 'expr', text: n.text, loc };
    }
    case 'parenthesized_expression': {
      const kids = named(n);
      return kids.length === 1 ? toValue(file, kids[0]!) : { kind: 'expr', text: n.text, loc };
    }
    default:
      return { kind: 'expr', text: n.text, loc };
  }
}

function forValue(file: string, n: Node): Value {
  const body = n.childForFieldName('body') ?? named(n).at(-1);
  return { kind: 'for', body: body ? toValue(file, body) : { kind: 'null', loc: locOf(file, n) }, text: n.text, loc: locOf(file, n) };
}

function decoratorsOf(file: string, n: Node | undefined): Decorator[] {
  if (!n || n.type !== 'decorators') return [];
  const out: Decorator[] = [];
  for (const d of named(n)) {
    const call = named(d)[0];
    if (!call) continue;
    if (call.type === 'call_expression') {
      const fn = call.childForFieldName('function');
      const args = call.childForFieldName('arguments');
      out.push({
        name: fn?.text.replace(/^sys\./, '') ?? '',
        args: args ? named(args).map((a) => toValue(file, a)) : [],
        loc: locOf(file, d),
      });
    } else out.push({ name: call.text, args: [], loc: locOf(file, d) });
  }
  return out;
}

/** Parses one Bicep file (path relative to the infra root) into the model. */
export async function parseBicep(file: string, source: string): Promise<BicepFile> {
  const parser = await bicepParser();
  const pre = preprocess(source);
  const tree = parser.parse(pre.text);
  if (!tree) throw new Error(`tree-sitter could not parse ${file}`);
  const root = tree.rootNode;
  const model: BicepFile = {
    file,
    text: source,
    targetScope: 'resourceGroup',
    params: new Map(),
    vars: new Map(),
    resources: [],
    modules: [],
    outputs: [],
    extensions: pre.extensions.map((e) => ({ alias: e.alias, loc: { file, line: e.line, column: 1 } })),
    comments: new Map(),
    references: [],
    localNames: new Set(),
    syntaxErrors: root.hasError ? syntaxErrors(file, source, root) : [],
    notes: pre.extensions.map((e) => `${file}:${e.line}: 'extension ${e.alias}' blanked before parsing (not in tree-sitter-bicep 1.1.0)`),
    root,
  };
  readDeclarations(model, root);
  readCommentsAndReferences(model, root);
  return model;
}

/** ERROR and MISSING nodes, one report per error region, with a hint where the line uses syntax tree-sitter-bicep lacks. */
function syntaxErrors(file: string, source: string, root: Node): SyntaxProblem[] {
  const lines = source.split('\n');
  const problems: SyntaxProblem[] = [];
  const visit = (n: Node): void => {
    if (n.type === 'ERROR' || n.isMissing) {
      const loc = locOf(file, n);
      const lineText = lines[loc.line - 1] ?? '';
      const hint = UNSUPPORTED_HINTS.find(([re]) => re.test(lineText))?.[1];
      const what = n.isMissing ? `missing ${n.type}` : `unexpected '${n.text.slice(0, 40).split('\n')[0]}'`;
      problems.push({ loc, message: `syntax error: ${what}${hint ? ` — ${hint}` : ''}` });
      if (n.type === 'ERROR') return; // one report per error region
    }
    for (const c of n.children) if (c) visit(c);
  };
  visit(root);
  return problems;
}

/** The top-level declarations, each with the decorators written above it. */
function readDeclarations(model: BicepFile, root: Node): void {
  const { file } = model;
  let pendingDecorators: Node | undefined;
  for (const n of root.namedChildren) {
    if (!n || n.type === 'comment' || n.type === 'diagnostic_comment') continue;
    if (n.type === 'decorators') {
      pendingDecorators = n;
      continue;
    }
    const decorators = decoratorsOf(file, pendingDecorators);
    pendingDecorators = undefined;
    const kids = named(n);
    const loc = locOf(file, n);
    switch (n.type) {
      case 'target_scope_assignment': {
        const s = kids.find((k) => k.type === 'string');
        if (s) model.targetScope = unquote(s);
        break;
      }
      case 'parameter_declaration': {
        const name = kids[0]?.text ?? '';
        const typeNode = kids.find(
          (k) => k.type === 'type' || k.type === 'primitive_type' || k.type === 'nullable_type' || k.type === 'array_type',
        );
        const valueNode = typeNode ? kids[kids.indexOf(typeNode) + 1] : undefined;
        model.params.set(name, {
          name,
          type: typeNode?.text ?? '',
          default: valueNode ? toValue(file, valueNode) : undefined,
          decorators,
          loc,
        });
        break;
      }
      case 'variable_declaration': {
        const name = kids[0]?.text ?? '';
        const valueNode = kids[kids.length - 1];
        if (valueNode && kids.length >= 2) model.vars.set(name, { name, value: toValue(file, valueNode), loc });
        break;
      }
      case 'resource_declaration':
        model.resources.push(resourceOf(file, n, kids, loc));
        break;
      case 'module_declaration': {
        const { body, condition } = conditionalBody(kids[kids.length - 1]);
        model.modules.push({
          symbol: kids[0]?.text ?? '',
          path: kids[1] ? unquote(kids[1]) : '',
          condition,
          body: valueOr(file, body, loc),
          loc,
        });
        break;
      }
      case 'output_declaration': {
        const valueNode = kids[kids.length - 1];
        model.outputs.push({ name: kids[0]?.text ?? '', type: kids[1]?.text ?? '', value: valueOr(file, valueNode, loc), decorators, loc });
        break;
      }
      default:
        break;
    }
  }
}

function resourceOf(file: string, n: Node, kids: Node[], loc: Loc): ResourceDecl {
  const typeNode = kids[1];
  const typeString = typeNode ? unquote(typeNode) : '';
  const at = typeString.lastIndexOf('@');
  let bodyNode: Node | undefined = kids[kids.length - 1];
  const loop = bodyNode?.type === 'for_statement';
  if (bodyNode && loop) bodyNode = bodyNode.childForFieldName('body') ?? named(bodyNode).at(-1);
  const { body, condition } = conditionalBody(bodyNode);
  return {
    symbol: kids[0]?.text ?? '',
    type: at > 0 ? typeString.slice(0, at) : typeString,
    apiVersion: at > 0 ? typeString.slice(at + 1) : '',
    existing: n.children.some((c) => c?.type === 'existing'),
    condition,
    loop,
    body: valueOr(file, body, loc),
    loc,
    typeLoc: typeNode ? locOf(file, typeNode) : loc,
  };
}

/** A declaration's body, and its `if (...)` condition when it has one. */
function conditionalBody(n: Node | undefined): { body: Node | undefined; condition?: string } {
  if (n?.type !== 'if_statement') return { body: n };
  const ifKids = named(n);
  return { body: ifKids[ifKids.length - 1], condition: ifKids[0]?.text.replace(/^\(|\)$/g, '') };
}

function valueOr(file: string, n: Node | undefined, loc: Loc): Value {
  return n ? toValue(file, n) : { kind: 'null', loc };
}

/** Comments by line, names bound by loops and lambdas, and every identifier used as a value (with its member chain). */
function readCommentsAndReferences(model: BicepFile, root: Node): void {
  const visit = (n: Node): void => {
    if (n.type === 'comment') {
      model.comments.set(n.startPosition.row + 1, n.text);
      return;
    }
    if (n.type === 'for_statement') {
      const init = n.childForFieldName('initializer');
      if (init)
        for (const id of [init, ...init.descendantsOfType('identifier')]) if (id && id.type === 'identifier') model.localNames.add(id.text);
      for (const lv of n.descendantsOfType(['loop_variable', 'loop_enumerator'])) if (lv) model.localNames.add(lv.text);
    }
    if (n.type === 'lambda_expression')
      for (const id of n.descendantsOfType('identifier')) if (id && id.parent === n) model.localNames.add(id.text);
    if (n.type === 'identifier' && isReference(n))
      model.references.push({ name: n.text, loc: locOf(model.file, n), member: memberChain(n) });
    for (const c of n.children) if (c) visit(c);
  };
  visit(root);
}

/** `x.outputs.y`: the property names after the identifier `x`, or undefined when there are none. */
function memberChain(n: Node): string[] | undefined {
  const member: string[] = [];
  let p = n.parent;
  let cur: Node = n;
  while (p && p.type === 'member_expression' && p.childForFieldName('object')?.equals(cur)) {
    const prop = p.childForFieldName('property');
    if (prop) member.push(prop.text);
    cur = p;
    p = p.parent;
  }
  return member.length ? member : undefined;
}

const DECLARATIONS = new Set([
  'parameter_declaration',
  'variable_declaration',
  'resource_declaration',
  'module_declaration',
  'output_declaration',
  'type_declaration',
  'user_defined_function',
  'metadata_declaration',
  'import_statement',
  'import_with_statement',
  'using_statement',
  'assert_statement',
]);

function isReference(n: Node): boolean {
  const p = n.parent;
  if (!p) return false;
  if (DECLARATIONS.has(p.type) && named(p)[0]?.equals(n)) return false; // the declared name
  if (p.type === 'object_property' && named(p)[0]?.equals(n)) return false; // a key
  if (p.type === 'call_expression' && p.childForFieldName('function')?.equals(n)) return false; // a function
  if (p.type === 'member_expression' && p.childForFieldName('property')?.equals(n)) return false;
  if (p.type === 'for_statement' && p.childForFieldName('initializer')?.equals(n)) return false;
  for (let a: Node | null = p; a; a = a.parent) if (a.type === 'type' || a.type === 'for_loop_parameters') return false;
  return true;
}

/** Reads every `.bicep` file under `dir` (not in dot-folders) as `{ relativePath: text }`. */
export function readBicepTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.bicep')) out[path.relative(dir, f).split(path.sep).join('/')] = fs.readFileSync(f, 'utf8');
    }
  };
  walk(dir);
  return out;
}
