#!/usr/bin/env bash
# Sets up .venv for frontside on a fresh Debian machine with Python 3.11. Idempotent: a stamp holding the
# hash of pyproject.toml and this script makes a second call cost ~0.1 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
venv="${FRONTSIDE_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

gl_packages=(libegl1 libgl1-mesa-dri libegl-mesa0)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${gl_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing the GL packages pyrender needs: ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: pyrender needs these Debian packages for headless rendering: ${missing[*]}" >&2
    echo "bootstrap: run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

stamp="$venv/.frontside-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "frontside needs Python >= 3.11"'
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip 2>&1 | grep -v "is ignored" || true
# The pin keeps pip on the CPU build that lies on this machine's disk; an unpinned torch pulls ~5 GB of CUDA.
# Users with a GPU may install their own torch before calling this.
"$venv/bin/python" -c 'import torch' 2>/dev/null || "${pip[@]}" install "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
"${pip[@]}" install -e ".[dev,dask]" 2>&1 | grep -v "is ignored" || true
# pyrender pins PyOpenGL 3.1.0, whose OSMesa path is broken; 3.1.10 works for both EGL and OSMesa.
"${pip[@]}" install --no-deps "PyOpenGL==3.1.10" 2>&1 | grep -v "is ignored" || true
"$venv/bin/python" -c 'import frontside, torch, prefect, pyrender' 
echo "$want" > "$stamp"
echo "bootstrap: environment ready in $venv"
