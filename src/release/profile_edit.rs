//! Setting a release's version, branch and launch permission groups in the profile's text,
//! keeping everything else (comments, order, spacing) as the user wrote it.

/// One changed line, for the diff shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// 1-based line number in the original text.
    pub line: usize,
    /// The lines removed.
    pub old: Vec<String>,
    /// The line written instead.
    pub new: String,
}

/// The edited text and what changed (nothing, when the profile already says all this).
pub struct Edited {
    /// The profile's new text.
    pub text: String,
    /// Each change, in order.
    pub changes: Vec<Change>,
}

/// Sets top-level `version` and `branch`, and `launch_permissions.groups` to `groups`.
pub fn edit(text: &str, version: &str, branch: &str, groups: &[&str]) -> Result<Edited, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut changes = Vec::new();
    for (key, value) in [("version", version), ("branch", branch)] {
        let i = lines
            .iter()
            .position(|l| l.starts_with(&format!("{key}:")))
            .ok_or_else(|| format!("the profile has no top-level {key}: line to set"))?;
        let new = with_value(&lines[i], &format!("\"{value}\""));
        record(&mut changes, &mut lines, i, 1, new);
    }
    let flow = format!("[{}]", groups.join(", "));
    match lines
        .iter()
        .position(|l| l.starts_with("launch_permissions:"))
    {
        None => {
            lines.push("launch_permissions:".into());
            lines.push(format!("  groups: {flow}"));
            changes.push(Change {
                line: lines.len() - 1,
                old: Vec::new(),
                new: format!("launch_permissions:\n  groups: {flow}"),
            });
        }
        Some(lp) => {
            let end = (lp + 1..lines.len())
                .find(|&j| is_top_level(&lines[j]))
                .unwrap_or(lines.len());
            match (lp + 1..end).find(|&j| lines[j].trim_start().starts_with("groups:")) {
                Some(g) => {
                    let indent = indent_of(&lines[g]);
                    // A block list's items follow on deeper-indented "- " lines.
                    let items = (g + 1..end)
                        .take_while(|&j| {
                            let l = &lines[j];
                            l.trim().is_empty()
                                || (indent_of(l) >= indent && l.trim_start().starts_with("- "))
                        })
                        .count();
                    let mut new = with_value(&lines[g], &flow);
                    // A comment saying what the groups mean would now say the opposite.
                    let label = if groups.is_empty() {
                        "# private"
                    } else {
                        "# public"
                    };
                    for old in ["# public", "# private"] {
                        if let Some(at) = new.find(old) {
                            new = format!("{}{label}{}", &new[..at], &new[at + old.len()..]);
                        }
                    }
                    record(&mut changes, &mut lines, g, 1 + items, new);
                }
                None => {
                    lines.insert(lp + 1, format!("  groups: {flow}"));
                    changes.push(Change {
                        line: lp + 2,
                        old: Vec::new(),
                        new: format!("  groups: {flow}"),
                    });
                }
            }
        }
    }
    let mut text_out = lines.join("\n");
    if text.ends_with('\n') {
        text_out.push('\n');
    }
    Ok(Edited {
        text: text_out,
        changes,
    })
}

fn record(changes: &mut Vec<Change>, lines: &mut Vec<String>, i: usize, n: usize, new: String) {
    let old: Vec<String> = lines[i..i + n].to_vec();
    if old.len() == 1 && old[0] == new {
        return;
    }
    lines.splice(i..i + n, [new.clone()]);
    changes.push(Change {
        line: i + 1,
        old,
        new,
    });
}

fn is_top_level(l: &str) -> bool {
    !l.is_empty() && !l.starts_with(' ') && !l.starts_with('\t') && !l.starts_with('#')
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// `line` (`key: old   # comment`) with its value replaced, keeping the key, the spacing
/// before a comment, and the comment.
fn with_value(line: &str, value: &str) -> String {
    let colon = line.find(':').unwrap_or(line.len());
    let (head, rest) = line.split_at(colon + 1);
    let comment = comment_start(rest);
    match comment {
        Some(c) => {
            let before = &rest[..c];
            let gap = before.len() - before.trim_end().len();
            let spaces = " ".repeat(gap.max(1));
            format!("{head} {value}{spaces}{}", &rest[c..])
        }
        None => format!("{head} {value}"),
    }
}

/// Where a `#` comment starts in `s` (outside quotes), if anywhere.
fn comment_start(s: &str) -> Option<usize> {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "# head\nversion: \"2.6.2\"            # the version\nbranch: \"2.6\"   # ref\n\
launch_permissions:\n  groups: [all]             # public\n  accounts: []\ntags:\n  A: b\n";

    #[test]
    fn sets_values_and_keeps_comments() {
        let e = edit(P, "2.7.0-beta1", "2.7", &[]).unwrap();
        assert_eq!(
            e.text,
            "# head\nversion: \"2.7.0-beta1\"            # the version\nbranch: \"2.7\"   # ref\n\
launch_permissions:\n  groups: []             # private\n  accounts: []\ntags:\n  A: b\n"
        );
        assert_eq!(e.changes.len(), 3);
        assert_eq!(e.changes[0].line, 2);
        assert_eq!(
            e.changes[2].old,
            vec!["  groups: [all]             # public"]
        );
    }

    #[test]
    fn nothing_changes_when_already_set() {
        let e = edit(P, "2.6.2", "2.6", &["all"]).unwrap();
        assert!(e.changes.is_empty());
        assert_eq!(e.text, P);
    }

    #[test]
    fn block_lists_and_missing_sections() {
        let block =
            "version: 1\nbranch: x\nlaunch_permissions:\n  groups:\n    - all\n  accounts: []\n";
        let e = edit(block, "2.6.3", "2.6", &[]).unwrap();
        assert_eq!(
            e.text,
            "version: \"2.6.3\"\nbranch: \"2.6\"\nlaunch_permissions:\n  groups: []\n  accounts: []\n"
        );
        let none = "version: 1\nbranch: x\n";
        let e = edit(none, "2.6.3", "2.6", &["all"]).unwrap();
        assert!(
            e.text.ends_with("launch_permissions:\n  groups: [all]\n"),
            "{}",
            e.text
        );
        assert!(edit("branch: x\n", "1.0.0", "1.0", &[]).is_err());
    }
}
