//! The capability file (`caps.file`): node, named profiles, ordered rules.
//!
//! Every problem is reported as `FILE:LINE:COLUMN: reason`, all of them at once, so an
//! operator can fix the file in one round.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::profile::{Identity, Profile};
use super::rules::{platform_by_name, AppVersion, Rule};

/// The profile used when no rule matches; the file must define it.
pub const DEFAULT_PROFILE: &str = "default";

/// A loaded capability file.
#[derive(Debug)]
pub struct CapsFile {
    /// The XEP-0115 node URI.
    pub node: String,
    /// Profiles by name.
    pub profiles: HashMap<String, Arc<Profile>>,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// `node = "…"`.
    node: Spanned<String>,
    /// `[profiles.NAME]`.
    #[serde(default)]
    profiles: BTreeMap<String, Spanned<RawProfile>>,
    /// `[[rules]]`.
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

/// One `[profiles.NAME]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// `identity = { category, type, name, lang? }`.
    identity: Identity,
    /// `features = [...]`.
    features: Vec<String>,
}

/// One `[[rules]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    /// Enum name or number.
    #[serde(default)]
    platform: Option<Spanned<toml::Value>>,
    /// `"2.21.0"`.
    #[serde(default)]
    min_version: Option<Spanned<String>>,
    /// Name of a profile of this file.
    profile: Spanned<String>,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<CapsFile, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    parse(&text, &path.display().to_string())
}

/// Parses a capability file's text; `name` is how problems refer to it.
pub fn parse(text: &str, name: &str) -> Result<CapsFile, Vec<String>> {
    let at = |span: std::ops::Range<usize>, reason: &str| {
        let (line, col) = line_col(text, span.start);
        format!("{name}:{line}:{col}: {reason}")
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let reason = e.message().trim_end().to_string();
        vec![match e.span() {
            Some(span) => at(span, &reason),
            None => format!("{name}: {reason}"),
        }]
    })?;

    let mut problems = Vec::new();
    let node = raw.node.get_ref().clone();
    if node.is_empty() {
        problems.push(at(raw.node.span(), "node is empty"));
    }
    let mut profiles = HashMap::new();
    for (profile_name, spanned) in &raw.profiles {
        let span = spanned.span();
        let p = spanned.get_ref();
        match Profile::new(
            &node,
            Some(profile_name.clone()),
            p.identity.clone(),
            p.features.clone(),
        ) {
            Ok(profile) => {
                profiles.insert(profile_name.clone(), Arc::new(profile));
            }
            Err(e) => problems.push(at(span, &format!("profile {profile_name:?}: {e}"))),
        }
    }
    if !raw.profiles.contains_key(DEFAULT_PROFILE) {
        problems.push(format!(
            "{name}: no [profiles.{DEFAULT_PROFILE}]: it is used when no rule matches"
        ));
    }
    let mut rules = Vec::new();
    for rule in &raw.rules {
        let r = rule.get_ref();
        let platform = match &r.platform {
            None => None,
            Some(p) => match platform_value(p.get_ref()) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(at(p.span(), &e));
                    None
                }
            },
        };
        let min_version = match &r.min_version {
            None => None,
            Some(v) => match v.get_ref().parse::<AppVersion>() {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(at(v.span(), &format!("min_version: {e}")));
                    None
                }
            },
        };
        let profile = r.profile.get_ref();
        if !raw.profiles.contains_key(profile) {
            problems.push(at(
                r.profile.span(),
                &format!("rule names profile {profile:?}, which the file does not define"),
            ));
        }
        rules.push(Rule {
            platform,
            min_version,
            profile: profile.clone(),
        });
    }
    if problems.is_empty() {
        Ok(CapsFile {
            node,
            profiles,
            rules,
        })
    } else {
        Err(problems)
    }
}

