/**
 * What the Bicep compiler would reject before types: references to names that are not declared, module
 * files that do not exist (or registry modules, which cannot be restored offline), parameters passed to a
 * module that it does not declare, required module parameters not passed, `mod.outputs.x` for an output
 * the module does not have, and duplicate names.
 */
import { finding, suggest, type Finding } from './findings.js';
import type { BicepFile } from './parse.js';
import { Project, prop } from './project.js';

const NAMESPACES = new Set(['az', 'sys']);

export function checkSymbols(project: Project): Finding[] {
  const out: Finding[] = [];
  for (const f of project.files.values()) {
    const declared = new Map<string, string>();
    const declare = (name: string, kind: string, loc: { file: string; line: number }) => {
      if (declared.has(name))
        out.push(finding('symbols', 'duplicate', loc, `'${name}' is declared twice (${declared.get(name)} and ${kind})`));
      declared.set(name, kind);
    };
    for (const p of f.params.values()) declare(p.name, 'param', p.loc);
    for (const v of f.vars.values()) declare(v.name, 'var', v.loc);
    for (const r of f.resources) declare(r.symbol, 'resource', r.loc);
    for (const m of f.modules) declare(m.symbol, 'module', m.loc);
    const outputs = new Set<string>();
    for (const o of f.outputs) {
      if (outputs.has(o.name)) out.push(finding('symbols', 'duplicate', o.loc, `output '${o.name}' is declared twice`));
      outputs.add(o.name);
    }

    for (const ref of f.references) {
      if (declared.has(ref.name) || f.localNames.has(ref.name) || NAMESPACES.has(ref.name)) {
        if (ref.member?.[0] === 'outputs' && ref.member[1]) checkModuleOutput(project, f, ref.name, ref.member[1], ref.loc, out);
        continue;
      }
      const near = suggest(ref.name, declared.keys());
      out.push(
        finding('symbols', 'undefined', ref.loc, `'${ref.name}' is not declared in ${f.file}${near ? ` (did you mean '${near}'?)` : ''}`),
      );
    }

    // The Bicep linter rules no-unused-params / no-unused-vars (errors in infra/bicepconfig.json).
    const used = new Set(f.references.map((r) => r.name));
    for (const p of f.params.values())
      if (!used.has(p.name)) out.push(finding('symbols', 'unused', p.loc, `parameter ${p.name} is never used`));
    for (const v of f.vars.values())
      if (!used.has(v.name)) out.push(finding('symbols', 'unused', v.loc, `variable ${v.name} is never used`));

    for (const m of f.modules) {
      const target = project.modulePath(f, m);
      if (!target) {
        out.push(
          finding(
            'symbols',
            'registry-module',
            m.loc,
            `module ${m.symbol}: '${m.path}' is a registry module, which cannot be restored or checked offline; use a local module`,
          ),
        );
        continue;
      }
      const mf = project.files.get(target);
      if (!mf) {
        out.push(finding('symbols', 'missing-module', m.loc, `module ${m.symbol}: ${target} does not exist`));
        continue;
      }
      if (!prop(m.body, 'name'))
        out.push(finding('symbols', 'module-name', m.loc, `module ${m.symbol}: give it a deployment name (name: '...')`));
      const params = prop(m.body, 'params');
      const passed = new Set<string>();
      if (params?.kind === 'object')
        for (const p of params.props) {
          passed.add(p.key);
          if (!mf.params.has(p.key)) {
            const near = suggest(p.key, mf.params.keys());
            out.push(
              finding(
                'symbols',
                'unknown-module-param',
                p.keyLoc,
                `module ${m.symbol}: ${target} has no parameter '${p.key}'${near ? ` (did you mean '${near}'?)` : ''}`,
              ),
            );
          }
        }
      for (const p of mf.params.values())
        if (!p.default && !p.type.endsWith('?') && !passed.has(p.name))
          out.push(
            finding(
              'symbols',
              'missing-module-param',
              m.loc,
              `module ${m.symbol}: required parameter '${p.name}' of ${target} is not passed`,
            ),
          );
    }
  }
  return out;
}

function checkModuleOutput(
  project: Project,
  f: BicepFile,
  symbol: string,
  output: string,
  loc: { file: string; line: number },
  out: Finding[],
): void {
  const m = f.modules.find((x) => x.symbol === symbol);
  if (!m) return;
  const target = project.modulePath(f, m);
  const mf = target ? project.files.get(target) : undefined;
  if (!mf) return;
  if (!mf.outputs.some((o) => o.name === output)) {
    const near = suggest(
      output,
      mf.outputs.map((o) => o.name),
    );
    out.push(
      finding(
        'symbols',
        'unknown-module-output',
        loc,
        `${symbol}.outputs.${output}: ${target} has no output '${output}'${near ? ` (did you mean '${near}'?)` : ''}`,
      ),
    );
  }
}
