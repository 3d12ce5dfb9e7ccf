#!/usr/bin/env bash
# Full test suite: set-up, then every unit and integration test with the real models.
# Model tests each use both cores (whisper.cpp spins its threads), so tests run one
# at a time: about 1 minute serially against 6+ minutes oversubscribed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RUST_TEST_THREADS="${RUST_TEST_THREADS:-1}" cargo test --release "$@"
