//! The RTP port pool: even ports from the configured range (RTP on the even port, RTCP
//! on the odd one above it), leased to one call and returned when the lease drops, on
//! every exit path. Ports are reused least recently used first: a call's far end may
//! go on sending for a moment after the hang-up, and a new call on that port would
//! latch onto it (symmetric RTP).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("rtp_ports {0:?}: expected \"LOW-HIGH\", e.g. \"20000-20999\"")]
    Syntax(String),
    #[error("rtp_ports {0:?}: needs at least one even port with its odd neighbour, within 1024-65535")]
    Empty(String),
}

#[derive(Debug)]
pub struct PortPool {
    /// Free ports, the least recently returned first.
    free: Mutex<VecDeque<u16>>,
    size: usize,
}

/// A leased RTP port (and the RTCP port above it).
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PortPool>,
    pub rtp: u16,
}

impl PortLease {
    pub fn rtcp(&self) -> u16 {
        self.rtp + 1
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.free.lock() {
            free.push_back(self.rtp);
        }
    }
}

impl PortPool {
    /// `"20000-20999"`: the even ports 20000..=20998.
    pub fn parse(range: &str) -> Result<Arc<PortPool>, PortRangeError> {
        let syntax = || PortRangeError::Syntax(range.into());
        let (low, high) = range.split_once('-').ok_or_else(syntax)?;
        let low: u16 = low.trim().parse().map_err(|_| syntax())?;
        let high: u16 = high.trim().parse().map_err(|_| syntax())?;
        let first = low.max(1024).next_multiple_of(2);
        let free: VecDeque<u16> = (first..high).step_by(2).collect();
        if free.is_empty() {
            return Err(PortRangeError::Empty(range.into()));
        }
        Ok(Arc::new(PortPool { size: free.len(), free: Mutex::new(free) }))
    }

    /// The free port returned longest ago. A port some other process holds fails to
    /// bind: keep that lease until a later one binds, so the next try gets a different port.
    pub fn lease(self: &Arc<Self>) -> Option<PortLease> {
        let rtp = self.free.lock().ok()?.pop_front()?;
        Some(PortLease { pool: self.clone(), rtp })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn available(&self) -> usize {
        self.free.lock().map(|f| f.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_come_back_when_dropped() {
        let pool = PortPool::parse("20001-20006").unwrap();
        assert_eq!(pool.size(), 2, "20002 and 20004 (20006 has no odd neighbour in range)");
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_eq!((a.rtp, a.rtcp(), b.rtp), (20002, 20003, 20004));
        assert!(pool.lease().is_none(), "exhausted");
        drop(a);
        assert_eq!(pool.available(), 1);
        assert_eq!(pool.lease().unwrap().rtp, 20002);
        assert!(PortPool::parse("20000").is_err());
        assert!(PortPool::parse("100-200").is_err());
        assert!(PortPool::parse("30001-30001").is_err());
        assert_eq!(PortPool::parse("30000-30001").unwrap().size(), 1);
    }

    #[test]
    fn a_returned_port_waits_behind_the_others() {
        let pool = PortPool::parse("20000-20006").unwrap();
        let first = pool.lease().unwrap();
        assert_eq!(first.rtp, 20000);
        drop(first);
        let leases: Vec<PortLease> = (0..3).map(|_| pool.lease().unwrap()).collect();
        let next: Vec<u16> = leases.iter().map(|l| l.rtp).collect();
        assert_eq!(next, [20002, 20004, 20000], "the port just released comes last");
    }
}
