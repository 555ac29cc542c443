//! The token dictionaries of SPEC §2.10.
//!
//! The tables are the JSON files beside this module, compiled in and parsed once: typing
//! them by hand would invite the silent kind of error a wrong table causes (wrong
//! strings, no failure). Strings borrow the compiled-in JSON, so a token is a
//! `&'static str` for as long as the process runs.

use std::sync::LazyLock;

/// Where a string sits in a dictionary, i.e. how the ladder writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// Written as the byte itself (`01`–`EB`).
    Single(u8),
    /// Written as `EC + table` (table `0..4`), then the index byte.
    Double(u8, u8),
}

/// One version of the token tables, with the reverse index the writer needs.
pub struct Dictionary {
    version: u8,
    single: Vec<&'static str>,
    double: Vec<Vec<&'static str>>,
    index: Index,
    /// Where [`super::node::Str::new`] keeps this dictionary's form of a created string:
    /// 0 for dictionary 2, 1 for 3; `None` for the tests' tables.
    cache_slot: Option<usize>,
}

/// The writer's reverse index: string to token. Open addressing over the fixed, public
/// tables (no one picks the keys to collide, so SipHash's protection buys nothing; it
/// was a sixth of the cost of writing a modified stanza). The hash reads a string's
/// length and its first and last bytes, at most two words: a lookup is a few dozen
/// instructions, and a string longer than every token is refused without one.
struct Index {
    /// Indices into `entries`, [`EMPTY`] where none; a power of two, at most a third
    /// full, so a miss ends soon.
    slots: Box<[u16]>,
    entries: Vec<(&'static str, Token)>,
    /// `64 - log2(slots.len())`: a slot is the hash's top bits.
    shift: u32,
    max_len: usize,
}

const EMPTY: u16 = u16::MAX;

impl Index {
    fn with_capacity(n: usize) -> Self {
        let len = (3 * n).next_power_of_two().max(2);
        Index {
            slots: vec![EMPTY; len].into_boxed_slice(),
            entries: Vec::with_capacity(n),
            shift: 64 - len.trailing_zeros(),
            max_len: 0,
        }
    }

