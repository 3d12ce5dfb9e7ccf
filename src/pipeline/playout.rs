//! Bot audio queued sentence by sentence and played in 20 ms frames; knows which
//! words were actually sent, so a barge-in can say what the caller heard.

use std::collections::VecDeque;
use std::sync::Arc;

/// One synthesized sentence at the call's rate.
#[derive(Debug, Clone)]
pub struct PlayoutSegment {
    pub turn: u32,
    pub index: u32,
    pub text: String,
    pub samples: Arc<[f32]>,
    /// The turn's final sentence.
    pub last: bool,
}

/// One frame of bot audio and what it completed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayoutTick {
    pub samples: Vec<f32>,
    /// (turn, sentence index) when this frame ended a sentence.
    pub finished: Option<(u32, u32)>,
    /// The frame ended the turn's last sentence.
    pub turn_done: bool,
}

pub struct Playout {
    frame: usize,
    queue: VecDeque<PlayoutSegment>,
    pos: usize,
    paused: bool,
    heard: Vec<String>,
}

impl Playout {
    pub fn new(frame: usize) -> Self {
        Playout { frame, queue: VecDeque::new(), pos: 0, paused: false, heard: Vec::new() }
    }

    pub fn enqueue(&mut self, segment: PlayoutSegment) {
        if self.queue.is_empty() && segment.index == 0 {
            self.heard.clear();
        }
        self.queue.push_back(segment);
    }

    /// Audio is queued and not paused.
    pub fn is_playing(&self) -> bool {
        !self.paused && !self.queue.is_empty()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn has_audio(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next 20 ms, or `None` when paused or nothing is queued.
    pub fn next_frame(&mut self) -> Option<PlayoutTick> {
        if self.paused {
            return None;
        }
        let seg = self.queue.front()?;
        let end = (self.pos + self.frame).min(seg.samples.len());
        let mut samples = seg.samples[self.pos..end].to_vec();
        samples.resize(self.frame, 0.0);
        self.pos = end;
        let mut tick = PlayoutTick { samples, finished: None, turn_done: false };
        if self.pos >= seg.samples.len() {
            let seg = self.queue.pop_front().expect("front exists");
            self.pos = 0;
            self.heard.push(seg.text.clone());
            tick.finished = Some((seg.turn, seg.index));
            tick.turn_done = seg.last;
        }
        Some(tick)
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Continue where playout stopped.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Continue from the start of the interrupted sentence.
    pub fn restart_sentence(&mut self) {
        self.pos = 0;
        self.paused = false;
    }

    /// Drops everything queued; returns what the caller heard of the turn.
    pub fn flush(&mut self) -> String {
        let heard = self.heard_text();
        self.queue.clear();
        self.pos = 0;
        self.paused = false;
        self.heard.clear();
        heard
    }

    /// Finished sentences of the current turn plus the words of the current sentence
    /// already sent (words are assumed evenly spread over the sentence's audio).
    pub fn heard_text(&self) -> String {
        let mut parts = self.heard.clone();
        if let Some(seg) = self.queue.front() {
            let words: Vec<&str> = seg.text.split_whitespace().collect();
            let n = words.len() * self.pos / seg.samples.len().max(1);
            if n > 0 {
                parts.push(words[..n].join(" "));
            }
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(index: u32, text: &str, len: usize, last: bool) -> PlayoutSegment {
        PlayoutSegment { turn: 1, index, text: text.into(), samples: vec![0.1; len].into(), last }
    }

    #[test]
    fn frames_marks_and_heard_text() {
        let mut p = Playout::new(160);
        p.enqueue(seg(0, "Hello there.", 320, false));
        p.enqueue(seg(1, "Your order is ready to ship.", 600, true));
        let ticks: Vec<PlayoutTick> = std::iter::from_fn(|| p.next_frame()).collect();
        assert_eq!(ticks.len(), 2 + 4);
        assert_eq!(ticks[1].finished, Some((1, 0)));
        assert!(ticks[5].turn_done && ticks[5].samples[120] == 0.0, "last frame padded with silence");
        assert!(!p.has_audio());
    }

    #[test]
    fn pause_resume_restart_and_flush() {
        let mut p = Playout::new(100);
        p.enqueue(seg(0, "one two three four five", 1000, true));
        for _ in 0..4 {
            p.next_frame();
        }
        assert_eq!(p.heard_text(), "one two");
        p.pause();
        assert!(p.next_frame().is_none() && p.is_paused());
        p.resume();
        p.next_frame();
        assert_eq!(p.heard_text(), "one two");
        p.restart_sentence();
        assert_eq!(p.heard_text(), "");
        p.next_frame();
        p.next_frame();
        assert_eq!(p.flush(), "one");
        assert!(!p.has_audio());
    }
}
