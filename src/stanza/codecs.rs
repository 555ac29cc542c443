//! The codecs of one session: its encoding, and for binary the dictionary its client's
//! intro header names, in each direction of travel.

use std::sync::Arc;

use super::binary::{self, BinaryCodec, Leg};
use super::{Limits, StanzaCodec, XmlCodec};

/// `stanza.encoding`: what both legs speak. The proxy never translates between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// XML text (SPEC §2.8).
    Xml,
    /// WhatsApp's binary token encoding (SPEC §2.10), what the WhatsApp server speaks.
    #[default]
    Binary,
}

impl Encoding {
    pub fn label(&self) -> &'static str {
        match self {
            Encoding::Xml => "xml",
            Encoding::Binary => "binary",
        }
    }
}

/// The dictionary an intro header's version names: `WA 06 03` → 3, `WA 06 02` → 2.
pub fn dictionary_for(major: u8, minor: u8) -> Option<u8> {
    (major == 6 && binary::dictionary(minor).is_some()).then_some(minor)
}

/// Decoders and encoders for one session. Stanzas read from the client and written to
/// the server travel `to_server`; the others `to_client`. The direction matters in
/// binary, where an INTEROP_JID carries its server string only towards the client.
#[derive(Clone)]
pub struct SessionCodecs {
    pub to_server: Arc<dyn StanzaCodec>,
    pub to_client: Arc<dyn StanzaCodec>,
}

impl SessionCodecs {
    /// The codecs for a client that sent version `major.minor`; `None` when the encoding
    /// is binary and the version names no dictionary.
    pub fn new(encoding: Encoding, major: u8, minor: u8, limits: Limits) -> Option<Self> {
        match encoding {
            Encoding::Xml => {
                let xml: Arc<dyn StanzaCodec> = Arc::new(XmlCodec::new(limits));
                Some(SessionCodecs {
                    to_server: xml.clone(),
                    to_client: xml,
                })
            }
            Encoding::Binary => {
                let dict = dictionary_for(major, minor)?;
                Some(SessionCodecs {
                    to_server: Arc::new(BinaryCodec::new(dict, Leg::ToServer, limits)?),
                    to_client: Arc::new(BinaryCodec::new(dict, Leg::ToClient, limits)?),
                })
            }
        }
    }
}
