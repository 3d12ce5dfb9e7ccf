#!/usr/bin/env bash
# The main job until `voxline serve` exists: a simulated COD confirmation call with the
# real models (the callee answers, confirms the order and availability), written to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./target/release/voxline simulate --out out audio-fixtures/calls/cod_confirm.toml
