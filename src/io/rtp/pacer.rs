//! One thread that paces every call's outbound RTP. It sleeps until the earliest stream's
//! next 20 ms deadline on an OS timer (sub-millisecond), then sends that stream's packet.
//! Pacing on the async runtime instead is 1-2 ms late at best (tokio's timer wheel has
//! 1 ms slots) and later under load, as its workers also run VAD and the dialogue.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Instant;

use super::outbound::{Outbound, TICK};

/// A stream's next deadline.
struct Due {
    at: Instant,
    id: u64,
    stream: Weak<Mutex<Outbound>>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.id) == (other.at, other.id)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Earliest first (`BinaryHeap` pops the greatest).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.id).cmp(&(self.at, self.id))
    }
}

#[derive(Default)]
struct Schedule {
    heap: BinaryHeap<Due>,
    next_id: u64,
}

pub struct Pacer {
    schedule: Arc<(Mutex<Schedule>, Condvar)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pacer {
    /// The process's pacer (its thread starts on first use).
    pub fn global() -> &'static Pacer {
        static PACER: OnceLock<Pacer> = OnceLock::new();
        PACER.get_or_init(|| {
            let schedule = Arc::new((Mutex::new(Schedule::default()), Condvar::new()));
            let shared = schedule.clone();
            std::thread::Builder::new()
                .name("voxline-rtp-pacer".into())
                .spawn(move || run(&shared))
                .expect("spawn the RTP pacer thread");
            Pacer { schedule }
        })
    }

    /// Ticks `stream` at `first` and every 20 ms after, until it is closed or dropped.
    pub fn add(&self, stream: &Arc<Mutex<Outbound>>, first: Instant) {
        let (schedule, wake) = &*self.schedule;
        let mut s = lock(schedule);
        let id = s.next_id;
        s.next_id += 1;
        s.heap.push(Due { at: first, id, stream: Arc::downgrade(stream) });
        wake.notify_one();
    }
}

fn run(schedule: &(Mutex<Schedule>, Condvar)) {
    let (schedule, wake) = schedule;
    let mut s = lock(schedule);
    loop {
        let Some(at) = s.heap.peek().map(|d| d.at) else {
            s = wake.wait(s).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let now = Instant::now();
        if at > now {
            s = wake.wait_timeout(s, at - now).unwrap_or_else(PoisonError::into_inner).0;
            continue;
        }
        let Some(due) = s.heap.pop() else { continue };
        drop(s);
        let next = due.stream.upgrade().and_then(|stream| tick(&stream, due.at));
        s = lock(schedule);
        if let Some(at) = next {
            s.heap.push(Due { at, ..due });
        }
    }
}

/// Ticks one stream; returns its next deadline, or None once it is closed.
fn tick(stream: &Mutex<Outbound>, at: Instant) -> Option<Instant> {
    let mut out = lock(stream);
    if out.closed {
        return None;
    }
    let late = Instant::now().saturating_duration_since(at);
    let skipped = (late.as_micros() / TICK.as_micros()) as u32;
    // A fault in one stream closes it and leaves the others paced.
    if catch_unwind(AssertUnwindSafe(|| out.tick(late, skipped as u64))).is_err() {
        tracing::error!("RTP send failed: the call's outbound stream is closed");
        out.closed = true;
        return None;
    }
    Some(at + TICK * (skipped + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::rtp::outbound::Sent;
    use crate::io::sip::sdp::{Direction, Negotiated, G711};
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn the_earliest_deadline_comes_first() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        for (id, ms) in [(0, 40), (1, 0), (2, 20), (3, 20)] {
            heap.push(Due { at: now + Duration::from_millis(ms), id, stream: Weak::new() });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|d| d.id)).collect();
        assert_eq!(order, vec![1, 2, 3, 0]);
    }

    #[test]
    fn a_stream_is_paced_until_it_is_closed() {
        let far = UdpSocket::bind("127.0.0.1:0").unwrap();
        far.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = far.local_addr().unwrap();
        let neg = Negotiated {
            codec: G711::Pcma,
            payload_type: 8,
            dtmf_payload_type: None,
            ptime: 20,
            remote: Some((to.ip(), to.port())),
            direction: Direction::SendRecv,
        };
        let (tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
        let out = Arc::new(Mutex::new(Outbound::new(UdpSocket::bind("127.0.0.1:0").unwrap(), neg, tx, false)));
        lock(&out).mark("five frames".into());
        for _ in 0..5 {
            lock(&out).audio(vec![0.2; 160]);
        }
        lock(&out).mark("done".into());
        Pacer::global().add(&out, Instant::now());
        let mut buf = [0u8; 1500];
        let mut sequences = Vec::new();
        for _ in 0..8 {
            let n = far.recv(&mut buf).unwrap();
            sequences.push(crate::io::rtp::packet::parse(&buf[..n]).unwrap().sequence);
        }
        assert!(sequences.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{sequences:?}");
        let marks: Vec<String> = std::iter::from_fn(|| match sent.try_recv() {
            Ok(Sent::MarkPlayed(name)) => Some(name),
            _ => None,
        })
        .collect();
        assert_eq!(marks, ["five frames", "done"]);
        lock(&out).closed = true;
        let sent_then = lock(&out).sender.packets;
        // Tick for tick, a closed stream gets no more: wait out one more packet's time on
        // a second paced stream, then compare.
        let probe = Arc::new(Mutex::new(Outbound::new(
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            lock(&out).neg.clone(),
            tokio::sync::mpsc::unbounded_channel().0,
            false,
        )));
        Pacer::global().add(&probe, Instant::now() + TICK);
        while lock(&probe).sender.packets < 2 {
            std::thread::yield_now();
        }
        assert_eq!(lock(&out).sender.packets, sent_then);
    }
}
