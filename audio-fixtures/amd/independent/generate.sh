#!/usr/bin/env bash
# Regenerates every WAV fixture in this directory (and labels.tsv) from scratch
# using only espeak-ng and sox.  Idempotent: it overwrites human_NN.wav,
# machine_NN.wav and labels.tsv each run.  Output: 8000 Hz, mono, 16-bit PCM.
#
# Each clip starts at the moment the call is answered.
#   human_NN   : short answer (0.4-2.5 s of speech) + waiting silence, 4-7 s total
#   machine_NN : voicemail greeting (4-15 s of speech), optional beep, then 1 s silence
#
# Clip description syntax (one "segment" per argument, fields split by '|'):
#   sil|SECONDS                      digital silence
#   say|VOICE|SPEED|PITCH|TEXT       espeak-ng speech, resampled to 8 kHz, trimmed of
#                                    espeak's own leading/trailing silence,
#                                    band-limited to the telephone band, normalised
#   beep|HZ|SECONDS                  pure sine tone (10 ms fades)
#   music|SECONDS                    little plucked jingle (hold-music-like)
# build OUT TOTAL NOISE SEGMENTS...
#   TOTAL: pad with trailing silence up to TOTAL seconds (0 = no padding)
#   NOISE: none | white:VOL | brown:VOL | pink:VOL  (mixed over the whole clip)
#
# Requirements: espeak-ng (1.51 tested), sox (14.4.2 tested).  No mbrola voices.
set -euo pipefail

cd "$(dirname "$0")"
RATE=8000
SOX=(sox -R -D)          # -R: repeatable random numbers (noise), -D: no dither
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

rm -f human_[0-9][0-9].wav machine_[0-9][0-9].wav
printf 'file\tlabel\tvoice\ttext\n' > labels.tsv

fmt=(-r "$RATE" -c 1 -b 16 -e signed-integer)

render_segment() {  # $1 = segment spec, $2 = output wav path (8 kHz)
  local spec=$1 out=$2 kind
  IFS='|' read -r kind a b c d <<<"$spec"
  case "$kind" in
    sil)
      "${SOX[@]}" -n "${fmt[@]}" "$out" trim 0 "$a" ;;
    say)
      espeak-ng -v "$a" -s "$b" -p "$c" -w "$TMP/raw.wav" "$d"
      "${SOX[@]}" "$TMP/raw.wav" "${fmt[@]}" "$out" \
        silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse \
        sinc 250-3400 norm -3
      printf '  speech %6.2fs  %s\n' "$(soxi -D "$out")" "$d" >&2 ;;
    beep)
      "${SOX[@]}" -n "${fmt[@]}" "$out" synth "$b" sine "$a" vol 0.5 fade h 0.01 -0 0.01 ;;
    music)
      # C5 E5 G5 E5 C6 plucked notes, quiet
      local i=0 notes=(C5 E5 G5 E5 C6) parts=() nd
      nd=$(awk -v t="$a" 'BEGIN{printf "%.3f", t/5}')
      for n in "${notes[@]}"; do
        i=$((i + 1))
        "${SOX[@]}" -n "${fmt[@]}" "$TMP/note_$i.wav" synth "$nd" pluck "$n" vol 0.35 fade h 0 -0 0.03
        parts+=("$TMP/note_$i.wav")
      done
      "${SOX[@]}" "${parts[@]}" "$out" ;;
    *) echo "bad segment: $spec" >&2; exit 1 ;;
  esac
}

