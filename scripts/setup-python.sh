#!/usr/bin/env bash
# Idempotently create <repo>/.venv and install scripts/requirements.txt into it, plus
# scripts/requirements-<extra>.txt for each EXTRA named on the command line
# (e.g. `scripts/setup-python.sh temporal`).
# Re-running is a no-op (no pip call) when the venv already holds exactly these files: the
# sha256 of each is stored in .venv/.requirements[-<extra>].sha256 after a successful install.
# Set FORCE=1 to reinstall anyway. Prints the venv's python path as the last stdout line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup-python: $venv is broken, recreating" >&2
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-python: creating $venv" >&2
    "$python" -m venv "$venv"
    rm -f "$venv"/.requirements*.sha256
fi

install() { # requirements-file stamp-file
    local req="$1" stamp="$2" want
    [[ -f "$req" ]] || { echo "setup-python: no $req" >&2; exit 2; }
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ "${FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "setup-python: $(basename "$req") already installed in $venv" >&2
        return
    fi
    echo "setup-python: installing $req" >&2
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >&2
    "$venv/bin/python" -m pip check >&2
    echo "$want" >"$stamp"
}

install "$repo/scripts/requirements.txt" "$venv/.requirements.sha256"
for extra in "$@"; do
    install "$repo/scripts/requirements-$extra.txt" "$venv/.requirements-$extra.sha256"
done
echo "$venv/bin/python"
