//! CPU architecture as a matrix dimension, and the two profile/regions-file values that may be
//! given once (for x86_64, as every file written before architectures existed) or per
//! architecture.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// An EC2 image architecture amipub builds for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum Architecture {
    /// `x86_64`, the default, and the only one of files that name none.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64` (Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// EC2's name: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// Parses EC2's name.
    pub fn parse(s: &str) -> Option<Architecture> {
        match s {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// What build names gain: nothing for x86_64 (names stay as they always were), `-arm64`.
    pub fn name_suffix(self) -> &'static str {
        match self {
            Architecture::X86_64 => "",
            Architecture::Arm64 => "-arm64",
        }
    }

    /// Debian's and Ubuntu's name, as Canonical's parameters and image names use it.
    pub fn debian_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value written once (it is x86_64's) or per architecture: `ami-1` or
/// `{ x86_64: ami-1, arm64: ami-2 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerArch {
    /// One value: x86_64's (regions files), or every architecture's (instance types of a
    /// single-architecture profile).
    One(String),
    /// A value per architecture.
    Each(BTreeMap<Architecture, String>),
}

impl PerArch {
    /// The value given for `arch`, reading a single value as x86_64's.
    pub fn for_arch(&self, arch: Architecture) -> Option<&str> {
        match self {
            PerArch::One(v) if arch == Architecture::X86_64 => Some(v),
            PerArch::One(_) => None,
            PerArch::Each(m) => m.get(&arch).map(String::as_str),
        }
    }

    /// The value for `arch`, a single value being every architecture's (instance types).
    pub fn for_arch_or_all(&self, arch: Architecture) -> Option<&str> {
        match self {
            PerArch::One(v) => Some(v),
            PerArch::Each(m) => m.get(&arch).map(String::as_str),
        }
    }

    /// Every value with its architecture.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (Architecture, &str)> + '_> {
        match self {
            PerArch::One(v) => Box::new(std::iter::once((Architecture::X86_64, v.as_str()))),
            PerArch::Each(m) => Box::new(m.iter().map(|(a, v)| (*a, v.as_str()))),
        }
    }
}

impl<'de> Deserialize<'de> for PerArch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PerArch;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value, or a mapping of architecture (x86_64, arm64) to value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PerArch, E> {
                Ok(PerArch::One(v.to_string()))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<PerArch, M::Error> {
                let mut each = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<Architecture, String>()? {
                    each.insert(k, v);
                }
                Ok(PerArch::Each(each))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_value_is_x86_64s() {
        let one = PerArch::One("ami-1".into());
        assert_eq!(one.for_arch(Architecture::X86_64), Some("ami-1"));
        assert_eq!(one.for_arch(Architecture::Arm64), None);
        let each = PerArch::Each(BTreeMap::from([(Architecture::Arm64, "ami-2".into())]));
        assert_eq!(each.for_arch(Architecture::Arm64), Some("ami-2"));
        assert_eq!(each.for_arch(Architecture::X86_64), None);
    }

    #[test]
    fn names_gain_a_suffix_only_off_x86_64() {
        assert_eq!(Architecture::X86_64.name_suffix(), "");
        assert_eq!(Architecture::Arm64.name_suffix(), "-arm64");
        assert_eq!(Architecture::parse("arm64"), Some(Architecture::Arm64));
        assert_eq!(Architecture::parse("aarch64"), None);
    }
}
