#!/usr/bin/env bash
# Copies GraphiQL's browser builds, from this folder's npm lock file, into assets/vendor/, which the
# Python package ships: the playground then needs nothing from the internet. Run it after changing
# package.json, and commit what it writes.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
vendor=assets/vendor
rm -rf "$vendor" && mkdir -p "$vendor/licenses"
cp node_modules/react/umd/react.production.min.js \
   node_modules/react-dom/umd/react-dom.production.min.js \
   node_modules/graphiql/graphiql.min.js \
   node_modules/graphiql/graphiql.min.css \
   "$vendor/"
cp node_modules/@graphiql/plugin-explorer/dist/index.umd.js "$vendor/plugin-explorer.umd.js"
cp node_modules/@graphiql/plugin-explorer/dist/style.css "$vendor/plugin-explorer.css"
for package in react react-dom graphiql @graphiql/plugin-explorer; do
  name=${package//\//-}
  version=$(node -p "require('./node_modules/$package/package.json').version")
  license=$(node -p "require('./node_modules/$package/package.json').license")
  if [ -f "node_modules/$package/LICENSE" ]; then
    cp "node_modules/$package/LICENSE" "$vendor/licenses/$name.LICENSE"
  else  # the package ships no license file; its package.json names the license
    echo "$package $version is distributed under the $license license (package.json)." \
      > "$vendor/licenses/$name.LICENSE"
  fi
  echo "$package@$version ($license)" >> "$vendor/licenses/VERSIONS"
done
