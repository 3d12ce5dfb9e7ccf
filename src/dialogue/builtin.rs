//! A minimal built-in COD confirmation flow with keyword intents. It drives the call
//! core until the data-driven flow runtime lands; it is not the production dialogue.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{BotTurn, CallEnd, Dialogue, IntentResult, Outcome};
use crate::words::{tokens, DENY, NEGATIONS, YES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ConfirmOrder,
    ConfirmAvailability,
    Done,
}

pub struct BuiltinCod {
    name: String,
    items: String,
    amount: String,
    state: State,
    no_input: u32,
    no_match: u32,
    slots: BTreeMap<String, String>,
}

/// Words that also answer yes to the built-in questions ("yes I will", "available").
const ALSO_YES: &[&str] = &["ji", "will", "available"];

fn intent(text: &str) -> (&'static str, f32) {
    let w = tokens(text);
    let has = |set: &[&str]| w.iter().any(|x| set.contains(&x.as_str()));
    let phrase = |p: &str| w.join(" ").contains(p);
    if phrase("stop calling") || phrase("don't call") || phrase("do not call") {
        ("stop_calling", 0.9)
    } else if phrase("wrong number") {
        ("wrong_number", 0.9)
    } else if has(&["human", "person", "agent", "representative"]) {
        ("ask_human", 0.9)
    } else if has(&["later", "busy"]) {
        ("callback_later", 0.8)
    } else if has(&["repeat", "again", "pardon"]) {
        ("repeat", 0.8)
    } else if has(&["cancel"]) {
        ("cancel_order", 0.85)
    } else if has(DENY) || has(NEGATIONS) {
        ("deny", 0.8)
    } else if has(YES) || has(ALSO_YES) {
        ("affirm", 0.8)
    } else {
        ("unknown", 0.0)
    }
}

impl BuiltinCod {
    /// Reads `customer.name`, `order.items`, `order.amount` from the call context.
    pub fn new(context: &Value) -> Self {
        let name = context.pointer("/customer/name").and_then(Value::as_str).unwrap_or("there").to_string();
        let items = context
            .pointer("/order/items")
            .and_then(Value::as_array)
            .map(|items| {
                items.iter().filter_map(|i| i.get("name").and_then(Value::as_str)).collect::<Vec<_>>().join(" and ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "your items".into());
        let amount = context.pointer("/order/amount").and_then(Value::as_str).unwrap_or("the amount due").to_string();
        BuiltinCod { name, items, amount, state: State::ConfirmOrder, no_input: 0, no_match: 0, slots: BTreeMap::new() }
    }

    fn question(&self) -> String {
        match self.state {
            State::ConfirmOrder => {
                format!("Can you confirm your cash on delivery order of {} for {} rupees?", self.items, self.amount)
            }
            State::ConfirmAvailability => "Will you be available to receive it?".into(),
            State::Done => String::new(),
        }
    }

    fn end(&mut self, say: &str, outcome: Outcome, handoff: Option<&str>, intent: Option<IntentResult>) -> BotTurn {
        self.state = State::Done;
        BotTurn { say: say.into(), intent, end: Some(CallEnd { outcome, handoff: handoff.map(String::from) }) }
    }
}

impl Dialogue for BuiltinCod {
    fn flow(&self) -> &str {
        "cod"
    }

    fn state(&self) -> &str {
        match self.state {
            State::ConfirmOrder => "confirm_order",
            State::ConfirmAvailability => "confirm_availability",
            State::Done => "done",
        }
    }

    fn slots(&self) -> BTreeMap<String, String> {
        self.slots.clone()
    }

    fn greet(&mut self) -> BotTurn {
        let say = format!(
            "Hello {}, this is an automated assistant calling about your order. {}",
            self.name,
            self.question()
        );
        BotTurn { say, intent: None, end: None }
    }

    fn on_text(&mut self, _elapsed: Duration, text: &str) -> BotTurn {
        let (name, confidence) = intent(text);
        let result = Some(IntentResult { name: name.into(), confidence, slots: BTreeMap::new() });
        match (name, self.state) {
            ("stop_calling", _) => {
                self.end("Understood. We will not call you again. Goodbye.", Outcome::OptedOut, None, result)
            }
            ("wrong_number", _) => self.end("Sorry for the trouble. Goodbye.", Outcome::WrongNumber, None, result),
            ("ask_human", _) => {
                self.end("Let me connect you to a member of our team.", Outcome::Handoff, Some("ask_human"), result)
            }
            ("callback_later", _) => {
                self.end("No problem, we will call you back later. Goodbye.", Outcome::CallbackRequested, None, result)
            }
            ("repeat", _) => BotTurn { say: self.question(), intent: result, end: None },
            ("affirm", State::ConfirmOrder) => {
                self.slots.insert("order_confirmed".into(), "yes".into());
                self.state = State::ConfirmAvailability;
                BotTurn { say: format!("Thank you. {}", self.question()), intent: result, end: None }
            }
            ("affirm", State::ConfirmAvailability) => {
                self.slots.insert("available".into(), "yes".into());
                self.end("Great, your order is confirmed. Thank you, goodbye.", Outcome::Confirmed, None, result)
            }
            ("cancel_order" | "deny", State::ConfirmOrder) => {
                self.end("Okay, I have cancelled your order. Goodbye.", Outcome::Cancelled, None, result)
            }
            ("deny", State::ConfirmAvailability) => self.end(
                "Let me connect you to our team to arrange another time.",
                Outcome::Handoff,
                Some("not_available"),
                result,
            ),
            _ => {
                self.no_match += 1;
                if self.no_match > 2 {
                    return self.end(
                        "Let me connect you to a member of our team.",
                        Outcome::Handoff,
                        Some("no_match"),
                        result,
                    );
                }
                BotTurn { say: format!("Sorry, I did not get that. {}", self.question()), intent: result, end: None }
            }
        }
    }

    fn on_dtmf(&mut self, elapsed: Duration, digit: char) -> BotTurn {
        match digit {
            '1' => self.on_text(elapsed, "yes"),
            '2' => self.on_text(elapsed, "no"),
            '0' => self.on_text(elapsed, "human"),
            _ => BotTurn { say: format!("Press 1 for yes or 2 for no. {}", self.question()), intent: None, end: None },
        }
    }

    fn on_no_input(&mut self, _elapsed: Duration) -> BotTurn {
        self.no_input += 1;
        if self.no_input > 2 {
            return self.end("We will try again later. Goodbye.", Outcome::NoResponse, None, None);
        }
        BotTurn {
            say: format!("Are you still there? {} You can also press 1 for yes or 2 for no.", self.question()),
            intent: None,
            end: None,
        }
    }

    fn static_prompts(&self) -> Vec<String> {
        [
            "Thank you. Will you be available to receive it?",
            "Understood. We will not call you again. Goodbye.",
            "Sorry for the trouble. Goodbye.",
            "Let me connect you to a member of our team.",
            "No problem, we will call you back later. Goodbye.",
            "Great, your order is confirmed. Thank you, goodbye.",
            "Okay, I have cancelled your order. Goodbye.",
            "Let me connect you to our team to arrange another time.",
            "Sorry, I did not get that.",
            "We will try again later. Goodbye.",
            "Are you still there?",
        ]
        .map(String::from)
        .to_vec()
    }

    fn asr_prompt(&self) -> Option<String> {
        Some("Order, COD, cash on delivery, confirm, cancel, available, tomorrow.".into())
    }
}
