//! Prometheus metrics for `/metrics`: counters, gauges and millisecond histograms keyed
//! by name and label set, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Bucket bounds (ms) of every histogram.
pub const BUCKETS_MS: [f64; 15] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 1500.0, 2500.0, 5000.0];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Count per bucket in [`BUCKETS_MS`] (not cumulative), then the overflow.
    counts: [u64; BUCKETS_MS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, ms: f64) {
        let i = BUCKETS_MS.iter().position(|&b| ms <= b).unwrap_or(BUCKETS_MS.len());
        self.counts[i] += 1;
        self.sum += ms;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// What was observed after `earlier` (a snapshot of this histogram).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let mut h = self.clone();
        for (a, b) in h.counts.iter_mut().zip(earlier.counts) {
            *a = a.saturating_sub(b);
        }
        h.sum -= earlier.sum;
        h.count = h.count.saturating_sub(earlier.count);
        h
    }

    /// The share of observations above `bound` (one of [`BUCKETS_MS`]).
    pub fn share_above(&self, bound: f64) -> f64 {
        let upto = BUCKETS_MS.iter().take_while(|&&b| b <= bound).count();
        let above: u64 = self.counts[upto..].iter().sum();
        above as f64 / self.count.max(1) as f64
    }

    /// Upper bound (ms) of the bucket holding quantile `q`; infinity past the last.
    pub fn quantile_bound(&self, q: f64) -> f64 {
        let rank = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank.max(1) {
                return BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY);
            }
        }
        0.0
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Families {
    counters: BTreeMap<(&'static str, Labels), u64>,
    gauges: BTreeMap<(&'static str, Labels), i64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// What each metric means, for `# HELP`.
const HELP: &[(&str, &str)] = &[
    ("voxline_calls_active", "Calls live now, by transport."),
    ("voxline_calls_total", "Calls started, by transport and flow."),
    ("voxline_call_outcomes_total", "Calls ended, by flow and outcome."),
    ("voxline_calls_refused_total", "Calls refused at connect, by transport and reason."),
    ("voxline_stream_errors_total", "Streams closed for bad input or a lost socket, by transport and kind."),
    ("voxline_barge_ins_total", "Caller speech that paused the bot, by flow."),
    ("voxline_stage_latency_ms", "Per-turn latency by stage: endpoint_wait, asr, tts_first_audio, response."),
    ("voxline_outbound_frame_lateness_ms", "How late each bot frame left against its 20 ms schedule."),
    ("voxline_asr_queue_depth", "Recognition requests queued or running."),
    ("voxline_asr_wait_ms", "Time a recognition request waited for a Whisper worker."),
    ("voxline_tts_queue_depth", "Synthesis requests queued or running."),
    ("voxline_tts_wait_ms", "Synthesis request to first audio, queueing included."),
    ("voxline_store_errors_total", "Call-record writes that failed."),
    ("voxline_dials_total", "Outbound SIP calls by trunk and result (answered, busy, no_answer, rejected, failed)."),
    ("voxline_rtp_send_lateness_ms", "How late each 20 ms RTP send came against the RTP clock's schedule."),
    ("voxline_bot_frames_total", "Bot audio frames (20 ms) written to carriers' sockets, counted when each call ends."),
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Families>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Families) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn inc(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        self.add(name, pairs, 1);
    }

    pub fn add(&self, name: &'static str, pairs: &[(&'static str, &str)], n: u64) {
        self.with(|m| *m.counters.entry((name, labels(pairs))).or_default() += n);
    }

    pub fn gauge_add(&self, name: &'static str, pairs: &[(&'static str, &str)], delta: i64) {
        self.with(|m| *m.gauges.entry((name, labels(pairs))).or_default() += delta);
    }

    pub fn observe(&self, name: &'static str, pairs: &[(&'static str, &str)], ms: f64) {
        self.with(|m| m.histograms.entry((name, labels(pairs))).or_default().observe(ms));
    }

    pub fn merge(&self, name: &'static str, pairs: &[(&'static str, &str)], h: &Histogram) {
        self.with(|m| m.histograms.entry((name, labels(pairs))).or_default().merge(h));
    }

    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> u64 {
        self.with(|m| m.counters.get(&(name, labels(pairs))).copied().unwrap_or_default())
    }

    pub fn gauge(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> i64 {
        self.with(|m| m.gauges.get(&(name, labels(pairs))).copied().unwrap_or_default())
    }

    pub fn histogram(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> Histogram {
        self.with(|m| m.histograms.get(&(name, labels(pairs))).cloned().unwrap_or_default())
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            let header = |out: &mut String, name: &str, kind: &str, last: &mut &str| {
                if *last != name {
                    let help = HELP.iter().find(|(n, _)| *n == name).map_or("", |(_, h)| h);
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                }
            };
            let mut last = "";
            for ((name, l), v) in &m.counters {
                header(&mut out, name, "counter", &mut last);
                last = name;
                let _ = writeln!(out, "{name}{} {v}", render_labels(l, None));
            }
            for ((name, l), v) in &m.gauges {
                header(&mut out, name, "gauge", &mut last);
                last = name;
                let _ = writeln!(out, "{name}{} {v}", render_labels(l, None));
            }
            for ((name, l), h) in &m.histograms {
                header(&mut out, name, "histogram", &mut last);
                last = name;
                let mut cumulative = 0;
                for (i, bound) in BUCKETS_MS.iter().enumerate() {
                    cumulative += h.counts[i];
                    let _ = writeln!(out, "{name}_bucket{} {cumulative}", render_labels(l, Some(&bound.to_string())));
                }
                let _ = writeln!(out, "{name}_bucket{} {}", render_labels(l, Some("+Inf")), h.count);
                let _ = writeln!(out, "{name}_sum{} {}", render_labels(l, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", render_labels(l, None), h.count);
            }
            out
        })
    }
}

fn render_labels(l: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc("voxline_calls_total", &[("transport", "twilio"), ("flow", "cod")]);
        m.inc("voxline_calls_total", &[("transport", "twilio"), ("flow", "cod")]);
        m.gauge_add("voxline_calls_active", &[("transport", "twilio")], 1);
        m.observe("voxline_stage_latency_ms", &[("stage", "asr")], 140.0);
        m.observe("voxline_stage_latency_ms", &[("stage", "asr")], 7000.0);
        let text = m.render();
        assert!(text.contains("# TYPE voxline_calls_total counter\n"), "{text}");
        assert!(text.contains("voxline_calls_total{transport=\"twilio\",flow=\"cod\"} 2\n"), "{text}");
        assert!(text.contains("voxline_calls_active{transport=\"twilio\"} 1\n"), "{text}");
        assert!(text.contains("voxline_stage_latency_ms_bucket{stage=\"asr\",le=\"200\"} 1\n"), "{text}");
        assert!(text.contains("voxline_stage_latency_ms_bucket{stage=\"asr\",le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("voxline_stage_latency_ms_count{stage=\"asr\"} 2\n"), "{text}");
        assert_eq!(text.matches("# TYPE voxline_stage_latency_ms histogram").count(), 1);
    }

    #[test]
    fn quantile_bounds() {
        let mut h = Histogram::default();
        for ms in [0.5, 0.7, 3.0, 4.0, 30.0] {
            h.observe(ms);
        }
        assert_eq!(h.quantile_bound(0.5), 5.0);
        assert_eq!(h.quantile_bound(0.99), 50.0);
        assert_eq!(h.share_above(5.0), 0.2);
        assert_eq!(h.share_above(1.0), 0.6);
        h.observe(9000.0);
        assert_eq!(h.quantile_bound(1.0), f64::INFINITY);
    }
}
