#!/usr/bin/env bash
# Refresh src/quarterdeck/web/static/vendor/ from the pinned npm packages (package-lock.json): `make web-vendor`.
# The copied files are committed, so users and CI never need Node.js for the dashboard.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/src/quarterdeck/web/static/vendor/highlight"

npm_config_cache="$root/.cache/npm" npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
src="$here/node_modules/@highlightjs/cdn-assets"
# The grammars the diff view highlights: the languages agents most often write.
languages=(bash c cpp css diff dockerfile go ini java javascript json makefile markdown python rust sql typescript xml yaml)

rm -rf "$out"
mkdir -p "$out/languages"
cp "$src/LICENSE" "$out/LICENSE"
cp "$src/es/core.min.js" "$out/core.min.js"
cp "$src/styles/github.min.css" "$out/github.min.css"
for lang in "${languages[@]}"; do
    cp "$src/es/languages/$lang.min.js" "$out/languages/$lang.min.js"
done
version="$(node -p "require('$src/package.json').version")"
printf 'highlight.js %s (@highlightjs/cdn-assets, BSD-3-Clause): core, the github style, and %s\n' \
    "$version" "${languages[*]}" > "$out/VERSION"
echo "vendored highlight.js $version into ${out#"$root"/}"
