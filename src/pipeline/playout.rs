//! Bot audio queued sentence by sentence and played in 20 ms frames, always in
//! sentence order whatever order synthesis delivers them in; knows which words were
//! actually sent, so a barge-in can say what the caller heard.

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
    /// The current turn's sentences not yet played, in index order.
    queue: VecDeque<PlayoutSegment>,
    turn: u32,
    /// The sentence that plays next; a later one that arrives first waits for it.
    next_index: u32,
    pos: usize,
    paused: bool,
    heard: Vec<String>,
    /// A finished sentence of this turn asked a question.
    heard_question: bool,
}

fn is_question(text: &str) -> bool {
    text.trim_end().ends_with('?')
}

impl Playout {
    pub fn new(frame: usize) -> Self {
        Playout {
            frame,
            queue: VecDeque::new(),
            turn: 0,
            next_index: 0,
            pos: 0,
            paused: false,
            heard: Vec::new(),
            heard_question: false,
        }
    }

    /// Queues a sentence in index order. A sentence of a newer turn starts that turn
    /// (what is left of the old one is dropped); one of an older turn, or one already
    /// played, is ignored.
    pub fn enqueue(&mut self, segment: PlayoutSegment) {
        if segment.turn < self.turn || (segment.turn == self.turn && segment.index < self.next_index) {
            return;
        }
        if segment.turn > self.turn {
            self.turn = segment.turn;
            self.queue.clear();
            self.next_index = 0;
            self.pos = 0;
            self.heard.clear();
            self.heard_question = false;
        }
        let at = self.queue.partition_point(|s| s.index < segment.index);
        match self.queue.get(at) {
            Some(s) if s.index == segment.index => {}
            _ => self.queue.insert(at, segment),
        }
    }

    /// The sentence due next is queued.
    fn ready(&self) -> Option<&PlayoutSegment> {
        self.queue.front().filter(|s| s.index == self.next_index)
    }

    /// Audio is ready to play and not paused.
    pub fn is_playing(&self) -> bool {
        !self.paused && self.ready().is_some()
    }

    /// The caller has heard the start of the turn's last question (it is playing or
    /// played, and no later queued sentence asks another): a yes now answers it.
    pub fn question_asked(&self) -> bool {
        let current = self.ready().filter(|_| self.pos > 0);
        let asked = self.heard_question || current.is_some_and(|s| is_question(&s.text));
        let later = self.queue.iter().skip(usize::from(current.is_some())).any(|s| is_question(&s.text));
        asked && !later
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
        let next = self.next_index;
        let seg = self.queue.front().filter(|s| s.index == next)?;
        let end = (self.pos + self.frame).min(seg.samples.len());
        let mut samples = seg.samples[self.pos..end].to_vec();
        samples.resize(self.frame, 0.0);
        self.pos = end;
        let mut tick = PlayoutTick { samples, finished: None, turn_done: false };
        if self.pos >= seg.samples.len() {
            let seg = self.queue.pop_front().expect("front exists");
            self.pos = 0;
            self.next_index += 1;
            self.heard_question |= is_question(&seg.text);
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
        self.heard_question = false;
        heard
    }

    /// Finished sentences of the current turn plus the words of the current sentence
    /// already sent (words are assumed evenly spread over the sentence's audio).
    pub fn heard_text(&self) -> String {
        let mut parts = self.heard.clone();
        if let Some(seg) = self.ready() {
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
    fn sentences_play_in_index_order_whatever_order_they_arrive_in() {
        let mut p = Playout::new(100);
        // A cached closing sentence is ready before the rendered first one.
        p.enqueue(seg(1, "Goodbye.", 200, true));
        assert!(p.next_frame().is_none(), "sentence 1 waits for sentence 0");
        assert!(!p.is_playing());
        p.enqueue(seg(0, "Your order is confirmed.", 300, false));
        let ticks: Vec<PlayoutTick> = std::iter::from_fn(|| p.next_frame()).collect();
        assert_eq!(ticks.len(), 5);
        assert_eq!(ticks[2].finished, Some((1, 0)));
        assert_eq!((ticks[4].finished, ticks[4].turn_done), (Some((1, 1)), true));
        assert_eq!(p.heard_text(), "Your order is confirmed. Goodbye.");
        // A late duplicate or a sentence of an older turn is ignored; a newer turn starts afresh.
        p.enqueue(seg(0, "Your order is confirmed.", 300, false));
        assert!(p.next_frame().is_none());
        p.enqueue(PlayoutSegment { turn: 2, index: 0, text: "Hi.".into(), samples: vec![0.1; 100].into(), last: true });
        p.enqueue(seg(0, "Old turn.", 100, true));
        assert_eq!(p.next_frame().unwrap().finished, Some((2, 0)));
        assert!(p.next_frame().is_none());
    }

    #[test]
    fn the_question_counts_as_asked_once_it_plays() {
        let mut p = Playout::new(100);
        p.enqueue(seg(0, "You ordered shoes.", 200, false));
        p.enqueue(seg(1, "Shall I confirm the order?", 200, false));
        p.enqueue(seg(2, "You can also press 1.", 200, true));
        p.next_frame();
        assert!(!p.question_asked(), "still explaining");
        p.next_frame();
        assert!(!p.question_asked(), "the question has not started");
        p.next_frame();
        assert!(p.question_asked(), "the question is playing");
        p.next_frame();
        p.next_frame();
        assert!(p.question_asked(), "the hint after the question");
        let mut two = Playout::new(100);
        two.enqueue(seg(0, "Is this Priya?", 200, false));
        two.enqueue(seg(1, "Shall I confirm?", 200, true));
        two.next_frame();
        assert!(!two.question_asked(), "a later question is the one being answered");
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
