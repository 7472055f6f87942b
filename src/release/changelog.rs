//! The CHANGELOG entry a release adds.

/// The heading of `version`'s entry; also how a re-run finds the entry it already wrote.
pub fn heading(version: &str, date: &str, candidate: bool) -> String {
    format!(
        "## [{version}] - {date}{}",
        if candidate {
            " (release candidate)"
        } else {
            ""
        }
    )
}

/// Whether `text` already has an entry for `version`.
pub fn has_entry(text: &str, version: &str) -> bool {
    let start = format!("## [{version}]");
    text.lines().any(|l| l.starts_with(&start))
}

/// `text` with `entry` inserted where a new release goes: after an `[Unreleased]` section if
/// there is one, else before the first `## ` heading, else at the end. An empty `text` gets a
/// title first.
pub fn insert(text: &str, entry: &str) -> String {
    if text.trim().is_empty() {
        return format!("# Changelog\n\n{entry}");
    }
    let lines: Vec<&str> = text.lines().collect();
    let headings: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("## "))
        .map(|(i, _)| i)
        .collect();
    let at = match headings.first() {
        Some(&first) if lines[first].to_ascii_lowercase().contains("[unreleased]") => {
            headings.get(1).copied().unwrap_or(lines.len())
        }
        Some(&first) => first,
        None => lines.len(),
    };
    let mut out: Vec<String> = lines[..at].iter().map(|l| l.to_string()).collect();
    if out.last().is_some_and(|l| !l.trim().is_empty()) {
        out.push(String::new());
    }
    out.extend(entry.trim_end().lines().map(str::to_string));
    if at < lines.len() {
        out.push(String::new());
    }
    out.extend(lines[at..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_after_unreleased_or_before_the_newest_release() {
        let e = "## [2.6.3] - 2026-11-21\n- 32 AMIs\n";
        let t = "# Changelog\n\n## [Unreleased]\n- x\n\n## [2.6.2] - 2015\n- y\n";
        assert_eq!(
            insert(t, e),
            "# Changelog\n\n## [Unreleased]\n- x\n\n## [2.6.3] - 2026-11-21\n- 32 AMIs\n\n## [2.6.2] - 2015\n- y\n"
        );
        let t = "# Changelog\n\n## [2.6.2] - 2015\n- y\n";
        assert_eq!(
            insert(t, e),
            "# Changelog\n\n## [2.6.3] - 2026-11-21\n- 32 AMIs\n\n## [2.6.2] - 2015\n- y\n"
        );
        assert_eq!(insert("", e), format!("# Changelog\n\n{e}"));
        assert!(has_entry(&insert(t, e), "2.6.3"));
        assert!(!has_entry(t, "2.6.3"));
    }
}
