//! YAML reading: serde_yaml turns text into typed values; marked-yaml keeps where each value
//! stands, because serde_yaml reports a position only for the first error it meets and the
//! validation rules need the line of every value they reject.

use std::path::Path;

use marked_yaml::{LoaderOptions, Node};
use serde::de::DeserializeOwned;

use super::diagnostics::Diagnostics;

/// A parsed YAML file: its typed value and a position index for error messages.
pub struct Located<T> {
    /// The deserialized value.
    pub value: T,
    spans: Node,
}

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

impl<T> Located<T> {
    /// The 1-based line of the value at `path`, or of its nearest ancestor that exists.
    pub fn line(&self, path: &[Seg<'_>]) -> Option<usize> {
        let mut node = &self.spans;
        let mut line = node.span().start().map(|m| m.line());
        for seg in path {
            let next = match (seg, node) {
                (Seg::Key(k), Node::Mapping(m)) => m.get_node(k),
                (Seg::Index(i), Node::Sequence(s)) => s.get_node(*i),
                _ => None,
            };
            match next {
                Some(n) => {
                    node = n;
                    line = n.span().start().map(|m| m.line()).or(line);
                }
                None => break,
            }
        }
        line
    }

    /// The line of the key `key` in the mapping at `path` (where a key, not its value, is wrong).
    pub fn key_line(&self, path: &[Seg<'_>], key: &str) -> Option<usize> {
        let mut node = &self.spans;
        for seg in path {
            node = match (seg, node) {
                (Seg::Key(k), Node::Mapping(m)) => m.get_node(k)?,
                (Seg::Index(i), Node::Sequence(s)) => s.get_node(*i)?,
                _ => return None,
            };
        }
        let map = node.as_mapping()?;
        map.keys()
            .find(|k| k.as_str() == key)
            .and_then(|k| k.span().start().map(|m| m.line()))
    }
}

/// Reads and parses `path`, recording any problem in `diags`. `what` names the file's role for
/// messages ("profile", "regions file").
pub fn load<T: DeserializeOwned>(
    path: &Path,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Located<T>> {
    let text = match read_bounded(path, MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                path,
                None,
                format!("cannot read the {what}: {e}"),
                Some(format!(
                    "check the path, or pass another {what} on the command line"
                )),
            );
            return None;
        }
    };
    parse(path, &text, diags)
}

/// The largest configuration file read: far above any real profile or matrix, far below what
/// would take a noticeable time or memory to parse.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Deepest nesting of flow collections (`[`, `{`) accepted; parsers slow down quadratically
/// with depth, and no configuration needs more than a handful of levels.
const MAX_FLOW_DEPTH: usize = 64;

/// Reads `path` as UTF-8 text of at most `limit` bytes: a directory, a device that never ends
/// (`/dev/zero`) or a huge file is refused with what it is, not read until memory runs out.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    if std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "{} is larger than {} KiB, which no configuration file is",
            path.display(),
            limit / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::other(format!("{} is not UTF-8 text ({e})", path.display())))
}

/// The line where flow collections first nest deeper than [`MAX_FLOW_DEPTH`], if they do.
/// Quoted text and comments are skipped; this only guards the parser, so it need not be exact.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    for c in text.chars() {
        match (c, quote) {
            // Quoted scalars may span lines: the quote stays open.
            ('\n', _) => {
                line += 1;
                comment = false;
            }
            _ if comment => {}
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('#', None) => comment = true,
            ('[' | '{', None) => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            (']' | '}', None) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses YAML text that came from `path`.
pub fn parse<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    diags: &mut Diagnostics,
) -> Option<Located<T>> {
    if let Some(line) = too_deep(text) {
        diags.push(
            path,
            Some(line),
            format!("collections nest deeper than {MAX_FLOW_DEPTH} levels"),
            Some("no configuration needs that; check the file is the one you meant".into()),
        );
        return None;
    }
    // A key given twice in one mapping: YAML readers keep the last one silently, which would
    // publish something other than what the first one says.
    if let Err(marked_yaml::LoadError::DuplicateKey(d)) = marked_yaml::parse_yaml_with_options(
        0,
        text,
        LoaderOptions::default().error_on_duplicate_keys(true),
    ) {
        let first = d.prev_key.span().start().map(|m| m.line());
        diags.push(
            path,
            d.key.span().start().map(|m| m.line()),
            format!(
                "the key \"{}\" appears twice in one mapping{}",
                d.key.as_str(),
                first
                    .map(|l| format!(" (first at line {l})"))
                    .unwrap_or_default()
            ),
            Some("merge the two entries into one; only one of them would be used".into()),
        );
        return None;
    }
    let value = match serde_yaml::from_str::<T>(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            diags.push(
                path,
                line,
                describe_serde_error(&e),
                hint_for(&e.to_string()),
            );
            return None;
        }
    };
    // serde_yaml accepted the text, so marked-yaml (the stricter of the two about top-level
    // shape) only fails on documents serde_yaml reads differently; positions then degrade to
    // "no line" rather than failing the load.
    let spans = marked_yaml::parse_yaml_with_options(0, text, LoaderOptions::default())
        .unwrap_or_else(|_| {
            Node::from(marked_yaml::types::MarkedMappingNode::new_empty(
                marked_yaml::Span::new_blank(),
            ))
        });
    Some(Located { value, spans })
}

/// serde_yaml's message without its trailing " at line X column Y", which we print ourselves.
fn describe_serde_error(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

fn hint_for(msg: &str) -> Option<String> {
    if msg.contains("unknown field") {
        Some("remove the key or fix its spelling; README.md lists every key".into())
    } else if msg.contains("missing field") {
        Some("add the key; README.md describes what it holds".into())
    } else if msg.contains("invalid type") {
        Some("quote values that must be strings (e.g. \"1404\", \"2.6\")".into())
    } else {
        Some("fix the YAML syntax at that line".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_and_quotes_and_comments_are_skipped() {
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(too_deep(&deep), Some(1));
        assert_eq!(too_deep("a: [1, [2, {b: 3}]]\n"), None);
        assert_eq!(
            too_deep(&format!(
                "a: \"{}\"\n# {}\n",
                "[".repeat(100),
                "{".repeat(100)
            )),
            None
        );
    }
}