build() {  # OUT TOTAL NOISE SEG...
  local out=$1 total=$2 noise=$3; shift 3
  local parts=() s len pad k=0
  rm -f "$TMP"/seg_*.wav
  for s in "$@"; do
    k=$((k + 1))
    render_segment "$s" "$TMP/seg_$k.wav"
    parts+=("$TMP/seg_$k.wav")
  done
  if [ "${#parts[@]}" -gt 1 ]; then
    "${SOX[@]}" "${parts[@]}" "$TMP/cat.wav"
  else
    cp "${parts[0]}" "$TMP/cat.wav"
  fi
  if [ "$total" != 0 ]; then
    len=$(soxi -D "$TMP/cat.wav")
    pad=$(awk -v t="$total" -v l="$len" 'BEGIN{p=t-l+0.01; if(p<0)p=0; printf "%.3f", p}')
    "${SOX[@]}" "$TMP/cat.wav" "$TMP/pad.wav" pad 0 "$pad" trim 0 "$total"
  else
    cp "$TMP/cat.wav" "$TMP/pad.wav"
  fi
  if [ "$noise" != none ]; then
    local ntype=${noise%%:*} nvol=${noise#*:}
    len=$(soxi -D "$TMP/pad.wav")
    "${SOX[@]}" -n "${fmt[@]}" "$TMP/noise.wav" synth "$len" "${ntype}noise" vol "$nvol" sinc 200-3400
    "${SOX[@]}" -m -v 1 "$TMP/pad.wav" -v 1 "$TMP/noise.wav" "${fmt[@]}" "$out" trim 0 "$len"
  else
    "${SOX[@]}" "$TMP/pad.wav" "${fmt[@]}" "$out"
  fi
}

# label row: derives voice(s) and text from the segment list
label() {  # FILE LABEL SEG...
  local file=$1 lab=$2; shift 2
  local voices=() texts=() s kind a b c d extra=""
  for s in "$@"; do
    IFS='|' read -r kind a b c d <<<"$s"
    case "$kind" in
      say)  texts+=("$d"); local v="$a s$b p$c"
            [[ " ${voices[*]-} " == *" $v "* ]] || voices+=("$v") ;;
      beep) extra+=" [beep $a]" ;;
      music) texts+=("[music]") ;;
    esac
  done
  local vjoined
  vjoined=$(printf '%s; ' "${voices[@]}"); vjoined=${vjoined%; }
  local IFS=' '
  printf '%s\t%s\t%s\t%s%s\n' "$file" "$lab" "$vjoined" "${texts[*]}" "$extra" >> labels.tsv
}

clip() {  # NAME LABEL TOTAL NOISE SEG...
  local name=$1 lab=$2 total=$3 noise=$4; shift 4
  echo "$name.wav ($lab)" >&2
  build "$name.wav" "$total" "$noise" "$@"
  label "$name.wav" "$lab" "$@"
}

# ---------------------------------------------------------------- humans
clip human_01 human 5.0 none \
  "sil|0.30" "say|en-us+f3|165|55|Hello?"
clip human_02 human 4.5 none \
  "sil|0.15" "say|en-gb+m4|175|40|Yeah, hi?"
clip human_03 human 6.5 none \
  "sil|0.40" "say|en-us+m3|160|45|Hello?" "sil|2.50" "say|en-us+m3|150|50|Hello?"
clip human_04 human 5.5 none \
  "sil|0.20" "say|en-029+f2|160|60|Good morning, who's this?"
clip human_05 human 5.0 none \
  "sil|0.50" "say|en-gb-scotland+m2|150|35|Aye, hello?"
clip human_06 human 6.5 none \
  "sil|0.25" "say|en-gb-x-rp+f4|200|62|Yes, hello, Priya here, who is calling?"
clip human_07 human 5.0 none \
  "sil|1.05" "say|en-us+m5|155|42|Hello?"
clip human_08 human 5.0 brown:0.04 \
  "sil|0.35" "say|en-us+f2|170|68|Hi, who's calling?"
clip human_09 human 5.5 none \
  "sil|0.10" "say|en-gb+f3|170|58|Hello, Arjun speaking."
clip human_10 human 7.0 none \
  "sil|0.30" "say|en-us-nyc+m1|170|38|Yep, hello?" "sil|2.60" "say|en-us-nyc+m1|170|44|Hello? Anyone?"
clip human_11 human 5.0 white:0.012 \
  "sil|0.60" "say|en+f5|160|65|Hello, yes?"
clip human_12 human 5.0 none \
  "sil|0.20" "say|en-gb-x-gbclan+m3|165|48|Hiya, who's that?"
clip human_13 human 6.5 none \
  "sil|0.45" "say|en-029+m4|180|36|Yes, Daniel here, who is this?"
clip human_14 human 6.0 pink:0.02 \
  "sil|0.25" "say|en-us+f4|160|52|Hello?" "sil|2.20" "say|en-us+f4|150|58|Hello?"

# ---------------------------------------------------------------- machines
clip machine_01 machine 0 none \
  "sil|0.40" "say|en-us+f3|170|55|Hi there, this is Kavya. Sorry I missed you. Drop me a few words and your number, and I'll ring you back soon." \
  "sil|0.30" "beep|1000|0.50" "sil|1.00"