    fn hash(s: &[u8]) -> u64 {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let n = s.len();
        // Fixed-size loads only (a variable-length copy would be a call to `memcpy`).
        let (head, tail) = if n >= 8 {
            (
                u64::from_le_bytes(s[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(s[n - 8..].try_into().expect("8 bytes")),
            )
        } else if n >= 4 {
            (
                u64::from(u32::from_le_bytes(s[..4].try_into().expect("4 bytes"))),
                u64::from(u32::from_le_bytes(s[n - 4..].try_into().expect("4 bytes"))),
            )
        } else if n > 0 {
            let b = |i: usize| u64::from(s[i]);
            (b(0) | (b(n / 2) << 8) | (b(n - 1) << 16), 0)
        } else {
            (0, 0)
        };
        let h = (head ^ tail.rotate_left(29) ^ ((n as u64) << 56)).wrapping_mul(K);
        (h ^ (h >> 31)).wrapping_mul(K)
    }

    /// The slot holding `s`, or the empty one where it would go.
    fn find(&self, s: &str) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (Self::hash(s.as_bytes()) >> self.shift) as usize;
        loop {
            match self.slots[i] {
                EMPTY => return i,
                e if self.entries[usize::from(e)].0 == s => return i,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `s`, or re-points it if it is there.
    fn insert(&mut self, s: &'static str, token: Token) {
        let i = self.find(s);
        match self.slots[i] {
            EMPTY => {
                assert!(self.entries.len() < self.slots.len() / 3, "index sized");
                self.slots[i] = self.entries.len() as u16;
                self.entries.push((s, token));
                self.max_len = self.max_len.max(s.len());
            }
            e => self.entries[usize::from(e)].1 = token,
        }
    }

    fn get(&self, s: &str) -> Option<Token> {
        if s.len() > self.max_len {
            return None;
        }
        match self.slots[self.find(s)] {
            EMPTY => None,
            e => Some(self.entries[usize::from(e)].1),
        }
    }
}

/// The tag bytes of SPEC §2.10 that are not single-byte tokens.
pub(super) mod tag {
    pub const LIST_EMPTY: u8 = 0x00;
    /// `EC`–`EF`: double-byte tables 0–3.
    pub const DICTIONARY_0: u8 = 0xEC;
    pub const DICTIONARY_3: u8 = 0xEF;
    pub const INTEROP_JID: u8 = 0xF5;
    pub const FB_JID: u8 = 0xF6;
    pub const AD_JID: u8 = 0xF7;
    pub const LIST_8: u8 = 0xF8;
    pub const LIST_16: u8 = 0xF9;
    pub const JID_PAIR: u8 = 0xFA;
    pub const HEX_8: u8 = 0xFB;
    pub const BINARY_8: u8 = 0xFC;
    pub const BINARY_20: u8 = 0xFD;
    pub const BINARY_32: u8 = 0xFE;
    pub const NIBBLE_8: u8 = 0xFF;
}

const DOUBLE_BASE: u8 = tag::DICTIONARY_0;
const DOUBLE_TABLES: usize = 4;

#[derive(serde::Deserialize)]
struct Tables {
    dictionary_version: u8,
    #[serde(borrow)]
    single_byte: Vec<&'static str>,
    #[serde(borrow)]
    double_byte: Vec<Vec<&'static str>>,
}

impl Dictionary {
    /// Parses one table file. Visible to the tests, which need tables with gaps to
    /// reach the "index outside its table" errors: the real tables have none.
    pub(super) fn load(version: u8, json: &'static str) -> Self {
        let Tables {
            dictionary_version,
            single_byte,
            double_byte,
        } = serde_json::from_str(json).expect("compiled-in token table is valid JSON");
        assert_eq!(
            dictionary_version, version,
            "table file for another version"
        );
        assert_eq!(
            single_byte.len(),
            usize::from(DOUBLE_BASE),
            "single-byte table covers 00-EB"
        );
        assert_eq!(double_byte.len(), DOUBLE_TABLES, "four double-byte tables");
        assert!(
            double_byte.iter().all(|t| t.len() <= 256),
            "a double-byte table is indexed by one byte"
        );

        let mut index = Index::with_capacity(single_byte.len() + 4 * 256);
        // Double-byte entries first, so a string in both tables ends up single-byte:
        // the shorter form wins, as in every WhatsApp writer.
        for (d, table) in double_byte.iter().enumerate() {
            for (i, s) in table.iter().enumerate() {
                if !s.is_empty() {
                    index.insert(s, Token::Double(d as u8, i as u8));
                }
            }
        }
        // Index 0 is LIST_EMPTY on the wire, never a token.
        for (b, s) in single_byte.iter().enumerate().skip(1) {
            if !s.is_empty() {
                index.insert(s, Token::Single(b as u8));
            }
        }
        Dictionary {
            version,
            single: single_byte,
            double: double_byte,
            index,
            cache_slot: None,
        }
    }

    /// The intro header's minor version this dictionary belongs to.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The single-byte token `b` (`01`–`EB`); `None` for any other byte or an unassigned
    /// entry.
    pub fn single(&self, b: u8) -> Option<&'static str> {
        if b == 0 {
            return None;
        }
        self.single
            .get(usize::from(b))
            .copied()
            .filter(|s| !s.is_empty())
    }

    /// Entry `i` of double-byte table `d` (`0..4`, the tag byte minus `EC`).
    pub fn double(&self, d: u8, i: u8) -> Option<&'static str> {
        self.double
            .get(usize::from(d))?
            .get(usize::from(i))
            .copied()
            .filter(|s| !s.is_empty())
    }

    /// Which of a created string's precomputed forms is this dictionary's.
    pub(super) fn cache_slot(&self) -> Option<usize> {
        self.cache_slot
    }

    /// How `s` is written as a token, if it is one.
    pub fn token(&self, s: &str) -> Option<Token> {
        self.index.get(s)
    }
}

static V2: LazyLock<Dictionary> = LazyLock::new(|| Dictionary {
    cache_slot: Some(0),
    ..Dictionary::load(2, include_str!("tokens/wa-tokens-v2.json"))
});
static V3: LazyLock<Dictionary> = LazyLock::new(|| Dictionary {
    cache_slot: Some(1),
    ..Dictionary::load(3, include_str!("tokens/wa-tokens-v3.json"))
});

/// The dictionary named by an intro header's minor version (`WA 06 02` / `WA 06 03`).
pub fn dictionary(version: u8) -> Option<&'static Dictionary> {
    match version {
        2 => Some(&V2),
        3 => Some(&V3),
        _ => None,
    }
}
