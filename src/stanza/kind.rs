//! Stanza kinds: what the pipeline routes and counts by.

/// The kind of a stanza, from its root element's name (SPEC §2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Message,
    Receipt,
    Ack,
    Presence,
    Iq,
    Notification,
    Call,
    Chatstate,
    Success,
    Failure,
    /// `<stream:error>`; the prefix is part of the name, no namespace processing.
    StreamError,
    XmlStreamEnd,
    /// Any other root name.
    Other,
}

impl Kind {
    /// Every kind, e.g. to pre-register one metric series per kind.
    pub const ALL: [Kind; 13] = [
        Kind::Message,
        Kind::Receipt,
        Kind::Ack,
        Kind::Presence,
        Kind::Iq,
        Kind::Notification,
        Kind::Call,
        Kind::Chatstate,
        Kind::Success,
        Kind::Failure,
        Kind::StreamError,
        Kind::XmlStreamEnd,
        Kind::Other,
    ];

    /// A label safe for metrics and logs (no `:`).
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Receipt => "receipt",
            Kind::Ack => "ack",
            Kind::Presence => "presence",
            Kind::Iq => "iq",
            Kind::Notification => "notification",
            Kind::Call => "call",
            Kind::Chatstate => "chatstate",
            Kind::Success => "success",
            Kind::Failure => "failure",
            Kind::StreamError => "stream_error",
            Kind::XmlStreamEnd => "xmlstreamend",
            Kind::Other => "other",
        }
    }

    /// The kind of a stanza whose root element is named `name`.
    pub fn from_root_name(name: &str) -> Kind {
        match name {
            "message" => Kind::Message,
            "receipt" => Kind::Receipt,
            "ack" => Kind::Ack,
            "presence" => Kind::Presence,
            "iq" => Kind::Iq,
            "notification" => Kind::Notification,
            "call" => Kind::Call,
            "chatstate" => Kind::Chatstate,
            "success" => Kind::Success,
            "failure" => Kind::Failure,
            "stream:error" => Kind::StreamError,
            "xmlstreamend" => Kind::XmlStreamEnd,
            _ => Kind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_match_root_names() {
        for k in Kind::ALL {
            let name = match k {
                Kind::StreamError => "stream:error",
                Kind::Other => "something-else",
                _ => k.label(),
            };
            assert_eq!(Kind::from_root_name(name), k);
        }
        let mut labels: Vec<_> = Kind::ALL.iter().map(Kind::label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), 13);
    }

    #[test]
    fn prefixes_and_case_matter() {
        assert_eq!(Kind::from_root_name("error"), Kind::Other);
        assert_eq!(Kind::from_root_name("x:message"), Kind::Other);
        assert_eq!(Kind::from_root_name("Message"), Kind::Other);
    }
}
