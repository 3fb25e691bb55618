#!/usr/bin/env bash
# Builds the web portals (web/, TypeScript with Vite) into OUT_DIR, with a gzipped copy of each
# text file beside it (sund serve sends those to browsers that accept gzip), and checks the
# size budget (300 KB gzipped, issue #10). Called by the build (CMake target `web`); needs the
# npm packages that scripts/install-deps.sh installs (npm ci in web/).
# Usage: scripts/build-web.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: build-web.sh OUT_DIR}"
if [[ ! -d "$here/web/node_modules" ]]; then
  echo "build-web: web/node_modules is missing (scripts/install-deps.sh runs npm ci in web/)" >&2
  exit 1
fi
cd "$here/web"
npm run --silent typecheck
npm run --silent build -- --outDir "$out" --emptyOutDir --logLevel warn
find "$out" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \
  -o -name '*.json' -o -name '*.webmanifest' \) -exec gzip -k -9 -n -f {} +
npm run --silent size -- "$out"
