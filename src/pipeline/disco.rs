//! From server: a disco#info query for this session's `NODE#VER` is answered by the
//! proxy and not forwarded (SPEC §3.2); every other query goes to the client untouched.
//!
//! The answer is `<iq type="result">` with the query's `id`, `to` and `from` swapped,
//! and the profile's `<identity>` and `<feature>` children, all built at load.

use std::sync::Arc;

use crate::caps::profile::DISCO_INFO_NS;
use crate::caps::Profile;
use crate::metrics::{self, AnnotationKind};
use crate::stanza::{Kind, ReplyValue, Stanza};

use super::{Step, Verdict};

/// Answers disco#info queries for the session's node itself.
#[derive(Clone, Debug)]
pub struct Disco {
    /// The session's profile.
    profile: Arc<Profile>,
}

impl Disco {
    /// Answers queries for `profile`'s node.
    pub fn new(profile: Arc<Profile>) -> Self {
        Self { profile }
    }
}

impl Step for Disco {
    #[inline]
    fn handle(&mut self, stanza: Stanza) -> Verdict {
        if stanza.kind() == Kind::Iq {
            if let Some(reply) = answer(&stanza, &self.profile) {
                metrics::annotation(AnnotationKind::DiscoAnswered);
                return Verdict::Answer(reply);
            }
        }
        Verdict::Pass(stanza)
    }
}

/// The proxy's answer to `iq`, if it is a disco#info get for the profile's node: in
/// the query's encoding, with its `to` and `from` swapped in the forms they came in.
pub fn answer(iq: &Stanza, profile: &Profile) -> Option<Stanza> {
    let node = iq.node();
    // The child first: most iqs have no `<query>`, and that test is the cheapest.
    let query = node.children().find(|c| c.is_named("query"))?;
    if !node.attr_is("type", "get")
        || !query.attr_is("xmlns", DISCO_INFO_NS)
        || !query.attr_is("node", &profile.node_ver)
    {
        return None;
    }
    Some(iq.reply(
        "iq",
        &[
            ("from", ReplyValue::From("to")),
            ("to", ReplyValue::From("from")),
            ("id", ReplyValue::From("id")),
            ("type", ReplyValue::Lit("result")),
        ],
        Some(&profile.disco_query),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Identity;
    use crate::stanza::Element;

    fn profile() -> Profile {
        let identity = Identity {
            category: "client".into(),
            kind: "phone".into(),
            name: "T".into(),
            lang: Some("en".into()),
        };
        Profile::new("n", None, identity, vec!["f".into()]).unwrap()
    }

    fn query(kind: &str, xmlns: &str, node: &str) -> Stanza {
        Stanza::from_element(
            Element::new("iq")
                .with_attr("id", "7")
                .with_attr("type", kind)
                .with_child(
                    Element::new("query")
                        .with_attr("xmlns", xmlns)
                        .with_attr("node", node),
                ),
        )
    }

    #[test]
    fn answers_only_gets_for_its_node() {
        let p = profile();
        let reply = answer(&query("get", DISCO_INFO_NS, &p.node_ver), &p).unwrap();
        let root = reply.root();
        assert_eq!(root.attr("id").as_deref(), Some("7"));
        assert_eq!(root.attr("type").as_deref(), Some("result"));
        assert!(root.attr("to").is_none() && root.attr("from").is_none());
        let identity = root.find("identity").unwrap();
        assert_eq!(identity.attr("xml:lang").as_deref(), Some("en"));
        assert_eq!(
            root.find("feature").unwrap().attr("var").as_deref(),
            Some("f")
        );
        assert!(answer(&query("set", DISCO_INFO_NS, &p.node_ver), &p).is_none());
        assert!(answer(&query("get", "urn:other", &p.node_ver), &p).is_none());
        assert!(answer(&query("get", DISCO_INFO_NS, "n#other"), &p).is_none());
        assert!(answer(&query("get", DISCO_INFO_NS, "n"), &p).is_none());
    }
}
