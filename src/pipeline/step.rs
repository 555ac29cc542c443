//! The contract every pipeline step keeps.
//!
//! It is tower's (`poll_ready` before `call`, a step that is not ready holds back the
//! stanzas behind it) without the future per call: every step decides synchronously
//! what becomes of a stanza, so a chain of them costs a few calls per stanza and no
//! allocation. Anything a step has to wait for (a budget to refill, a lookup) it waits
//! for in `poll_ready`, and while it is not ready the relay reads no further frame from
//! that side: the sender is slowed through TCP, never buffered in memory.

use std::task::{Context, Poll};

use crate::stanza::Stanza;

/// One step of a direction's chain.
pub trait Step: Send {
    /// Whether the step can take the next stanza. The relay asks before it reads the
    /// next frame from the side this chain serves.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }

    /// What becomes of one stanza.
    fn handle(&mut self, stanza: Stanza) -> Verdict;
}

/// A step's decision about one stanza.
#[derive(Debug)]
pub enum Verdict {
    /// On to the next step, changed or not; after the last step, to the other side.
    Pass(Stanza),
    /// Withheld, and this answer goes back to the side it came from.
    Answer(Stanza),
    /// Withheld, with nothing said to anyone.
    Withhold,
    /// The session ends, with the code of the error (SPEC §2.9).
    End(StepError),
}

/// Why a step ends a session; the session maps it to its code with every other error.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The side sent something the protocol does not allow here: 400.
    #[error("refused by the pipeline: {0}")]
    Malformed(&'static str),
    /// The side went over a bound a step enforces: 413.
    #[error("over a pipeline limit: {0}")]
    Limit(&'static str),
}

/// What became of one stanza after the whole chain.
#[derive(Debug, Default)]
pub struct Routed {
    /// Sent on in the stanza's direction.
    pub forward: Option<Stanza>,
    /// Sent back to the side the stanza came from (e.g. an answered disco query).
    pub reply: Option<Stanza>,
}

/// The steps of one direction of one session, in order.
pub struct Pipeline {
    steps: Vec<Box<dyn Step>>,
}

impl Pipeline {
    /// A chain of the steps given, in order; `None` entries are steps this session
    /// does not run, so an optional step keeps its line in the chain.
    pub fn new(steps: impl IntoIterator<Item = Option<Box<dyn Step>>>) -> Self {
        Self {
            steps: steps.into_iter().flatten().collect(),
        }
    }

    /// Ready once every step is: a step that is not holds the whole chain, since the
    /// next stanza must pass it.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for step in &mut self.steps {
            if step.poll_ready(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }

    /// Waits until [`Pipeline::poll_ready`] is ready.
    pub async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
    }

    /// Runs one stanza through the chain; the first step that does not pass it decides.
    pub fn handle(&mut self, mut stanza: Stanza) -> Result<Routed, StepError> {
        for step in &mut self.steps {
            stanza = match step.handle(stanza) {
                Verdict::Pass(stanza) => stanza,
                Verdict::Answer(reply) => {
                    return Ok(Routed {
                        forward: None,
                        reply: Some(reply),
                    })
                }
                Verdict::Withhold => return Ok(Routed::default()),
                Verdict::End(e) => return Err(e),
            };
        }
        Ok(Routed {
            forward: Some(stanza),
            reply: None,
        })
    }

    /// How many steps run.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step runs (every stanza passes unchanged).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// A step, boxed for a chain.
pub fn step(s: impl Step + 'static) -> Option<Box<dyn Step>> {
    Some(Box::new(s))
}
