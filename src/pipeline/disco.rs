//! From server: a disco#info query for this session's `NODE#VER` is answered by the
//! proxy and not forwarded (SPEC §3.2); every other query goes to the client untouched.
//!
//! The answer is `<iq type="result">` with the query's `id`, `to` and `from` swapped,
//! and the profile's `<identity>` and `<feature>` children, all built at load.

use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::caps::profile::DISCO_INFO_NS;
use crate::caps::Profile;
use crate::metrics::{self, AnnotationKind};
use crate::stanza::{Kind, ReplyValue, Stanza};

use super::Routed;

/// Adds [`Disco`] around a service.
#[derive(Clone, Debug)]
pub struct DiscoLayer {
    /// The session's profile.
    profile: Arc<Profile>,
}

impl DiscoLayer {
    /// Answers queries for `profile`'s node.
    pub fn new(profile: Arc<Profile>) -> Self {
        Self { profile }
    }
}

impl<S> Layer<S> for DiscoLayer {
    type Service = Disco<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Disco {
            inner,
            profile: self.profile.clone(),
        }
    }
}

/// Answers disco#info queries for the session's node itself.
#[derive(Clone, Debug)]
pub struct Disco<S> {
    /// The next service.
    inner: S,
    /// The session's profile.
    profile: Arc<Profile>,
}

impl<S> Service<Stanza> for Disco<S>
where
    // The layers below answer at once; requiring that keeps one flat future type
    // instead of an `Either` per layer, so a stanza no layer concerns costs next to
    // nothing (benches/caps.rs).
    S: Service<
        Stanza,
        Response = Routed,
        Future = Ready<Result<Routed, <S as Service<Stanza>>::Error>>,
    >,
{
    type Response = Routed;
    type Error = S::Error;
    type Future = Ready<Result<Routed, S::Error>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, stanza: Stanza) -> Self::Future {
        if stanza.kind() == Kind::Iq {
            if let Some(reply) = answer(&stanza, &self.profile) {
                metrics::annotation(AnnotationKind::DiscoAnswered);
                return std::future::ready(Ok(Routed {
                    forward: None,
                    reply: Some(Box::new(reply)),
                }));
            }
        }
        self.inner.call(stanza)
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
