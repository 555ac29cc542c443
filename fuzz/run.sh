#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60), one after another, on the corpus in
# fuzz/corpus/TARGET. Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# cargo-fuzz passes -Z sanitizer flags; RUSTC_BOOTSTRAP=1 lets a stable toolchain accept
# them (set RUSTC_BOOTSTRAP=0 and use `cargo +nightly` if you prefer a nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(frame handshake client_payload cert_chain proxy_header stanza binary_stanza
        binary_differential)
fi
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
cargo fuzz build -O
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo "== $target for ${seconds}s"
    cargo fuzz run -O "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1
done
