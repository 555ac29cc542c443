//! XML escaping: the stanza keeps text in its escaped wire form, so escaping happens
//! only for values an annotation supplies and unescaping only when a value is read.

use std::borrow::Cow;

/// The XML 1.0 `Char` production: what may appear in a document at all.
#[inline]
pub(crate) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Resolves the name of a reference (between `&` and `;`): the five predefined entities
/// and numeric character references to valid characters. Anything else is `None`, which
/// is also how the parser rejects unknown entities.
pub(crate) fn resolve_ref(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x', hex @ ..] => numeric(hex, 16),
        [b'#', dec @ ..] => numeric(dec, 10),
        _ => None,
    }
}

fn numeric(digits: &[u8], radix: u32) -> Option<char> {
    // Eight digits are more than any valid code point needs and keep `u32` from overflow.
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        v = v * radix + (d as char).to_digit(radix)?;
    }
    if is_xml_char(v) {
        char::from_u32(v)
    } else {
        None
    }
}

/// Unescapes a validated wire value; borrows when there is nothing to do.
pub(crate) fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let resolved = after
            .find(';')
            .and_then(|j| resolve_ref(&after.as_bytes()[..j]).map(|c| (j, c)));
        match resolved {
            Some((j, c)) => {
                out.push(c);
                rest = &after[j + 1..];
            }
            None => {
                // Unreachable for parsed or escaped values; kept literal rather than lost.
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Where an escaped string is going: attribute values also need their quote and the
/// whitespace that attribute-value normalization would otherwise turn into spaces.
#[derive(Clone, Copy)]
pub(crate) enum Context {
    Text,
    AttrDoubleQuoted,
}

/// Escapes `s` for `ctx`. Characters XML cannot carry at all (most C0 controls) become
/// U+FFFD, since failing is not an option for an annotation and dropping them silently
/// would shift the text.
pub(crate) fn escape(s: &str, ctx: Context) -> Cow<'_, str> {
    let needs = |c: char| match c {
        '<' | '>' | '&' | '\r' => true,
        '"' | '\t' | '\n' => matches!(ctx, Context::AttrDoubleQuoted),
        c => !is_xml_char(c as u32),
    };
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            _ => out.push('\u{FFFD}'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(resolve_ref(b"amp"), Some('&'));
        assert_eq!(resolve_ref(b"#65"), Some('A'));
        assert_eq!(resolve_ref(b"#x1F600"), Some('😀'));
        assert_eq!(resolve_ref(b"#X41"), None);
        assert_eq!(resolve_ref(b"#0"), None);
        assert_eq!(resolve_ref(b"#xD800"), None);
        assert_eq!(resolve_ref(b"#x110000"), None);
        assert_eq!(resolve_ref(b"#99999999999"), None);
        assert_eq!(resolve_ref(b"#"), None);
        assert_eq!(resolve_ref(b"#x"), None);
        assert_eq!(resolve_ref(b"foo"), None);
        assert_eq!(resolve_ref(b"#1a"), None);
    }

    #[test]
    fn escape_unescape() {
        let s = "a<b>&\"c'\t\n\r d\u{1}";
        let e = escape(s, Context::AttrDoubleQuoted);
        assert_eq!(e, "a&lt;b&gt;&amp;&quot;c'&#9;&#10;&#13; d\u{FFFD}");
        assert_eq!(unescape(&e), "a<b>&\"c'\t\n\r d\u{FFFD}");
        assert_eq!(escape("a\"\n", Context::Text), "a\"\n");
        assert!(matches!(escape("plain", Context::Text), Cow::Borrowed(_)));
        assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
        assert_eq!(unescape("&apos;&#x41;&#66;"), "'AB");
    }
}
