#!/usr/bin/env bash
# The one command that gates Sextant: installs what the tests need (when missing), then
# checks formatting, lints every target with warnings as errors, and runs every test.
# It changes nothing in the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# The gate builds every crate once: incremental compilation would only add tens of gigabytes of
# caches to the build directory (a full-disk failure on a small machine).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

disk_report() {
    local dir="${CARGO_TARGET_DIR:-target}"
    mkdir -p "$dir"
    log "disk: $(df -h "$dir" | awk 'NR==2 {print $4 " free on " $6}'), build directory $(du -sh "$dir" 2>/dev/null | cut -f1)"
}

# Test dependencies: the Rust test runner, psql, and the real servers the tests start
# (SeaweedFS, moto, Azurite: scripts/test-deps.sh).
install_test_deps() {
    if ! cargo nextest --version >/dev/null 2>&1; then
        log "installing cargo-nextest"
        cargo install cargo-nextest --locked
    fi
    if ! command -v psql >/dev/null 2>&1; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "psql is missing and apt-get is not available: install postgresql-client" >&2
            exit 1
        fi
        log "installing psql (postgresql-client)"
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-client >/dev/null
    fi
    scripts/test-deps.sh
}

install_test_deps
disk_report
trap 'disk_report' ERR

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

# The verification suite's end-to-end tests run real `sextant` processes: build the binary
# first and name it, so that they run (a missing binary fails them instead of skipping).
log "cargo build -p sextant-cli (for sextant-verify's end-to-end runs)"
cargo build -p sextant-cli
export SEXTANT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sextant"

# The network-namespace tests need root (CAP_NET_ADMIN). Where a probe cannot create a
# namespace they are left out and reported as skipped, with the reason; run, they would fail.
filter=()
probe="sxgate$$"
if netns_err=$(ip netns add "$probe" 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
else
    log "SKIPPED: the network-namespace tests (crates/cli/tests/netns.rs): ip netns add: ${netns_err:-not permitted}"
    filter=(-E 'not binary(netns)')
fi

log "tests (cargo nextest)"
cargo nextest run --workspace --no-fail-fast "${filter[@]}"

# nextest does not run doctests.
log "doctests"
cargo test --workspace --doc

disk_report
log "all checks passed"
