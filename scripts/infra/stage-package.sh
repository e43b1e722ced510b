#!/bin/sh
# Stages the function app's deployment package in dist/package: host.json, package.json,
# package-lock.json, the compiled dist/src, and node_modules with production dependencies only — the files
# .funcignore keeps, without devDependencies. azd deploys that folder (azure.yaml: dist: dist/package,
# remoteBuild: false); with --zip <file> it is also zipped for
# `az functionapp deployment source config-zip --src <file>`.
#
# Usage: scripts/infra/stage-package.sh [--zip dist/function.zip]
# Needs: node + npm (run `npm ci && npm run build` first, or let this script build), zip or python3 for --zip.
set -eu

case "${1:-}" in
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

cd "$(dirname "$0")/../.."
root="$(pwd)"

if [ ! -f dist/src/functions/exportUsers.js ]; then
  echo "Building (npm run build) ..."
  npm run build
fi

rm -rf dist/package
mkdir -p dist/package/dist
cp host.json package.json package-lock.json dist/package/
cp -R dist/src dist/package/dist/src
echo "Installing production dependencies into dist/package (npm ci --omit=dev) ..."
(cd dist/package && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

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
