/**
 * The settings the code reads: `SETTING_NAMES` and `DEFAULTS` from src/settings.ts itself, so the posture
 * check can never drift from the code.
 */
import { DEFAULTS, SETTING_NAMES } from '../../src/settings.js';

export interface SettingContract {
  names: readonly string[];
  defaults: Readonly<Record<string, string>>;
}

export function loadSettingContract(): SettingContract {
  return { names: SETTING_NAMES, defaults: DEFAULTS };
}
