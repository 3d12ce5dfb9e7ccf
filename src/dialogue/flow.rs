//! Flows as data (`prompts/flows/*.toml`): states with prompts, the intents each
//! accepts, slot capture, DTMF alternatives, handoff triggers and typed outcomes.
//! Validated at load; errors name the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::Value;

use super::intent::{Intent, IntentClassifier};
use super::slots::{
    callback_slot, is_new_address, resolve_callback_time, resolve_date, resolve_time_window, spoken_address, DateCue,
};
use super::template::{references, render};
use super::{BotTurn, CallEnd, Dialogue, DialogueError, IntentResult, Outcome};

/// What happens on an intent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub say: Option<String>,
    pub next: Option<String>,
    pub end: Option<Outcome>,
    pub handoff: Option<String>,
    /// Slots to set, e.g. `{ address_confirmed = "yes" }`.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// A slot (`date`, `time_window`, `callback_time`) this step needs; asked for if the words lack it.
    pub needs: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    pub say: String,
    /// A yes/no slot this question fills: `affirm` sets it to "yes"; `deny` and
    /// `change_address` to "no" (e.g. `confirms = "address_confirmed"`).
    pub confirms: Option<String>,
    /// The slot this question asks for (`asks = "date"`): a bare "5th" then is a date.
    pub asks: Option<String>,
    #[serde(default)]
    pub dtmf: BTreeMap<String, String>,
    #[serde(default)]
    pub on: BTreeMap<String, Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBy {
    pub field: String,
    pub states: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub id: String,
    pub start: String,
    /// Opening words; must disclose the automated assistant. The start state's prompt follows.
    pub greeting: String,
    pub asr_prompt: Option<String>,
    /// Pick the start state from a context field (e.g. the win-back segment); `start` otherwise.
    pub start_by: Option<StartBy>,
    /// Handlers for every state (a state's own `on` wins).
    #[serde(default)]
    pub on: BTreeMap<String, Step>,
    pub states: BTreeMap<String, StateSpec>,
    /// What an answering machine gets on an outbound call.
    #[serde(default)]
    pub on_voicemail: OnVoicemail,
    /// The message left when `on_voicemail = "message"`: it names the business and says
    /// the call was automated.
    pub voicemail_message: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnVoicemail {
    /// Hang up as soon as a machine is detected.
    #[default]
    Hangup,
    /// Wait for the beep (or the end of the greeting), leave `voicemail_message`, hang up.
    Message,
}

const CONTEXT_ROOTS: [&str; 7] = ["customer", "order", "return", "delivery", "winback", "call", "slots"];
const SLOTS: [&str; 3] = ["date", "time_window", "callback_time"];
/// The furthest ahead a caller may move a delivery or pickup.
const MAX_DAYS_AHEAD: i64 = 30;

/// Handlers every flow has unless it overrides them.
fn global_step(intent: Intent) -> Option<Step> {
    let end = |say: &str, outcome| Step { say: Some(say.into()), end: Some(outcome), ..Default::default() };
    Some(match intent {
        Intent::StopCalling => end("Understood. We will not call you again. Goodbye.", Outcome::OptedOut),
        Intent::WrongNumber => end("Sorry for the trouble. Goodbye.", Outcome::WrongNumber),
        Intent::AskHuman => Step {
            say: Some("Let me connect you to a member of our team.".into()),
            end: Some(Outcome::Handoff),
            handoff: Some("ask_human".into()),
            ..Default::default()
        },
        Intent::CallbackLater => Step {
            say: Some("Sure, we will call you back {slots.callback_time|when}. Goodbye.".into()),
            end: Some(Outcome::CallbackRequested),
            ..Default::default()
        },
        _ => return None,
    })
}

/// 1-based line of `needle`; `"section\0key"` finds `key` at or after the line holding `section`.
fn line_of(text: &str, needle: &str) -> usize {
    let (section, key) = needle.split_once('\0').unwrap_or(("", needle));
    let from = if section.is_empty() { 0 } else { text.lines().position(|l| l.contains(section)).unwrap_or(0) };
    text.lines().enumerate().skip(from).find(|(_, l)| l.contains(key)).map_or(from + 1, |(i, _)| i + 1)
}

impl FlowSpec {
    pub fn load(path: &Path) -> Result<Self, DialogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| DialogueError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, DialogueError> {
        let spec: FlowSpec = toml::from_str(text).map_err(|e| {
            let line = super::toml_error_line(text, &e);
            DialogueError::Invalid { path: path.into(), reason: format!("line {line}: {}", e.message()) }
        })?;
        let bad = |needle: &str, field: String, reason: String| DialogueError::Invalid {
            path: path.into(),
            reason: format!("line {}: {field}: {reason}", line_of(text, needle)),
        };
        if !spec.states.contains_key(&spec.start) {
            return Err(bad("start", "start".into(), format!("no state {:?}", spec.start)));
        }
        if let Some(by) = &spec.start_by {
            for (value, state) in &by.states {
                if !spec.states.contains_key(state) {
                    return Err(bad("start_by", format!("start_by.states.{value}"), format!("no state {state:?}")));
                }
            }
        }
        let disclosure = spec.greeting.to_lowercase();
        if !(disclosure.contains("automated")
            || disclosure.contains("virtual assistant")
            || disclosure.contains(" ai "))
        {
            return Err(bad(
                "greeting",
                "greeting".into(),
                "must disclose that the caller is talking to an automated assistant".into(),
            ));
        }
        let check_template = |t: &str, field: String, needle: &str| -> Result<(), DialogueError> {
            for r in references(t).map_err(|e| bad(needle, field.clone(), e))? {
                let root = r.path.split('.').next().unwrap_or_default();
                if !CONTEXT_ROOTS.contains(&root) {
                    return Err(bad(
                        needle,
                        field.clone(),
                        format!("{{{}}} is not in the call context ({})", r.path, CONTEXT_ROOTS.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        check_template(&spec.greeting, "greeting".into(), "greeting")?;
        match (&spec.voicemail_message, spec.on_voicemail) {
            (None, OnVoicemail::Message) => {
                return Err(bad("on_voicemail", "on_voicemail".into(), "\"message\" needs `voicemail_message`".into()))
            }
            (Some(message), _) => {
                if !message.to_lowercase().contains("automated") {
                    return Err(bad(
                        "voicemail_message",
                        "voicemail_message".into(),
                        "must say that the call was automated".into(),
                    ));
                }
                check_template(message, "voicemail_message".into(), "voicemail_message")?;
            }
            (None, OnVoicemail::Hangup) => {}
        }
        let check_step = |step: &Step, field: String, needle: &str| -> Result<(), DialogueError> {
            if let Some(say) = &step.say {
                check_template(say, format!("{field}.say"), needle)?;
            }
            if let Some(next) = &step.next {
                if !spec.states.contains_key(next) {
                    return Err(bad(needle, format!("{field}.next"), format!("no state {next:?}")));
                }
            }
            if step.next.is_none() && step.end.is_none() && step.say.is_none() {
                return Err(bad(needle, field, "a step needs `next`, `end` or `say`".into()));
            }
            if step.handoff.is_some() && step.end != Some(Outcome::Handoff) {
                return Err(bad(
                    needle,
                    format!("{field}.end"),
                    "a handoff step must end with outcome \"handoff\"".into(),
                ));
            }
            if let Some(slot) = &step.needs {
                if !SLOTS.contains(&slot.as_str()) {
                    return Err(bad(
                        needle,
                        format!("{field}.needs"),
                        format!("unknown slot {slot:?} (known: {})", SLOTS.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        for (intent, step) in &spec.on {
            Intent::from_name(intent)
                .ok_or_else(|| bad(&format!("{intent} ="), format!("on.{intent}"), "unknown intent".into()))?;
            check_step(step, format!("on.{intent}"), &format!("{intent} ="))?;
        }
        for (name, state) in &spec.states {
            let header = format!("[states.{name}");
            check_template(&state.say, format!("states.{name}.say"), &header)?;
            if let Some(slot) = state.asks.as_deref().filter(|s| !SLOTS.contains(s)) {
                return Err(bad(
                    &format!("{header}\0asks"),
                    format!("states.{name}.asks"),
                    format!("unknown slot {slot:?} (known: {})", SLOTS.join(", ")),
                ));
            }
            for (intent, step) in &state.on {
                let at = format!("{header}\0{intent} =");
                Intent::from_name(intent)
                    .ok_or_else(|| bad(&at, format!("states.{name}.on.{intent}"), "unknown intent".into()))?;
                check_step(step, format!("states.{name}.on.{intent}"), &at)?;
            }
            for (digit, intent) in &state.dtmf {
                if !matches!(digit.as_str(), "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "*" | "#") {
                    return Err(bad(&header, format!("states.{name}.dtmf"), format!("{digit:?} is not a key")));
                }
                Intent::from_name(intent).ok_or_else(|| {
                    bad(&header, format!("states.{name}.dtmf.{digit}"), format!("unknown intent {intent:?}"))
                })?;
            }
        }
        Ok(spec)
    }

    /// Every context field the flow's templates read (for validating a call context).
    pub fn context_fields(&self) -> Vec<String> {
        let mut templates: Vec<&str> = vec![&self.greeting];
        templates.extend(self.voicemail_message.as_deref());
        let steps = self.on.values().chain(self.states.values().flat_map(|s| s.on.values()));
        templates.extend(self.states.values().map(|s| s.say.as_str()));
        templates.extend(steps.filter_map(|s| s.say.as_deref()));
        let mut fields: Vec<String> = self.start_by.iter().map(|b| b.field.clone()).collect();
        fields.extend(
            templates
                .iter()
                .flat_map(|t| references(t).unwrap_or_default())
                .map(|r| r.path)
                .filter(|p| !p.starts_with("slots.")),
        );
        fields.sort();
        fields.dedup();
        fields
    }

    /// What `intent` does in `state`: the state's own handler, else the flow's, else the
    /// handler every flow has; `None` is the no-match path.
    pub fn step_for(&self, state: &str, intent: Intent) -> Option<Step> {
        let own = self.states.get(state).and_then(|s| s.on.get(intent.name()));
        own.or_else(|| self.on.get(intent.name())).cloned().or_else(|| global_step(intent))
    }

    /// The date cue of `state`'s question (`asks = "date"`).
    pub fn date_cue(&self, state: &str) -> DateCue {
        match self.states.get(state).and_then(|s| s.asks.as_deref()) {
            Some("date") => DateCue::Asked,
            _ => DateCue::Unasked,
        }
    }

    /// Prompt text with no call data in it, whole prompts and the placeholder-free
    /// sentences of templated ones ("Shall I confirm the order?").
    pub fn static_texts(&self) -> Vec<String> {
        let steps = self.on.values().chain(self.states.values().flat_map(|s| s.on.values()));
        let prompts = self.states.values().map(|s| s.say.as_str()).chain(steps.filter_map(|s| s.say.as_deref()));
        let mut out: Vec<String> = Vec::new();
        for prompt in prompts.chain(["Sorry, I didn't catch that.", "Are you still there?"]) {
            if !prompt.contains('{') {
                out.push(prompt.to_string());
            }
            out.extend(crate::engines::split_sentences(prompt).into_iter().filter(|s| !s.contains('{')));
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Loads every `*.toml` flow in `dir`.
pub fn load_flows(dir: &Path) -> Result<BTreeMap<String, (PathBuf, Arc<FlowSpec>)>, DialogueError> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|source| DialogueError::Io { path: dir.into(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let spec = FlowSpec::load(&path)?;
        if let Some((other, _)) = out.get(&spec.id) {
            return Err(DialogueError::Invalid {
                path: path.clone(),
                reason: format!("flow id {:?} is also used by {}", spec.id, PathBuf::from(other).display()),
            });
        }
        out.insert(spec.id.clone(), (path, Arc::new(spec)));
    }
    Ok(out)
}

/// One call's run through a flow.
pub struct FlowDialogue {
    spec: Arc<FlowSpec>,
    ctx: Value,
    classifier: Arc<Mutex<IntentClassifier>>,
    /// The call's start in the customer's local time (`call.now`).
    start: DateTime<FixedOffset>,
    /// The call's clock at the caller's latest turn: `start` plus the time since.
    now: DateTime<FixedOffset>,
    state: String,
    slots: BTreeMap<String, String>,
    /// A step waiting for a slot the caller has not given yet.
    waiting: Option<Step>,
    /// Why the last date the caller named was not taken, said when asking again.
    date_problem: Option<&'static str>,
    no_match: u32,
    no_input: u32,
}

impl FlowDialogue {
    /// Checks that the context has every field the flow reads.
    pub fn new(spec: Arc<FlowSpec>, ctx: Value, classifier: Arc<Mutex<IntentClassifier>>) -> Result<Self, String> {
        let missing: Vec<String> = spec
            .context_fields()
            .into_iter()
            .filter(|f| super::template::lookup(&ctx, f).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            return Err(format!("the call context lacks {} (needed by flow {:?})", missing.join(", "), spec.id));
        }
        let now = ctx
            .pointer("/call/now")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or("the call context lacks call.now (an RFC 3339 time with the customer's offset)")?;
        let state = spec
            .start_by
            .as_ref()
            .and_then(|by| {
                super::template::lookup(&ctx, &by.field).and_then(Value::as_str).and_then(|v| by.states.get(v))
            })
            .unwrap_or(&spec.start)
            .clone();
        Ok(FlowDialogue {
            spec,
            ctx,
            classifier,
            start: now,
            now,
            state,
            slots: BTreeMap::new(),
            waiting: None,
            date_problem: None,
            no_match: 0,
            no_input: 0,
        })
    }

    fn set_clock(&mut self, elapsed: Duration) {
        let elapsed = chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX);
        self.now = self.start.checked_add_signed(elapsed).unwrap_or(self.start);
        // Templates read `call.now` too ("tomorrow at 9 AM" is relative to the current date).
        if let Some(call) = self.ctx.get_mut("call").and_then(Value::as_object_mut) {
            call.insert("now".into(), self.now.format("%Y-%m-%dT%H:%M:%S%:z").to_string().into());
        }
    }

    fn say(&self, template: &str) -> String {
        render(template, &self.ctx, &self.slots).unwrap_or_else(|e| {
            tracing::warn!(flow = %self.spec.id, error = %e, "prompt could not be rendered");
            "Sorry, something went wrong on our side.".into()
        })
    }

    fn state_say(&self) -> String {
        self.say(&self.spec.states[&self.state].say)
    }

    fn capture(&mut self, text: &str, intent: Intent) {
        let local = self.now.naive_local();
        let wants_callback_time = self.waiting.as_ref().and_then(|s| s.needs.as_deref()) == Some("callback_time");
        // A callback request carries a time, not a delivery date: nothing else is captured.
        if intent == Intent::CallbackLater || (wants_callback_time && resolve_callback_time(text, local).is_some()) {
            self.slots.insert("callback_time".into(), callback_slot(text, self.now));
            return;
        }
        self.date_problem = None;
        let waiting_for_date = self.waiting.as_ref().and_then(|s| s.needs.as_deref()) == Some("date");
        let cue = if waiting_for_date { DateCue::Asked } else { self.spec.date_cue(&self.state) };
        if let Some(d) = resolve_date(text, local.date(), cue) {
            // Deliveries and pickups are booked from today up to MAX_DAYS_AHEAD.
            let today = local.date();
            self.date_problem = if d < today {
                Some("That day has already passed.")
            } else if d > today + chrono::Duration::days(MAX_DAYS_AHEAD) {
                Some("I can only book up to thirty days ahead.")
            } else {
                None
            };
            match self.date_problem {
                None => self.slots.insert("date".into(), d.to_string()),
                Some(_) => self.slots.remove("date"),
            };
        }
        if let Some((a, b)) = resolve_time_window(text) {
            self.slots.insert("time_window".into(), format!("{a}-{b}"));
        }
        if let Some(slot) = self.spec.states.get(&self.state).and_then(|s| s.confirms.clone()) {
            match intent {
                Intent::Affirm => drop(self.slots.insert(slot, "yes".into())),
                Intent::Deny | Intent::ChangeAddress => drop(self.slots.insert(slot, "no".into())),
                _ => {}
            }
        }
    }

    /// Where the address is in question (a state that confirms it, or one that handles
    /// `change_address`), an address that is not the one on file is a change of address,
    /// whatever else the words sound like ("it's 45 Brigade Road now").
    fn new_address_in(&mut self, text: &str, heard: Intent) -> bool {
        let state = self.spec.states.get(&self.state);
        let about_address = state
            .is_some_and(|s| s.confirms.as_deref() == Some("address_confirmed") || s.on.contains_key("change_address"))
            || self.spec.on.contains_key("change_address");
        if !about_address || !matches!(heard, Intent::ChangeAddress | Intent::Deny | Intent::Unknown | Intent::Affirm) {
            return false;
        }
        let Some(address) = spoken_address(text) else { return false };
        let known = super::template::lookup(&self.ctx, "order.address").and_then(Value::as_str).unwrap_or("");
        if !is_new_address(&address, known) {
            return false;
        }
        self.slots.insert("new_address".into(), address);
        true
    }

    fn take(&mut self, step: Step, intent: Option<IntentResult>) -> BotTurn {
        if let Some(slot) = &step.needs {
            if !self.slots.contains_key(slot) {
                let ask = match slot.as_str() {
                    "time_window" => "What time of day suits you, morning, afternoon or evening?",
                    "callback_time" => "When should we call you back?",
                    _ => "Which day works for you?",
                };
                let say = match self.date_problem.take().filter(|_| slot == "date") {
                    Some(problem) => format!("{problem} {ask}"),
                    None => ask.into(),
                };
                self.waiting = Some(step);
                return BotTurn { say, intent, end: None };
            }
        }
        self.waiting = None;
        self.no_match = 0;
        self.slots.extend(step.set.clone());
        let mut say = step.say.as_deref().map(|t| self.say(t)).unwrap_or_default();
        if let Some(next) = &step.next {
            self.state = next.clone();
            let next_say = self.state_say();
            say = if say.is_empty() { next_say } else { format!("{say} {next_say}") };
        }
        let end = step.end.map(|outcome| CallEnd { outcome, handoff: step.handoff.clone() });
        if end.is_some() {
            self.state = "done".into();
        }
        BotTurn { say, intent, end }
    }

    fn respond_to(&mut self, intent: Intent, confidence: f32, text: &str) -> BotTurn {
        self.capture(text, intent);
        let result = Some(IntentResult { name: intent.name().into(), confidence, slots: self.slots.clone() });
        if intent == Intent::Repeat {
            return BotTurn { say: self.state_say(), intent: result, end: None };
        }
        // A step waiting for a slot takes any answer that supplies it.
        if let Some(step) = self.waiting.clone() {
            if step.needs.as_ref().is_some_and(|s| self.slots.contains_key(s)) {
                return self.take(step, result);
            }
        }
        match self.spec.step_for(&self.state, intent) {
            Some(step) => self.take(step, result),
            None => {
                self.no_match += 1;
                if self.no_match > 2 {
                    let step = Step {
                        say: Some("Let me connect you to a member of our team.".into()),
                        end: Some(Outcome::Handoff),
                        handoff: Some("no_match".into()),
                        ..Default::default()
                    };
                    return self.take(step, result);
                }
                BotTurn { say: format!("Sorry, I didn't catch that. {}", self.state_say()), intent: result, end: None }
            }
        }
    }
}

impl Dialogue for FlowDialogue {
    fn flow(&self) -> &str {
        &self.spec.id
    }

    fn state(&self) -> &str {
        &self.state
    }

    fn slots(&self) -> BTreeMap<String, String> {
        self.slots.clone()
    }

    fn greet(&mut self) -> BotTurn {
        BotTurn { say: format!("{} {}", self.say(&self.spec.greeting), self.state_say()), intent: None, end: None }
    }

    fn on_text(&mut self, elapsed: Duration, text: &str) -> BotTurn {
        self.set_clock(elapsed);
        let scored = match self.classifier.lock() {
            Ok(mut c) => c.classify(text),
            Err(_) => {
                return BotTurn {
                    say: "Let me connect you to a member of our team.".into(),
                    intent: None,
                    end: Some(CallEnd { outcome: Outcome::Handoff, handoff: Some("classifier_failed".into()) }),
                }
            }
        };
        match scored {
            Ok(s) if self.new_address_in(text, s.intent) => self.respond_to(Intent::ChangeAddress, 0.9, text),
            Ok(s) => self.respond_to(s.intent, s.confidence, text),
            Err(e) => {
                tracing::warn!(error = %e, "intent classification failed");
                self.respond_to(Intent::Unknown, 0.0, text)
            }
        }
    }

    fn on_dtmf(&mut self, elapsed: Duration, digit: char) -> BotTurn {
        self.set_clock(elapsed);
        let mapped = self
            .spec
            .states
            .get(&self.state)
            .and_then(|s| s.dtmf.get(&digit.to_string()))
            .and_then(|i| Intent::from_name(i));
        match mapped {
            Some(intent) => self.respond_to(intent, 1.0, ""),
            None => self.respond_to(Intent::Unknown, 0.0, ""),
        }
    }

    fn on_no_input(&mut self, elapsed: Duration) -> BotTurn {
        self.set_clock(elapsed);
        self.no_input += 1;
        if self.no_input > 2 {
            return self.take(
                Step {
                    say: Some("We will try again later. Goodbye.".into()),
                    end: Some(Outcome::NoResponse),
                    ..Default::default()
                },
                None,
            );
        }
        BotTurn { say: format!("Are you still there? {}", self.state_say()), intent: None, end: None }
    }

    fn on_voicemail(&mut self) -> BotTurn {
        let say = match (self.spec.on_voicemail, &self.spec.voicemail_message) {
            (OnVoicemail::Message, Some(message)) => self.say(message),
            _ => String::new(),
        };
        BotTurn { say, intent: None, end: Some(CallEnd { outcome: Outcome::Voicemail, handoff: None }) }
    }

    fn asr_prompt(&self) -> Option<String> {
        self.spec.asr_prompt.clone()
    }

    /// Sentences of the flow's prompts that hold no call data: the same for every call
    /// of this flow, rendered once for the process.
    fn static_prompts(&self) -> Vec<String> {
        self.spec.static_texts()
    }

    /// This call's opening turn, rendered for this customer while the phone rings.
    fn call_prompts(&self) -> Vec<String> {
        let none = BTreeMap::new();
        let rendered = |t: &str| render(t, &self.ctx, &none).ok();
        match (rendered(&self.spec.greeting), rendered(&self.spec.states[&self.state].say)) {
            (Some(g), Some(s)) => vec![format!("{g} {s}")],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "t"
start = "a"
greeting = "Hello {customer.name}, this is an automated assistant."
[states.a]
say = "Shall I confirm?"
[states.a.on]
affirm = { say = "Done.", end = "confirmed" }
deny = { next = "b" }
[states.b]
say = "Okay."
"#;

    #[test]
    fn malformed_flows_name_the_line_and_field() {
        let p = Path::new("prompts/flows/t.toml");
        assert!(FlowSpec::parse(GOOD, p).is_ok());
        let e = FlowSpec::parse(&GOOD.replace("next = \"b\"", "next = \"nowhere\""), p).unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("line 9") && e.contains("states.a.on.deny.next"), "{e}");
        let e = FlowSpec::parse(&GOOD.replace("deny =", "shrug ="), p).unwrap_err().to_string();
        assert!(e.contains("states.a.on.shrug") && e.contains("unknown intent"), "{e}");
        let e = FlowSpec::parse(&GOOD.replace("end = \"confirmed\"", "end = \"great\""), p).unwrap_err().to_string();
        assert!(e.contains("line 8"), "{e}");
        let e = FlowSpec::parse(&GOOD.replace("this is an automated assistant", "this is Maya"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("greeting") && e.contains("automated"), "{e}");
        let e =
            FlowSpec::parse(&GOOD.replace("Shall I confirm?", "Pay {order.amount|shout}"), p).unwrap_err().to_string();
        assert!(e.contains("states.a.say") && e.contains("unknown filter"), "{e}");
    }

    #[test]
    fn a_voicemail_message_is_required_and_must_say_the_call_was_automated() {
        let p = Path::new("prompts/flows/t.toml");
        let with = |extra: &str| GOOD.replacen("[states.a]", &format!("{extra}\n[states.a]"), 1);
        assert_eq!(FlowSpec::parse(GOOD, p).unwrap().on_voicemail, OnVoicemail::Hangup, "the default");
        let e = FlowSpec::parse(&with("on_voicemail = \"message\""), p).unwrap_err().to_string();
        assert!(e.contains("on_voicemail") && e.contains("voicemail_message"), "{e}");
        let message = "on_voicemail = \"message\"\nvoicemail_message = \"Hi {customer.name}, ShopKart here.\"";
        let e = FlowSpec::parse(&with(message), p).unwrap_err().to_string();
        assert!(e.contains("voicemail_message") && e.contains("automated"), "{e}");
        let message = message.replace("ShopKart here.", "an automated call from ShopKart.");
        let spec = FlowSpec::parse(&with(&message), p).unwrap();
        assert_eq!(spec.on_voicemail, OnVoicemail::Message);
        let e = FlowSpec::parse(&with(&message.replace("{customer.name}", "{secret.pin}")), p).unwrap_err();
        assert!(e.to_string().contains("not in the call context"), "{e}");
    }

    #[test]
    fn every_shipped_flow_is_valid_and_contexts_are_checked() {
        let flows = load_flows(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/flows")).unwrap();
        for id in ["cod", "return_pickup", "refund_status", "delivery_retry", "winback"] {
            assert!(flows.contains_key(id), "{id}");
        }
        let spec = flows["cod"].1.clone();
        assert!(spec.context_fields().contains(&"order.amount".to_string()));
    }
}
