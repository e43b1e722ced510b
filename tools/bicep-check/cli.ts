/**
 * `node dist/tools/bicep-check/cli.js [infraDir]` — runs the offline Bicep checks and prints every finding
 * as `infra/<file>:<line>: [<check>/<rule>] message`; exits 1 when there is any.
 */
import path from 'node:path';
import { checkInfra, formatFinding } from './index.js';
import { loadSettingContract } from './settings-contract.js';

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..', '..', '..');
  const dir = path.resolve(process.argv[2] ?? path.join(root, 'infra'));
  const contract = loadSettingContract();
  const report = await checkInfra({ dir, posture: { settingNames: contract.names, settingDefaults: contract.defaults } });
  for (const n of report.notes) console.log(`note: ${n}`);
  for (const f of report.findings) console.log(formatFinding(f));
  const total = Object.values(report.millis).reduce((a, b) => a + b, 0);
  console.log(`${report.files.length} files, ${report.findings.length} finding(s), ${total} ms`);
  return report.findings.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(2);
  },
);
