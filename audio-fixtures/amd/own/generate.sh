#!/usr/bin/env bash
# Answering-machine detection fixtures (the detector author's set; ../independent/ is the
# other half, written without the detector): clips.txt -> NAME.wav, 8 kHz 16-bit mono,
# through mu-law and back, from the moment of answer. Humans: LEAD_S silence, a short
# answer, TAIL s of line noise. Machines: the greeting, then a 0.5 s beep at TAIL Hz (or
# none) and 1 s of line noise. labels.tsv: NAME<TAB>LABEL<TAB>TEXT.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "needs espeak-ng and sox" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
: > labels.tsv
noise() { sox -R -q -n -r 8000 -b 16 -e signed-integer "$2" synth "$1" whitenoise vol 0.004; }
grep -v '^#' clips.txt | grep -v '^$' | while IFS='|' read -r name label voice wpm lead tail text; do
  espeak-ng -v "$voice" -s "$wpm" -w "$tmp/raw.wav" "$text"
  sox -R -q "$tmp/raw.wav" -r 8000 -b 16 -e signed-integer "$tmp/speech.wav"
  noise "$lead" "$tmp/lead.wav"
  parts=("$tmp/lead.wav" "$tmp/speech.wav")
  if [ "$label" = human ]; then
    noise "$tail" "$tmp/tail.wav"; parts+=("$tmp/tail.wav")
  else
    if [ "$tail" != none ]; then
      noise 0.3 "$tmp/gap.wav"
      sox -R -q -n -r 8000 -b 16 -e signed-integer "$tmp/beep.wav" synth 0.5 sine "$tail" vol 0.5
      parts+=("$tmp/gap.wav" "$tmp/beep.wav")
    fi
    noise 1 "$tmp/tail.wav"; parts+=("$tmp/tail.wav")
  fi
  sox -R -q "${parts[@]}" -e u-law "$tmp/ulaw.wav"
  sox -R -q "$tmp/ulaw.wav" -b 16 -e signed-integer "$name.wav"
  printf '%s\t%s\t%s\n' "$name" "$label" "$text" >> labels.tsv
done
echo "generated $(wc -l < labels.tsv) clips"
