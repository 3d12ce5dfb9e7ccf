//! One turn at the cores for the compute engines. Whisper and Piper each use every core
//! of a small machine; run at once they oversubscribe it, and Whisper's threads, which
//! spin-wait on each other, slow down several-fold (a 0.4 s "hello?" took 2.4 s to
//! recognise while a greeting rendered). So decodes and renders take turns: each one
//! runs alone at full speed, urgent work (what a caller is waiting for now) before
//! background work (partial hypotheses, greetings rendered ahead, static prompts).

use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A final or speculative decode, a reply's sentence.
    Urgent,
    /// A partial hypothesis, text rendered ahead of need.
    Background,
}

#[derive(Default)]
struct State {
    busy: bool,
    urgent_waiting: usize,
    background_waiting: usize,
}

/// Cloned into every engine that shares the cores.
#[derive(Clone, Default)]
pub struct ComputeGate {
    inner: Arc<(Mutex<State>, Condvar)>,
}

/// The cores are this holder's until it is dropped.
pub struct Turn<'a> {
    gate: &'a ComputeGate,
}

impl ComputeGate {
    /// Blocks until no other work runs and, for background work, no urgent work waits.
    pub fn enter(&self, priority: Priority) -> Turn<'_> {
        let (lock, changed) = &*self.inner;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        let urgent = priority == Priority::Urgent;
        *if urgent { &mut s.urgent_waiting } else { &mut s.background_waiting } += 1;
        while s.busy || (!urgent && s.urgent_waiting > 0) {
            s = changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        *if urgent { &mut s.urgent_waiting } else { &mut s.background_waiting } -= 1;
        s.busy = true;
        Turn { gate: self }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let (lock, changed) = &*self.gate.inner;
        lock.lock().unwrap_or_else(|p| p.into_inner()).busy = false;
        changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn waiting(gate: &ComputeGate) -> (usize, usize) {
        let s = gate.inner.0.lock().unwrap();
        (s.urgent_waiting, s.background_waiting)
    }

    #[test]
    fn work_takes_turns_and_urgent_work_goes_first() {
        let gate = ComputeGate::default();
        let held = gate.enter(Priority::Background);
        let (tx, rx) = channel();
        let spawn = |priority: Priority, name: &'static str| {
            let (g, t) = (gate.clone(), tx.clone());
            std::thread::spawn(move || {
                let _turn = g.enter(priority);
                t.send(name).unwrap();
            })
        };
        let background = spawn(Priority::Background, "background");
        while waiting(&gate) != (0, 1) {
            std::thread::yield_now();
        }
        let urgent = spawn(Priority::Urgent, "urgent");
        while waiting(&gate) != (1, 1) {
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err(), "nothing runs while the cores are held");
        drop(held);
        urgent.join().unwrap();
        background.join().unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec!["urgent", "background"]);
    }
}
