/**
 * The settings the code reads: `SETTING_NAMES` (and `DEFAULTS`) exported by src/settings.ts, loaded from the
 * compiled dist/src/settings.js. Falls back to the list in DESIGN.md's settings table when the compiled
 * module is not there (so the infra checks still run while src/ is being written).
 */
import fs from 'node:fs';
import path from 'node:path';

/** DESIGN.md "Settings (the public contract — names are final)". */
export const DESIGN_SETTING_NAMES = [
  'GRAPH_TENANT_ID',
  'GRAPH_CLIENT_ID',
  'KEY_VAULT_URL',
  'GRAPH_CLIENT_SECRET_NAME',
  'GRAPH_CLIENT_CERTIFICATE_NAME',
  'GRAPH_AUTHORITY_HOST',
  'GRAPH_ENDPOINT',
  'USERS_SELECT',
  'USERS_FILTER',
  'EXPORT_STORAGE',
  'EXPORT_STORAGE__blobServiceUri',
  'EXPORT_CONTAINER',
  'EXPORT_FORMAT',
  'EXPORT_COMPRESSION',
  'EXPORT_SCHEDULE',
  'AZURE_CLIENT_ID',
] as const;

export interface SettingContract {
  names: readonly string[];
  defaults?: Readonly<Record<string, string>>;
  source: 'src/settings.ts' | 'DESIGN.md';
  error?: string;
}

/** `root` is the repository root (dist/src/settings.js is looked up under it). */
export function loadSettingContract(root: string): SettingContract {
  const compiled = path.join(root, 'dist', 'src', 'settings.js');
  if (!fs.existsSync(compiled)) return { names: DESIGN_SETTING_NAMES, source: 'DESIGN.md', error: `${compiled} not built` };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(compiled) as { SETTING_NAMES?: unknown; DEFAULTS?: unknown };
    const names = mod.SETTING_NAMES;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return { names: DESIGN_SETTING_NAMES, source: 'DESIGN.md', error: 'SETTING_NAMES is not an array of strings' };
    const defaults = mod.DEFAULTS && typeof mod.DEFAULTS === 'object' ? (mod.DEFAULTS as Record<string, string>) : undefined;
    return { names: names as string[], defaults, source: 'src/settings.ts' };
  } catch (e) {
    return { names: DESIGN_SETTING_NAMES, source: 'DESIGN.md', error: e instanceof Error ? e.message : String(e) };
  }
}
