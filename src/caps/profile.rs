//! A capability profile and its XEP-0115 verification string.
//!
//! Everything a stanza annotation needs (the `<c>` element, `NODE#VER`, the disco#info
//! answer, the set of receivable kinds) is built here once, when the profile is loaded
//! or looked up, so the pipeline only clones or compares.

use std::collections::HashSet;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::stanza::{Built, Element};

/// `xmlns` of the entity-capabilities `<c>` element (XEP-0115).
pub const CAPS_NS: &str = "http://jabber.org/protocol/caps";
/// `xmlns` of a disco#info `<query>` (XEP-0030).
pub const DISCO_INFO_NS: &str = "http://jabber.org/protocol/disco#info";
/// Prefix of the features naming receivable content kinds.
pub const RECEIVE_PREFIX: &str = "urn:interop:caps:receive:";

/// An XEP-0030 identity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// E.g. `client`.
    pub category: String,
    /// E.g. `phone`, `pc`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable name, e.g. `Example 1.0`.
    pub name: String,
    /// `xml:lang` of the name, if any.
    #[serde(default)]
    pub lang: Option<String>,
}

impl Identity {
    /// Checks what XEP-0030 requires of an identity.
    pub fn validate(&self) -> Result<(), String> {
        if self.category.is_empty() {
            return Err("identity.category is empty".into());
        }
        if self.kind.is_empty() {
            return Err("identity.type is empty".into());
        }
        Ok(())
    }

    /// The `<identity>` child of a disco#info answer.
    fn element(&self) -> Element {
        let mut e = Element::new("identity")
            .with_attr("category", &self.category)
            .with_attr("type", &self.kind);
        if let Some(lang) = &self.lang {
            e = e.with_attr("xml:lang", lang);
        }
        e.with_attr("name", &self.name)
    }
}

/// The verification string input `S` of XEP-0115 §5.1, steps 1-6 (identities and
/// features; extended service discovery forms are not used here).
pub fn verification_string(identities: &[Identity], features: &[String]) -> String {
    let mut ids: Vec<&Identity> = identities.iter().collect();
    ids.sort_by(|a, b| {
        (
            &a.category,
            &a.kind,
            a.lang.as_deref().unwrap_or(""),
            &a.name,
        )
            .cmp(&(
                &b.category,
                &b.kind,
                b.lang.as_deref().unwrap_or(""),
                &b.name,
            ))
    });
    let mut feats: Vec<&String> = features.iter().collect();
    feats.sort();
    feats.dedup();
    let mut s = String::new();
    for i in ids {
        s.push_str(&i.category);
        s.push('/');
        s.push_str(&i.kind);
        s.push('/');
        s.push_str(i.lang.as_deref().unwrap_or(""));
        s.push('/');
        s.push_str(&i.name);
        s.push('<');
    }
    for f in feats {
        s.push_str(f);
        s.push('<');
    }
    s
}

