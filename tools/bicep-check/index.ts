/**
 * Offline checks of the Bicep under infra/ (the Bicep CLI cannot be installed on the build machines):
 *
 *   syntax       tree-sitter-bicep parses every file; ERROR/MISSING nodes are syntax errors.
 *   symbols      undeclared names, unknown module files/parameters/outputs, missing required parameters.
 *   types        every resource type@apiVersion exists and every property is valid, per Azure's type data
 *                (infra/.types/bicep-types.json, refreshed by tools/bicep-check/refresh-types.mjs).
 *   posture      storage / Key Vault / monitoring / function app security settings, every app setting the
 *                code reads, least-privilege role assignments that cover what the code needs.
 *   conventions  @description on parameters, UPPER_SNAKE outputs for azd, a comment naming each role GUID.
 *
 * `checkInfra({ dir })` checks a directory; `checkInfra({ files })` checks in-memory contents (the mutation
 * tests use that).
 */
import path from 'node:path';
import type { CheckName, Finding } from './findings.js';
import { finding } from './findings.js';
import { parseBicep, readBicepTree, type BicepFile } from './parse.js';
import { checkPosture, type PostureOptions } from './posture.js';
import { Project } from './project.js';
import { checkSymbols } from './symbols.js';
import { checkTypes, loadTypeSnapshot, type TypeSnapshot } from './types.js';

export type { Finding, CheckName } from './findings.js';
export { formatFinding } from './findings.js';

export interface CheckOptions {
  /** The infra directory (default: read `files` instead). */
  dir?: string;
  /** `{ 'modules/storage.bicep': text, ... }` relative to the infra root. */
  files?: Record<string, string>;
  /** Type snapshot (default: <dir>/.types/bicep-types.json). */
  types?: TypeSnapshot;
  typesFile?: string;
  posture: PostureOptions;
  /** Only these checks (default: all). */
  only?: CheckName[];
}

export interface CheckReport {
  findings: Finding[];
  files: BicepFile[];
  notes: string[];
  millis: Record<CheckName | 'parse', number>;
}

const parsed_ = new Map<string, BicepFile>();

export async function checkInfra(options: CheckOptions): Promise<CheckReport> {
  const sources = options.files ?? (options.dir ? readBicepTree(options.dir) : {});
  const millis = { parse: 0, syntax: 0, symbols: 0, types: 0, posture: 0, conventions: 0 };
  let t = Date.now();
  const files: BicepFile[] = [];
  for (const [file, text] of Object.entries(sources).sort(([a], [b]) => a.localeCompare(b))) {
    // The model is never modified by the checks, so identical contents are parsed once per process.
    const key = `${file}\0${text}`;
    let parsed = parsed_.get(key);
    if (!parsed) {
      parsed = await parseBicep(file, text);
      parsed_.set(key, parsed);
      if (parsed_.size > 500) parsed_.delete(parsed_.keys().next().value!);
    }
    files.push(parsed);
  }
  millis.parse = Date.now() - t;
  const want = (c: CheckName) => !options.only || options.only.includes(c);
  const findings: Finding[] = [];
  if (want('syntax')) for (const f of files) for (const e of f.syntaxErrors) findings.push(finding('syntax', 'parse', e.loc, e.message));
  if (files.length === 0) findings.push(finding('syntax', 'no-files', { file: '.', line: 0 }, 'no .bicep files found'));
  const project = new Project(files);
  t = Date.now();
  if (want('symbols')) findings.push(...checkSymbols(project));
  millis.symbols = Date.now() - t;
  t = Date.now();
  if (want('types')) {
    const snapshot = options.types ?? loadTypeSnapshot(options.typesFile ?? path.join(options.dir ?? '.', '.types', 'bicep-types.json'));
    findings.push(...checkTypes(files, snapshot));
  }
  millis.types = Date.now() - t;
  t = Date.now();
  if (want('posture') || want('conventions')) findings.push(...checkPosture(project, options.posture).filter((f) => want(f.check)));
  millis.posture = Date.now() - t;
  return { findings, files, notes: files.flatMap((f) => f.notes), millis };
}
