//! A picture of a call: both channels' waveforms on one time axis, with the caller's
//! speech, the bot's playout, transcripts and intents, barge-ins, and each reply's
//! response latency. Built from the stored timeline (JSON events, as `GET /v1/calls/{id}`
//! returns them), so a live call and a simulated one draw the same way.

use std::fmt::Write;

use serde_json::Value;

/// Horizontal scale.
const PX_PER_S: f64 = 40.0;
const LEFT: f64 = 70.0;
/// Room after the last second for a closing flag's label.
const RIGHT: f64 = 150.0;
/// Average glyph width at the 11 px label size, for truncating labels to their room.
const CHAR_PX: f64 = 6.2;

const CALLER_MID: f64 = 95.0;
const BOT_MID: f64 = 222.0;
const HALF: f64 = 36.0;
const CALLER_TEXT: [f64; 2] = [148.0, 161.0];
const BOT_TEXT: [f64; 2] = [277.0, 291.0];
const EVENTS_Y: f64 = 318.0;
const HEIGHT: f64 = 340.0;

/// The call's audio: caller and bot channels at `rate`.
pub struct Tracks<'a> {
    pub caller: &'a [f32],
    pub bot: &'a [f32],
    pub rate: u32,
}

/// One labelled point on a lane.
struct Label {
    at_ms: u64,
    text: String,
}

/// What the drawing needs from the timeline.
#[derive(Default)]
struct Marks {
    speech: Vec<(u64, u64)>,
    playout: Vec<(u64, u64)>,
    caller: Vec<Label>,
    bot: Vec<Label>,
    /// Barge-ins (pause) and how they resolved (resume reasons).
    barge_ins: Vec<u64>,
    resumes: Vec<(u64, String)>,
    /// Response latency: (first bot frame at, ms since the caller's last voiced audio).
    responses: Vec<(u64, u64)>,
    /// DTMF, handoff, outcome.
    flags: Vec<Label>,
    end_ms: u64,
}

fn marks(events: &[Value]) -> Marks {
    let mut m = Marks::default();
    let (mut speech_from, mut playout_from) = (None, None);
    for e in events {
        let at = e.get("at_ms").and_then(Value::as_u64).unwrap_or(0);
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        m.end_ms = m.end_ms.max(at);
        match e.get("type").and_then(Value::as_str).unwrap_or("") {
            "speech_start" => speech_from = Some(at),
            "speech_end" => m.speech.extend(speech_from.take().map(|from| (from, at))),
            "playout_start" => playout_from = Some(at),
            "playout_stop" => m.playout.extend(playout_from.take().map(|from| (from, at))),
            "asr_final" if !s("text").trim().is_empty() => {
                m.caller.push(Label { at_ms: at, text: format!("\u{201c}{}\u{201d}", s("text").trim()) })
            }
            "intent" => {
                if let Some(last) = m.caller.last_mut() {
                    if !last.text.contains(" \u{2192} ") {
                        last.text.push_str(&format!(" \u{2192} {}", s("name")));
                    }
                }
            }
            "bot_say" => m.bot.push(Label { at_ms: at, text: s("text") }),
            "playout_pause" => m.barge_ins.push(at),
            "playout_resume" => m.resumes.push((at, s("reason").replace('_', " "))),
            "latency" if s("stage") == "response" => {
                m.responses.push((at, e.get("ms").and_then(Value::as_u64).unwrap_or(0)))
            }
            "dtmf" => m.flags.push(Label { at_ms: at, text: format!("DTMF {}", s("digit")) }),
            "handoff" => m.flags.push(Label { at_ms: at, text: format!("handoff: {}", s("reason")) }),
            "outcome" => m.flags.push(Label { at_ms: at, text: format!("outcome: {}", s("code")) }),
            _ => {}
        }
    }
    let end = m.end_ms;
    m.speech.extend(speech_from.map(|from| (from, end)));
    m.playout.extend(playout_from.map(|from| (from, end)));
    m
}

