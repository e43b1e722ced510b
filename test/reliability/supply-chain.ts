/**
 * Supply chain: few production dependencies, each named in the README with why; the lock file committed,
 * in sync with package.json, resolving every production package from the npm registry with an integrity
 * hash; no production package that needs an install script; `npm audit --omit=dev --audit-level=high` in
 * the GitHub workflow (npm audit cannot reach the advisory service from the build machines).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..', '..');

interface LockPackage {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  hasInstallScript?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
}

export function packageJson(): { dependencies: Record<string, string>; devDependencies: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
}

export function lockFile(): { lockfileVersion: number; packages: Record<string, LockPackage> } {
  return JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    lockfileVersion: number;
    packages: Record<string, LockPackage>;
  };
}

/** The rows of the README table under "Production dependencies": package → why. */
export function readmeDependencies(): Map<string, string> {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const start = readme.search(/^Production dependencies.*$/m);
  if (start < 0) throw new Error('README.md has no "Production dependencies" section');
  const rows = new Map<string, string>();
  const lines = readme.slice(start).split('\n').slice(1);
  let inTable = false;
  for (const line of lines) {
    if (line.startsWith('|')) {
      inTable = true;
      const m = /^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
      if (m) rows.set(m[1]!, m[2]!);
    } else if (inTable) {
      break;
    }
  }
  return rows;
}

/** Non-dev packages of the lock file (what `npm ci --omit=dev` installs). */
export function productionPackages(): Array<[string, LockPackage]> {
  return Object.entries(lockFile().packages).filter(([name, p]) => name !== '' && !p.dev && !p.devOptional && !p.link);
}

export function isCommitted(file: string): boolean | undefined {
  if (!fs.existsSync(path.join(REPO, '.git'))) return undefined;
  try {
    execFileSync('git', ['ls-files', '--error-unmatch', file], { cwd: REPO, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function workflowText(): string {
  const dir = path.join(REPO, '.github', 'workflows');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}
