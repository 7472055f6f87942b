//! YAML reading: marked-yaml parses each file once into nodes that know their line, and its
//! serde support turns those nodes into typed values; the validation rules then ask the nodes
//! for the line of every value they reject.

use std::path::Path;

use marked_yaml::{Error as ValueError, LoadError, LoaderOptions, Node};
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
    /// A value that was read from no file (a default): it has no positions.
    pub fn empty(value: T) -> Self {
        let blank = marked_yaml::Span::new_blank();
        Located {
            value,
            spans: Node::from(marked_yaml::types::MarkedMappingNode::new_empty(blank)),
        }
    }

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
        let map = self.node(path)?.as_mapping()?;
        map.keys()
            .find(|k| k.as_str() == key)
            .and_then(|k| k.span().start().map(|m| m.line()))
    }

    /// Whether the value at `path` is a scalar written without quotes, which other YAML
    /// readers take for a number or a boolean when it looks like one.
    pub fn unquoted(&self, path: &[Seg<'_>]) -> bool {
        self.node(path)
            .and_then(Node::as_scalar)
            .is_some_and(marked_yaml::types::MarkedScalarNode::may_coerce)
    }

    /// The line of the value at a serde path (`launch_permissions.accounts[1]`), as the
    /// deserializer reports where it failed; keys holding dots or brackets stop the walk early,
    /// which then gives the line of an ancestor.
    fn line_of_path(&self, serde_path: &str) -> Option<usize> {
        let mut segs = Vec::new();
        for part in serde_path.split('.').filter(|p| !p.is_empty() && *p != "?") {
            let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
            if !key.is_empty() {
                segs.push(Seg::Key(key));
            }
            for index in indexes.split('[') {
                match index.trim_end_matches(']').parse() {
                    Ok(i) => segs.push(Seg::Index(i)),
                    Err(_) if index.is_empty() => {}
                    Err(_) => return self.line(&segs),
                }
            }
        }
        self.line(&segs)
    }

    fn node(&self, path: &[Seg<'_>]) -> Option<&Node> {
        let mut node = &self.spans;
        for seg in path {
            node = match (seg, node) {
                (Seg::Key(k), Node::Mapping(m)) => m.get_node(k)?,
                (Seg::Index(i), Node::Sequence(s)) => s.get_node(*i)?,
                _ => return None,
            };
        }
        Some(node)
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

/// Parses YAML text that came from `path`: one parse gives both the typed value and the
/// position of every value in it.
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
    // Quoted scalars stay strings (YAML's own rule): a quoted "true" is no boolean, and an
    // unquoted number can be told from a quoted one.
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    let spans = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(node) => node,
        Err(e) => {
            let (line, message, hint) = describe_load_error(&e);
            diags.push(path, line, message, Some(hint.into()));
            return None;
        }
    };
    match marked_yaml::from_node::<T>(&spans) {
        Ok(value) => Some(Located { value, spans }),
        Err(e) => {
            let located = Located::<()> { value: (), spans };
            let line = e
                .start_mark()
                .map(|m| m.line())
                .or_else(|| located.line_of_path(e.path().unwrap_or_default()));
            let (message, hint) = describe_value_error(&e);
            diags.push(path, line, message, Some(hint.into()));
            None
        }
    }
}

/// Where a document that is not well-formed YAML goes wrong, what is wrong, and what to do.
fn describe_load_error(e: &LoadError) -> (Option<usize>, String, &'static str) {
    let at = |m: &marked_yaml::Marker| Some(m.line());
    match e {
        LoadError::DuplicateKey(d) => {
            let first = d.prev_key.span().start().map(|m| m.line());
            (
                d.key.span().start().map(|m| m.line()),
                format!(
                    "the key \"{}\" appears twice in one mapping{}",
                    d.key.as_str(),
                    first
                        .map(|l| format!(" (first at line {l})"))
                        .unwrap_or_default()
                ),
                "merge the two entries into one; only one of them would be used",
            )
        }
        LoadError::ScanError(m, scan) => (
            at(m),
            scan.info().to_string(),
            "fix the YAML syntax at that line (an unclosed quote, a tab, a misaligned key)",
        ),
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
            at(m),
            "the file must be a mapping of keys to values".into(),
            "README.md shows an example of each file",
        ),
        LoadError::UnexpectedAnchor(m) => (
            at(m),
            "YAML anchors and aliases (&name, *name) are not supported".into(),
            "write the values out in full",
        ),
        LoadError::UnexpectedTag(m) => (
            at(m),
            "YAML tags (!!str, !name) are not supported".into(),
            "quote the value instead, e.g. \"1404\"",
        ),
        LoadError::MappingKeyMustBeScalar(m) => (
            at(m),
            "a mapping key must be a plain value, not a list or mapping".into(),
            "fix the YAML syntax at that line",
        ),
    }
}

/// What is wrong with a well-formed document's values, and what to do.
fn describe_value_error(e: &ValueError) -> (String, &'static str) {
    match e {
        ValueError::UnknownFieldError(field, expected, _) => (
            format!("unknown field `{field}`, {}", expected_fields(expected)),
            "remove the key or fix its spelling; README.md lists every key",
        ),
        ValueError::NotBoolean(_) => ("expected true or false".into(), "write true or false"),
        ValueError::IntegerParseFailure(e, _) => (
            format!("expected a whole number ({e})"),
            "write a number without quotes or units",
        ),
        ValueError::FloatParseFailure(e, _) => (
            format!("expected a number ({e})"),
            "write a number without quotes or units",
        ),
        // serde's own messages: a missing field, a list where a value belongs, a bad duration.
        ValueError::Other(message, _) => (
            message.clone(),
            "add the missing key or correct the value; README.md describes every key and the value it takes",
        ),
    }
}

/// serde's wording for the fields a mapping may have.
fn expected_fields(expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [] => "there are no fields".into(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        all => format!("expected one of {}", all.join(", ")),
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
