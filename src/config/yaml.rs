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
    let text = match std::fs::read_to_string(path) {
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

/// Parses YAML text that came from `path`.
pub fn parse<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    diags: &mut Diagnostics,
) -> Option<Located<T>> {
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