clip machine_02 machine 0 none \
  "sil|0.20" "say|en-gb+m3|165|45|The number you have dialled is unable to take your call at the moment. Please speak after the signal." \
  "sil|0.40" "beep|850|0.60" "sil|1.00"
clip machine_03 machine 0 none \
  "sil|0.30" "say|en-us+m4|175|40|Yo, Dev here. Can't pick up right now, so you know the drill. Talk soon!" \
  "sil|1.00"
clip machine_04 machine 0 none \
  "sil|0.60" "say|en-gb-x-rp+f2|170|60|Good afternoon, you have reached Harlow and Finch. Our office hours are nine until five, Monday to Friday." \
  "sil|0.50" "say|en-gb-x-rp+f2|170|60|Please record your name, number and the reason for your call, and we will get back to you." \
  "sil|0.30" "beep|1400|0.40" "sil|1.00"
clip machine_05 machine 0 none \
  "sil|0.10" "say|en-029+m2|155|42|Hey, this is Marcus. I'm away from the phone right now. Say your piece and I'll call you back, yeah?" \
  "sil|1.00"
clip machine_06 machine 0 none \
  "sil|0.35" "say|en-us+f5|160|50|The subscriber you are trying to reach is currently unavailable." \
  "sil|0.80" "say|en-us+f5|160|50|Please record your message when you hear the tone." \
  "sil|0.70" "say|en-us+f5|160|50|When you have finished recording, you may hang up." \
  "sil|0.40" "beep|440|0.80" "sil|1.00"
clip machine_07 machine 0 none \
  "sil|0.25" "say|en-gb-scotland+f3|165|58|Hello, you're through to Fiona and Callum. We can't get to the phone just now. Leave us a wee message and we'll get back to you." \
  "sil|0.35" "beep|660|0.55" "sil|1.00"
clip machine_08 machine 0 none \
  "sil|0.20" "music|1.50" "sil|0.30" \
  "say|en-us+m1|165|48|Thank you for calling Brightside Dental." \
  "sil|0.60" "say|en-us+m1|165|48|Our office is currently closed." \
  "sil|0.60" "say|en-us+m1|165|48|Please leave your name and number after the beep." \
  "sil|0.40" "beep|1200|0.60" "sil|1.00"
clip machine_09 machine 0 brown:0.035 \
  "sil|0.50" "say|en-us-nyc+m5|180|38|Hi, Tony here. I'm probably out on a job. Shoot me a text or try me again later, thanks." \
  "sil|1.00"
clip machine_10 machine 0 none \
  "sil|0.30" "say|en+f4|165|62|Hello, and thanks for calling. Nobody is able to answer right now. Please say your name and number clearly, and we'll return your call as soon as we can." \
  "sil|0.30" "beep|950|0.50" "sil|1.00"
clip machine_11 machine 0 none \
  "sil|0.15" "say|en-gb+f2|160|55|Welcome to the voice messaging service. The person you have called," \
  "sil|0.50" "say|en-gb+m2|150|40|Sanjay Mehta," \
  "sil|0.50" "say|en-gb+f2|160|55|is not available. Please record your message after the tone. Press hash when you have finished." \
  "sil|0.30" "beep|1050|0.70" "sil|1.00"
clip machine_12 machine 0 none \
  "sil|0.45" "say|en-us+m3|185|45|Hi, this is Rohan. I'm either on another call or away from my desk. I check messages often, so tell me what you need and I'll be in touch today." \
  "sil|0.40" "beep|720|0.45" "sil|1.00"
clip machine_13 machine 0 none \
  "sil|0.20" "say|en-gb-x-gbcwmd+m4|170|42|Alright? It's Gaz. Can't talk now, mate. Ring back later or give us a bell on WhatsApp. Cheers." \
  "sil|1.00"
clip machine_14 machine 0 white:0.01 \
  "sil|0.70" "say|en-us+f2|170|66|You've reached the Okafor family. We're not home, but your call matters to us. After the beep, tell us who you are and how to reach you." \
  "sil|0.35" "beep|880|0.55" "sil|1.00"
clip machine_15 machine 0 none \
  "sil|0.30" "say|en-029+f3|175|60|Hi! This is Leela's phone. I'm travelling this week with patchy signal, so I might be slow to reply. Keep it short and sweet. Bye!" \
  "sil|1.00"

echo "generated $(ls human_[0-9][0-9].wav machine_[0-9][0-9].wav | wc -l) files"
