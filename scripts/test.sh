#!/usr/bin/env bash
# Full test suite: set-up, format and lint checks, then every unit and integration test
# with the real models. Model tests each use both cores (whisper.cpp spins its threads),
# so tests run one at a time: about 1 minute serially against 6+ minutes oversubscribed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings
RUST_TEST_THREADS="${RUST_TEST_THREADS:-1}" cargo test --release "$@"
