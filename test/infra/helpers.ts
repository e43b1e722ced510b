import path from 'node:path';
import { checkInfra, type CheckReport } from '../../tools/bicep-check/index.js';
import { readBicepTree } from '../../tools/bicep-check/parse.js';
import { loadSettingContract, type SettingContract } from '../../tools/bicep-check/settings-contract.js';
import { loadTypeSnapshot, type TypeSnapshot } from '../../tools/bicep-check/types.js';

/** Repository root (this file runs from dist/test/infra/). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const INFRA = path.join(ROOT, 'infra');

let snapshot: TypeSnapshot | undefined;
export function typeSnapshot(): TypeSnapshot {
  snapshot ??= loadTypeSnapshot(path.join(INFRA, '.types', 'bicep-types.json'));
  return snapshot;
}

let contract: SettingContract | undefined;
/** SETTING_NAMES / DEFAULTS from src/settings.ts. */
export function settingContract(): SettingContract {
  contract ??= loadSettingContract();
  return contract;
}

let sources: Record<string, string> | undefined;
export function infraSources(): Record<string, string> {
  sources ??= readBicepTree(INFRA);
  return sources;
}

export function check(files: Record<string, string> = infraSources()): Promise<CheckReport> {
  const c = settingContract();
  return checkInfra({ files, types: typeSnapshot(), posture: { settingNames: c.names, settingDefaults: c.defaults } });
}
