/**
 * The function app carries none of the site properties and app settings that Microsoft lists as deprecated
 * on Flex Consumption ("App settings reference for Azure Functions", "Flex Consumption plan deprecations";
 * the list and its source are in tools/bicep-check/flex.ts). Newer stamps refuse a site PUT with, e.g.,
 * siteConfig.ftpsState.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLEX_DEPRECATED_APP_SETTINGS, FLEX_DEPRECATED_SITE_PROPERTIES, flexDeprecation } from '../../tools/bicep-check/flex.js';
import { prop } from '../../tools/bicep-check/project.js';
import { check, infraSources } from './helpers.js';

test('no site property, siteConfig property or app setting of the function app is deprecated on Flex Consumption', async () => {
  const report = await check();
  const found: string[] = [];
  for (const f of report.files)
    for (const r of f.resources) {
      if (r.type !== 'Microsoft.Web/sites') continue;
      for (const path of ['properties', 'properties.siteConfig']) {
        const obj = prop(r.body, path);
        for (const p of obj?.kind === 'object' ? obj.props : [])
          if (flexDeprecation(FLEX_DEPRECATED_SITE_PROPERTIES, p.key)) found.push(`${f.file}: ${path}.${p.key}`);
      }
      const settings = prop(r.body, 'properties.siteConfig.appSettings');
      for (const item of settings?.kind === 'array' ? settings.items : []) {
        const name = prop(item, 'name');
        const names =
          name?.kind === 'string'
            ? [name.value]
            : name?.kind === 'ternary'
              ? [name.then, name.else].flatMap((v) => (v.kind === 'string' ? [v.value] : []))
              : [];
        for (const n of names) if (flexDeprecation(FLEX_DEPRECATED_APP_SETTINGS, n)) found.push(`${f.file}: app setting ${n}`);
      }
    }
  assert.deepEqual(found, []);
  assert.deepEqual(
    report.findings.filter((x) => x.rule === 'posture/flex-deprecated'),
    [],
  );
});

test('the posture check refuses each kind of deprecated Flex property or setting', async () => {
  const base = infraSources();
  const fn = base['modules/functionapp.bicep']!;
  const cases: Array<[string, string, string]> = [
    ['siteConfig.ftpsState', "      minTlsVersion: '1.2'\n", "      minTlsVersion: '1.2'\n      ftpsState: 'Disabled'\n"],
    ['siteConfig.alwaysOn', "      minTlsVersion: '1.2'\n", "      minTlsVersion: '1.2'\n      alwaysOn: false\n"],
    ['site containerSize', '    httpsOnly: true\n', '    httpsOnly: true\n    containerSize: 1536\n'],
    [
      'app setting FUNCTIONS_EXTENSION_VERSION',
      "        {\n          name: 'AZURE_CLIENT_ID'",
      "        {\n          name: 'FUNCTIONS_EXTENSION_VERSION'\n          value: '~4'\n        }\n        {\n          name: 'AZURE_CLIENT_ID'",
    ],
  ];
  for (const [what, from, to] of cases) {
    const mutated = fn.replace(from, to);
    assert.notEqual(mutated, fn, what);
    const report = await check({ ...base, 'modules/functionapp.bicep': mutated });
    assert.ok(
      report.findings.some((f) => f.rule === 'posture/flex-deprecated'),
      `${what}: ${report.findings.map((f) => f.rule).join(', ')}`,
    );
  }
});
