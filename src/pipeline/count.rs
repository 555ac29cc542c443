//! Counts every stanza that enters the pipeline, by direction and kind, before any
//! other step can withhold it, so the counters show what the peers sent.

use crate::metrics::{self, Direction};
use crate::stanza::Stanza;

use super::{Step, Verdict};

/// Records `interop_proxy_stanzas_total` and `interop_proxy_stanza_bytes_total`.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// The direction counted.
    direction: Direction,
}

impl Count {
    /// Counts stanzas flowing in `direction`.
    pub fn new(direction: Direction) -> Self {
        Self { direction }
    }
}

impl Step for Count {
    #[inline]
    fn handle(&mut self, stanza: Stanza) -> Verdict {
        metrics::stanza_relayed(self.direction, stanza.kind(), stanza.wire_len());
        Verdict::Pass(stanza)
    }
}
