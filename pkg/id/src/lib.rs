//! Snowflake ids: 41 bits of milliseconds since 2024-01-01, 10 bits of node, 12 bits
//! of sequence. Always positive i64; rendered as decimal strings at the HTTP edge.

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: i64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
const MAX_SEQ: i64 = (1 << SEQ_BITS) - 1;
pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;

/// A thread-safe id generator for one node.
#[derive(Debug)]
pub struct Snowflake {
    node: i64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_ms: i64,
    seq: i64,
}

impl Snowflake {
    /// `node` is taken modulo 1024.
    pub fn new(node: u16) -> Self {
        Self {
            node: i64::from(node & MAX_NODE),
            state: Mutex::new(State::default()),
        }
    }

    /// The next id: strictly increasing for this generator, even if the clock steps back.
    pub fn next_id(&self) -> i64 {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut now = now_ms().max(st.last_ms);
        if now == st.last_ms {
            st.seq = (st.seq + 1) & MAX_SEQ;
            if st.seq == 0 {
                // sequence exhausted in this millisecond: borrow the next one
                now += 1;
            }
        } else {
            st.seq = 0;
        }
        st.last_ms = now;
        ((now - EPOCH_MS) << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | st.seq
    }
}

/// Unix milliseconds of an id.
pub fn timestamp_ms(id: i64) -> i64 {
    (id >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parse an id received as text: a positive decimal i64.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{collections::HashSet, sync::Arc, thread};

    #[test]
    fn unique_and_increasing_across_threads() {
        let ids = Arc::new(Snowflake::new(7));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = ids.clone();
                thread::spawn(move || (0..20_000).map(|_| g.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            let ids = h.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for id in ids {
                assert!(id > 0);
                assert!(all.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), 80_000);
    }

    #[test]
    fn timestamp_is_recoverable() {
        let before = now_ms();
        let id = Snowflake::new(1).next_id();
        let ts = timestamp_ms(id);
        assert!(ts >= before && ts <= now_ms() + 5);
    }

    #[test]
    fn parse_rejects_junk() {
        assert_eq!(parse("123"), Some(123));
        assert_eq!(parse(" 42 "), Some(42));
        for bad in [
            "",
            "-1",
            "0",
            "1e3",
            "abc",
            "1 OR 1=1",
            "99999999999999999999",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
