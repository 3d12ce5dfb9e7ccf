//! The human side of a handoff: agents and their presence, the queue of calls waiting
//! for one, and routing. Pure (time is passed in): the desk's WebSocket and the call's
//! transport drive it.
//!
//! Routing: a waiting call is offered to the available agent idle longest who has the
//! call's flow among their skills (no skills: every flow), oldest call first. An offer
//! is that agent's alone: only they can accept it, and accepting anything else is
//! refused. An agent who lets an offer lapse, or declines it, goes to `away` and the
//! call is offered again; a call nobody accepts within `max_wait` leaves the queue for
//! the caller's callback.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    Busy,
    Away,
}

impl Presence {
    pub fn parse(text: &str) -> Option<Presence> {
        match text {
            "available" => Some(Presence::Available),
            "busy" => Some(Presence::Busy),
            "away" => Some(Presence::Away),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentState {
    pub name: String,
    /// Flows this agent takes; empty: all.
    pub skills: Vec<String>,
    pub presence: Presence,
    /// Since when the agent has had nothing to do (routing picks the longest idle).
    pub idle_since: DateTime<Utc>,
    /// The call offered to the agent, or taken by them.
    pub call: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    pub call_id: String,
    pub flow: String,
    pub since: DateTime<Utc>,
    /// The agent it is offered to now, and since when.
    pub offered_to: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    #[error("no agent {0:?}")]
    UnknownAgent(String),
    #[error("call {0:?} is not offered to this agent")]
    NotOffered(String),
}

/// What routing did: offers made (call, agent), and calls that waited too long.
#[derive(Debug, Default, PartialEq)]
pub struct Routed {
    pub offers: Vec<(String, String)>,
    pub timed_out: Vec<String>,
}

pub struct Desk {
    agents: BTreeMap<String, AgentState>,
    queue: VecDeque<Waiting>,
    max_wait: Duration,
    /// How long an offer stands before it goes to the next agent.
    offer_timeout: Duration,
}

impl Desk {
    /// Agents as `(name, skills)`, all `away` until they say otherwise.
    pub fn new(
        agents: impl IntoIterator<Item = (String, Vec<String>)>,
        max_wait: Duration,
        offer_timeout: Duration,
        now: DateTime<Utc>,
    ) -> Desk {
        let agents = agents
            .into_iter()
            .map(|(name, skills)| {
                let state =
                    AgentState { name: name.clone(), skills, presence: Presence::Away, idle_since: now, call: None };
                (name, state)
            })
            .collect();
        Desk { agents, queue: VecDeque::new(), max_wait, offer_timeout }
    }

    pub fn agent(&self, name: &str) -> Option<&AgentState> {
        self.agents.get(name)
    }

    pub fn queue(&self) -> impl Iterator<Item = &Waiting> {
        self.queue.iter()
    }

    /// The agent's presence as they set it. Going available starts their idle time;
    /// going away withdraws an offer made to them.
    pub fn set_presence(&mut self, agent: &str, presence: Presence, now: DateTime<Utc>) -> Result<(), DeskError> {
        let state = self.agents.get_mut(agent).ok_or_else(|| DeskError::UnknownAgent(agent.into()))?;
        if presence == Presence::Available && state.presence != Presence::Available {
            state.idle_since = now;
        }
        state.presence = presence;
        if presence != Presence::Busy {
            self.withdraw(agent);
        }
        Ok(())
    }

    /// A handed-off call joins the queue.
    pub fn enqueue(&mut self, call_id: &str, flow: &str, now: DateTime<Utc>) {
        if self.queue.iter().all(|w| w.call_id != call_id) {
            self.queue.push_back(Waiting { call_id: call_id.into(), flow: flow.into(), since: now, offered_to: None });
        }
    }

    /// The caller hung up while waiting (or the call was taken elsewhere).
    pub fn abandon(&mut self, call_id: &str) {
        if let Some(i) = self.queue.iter().position(|w| w.call_id == call_id) {
            if let Some(w) = self.queue.remove(i) {
                if let Some((agent, _)) = w.offered_to {
                    self.free(&agent, None);
                }
            }
        }
    }

    /// Lapsed offers go back (their agent to `away`), calls past `max_wait` leave the
    /// queue, and each waiting call not on offer goes to the longest-idle available
    /// agent who takes its flow.
    pub fn route(&mut self, now: DateTime<Utc>) -> Routed {
        let mut routed = Routed::default();
        let lapsed: Vec<String> = self
            .queue
            .iter()
            .filter_map(|w| w.offered_to.as_ref().filter(|(_, at)| now - *at >= self.offer_timeout))
            .map(|(agent, _)| agent.clone())
            .collect();
        for agent in lapsed {
            self.withdraw(&agent);
            if let Some(state) = self.agents.get_mut(&agent) {
                state.presence = Presence::Away;
            }
        }
        let (late, waiting): (Vec<Waiting>, Vec<Waiting>) =
            self.queue.drain(..).partition(|w| w.offered_to.is_none() && now - w.since >= self.max_wait);
        self.queue = waiting.into();
        routed.timed_out = late.into_iter().map(|w| w.call_id).collect();
        for i in 0..self.queue.len() {
            if self.queue[i].offered_to.is_some() {
                continue;
            }
            let flow = self.queue[i].flow.clone();
            let pick = self
                .agents
                .values()
                .filter(|a| a.presence == Presence::Available && a.call.is_none())
                .filter(|a| a.skills.is_empty() || a.skills.contains(&flow))
                .min_by_key(|a| (a.idle_since, a.name.clone()))
                .map(|a| a.name.clone());
            let Some(agent) = pick else { continue };
            let call_id = self.queue[i].call_id.clone();
            self.queue[i].offered_to = Some((agent.clone(), now));
            if let Some(state) = self.agents.get_mut(&agent) {
                state.call = Some(call_id.clone());
            }
            routed.offers.push((call_id, agent));
        }
        routed
    }

    /// The agent takes the call offered to them: it leaves the queue and they are busy.
    pub fn accept(&mut self, agent: &str, call_id: &str) -> Result<(), DeskError> {
        let state = self.agents.get(agent).ok_or_else(|| DeskError::UnknownAgent(agent.into()))?;
        let offered = self
            .queue
            .iter()
            .position(|w| w.call_id == call_id && w.offered_to.as_ref().is_some_and(|(a, _)| a == agent));
        let (Some(i), Some(_)) = (offered, state.call.as_deref().filter(|c| *c == call_id)) else {
            return Err(DeskError::NotOffered(call_id.into()));
        };
        self.queue.remove(i);
        if let Some(state) = self.agents.get_mut(agent) {
            state.presence = Presence::Busy;
        }
        Ok(())
    }

    /// The agent turns the offer down: it goes to the next agent, and they to `away`.
    pub fn decline(&mut self, agent: &str, call_id: &str) -> Result<(), DeskError> {
        let state = self.agents.get(agent).ok_or_else(|| DeskError::UnknownAgent(agent.into()))?;
        if state.call.as_deref() != Some(call_id) || self.queue.iter().all(|w| w.call_id != call_id) {
            return Err(DeskError::NotOffered(call_id.into()));
        }
        self.withdraw(agent);
        if let Some(state) = self.agents.get_mut(agent) {
            state.presence = Presence::Away;
        }
        Ok(())
    }

    /// The agent's call ended: available again, idle from `now`.
    pub fn finished(&mut self, agent: &str, now: DateTime<Utc>) -> Result<(), DeskError> {
        if !self.agents.contains_key(agent) {
            return Err(DeskError::UnknownAgent(agent.into()));
        }
        self.free(agent, Some(now));
        if let Some(state) = self.agents.get_mut(agent) {
            state.presence = Presence::Available;
        }
        Ok(())
    }

    /// Whether `agent` may see `call_id`: offered to them or taken by them.
    pub fn may_see(&self, agent: &str, call_id: &str) -> bool {
        self.agents.get(agent).is_some_and(|a| a.call.as_deref() == Some(call_id))
    }

    /// Takes back an offer made to `agent` (the call stays queued, first in line).
    fn withdraw(&mut self, agent: &str) {
        for w in self.queue.iter_mut() {
            if w.offered_to.as_ref().is_some_and(|(a, _)| a == agent) {
                w.offered_to = None;
            }
        }
        let offered = self.agents.get(agent).and_then(|a| a.call.clone());
        if offered.is_some_and(|c| self.queue.iter().any(|w| w.call_id == c)) {
            self.free(agent, None);
        }
    }

    fn free(&mut self, agent: &str, idle_from: Option<DateTime<Utc>>) {
        if let Some(state) = self.agents.get_mut(agent) {
            state.call = None;
            if let Some(now) = idle_from {
                state.idle_since = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z").unwrap().to_utc() + Duration::seconds(s)
    }

    fn desk() -> Desk {
        let agents = [("asha", vec![]), ("ben", vec!["cod".to_string()]), ("chen", vec!["returns".to_string()])];
        Desk::new(agents.map(|(n, s)| (n.to_string(), s)), Duration::seconds(60), Duration::seconds(15), at(0))
    }

    #[test]
    fn the_longest_idle_agent_with_the_skill_gets_the_offer_and_only_they_can_take_it() {
        let mut d = desk();
        d.set_presence("ben", Presence::Available, at(1)).unwrap();
        d.set_presence("asha", Presence::Available, at(2)).unwrap();
        d.set_presence("chen", Presence::Available, at(0)).unwrap();
        d.enqueue("call-1", "cod", at(5));
        // chen is idle longest but does not take cod; ben has idled longer than asha.
        assert_eq!(d.route(at(5)).offers, vec![("call-1".to_string(), "ben".to_string())]);
        assert!(d.may_see("ben", "call-1") && !d.may_see("asha", "call-1"));
        assert_eq!(d.accept("asha", "call-1"), Err(DeskError::NotOffered("call-1".into())));
        d.accept("ben", "call-1").unwrap();
        assert_eq!(d.agent("ben").unwrap().presence, Presence::Busy);
        assert_eq!(d.queue().count(), 0);
        // The next cod call goes to asha (any flow); ben is on a call.
        d.enqueue("call-2", "cod", at(6));
        assert_eq!(d.route(at(6)).offers, vec![("call-2".to_string(), "asha".to_string())]);
        d.finished("ben", at(20)).unwrap();
        assert_eq!(d.agent("ben").unwrap().idle_since, at(20));
        assert!(!d.may_see("ben", "call-1"));
    }

    #[test]
    fn a_lapsed_or_declined_offer_moves_on_and_a_call_past_max_wait_leaves() {
        let mut d = desk();
        d.set_presence("asha", Presence::Available, at(0)).unwrap();
        d.set_presence("ben", Presence::Available, at(1)).unwrap();
        d.enqueue("call-1", "cod", at(2));
        assert_eq!(d.route(at(2)).offers[0].1, "asha");
        // asha lets it lapse: away, and ben gets it.
        assert_eq!(d.route(at(17)).offers, vec![("call-1".to_string(), "ben".to_string())]);
        assert_eq!(d.agent("asha").unwrap().presence, Presence::Away);
        d.decline("ben", "call-1").unwrap();
        assert_eq!(d.agent("ben").unwrap().presence, Presence::Away);
        // Nobody left: the call waits until max_wait, then leaves for the callback.
        assert_eq!(d.route(at(30)), Routed::default());
        assert_eq!(d.route(at(62)).timed_out, vec!["call-1".to_string()]);
        assert_eq!(d.queue().count(), 0);
        assert_eq!(d.accept("ben", "call-1"), Err(DeskError::NotOffered("call-1".into())));
    }

    #[test]
    fn an_abandoned_call_frees_its_agent_and_unknown_agents_are_refused() {
        let mut d = desk();
        d.set_presence("asha", Presence::Available, at(0)).unwrap();
        d.enqueue("call-1", "winback", at(1));
        d.route(at(1));
        d.abandon("call-1");
        assert!(d.agent("asha").unwrap().call.is_none());
        assert_eq!(d.set_presence("zed", Presence::Away, at(2)), Err(DeskError::UnknownAgent("zed".into())));
        assert_eq!(Presence::parse("busy"), Some(Presence::Busy));
        assert_eq!(Presence::parse("lunch"), None);
    }
}
