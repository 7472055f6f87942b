//! Release versions: semantic versions (`2.6.3`, `2.7.0-beta1`) and the tags that carry them.

use semver::Version;

/// The tag of a release (`release/2.6.3`) or a candidate (`candidate/2.7.0-beta1`).
pub fn tag(version: &str, candidate: bool) -> String {
    format!(
        "{}/{version}",
        if candidate { "candidate" } else { "release" }
    )
}

/// Parses `v`, saying what a valid one looks like when it is not.
pub fn parse(v: &str) -> Result<Version, String> {
    Version::parse(v).map_err(|e| {
        format!("\"{v}\" is not a version ({e}); write it as MAJOR.MINOR.PATCH, e.g. 2.6.3 or 2.7.0-beta1")
    })
}

/// The default branch of a version: its major.minor (`2.6` for 2.6.3).
pub fn default_branch(v: &Version) -> String {
    format!("{}.{}", v.major, v.minor)
}

/// The newest version among release tags (`release/X`), leaving out `except`; tags that do not
/// hold a version are ignored.
pub fn latest_release(tags: &[String], except: &str) -> Option<Version> {
    tags.iter()
        .filter(|t| t.as_str() != except)
        .filter_map(|t| t.strip_prefix("release/"))
        .filter_map(|v| Version::parse(v).ok())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_sort_before_their_release() {
        let tags: Vec<String> = [
            "release/2.6.2",
            "release/2.6.10",
            "release/junk",
            "candidate/9.0.0",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(latest_release(&tags, ""), Some(parse("2.6.10").unwrap()));
        assert_eq!(
            latest_release(&tags, "release/2.6.10"),
            Some(parse("2.6.2").unwrap())
        );
        assert!(parse("2.7.0-beta1").unwrap() < parse("2.7.0").unwrap());
        assert!(parse("2.7.0-beta1").unwrap() > parse("2.6.10").unwrap());
    }

    #[test]
    fn bad_versions_say_what_a_good_one_is() {
        let e = parse("2.6").unwrap_err();
        assert!(e.contains("e.g. 2.6.3"), "{e}");
        assert_eq!(tag("2.6.3", false), "release/2.6.3");
        assert_eq!(tag("2.7.0-beta1", true), "candidate/2.7.0-beta1");
        assert_eq!(default_branch(&parse("2.6.3").unwrap()), "2.6");
    }
}
