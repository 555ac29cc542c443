//! Profile selection rules: `user_agent.platform` and a minimum `app_version`.

use crate::wa_proto::ClientPayloadView;

/// WhatsApp's `UserAgent.Platform` enum, by value.
pub const PLATFORMS: [&str; 36] = [
    "ANDROID",
    "IOS",
    "WINDOWS_PHONE",
    "BLACKBERRY",
    "BLACKBERRYX",
    "S40",
    "S60",
    "PYTHON_CLIENT",
    "TIZEN",
    "ENTERPRISE",
    "SMB_ANDROID",
    "KAIOS",
    "SMB_IOS",
    "WINDOWS",
    "WEB",
    "PORTAL",
    "GREEN_ANDROID",
    "GREEN_IPHONE",
    "BLUE_ANDROID",
    "BLUE_IPHONE",
    "FBLITE_ANDROID",
    "MLITE_ANDROID",
    "IGLITE_ANDROID",
    "PAGE",
    "MACOS",
    "OCULUS_MSG",
    "OCULUS_CALL",
    "MILAN",
    "CAPI",
    "WEAROS",
    "ARDEVICE",
    "VRDEVICE",
    "BLUE_WEB",
    "IPAD",
    "TEST",
    "SMART_GLASSES",
];

/// The enum value of a platform name (case-insensitive).
pub fn platform_by_name(name: &str) -> Option<i32> {
    PLATFORMS
        .iter()
        .position(|p| p.eq_ignore_ascii_case(name))
        .map(|i| i as i32)
}

/// An `app_version` bound: up to four dot-separated numbers, missing parts 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppVersion(pub [u32; 4]);

impl std::str::FromStr for AppVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a version like \"2.21.0\" (1 to 4 numbers), found {s:?}");
        let mut parts = [0u32; 4];
        for (n, part) in s.split('.').enumerate() {
            if n == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts[n] = part.parse().map_err(|_| bad())?;
        }
        Ok(AppVersion(parts))
    }
}

/// One `[[rules]]` entry, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The platform value it requires, if any.
    pub platform: Option<i32>,
    /// The lowest app version it accepts, if any.
    pub min_version: Option<AppVersion>,
    /// The profile it selects.
    pub profile: String,
}

impl Rule {
    /// Whether a client with this payload matches. A rule with a platform does not
    /// match a client that sent none; a client without a version has version 0.
    pub fn matches(&self, payload: &ClientPayloadView) -> bool {
        let agent = payload.fields().user_agent.as_ref();
        if let Some(want) = self.platform {
            if agent.and_then(|a| a.platform) != Some(want) {
                return false;
            }
        }
        if let Some(min) = self.min_version {
            let have = agent
                .and_then(|a| a.app_version.as_ref())
                .map(|v| v.parts())
                .unwrap_or_default();
            if AppVersion(have) < min {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wa_proto::client_payload::{
        AppVersion as PbVersion, ClientPayloadFields, UserAgent,
    };
    use bytes::Bytes;
    use prost::Message;

    fn payload(platform: Option<i32>, version: Option<&[u32]>) -> ClientPayloadView {
        let fields = ClientPayloadFields {
            user_agent: Some(UserAgent {
                platform,
                app_version: version.map(|v| PbVersion {
                    primary: v.first().copied(),
                    secondary: v.get(1).copied(),
                    tertiary: v.get(2).copied(),
                    quaternary: v.get(3).copied(),
                }),
            }),
            ..Default::default()
        };
        ClientPayloadView::parse(Bytes::from(fields.encode_to_vec())).unwrap()
    }

    #[test]
    fn platform_names_match_the_enum() {
        assert_eq!(platform_by_name("ANDROID"), Some(0));
        assert_eq!(platform_by_name("ios"), Some(1));
        assert_eq!(platform_by_name("SMB_ANDROID"), Some(10));
        assert_eq!(platform_by_name("WEB"), Some(14));
        assert_eq!(platform_by_name("MACOS"), Some(24));
        assert_eq!(platform_by_name("IPAD"), Some(33));
        assert_eq!(platform_by_name("SMART_GLASSES"), Some(35));
        assert_eq!(platform_by_name("SYMBIAN"), None);
    }

    #[test]
    fn versions_parse_and_compare_with_missing_parts_zero() {
        let v = |s: &str| s.parse::<AppVersion>().unwrap();
        assert_eq!(v("2.21.0"), AppVersion([2, 21, 0, 0]));
        assert_eq!(v("2"), AppVersion([2, 0, 0, 0]));
        assert_eq!(v("2.21"), v("2.21.0.0"));
        assert!(v("2.21.1") > v("2.21"));
        assert!(v("2.3") < v("2.21"), "numeric, not lexical");
        assert!(v("10.0") > v("9.99.99.99"));
        for bad in [
            "",
            "2..1",
            "2.x",
            "1.2.3.4.5",
            "-1",
            "+2",
            " 2",
            "99999999999",
        ] {
            assert!(bad.parse::<AppVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rules_match_platform_and_minimum_version() {
        let rule = Rule {
            platform: Some(0),
            min_version: Some("2.21.0".parse().unwrap()),
            profile: "full".into(),
        };
        assert!(rule.matches(&payload(Some(0), Some(&[2, 21]))));
        assert!(rule.matches(&payload(Some(0), Some(&[2, 24, 3]))));
        assert!(rule.matches(&payload(Some(0), Some(&[3]))));
        assert!(!rule.matches(&payload(Some(0), Some(&[2, 20, 99, 9]))));
        assert!(!rule.matches(&payload(Some(1), Some(&[2, 24]))));
        assert!(!rule.matches(&payload(None, Some(&[2, 24]))));
        assert!(!rule.matches(&payload(Some(0), None)));
        let any_platform = Rule {
            platform: None,
            ..rule.clone()
        };
        assert!(any_platform.matches(&payload(Some(14), Some(&[2, 21]))));
        let any_version = Rule {
            min_version: None,
            ..rule
        };
        assert!(any_version.matches(&payload(Some(0), None)));
    }
}