/// The `ver` attribute: base64 of SHA-1 of [`verification_string`].
pub fn ver(identities: &[Identity], features: &[String]) -> String {
    let digest = Sha1::digest(verification_string(identities, features).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// A profile, with everything the annotations need computed once.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name in the file; `None` for one looked up whole.
    pub name: Option<String>,
    /// Its identity.
    pub identity: Identity,
    /// Its features, sorted and without duplicates.
    pub features: Vec<String>,
    /// The XEP-0115 verification string.
    pub ver: String,
    /// `NODE#VER`, the disco node the proxy answers for.
    pub node_ver: String,
    /// `<c xmlns=… hash="sha-1" node=… ver=…/>`, appended to presences.
    pub caps_element: Built,
    /// The disco#info `<query>` answer, with identity and features.
    pub disco_query: Built,
    /// The content kinds of the `urn:interop:caps:receive:` features.
    receive: HashSet<String>,
}

impl Profile {
    /// Builds a profile advertised under `node`. Features are sorted and de-duplicated
    /// (XEP-0115 forbids duplicates); an empty feature or identity field is an error.
    pub fn new(
        node: &str,
        name: Option<String>,
        identity: Identity,
        features: Vec<String>,
    ) -> Result<Self, String> {
        identity.validate()?;
        if features.iter().any(String::is_empty) {
            return Err("a feature is empty".into());
        }
        let mut features = features;
        features.sort();
        features.dedup();
        let ver = ver(std::slice::from_ref(&identity), &features);
        let node_ver = format!("{node}#{ver}");
        let caps_element = Element::new("c")
            .with_attr("xmlns", CAPS_NS)
            .with_attr("hash", "sha-1")
            .with_attr("node", node)
            .with_attr("ver", &ver);
        let mut disco_query = Element::new("query")
            .with_attr("xmlns", DISCO_INFO_NS)
            .with_attr("node", &node_ver)
            .with_child(identity.element());
        for f in &features {
            disco_query.push_child(Element::new("feature").with_attr("var", f));
        }
        let receive = features
            .iter()
            .filter_map(|f| f.strip_prefix(RECEIVE_PREFIX))
            .map(str::to_owned)
            .collect();
        Ok(Profile {
            name,
            identity,
            features,
            ver,
            node_ver,
            caps_element: caps_element.into(),
            disco_query: disco_query.into(),
            receive,
        })
    }

    /// Whether the profile has `urn:interop:caps:receive:KIND`.
    pub fn can_receive(&self, kind: &str) -> bool {
        self.receive.contains(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(category: &str, kind: &str, lang: Option<&str>, name: &str) -> Identity {
        Identity {
            category: category.into(),
            kind: kind.into(),
            name: name.into(),
            lang: lang.map(Into::into),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// XEP-0115 §5.2, the simple example.
    #[test]
    fn xep_0115_simple_example() {
        let identities = [id("client", "pc", None, "Exodus 0.9.1")];
        let features = strings(&[
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
            "http://jabber.org/protocol/caps",
        ]);
        assert_eq!(
            verification_string(&identities, &features),
            "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<"
        );
        assert_eq!(ver(&identities, &features), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    /// XEP-0115 §5.3, the complex example, without its extended service discovery form
    /// (forms are out of scope): the identities sort by category, type, then xml:lang,
    /// and `S` matches the example's up to where the form's part would begin. The final
    /// `ver` of the example (`q07IKJEyjvHSyhy//CH0CxmKi8w=`) covers the form too, so it
    /// cannot be reproduced without it.
    #[test]
    fn xep_0115_complex_example_without_forms() {
        let identities = [
            id("client", "pc", Some("en"), "Psi 0.11"),
            id("client", "pc", Some("el"), "Ψ 0.11"),
        ];
        let features = strings(&[
            "http://jabber.org/protocol/muc",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#items",
        ]);
        let s = verification_string(&identities, &features);
        assert_eq!(
            s,
            "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<"
        );
        let with_form = format!(
            "{s}urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<\
             os_version<10.5.1<software<Psi<software_version<0.11<"
        );
        let digest = Sha1::digest(with_form.as_bytes());
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(digest),
            "q07IKJEyjvHSyhy//CH0CxmKi8w=",
            "the example's S is ours followed by the form's part"
        );
    }

    #[test]
    fn profile_precomputes_annotations() {
        let p = Profile::new(
            "https://n.example/x",
            Some("p".into()),
            id("client", "phone", None, "Ex"),
            strings(&[
                "urn:interop:caps:receive:text",
                "http://jabber.org/protocol/caps",
                "urn:interop:caps:receive:text",
            ]),
        )
        .unwrap();
        assert_eq!(p.features.len(), 2, "sorted and de-duplicated");
        assert_eq!(p.node_ver, format!("https://n.example/x#{}", p.ver));
        let (caps, query) = (p.caps_element.element(), p.disco_query.element());
        assert_eq!(caps.attr("ver").as_deref(), Some(p.ver.as_str()));
        assert_eq!(caps.attr("hash").as_deref(), Some("sha-1"));
        assert_eq!(query.children().count(), 3);
        assert!(p.can_receive("text"));
        assert!(!p.can_receive("image"));
        assert!(!p.can_receive(""));
    }

    #[test]
    fn empty_fields_are_refused() {
        let e = Profile::new("n", None, id("", "pc", None, "x"), vec![]).unwrap_err();
        assert!(e.contains("category"), "{e}");
        let e = Profile::new("n", None, id("client", "", None, "x"), vec![]).unwrap_err();
        assert!(e.contains("type"), "{e}");
        let e = Profile::new(
            "n",
            None,
            id("client", "pc", None, "x"),
            vec![String::new()],
        )
        .unwrap_err();
        assert!(e.contains("feature"), "{e}");
    }
}