fn x(ms: u64) -> f64 {
    LEFT + ms as f64 * PX_PER_S / 1000.0
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The waveform as one path of vertical strokes, one per pixel column.
fn waveform(out: &mut String, samples: &[f32], rate: u32, mid: f64, colour: &str) {
    if samples.is_empty() || rate == 0 {
        return;
    }
    let per_px = (rate as f64 / PX_PER_S).max(1.0);
    let peak = samples.iter().fold(0f32, |p, s| p.max(s.abs())).max(0.05) as f64;
    let mut d = String::new();
    let columns = (samples.len() as f64 / per_px).ceil() as usize;
    for c in 0..columns {
        let from = (c as f64 * per_px) as usize;
        let to = (((c + 1) as f64 * per_px) as usize).min(samples.len());
        let amp = samples[from..to].iter().fold(0f32, |p, s| p.max(s.abs())) as f64 / peak;
        let h = (amp * HALF).max(0.5);
        let _ = write!(d, "M{:.1} {:.1}V{:.1}", LEFT + c as f64 + 0.5, mid - h, mid + h);
    }
    let _ = writeln!(out, r##"<path d="{d}" stroke="{colour}" stroke-width="1"/>"##);
}

/// Labels on two alternating rows, each cut to the room before the next on its row.
fn labels(out: &mut String, labels: &[Label], rows: [f64; 2], colour: &str, end_x: f64) {
    for (i, label) in labels.iter().enumerate() {
        let next = labels.get(i + 2).map_or(end_x, |l| x(l.at_ms));
        let room = ((next - x(label.at_ms) - 6.0) / CHAR_PX).max(3.0) as usize;
        let chars: Vec<char> = label.text.chars().collect();
        let shown: String = if chars.len() > room {
            chars[..room - 1].iter().chain(['\u{2026}'].iter()).collect()
        } else {
            label.text.clone()
        };
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{}" fill="{colour}"><title>{}</title>{}</text>"##,
            x(label.at_ms),
            rows[i % 2],
            escape(&label.text),
            escape(&shown)
        );
    }
}

/// The SVG document for a call. `title` heads it (call id, flow, outcome); `tracks` is
/// the recording, when there is one.
pub fn timeline_svg(title: &str, tracks: Option<Tracks<'_>>, events: &[Value]) -> String {
    let m = marks(events);
    let audio_ms = tracks.as_ref().map_or(0, |t| t.caller.len().max(t.bot.len()) as u64 * 1000 / t.rate.max(1) as u64);
    let end_ms = m.end_ms.max(audio_ms) + 500;
    let width = x(end_ms) + RIGHT;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{HEIGHT}" viewBox="0 0 {width:.0} {HEIGHT}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(s, r##"<text x="8" y="18" font-size="13" font-weight="bold">{}</text>"##, escape(title));
    // Time axis: a tick each second, a label every five.
    let _ = writeln!(s, r##"<line x1="{LEFT}" y1="40" x2="{:.1}" y2="40" stroke="#999"/>"##, x(end_ms));
    for sec in 0..=end_ms / 1000 {
        let tx = x(sec * 1000);
        let long = sec % 5 == 0;
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="40" x2="{tx:.1}" y2="{}" stroke="#999"/>"##,
            if long { 46 } else { 43 }
        );
        if long {
            let _ = writeln!(s, r##"<text x="{tx:.1}" y="36" text-anchor="middle" fill="#666">{sec} s</text>"##);
        }
    }
    for (name, mid) in [("caller", CALLER_MID), ("bot", BOT_MID)] {
        let _ = writeln!(s, r##"<text x="8" y="{:.1}" fill="#333">{name}</text>"##, mid + 4.0);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{mid}" x2="{:.1}" y2="{mid}" stroke="#ddd"/>"##, x(end_ms));
    }
    for (spans, mid, fill) in [(&m.speech, CALLER_MID, "#dbeafe"), (&m.playout, BOT_MID, "#dcfce7")] {
        for (from, to) in spans {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{}" fill="{fill}"/>"##,
                x(*from),
                mid - HALF - 4.0,
                (x(*to) - x(*from)).max(1.0),
                2.0 * HALF + 8.0
            );
        }
    }
    if let Some(t) = &tracks {
        waveform(&mut s, t.caller, t.rate, CALLER_MID, "#1d4ed8");
        waveform(&mut s, t.bot, t.rate, BOT_MID, "#15803d");
    }
    // Response latency: a bracket from the caller's last voiced audio to the reply's first frame.
    for (at, ms) in &m.responses {
        let (x0, x1, y) = (x(at.saturating_sub(*ms)), x(*at), BOT_MID - HALF - 8.0);
        let _ = writeln!(
            s,
            r##"<path d="M{x0:.1} {:.1}V{y:.1}H{x1:.1}V{:.1}" fill="none" stroke="#b45309"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#b45309">{ms} ms</text>"##,
            y + 4.0,
            y + 4.0,
            (x0 + x1) / 2.0,
            y - 3.0
        );
    }
    for at in &m.barge_ins {
        let bx = x(*at);
        let _ = writeln!(
            s,
            r##"<line x1="{bx:.1}" y1="{:.1}" x2="{bx:.1}" y2="{:.1}" stroke="#dc2626" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="#dc2626">barge-in</text>"##,
            CALLER_MID - HALF,
            BOT_MID + HALF,
            bx + 3.0,
            CALLER_MID + HALF + 2.0
        );
    }
    for (at, reason) in &m.resumes {
        let rx = x(*at);
        let _ = writeln!(
            s,
            r##"<line x1="{rx:.1}" y1="{:.1}" x2="{rx:.1}" y2="{:.1}" stroke="#d97706" stroke-dasharray="3 2"/><text x="{:.1}" y="{:.1}" fill="#d97706">resume: {}</text>"##,
            BOT_MID - HALF,
            BOT_MID + HALF,
            rx + 3.0,
            BOT_MID + HALF - 2.0,
            escape(reason)
        );
    }
    let end_x = x(end_ms);
    labels(&mut s, &m.caller, CALLER_TEXT, "#1e3a8a", end_x);
    labels(&mut s, &m.bot, BOT_TEXT, "#14532d", end_x);
    for (i, flag) in m.flags.iter().enumerate() {
        let fx = x(flag.at_ms);
        let _ = writeln!(
            s,
            r##"<circle cx="{fx:.1}" cy="{:.1}" r="3" fill="#7c3aed"/><text x="{:.1}" y="{:.1}" fill="#5b21b6">{}</text>"##,
            EVENTS_Y - 4.0,
            fx + 5.0,
            EVENTS_Y + if i % 2 == 0 { 0.0 } else { 13.0 },
            escape(&flag.text)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events() -> Vec<Value> {
        vec![
            json!({"at_ms": 0, "type": "bot_say", "text": "Hi, this is the voxline assistant <AI>."}),
            json!({"at_ms": 100, "type": "playout_start"}),
            json!({"at_ms": 1500, "type": "speech_start"}),
            json!({"at_ms": 1700, "type": "playout_pause"}),
            json!({"at_ms": 2600, "type": "speech_end"}),
            json!({"at_ms": 2900, "type": "asr_final", "text": " yes that's right "}),
            json!({"at_ms": 2950, "type": "intent", "name": "confirm", "confidence": 0.9, "slots": {}}),
            json!({"at_ms": 3000, "type": "playout_stop", "reason": "interrupted", "heard_text": ""}),
            json!({"at_ms": 3400, "type": "latency", "stage": "response", "ms": 800}),
            json!({"at_ms": 9000, "type": "outcome", "code": "confirmed"}),
        ]
    }

    #[test]
    fn draws_turns_intents_barge_ins_and_latency() {
        let caller: Vec<f32> = (0..8000 * 4).map(|i| if (12_000..20_000).contains(&i) { 0.3 } else { 0.0 }).collect();
        let bot = vec![0.2f32; 8000 * 2];
        let svg = timeline_svg("call x", Some(Tracks { caller: &caller, bot: &bot, rate: 8000 }), &events());
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("yes that's right\u{201d} \u{2192} confirm"));
        assert!(svg.contains("&lt;AI&gt;"), "text is escaped");
        assert!(svg.contains(">barge-in<"));
        assert!(svg.contains(">800 ms<"));
        assert!(svg.contains("outcome: confirmed"));
        // Two waveforms, and the axis covers the last event plus a margin: 9.5 s.
        assert_eq!(svg.matches("<path d=\"M").count(), 3);
        assert!(svg.contains(&format!("width=\"{:.0}\"", x(9500) + RIGHT)));
    }

    #[test]
    fn labels_are_cut_to_their_room_and_every_tag_closes() {
        let mut ev = events();
        ev.push(json!({"at_ms": 3100, "type": "bot_say", "text": "word ".repeat(200)}));
        ev.push(json!({"at_ms": 3200, "type": "bot_say", "text": "next"}));
        let svg = timeline_svg("t", None, &ev);
        assert!(svg.contains('\u{2026}'));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(!svg.contains("stroke=\"#1d4ed8\""), "no recording, no waveform");
    }
}
