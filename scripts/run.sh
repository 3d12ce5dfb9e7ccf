#!/usr/bin/env bash
# The main job until `voxline serve` exists: transcribe a caller fixture at
# 16 kHz and over a telephone band (8 kHz mu-law round trip).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
for band in 16k 8k; do
  printf '%s: ' "$band"
  ./target/release/voxline transcribe "audio-fixtures/$band/three_seconds.wav"
done