/// A rule's `platform`: an enum name, or its number.
fn platform_value(v: &toml::Value) -> Result<i32, String> {
    match v {
        toml::Value::String(s) => platform_by_name(s).ok_or_else(|| {
            format!("platform: unknown UserAgent.Platform name {s:?} (e.g. \"ANDROID\", \"IOS\", \"WEB\", or a number)")
        }),
        toml::Value::Integer(n) => i32::try_from(*n)
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("platform: {n} is not a UserAgent.Platform value")),
        other => Err(format!(
            "platform: expected a name or a number, found a {}",
            other.type_str()
        )),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"node = "https://provider.example/interop"
[profiles.default]
identity = { category = "client", type = "phone", name = "Example 1.0" }
features = ["http://jabber.org/protocol/caps", "urn:interop:caps:receive:text"]
[profiles.full]
identity = { category = "client", type = "phone", name = "Example 2.0", lang = "en" }
features = ["urn:interop:caps:receive:text", "urn:interop:caps:receive:image"]
[[rules]]
platform = "ANDROID"
min_version = "2.21.0"
profile = "full"
[[rules]]
platform = 14
profile = "default"
"#;

    fn errors(text: &str) -> Vec<String> {
        parse(text, "caps.toml").unwrap_err()
    }

    #[test]
    fn good_file_loads() {
        let f = parse(GOOD, "caps.toml").unwrap();
        assert_eq!(f.node, "https://provider.example/interop");
        assert_eq!(f.profiles.len(), 2);
        assert_eq!(f.profiles["full"].identity.lang.as_deref(), Some("en"));
        assert_eq!(
            f.rules,
            vec![
                Rule {
                    platform: Some(0),
                    min_version: Some(AppVersion([2, 21, 0, 0])),
                    profile: "full".into()
                },
                Rule {
                    platform: Some(14),
                    min_version: None,
                    profile: "default".into()
                }
            ]
        );
    }

    #[test]
    fn shipped_example_loads() {
        let text = include_str!("../../config/capabilities.toml");
        let f = parse(text, "capabilities.toml").unwrap();
        assert!(f.profiles.contains_key(DEFAULT_PROFILE));
        assert!(!f.rules.is_empty());
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let text = GOOD.replace("min_version = \"2.21.0\"", "min_version = 2.21.0");
        let e = errors(&text);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("caps.toml:10:"), "{e:?}");
    }

    #[test]
    fn unknown_key_is_refused_with_its_line() {
        let text = GOOD.replace(
            "profile = \"full\"",
            "profile = \"full\"\nplatfrom = \"IOS\"",
        );
        let e = errors(&text);
        assert!(e[0].starts_with("caps.toml:12:"), "{e:?}");
        assert!(e[0].contains("platfrom"), "{e:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported_with_lines() {
        let text = GOOD
            .replace("platform = \"ANDROID\"", "platform = \"SYMBIAN\"")
            .replace("min_version = \"2.21.0\"", "min_version = \"2.x\"")
            .replace("profile = \"default\"", "profile = \"missing\"");
        let e = errors(&text);
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("caps.toml:9:12: ") && e[0].contains("SYMBIAN"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("caps.toml:10:15: ") && e[1].contains("2.x"),
            "{e:?}"
        );
        assert!(
            e[2].starts_with("caps.toml:14:11: ") && e[2].contains("missing"),
            "{e:?}"
        );
    }

    #[test]
    fn default_profile_is_required() {
        let text = GOOD
            .replace("[profiles.default]", "[profiles.basic]")
            .replace("profile = \"default\"", "profile = \"basic\"");
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("profiles.default"), "{e:?}");
    }

    #[test]
    fn missing_and_wrong_fields() {
        let e = errors("[profiles.default]\nidentity = { category = \"client\", type = \"pc\", name = \"x\" }\nfeatures = []\n");
        assert!(e[0].contains("node"), "{e:?}");
        let e = errors(&GOOD.replace(
            "type = \"phone\", name = \"Example 1.0\"",
            "type = \"\", name = \"Example 1.0\"",
        ));
        assert!(
            e[0].starts_with("caps.toml:2:") && e[0].contains("identity.type"),
            "{e:?}"
        );
        let e = errors(&GOOD.replace("platform = 14", "platform = -1"));
        assert!(e[0].starts_with("caps.toml:13:"), "{e:?}");
        let e = errors(&GOOD.replace("platform = 14", "platform = true"));
        assert!(e[0].contains("expected a name or a number"), "{e:?}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncΨd", 0), (1, 1));
        assert_eq!(line_col("ab\ncΨd", 3), (2, 1));
        assert_eq!(line_col("ab\ncΨd", 6), (2, 3));
    }
}
