#!/bin/sh
# Stages the function app's deployment package in dist/package — host.json, package.json and the compiled
# code package.json's "main" points to — and, with --zip <file>, zips it for
# `az functionapp deployment source config-zip --src <file>`. azd (azure.yaml: dist: dist/package,
# remoteBuild: false) and Core Tools (run in dist/package) deploy the folder. An allow-list: nothing else
# (sources, tests, tools, infra, docs, devDependencies, azd's .azure/) can reach the package.
#   main = dist/bundle/...  (esbuild bundle, tools/build/bundle.mjs): dist/bundle only; it holds every dependency.
#   main = dist/src/...     (plain tsc output): dist/src + package-lock.json + production node_modules
#                           (npm ci --omit=dev).
#
# Usage: scripts/azd-hooks/stage-package.sh [--zip dist/function.zip]
# Needs: node + npm (run `npm ci && npm run build` first, or let this script build), zip or python3 for --zip.
set -eu

case "${1:-}" in
  -h | --help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

cd "$(dirname "$0")/../.."
root="$(pwd)"

main="$(node -p "require('./package.json').main || ''")"
# The folder the entry points live in: the first two segments of "main" (dist/bundle, dist/src).
code_dir="$(printf '%s' "$main" | cut -d/ -f1-2)"
case "$code_dir" in
  dist/*) ;;
  *)
    echo "stage-package: package.json \"main\" ($main) is not under dist/: cannot tell what to deploy" >&2
    exit 2
    ;;
esac

if ! ls $main >/dev/null 2>&1; then
  echo "Building (npm run build) ..."
  npm run build
fi
ls $main >/dev/null 2>&1 || {
  echo "stage-package: nothing matches \"main\" ($main) after the build" >&2
  exit 2
}

rm -rf dist/package
mkdir -p "dist/package/$(dirname "$code_dir")"
cp host.json package.json dist/package/
cp -R "$code_dir" "dist/package/$code_dir"
if [ "$code_dir" = "dist/bundle" ]; then
  echo "Staged the bundle ($code_dir): it contains its dependencies, no node_modules needed."
else
  cp package-lock.json dist/package/
  echo "Installing production dependencies into dist/package (npm ci --omit=dev) ..."
  (cd dist/package && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

if [ "${1:-}" = "--zip" ]; then
  out="${2:-dist/function.zip}"
  case "$out" in /*) ;; *) out="$root/$out" ;; esac
  rm -f "$out"
  if command -v zip >/dev/null 2>&1; then
    (cd dist/package && zip -qr "$out" .)
  elif command -v python3 >/dev/null 2>&1; then
    python3 - "$root/dist/package" "$out" <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, _, files in os.walk(src):
        for f in files:
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, src))
EOF
  else
    echo "stage-package: neither zip nor python3 found to create $out" >&2
    exit 3
  fi
  echo "Wrote $out"
fi
echo "Staged dist/package ($(du -sh dist/package | cut -f1))."
