//! The steps every stanza passes, one chain per direction, in [`build`].
//!
//! A step passes a stanza on (changed or not), answers it, withholds it, or ends the
//! session with a code ([`step::Verdict`]); while a step is not ready, the relay reads
//! nothing more from that side. Each step tests the stanza's kind first, so the stanzas
//! it does not concern pass without allocation. Adding a step is a file here and a line
//! in [`build`].

pub mod count;
pub mod disco;
pub mod presence_caps;
pub mod step;
pub mod unsupported;

use crate::caps::SessionCaps;
use crate::metrics::Direction;

pub use step::{Pipeline, Routed, Step, StepError, Verdict};

use step::step;

/// What the pipeline knows of a session when it is built.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Which way the chain's stanzas flow.
    pub direction: Direction,
    /// The session's capability profile and `caps.unsupported`.
    pub caps: SessionCaps,
}

/// The chain of one direction of one session, first step first.
pub fn build(info: &SessionInfo) -> Pipeline {
    let profile = &info.caps.profile;
    match info.direction {
        Direction::ToServer => Pipeline::new([
            // First: before any step changes or withholds a stanza, so the counters
            // show what the client sent.
            step(count::Count::new(Direction::ToServer)),
            // The session's XEP-0115 `<c>` in every `<presence>` (SPEC §3.1).
            step(presence_caps::PresenceCaps::new(profile.clone())),
        ]),
        Direction::ToClient => Pipeline::new([
            // First, for the same reason: the counters show what the server sent.
            step(count::Count::new(Direction::ToClient)),
            // Before the content check: a disco#info query for the session's node is
            // answered here and never reaches the client (SPEC §3.2).
            step(disco::Disco::new(profile.clone())),
            // Last: annotates or refuses messages whose content kind the client cannot
            // receive (SPEC §3.3); what passes it goes to the client as it is.
            step(unsupported::Unsupported::new(
                profile.clone(),
                info.caps.unsupported,
            )),
        ]),
    }
}
