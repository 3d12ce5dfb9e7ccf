#!/usr/bin/env bash
# Full test suite: set-up, then every unit and integration test with the real models.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo test --release "$@"
