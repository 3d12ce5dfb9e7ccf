#!/usr/bin/env bash
# Regenerates the speech fixtures from utterances.txt with espeak-ng and sox:
#   16k/NAME.wav  16 kHz 16-bit mono
#   8k/NAME.wav   telephone band: 8 kHz, mu-law encoded and decoded back to 16-bit PCM
#   silence.wav   2 s of faint noise (16 kHz)
#   labels.tsv    NAME<TAB>expected transcript
# Output is deterministic for a given espeak-ng/sox version.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
mkdir -p 16k 8k
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
: > labels.tsv
grep -v '^#' utterances.txt | grep -v '^$' | while IFS='|' read -r name voice wpm text; do
  espeak-ng -v "$voice" -s "$wpm" -w "$tmp/raw.wav" "$text"
  sox -R -D -q "$tmp/raw.wav" -r 16000 -b 16 -e signed-integer 16k/"$name".wav pad 0.25 0.25
  sox -R -D -q "$tmp/raw.wav" -r 8000 -e u-law "$tmp/ulaw.wav" pad 0.25 0.25
  sox -R -D -q "$tmp/ulaw.wav" -b 16 -e signed-integer 8k/"$name".wav
  printf '%s\t%s\n' "$name" "$text" >> labels.tsv
done
sox -R -q -n -r 16000 -b 16 -e signed-integer silence.wav synth 2 whitenoise vol 0.003
echo "generated $(wc -l < labels.tsv) utterances"
