/**
 * The function app's `siteConfig.appSettings`, item by item, when the list is built from parts: an array literal,
 * `concat(<list>, ...)`, a variable holding a list, or a conditional choosing between two lists (e.g. the Graph
 * credential's settings, which differ by credentialType). `appSettingItems` expands every branch (what the Bicep can
 * set, for the static checks); with a `decide` callback it follows only the branch a deployment takes.
 *
 * And whether a resource is deployed at all in a deployment: its own `if (...)` condition and those of the module
 * declarations that lead to its file, evaluated with the evaluator (evaluate.ts).
 */
import type { Node } from 'web-tree-sitter';
import type { BicepFile, Loc, ResourceDecl, Value } from './parse.js';
import { toValue } from './parse.js';
import type { Project } from './project.js';

export interface SettingItem {
  /** The `{ name, value }` object. */
  item: Value;
  /** The conditions (source text) under which the item is in the list, outermost first. */
  conds: string[];
}

/** Which branch of a conditional list a deployment takes: true = then, false = else, undefined = both. */
export type Decide = (file: BicepFile, cond: Node) => boolean | undefined;

/** The syntax node of a given type that starts where a model value or declaration starts. */
export function nodeAt(file: BicepFile, loc: Loc, type: string): Node | undefined {
  let n: Node | null = file.root.descendantForPosition({ row: loc.line - 1, column: loc.column - 1 });
  while (n && n.type !== type) n = n.parent;
  return n ?? undefined;
}

/** The items of an app-settings list, or undefined when it is built some other way (the check cannot read it). */
export function appSettingItems(
  file: BicepFile,
  v: Value | undefined,
  decide?: Decide,
  conds: string[] = [],
  depth = 0,
): SettingItem[] | undefined {
  if (!v || depth > 10) return undefined;
  switch (v.kind) {
    case 'array':
      return v.items.map((item) => ({ item, conds }));
    case 'ternary': {
      const cond = nodeAt(file, v.loc, 'ternary_expression')?.childForFieldName('condition');
      const taken = decide && cond ? decide(file, cond) : undefined;
      const then = taken === false ? [] : appSettingItems(file, v.then, decide, [...conds, v.cond], depth + 1);
      const otherwise = taken === true ? [] : appSettingItems(file, v.else, decide, [...conds, `!(${v.cond})`], depth + 1);
      return then && otherwise ? [...then, ...otherwise] : undefined;
    }
    case 'expr': {
      const text = v.text.trim();
      const variable = /^[A-Za-z_]\w*$/.test(text) ? file.vars.get(text) : undefined;
      if (variable) return appSettingItems(file, variable.value, decide, conds, depth + 1);
      if (!/^concat\s*\(/.test(text)) return undefined;
      // concat(a, b, ...): each argument is a list of items ("Array functions for Bicep", concat).
      const call = nodeAt(file, v.loc, 'call_expression');
      const args = call?.childForFieldName('arguments')?.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment') ?? [];
      const out: SettingItem[] = [];
      for (const a of args) {
        const items = appSettingItems(file, toValue(file.file, a), decide, conds, depth + 1);
        if (!items) return undefined;
        out.push(...items);
      }
      return out;
    }
    default:
      return undefined;
  }
}

/** The `if (...)` condition node of a resource or module declaration, if it has one. */
function conditionNode(file: BicepFile, loc: Loc, type: 'resource_declaration' | 'module_declaration'): Node | undefined {
  const decl = nodeAt(file, loc, type);
  const ifStatement = decl?.namedChildren.find((c): c is Node => !!c && c.type === 'if_statement');
  return ifStatement?.namedChildren.find((c): c is Node => !!c && c.type !== 'comment');
}

/**
 * Whether a resource is deployed: false when its condition or the condition of a module declaration leading to its
 * file evaluates to false, true when all evaluate to true, undefined when one depends on the deployment only.
 */
export function isDeployed(
  project: Project,
  file: BicepFile,
  r: ResourceDecl,
  evaluate: (file: BicepFile, cond: Node) => unknown,
): boolean | undefined {
  const conditions: Array<{ file: BicepFile; cond: Node | undefined }> = [
    { file, cond: conditionNode(file, r.loc, 'resource_declaration') },
  ];
  let current = file;
  for (let i = 0; i < 10; i++) {
    const site = project.callSites.get(current.file)?.[0];
    if (!site) break;
    conditions.push({ file: site.caller, cond: conditionNode(site.caller, site.module.loc, 'module_declaration') });
    current = site.caller;
  }
  let result: boolean | undefined = true;
  for (const c of conditions) {
    if (!c.cond) continue;
    const v = evaluate(c.file, c.cond);
    if (v === false) return false;
    if (v !== true) result = undefined;
  }
  return result;
}
