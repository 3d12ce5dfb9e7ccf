#!/usr/bin/env bash
# The main job: `voxline serve` with the embedded defaults (HTTP on 127.0.0.1:8080, the
# SQLite store voxline.db, the local models), printing its URLs. Ctrl-C drains and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec ./target/release/voxline serve "$@"
