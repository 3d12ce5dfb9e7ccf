//! A scripted caller's turn-taking, whatever carries the audio: each 20 ms it hears the
//! bot (or silence) and says the next 20 ms of its own, starting each scripted turn when
//! its cue comes (the bot started, or the bot is done and has been quiet a while).

use std::time::Duration;

use tokio::time::Instant;

use crate::sim::Cue;

/// When the bot counts as done with its turn.
#[derive(Debug, Clone, Copy)]
pub struct DoneRule {
    /// Bot silence after which it is done, once its turn is closed (the carrier's
    /// end-of-turn mark played, or a transport without marks)...
    pub quiet: Duration,
    /// ...or after this much silence whatever the marks say.
    pub quiet_open: Duration,
}

pub struct TurnTaker {
    /// Each turn's audio, cue and delay after the cue.
    turns: Vec<(Vec<f32>, Option<Cue>, u64)>,
    frame_len: usize,
    rule: DoneRule,
    speaking: Option<(Vec<f32>, usize)>,
    next_turn: usize,
    turn_due: Option<Instant>,
    bot_started: Option<Instant>,
    bot_last_audio: Option<Instant>,
    pub turns_sent: usize,
}

impl TurnTaker {
    pub fn new(turns: Vec<(Vec<f32>, Option<Cue>, u64)>, frame_len: usize, rule: DoneRule, began: Instant) -> Self {
        let turn_due = turns.first().filter(|t| t.1.is_none()).map(|t| began + Duration::from_millis(t.2));
        TurnTaker {
            turns,
            frame_len,
            rule,
            speaking: None,
            next_turn: 0,
            turn_due,
            bot_started: None,
            bot_last_audio: None,
            turns_sent: 0,
        }
    }

    /// One 20 ms step at `now`: `bot` is what played (None: nothing), `turn_open` whether
    /// the bot's turn is still open by its marks, `bot_queued` whether more bot audio
    /// waits to play. Returns the caller's next 20 ms.
    pub fn tick(&mut self, now: Instant, bot: Option<&[f32]>, turn_open: bool, bot_queued: bool) -> Vec<f32> {
        if bot.is_some_and(|f| f.iter().fold(0f32, |m, s| m.max(s.abs())) > 0.01) {
            self.bot_started.get_or_insert(now);
            self.bot_last_audio = Some(now);
        }
        // Start the next turn when its cue comes.
        if self.speaking.is_none() && self.turn_due.is_none() {
            if let Some((_, Some(cue), delay)) = self.turns.get(self.next_turn) {
                let from = match cue {
                    Cue::BotStart => self.bot_started,
                    Cue::BotDone => self.bot_last_audio.filter(|t| {
                        let silent = now - *t;
                        !bot_queued && silent >= self.rule.quiet && (!turn_open || silent >= self.rule.quiet_open)
                    }),
                };
                self.turn_due = from.map(|t| t + Duration::from_millis(*delay));
            }
        }
        if self.turn_due.is_some_and(|due| now >= due) && self.speaking.is_none() {
            self.turn_due = None;
            self.speaking = self.turns.get(self.next_turn).map(|t| (t.0.clone(), 0));
            self.next_turn += 1;
            self.turns_sent += 1;
            (self.bot_started, self.bot_last_audio) = (None, None);
        }
        // 20 ms of the caller: the turn's audio, else line silence.
        let mut frame = vec![0f32; self.frame_len];
        if let Some((audio, pos)) = self.speaking.as_mut() {
            let end = (*pos + self.frame_len).min(audio.len());
            frame[..end - *pos].copy_from_slice(&audio[*pos..end]);
            *pos = end;
            if *pos >= audio.len() {
                self.speaking = None;
            }
        }
        frame
    }

    /// Every turn has been said.
    pub fn finished(&self) -> bool {
        self.speaking.is_none() && self.next_turn >= self.turns.len()
    }
}
