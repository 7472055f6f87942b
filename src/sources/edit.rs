//! Writing source-image changes into regions.yaml's text, keeping everything else of it (comments,
//! order, quoting, flow or block style): existing IDs are replaced where they stand, and what
//! is new is inserted into the mapping that should hold it, in that mapping's style. The result
//! is parsed again and must hold exactly the old values with the changes applied, or nothing
//! is written. Positions come from the YAML parser's markers (in characters); where they are
//! off (yaml-rust2 counts bytes inside block scalars, so a `disabled: >` reason with non-ASCII
//! text shifts what follows), the checks here refuse the edit rather than write a wrong file.

use std::collections::BTreeMap;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoaderOptions, Node};

use super::{Cell, Change};
use crate::config::{Architecture, PerArch, RegionsFile, Virtualization};

/// Why the file cannot be edited in place.
#[derive(Debug, thiserror::Error)]
#[error("cannot update the regions file in place: {0}")]
pub struct EditError(String);

/// One change of the text: replace `len` characters at `at` (a character index) by `text`.
#[derive(Debug)]
struct Splice {
    at: usize,
    len: usize,
    text: String,
    order: usize,
}

/// `text` with `changes` applied.
pub fn apply(text: &str, changes: &[Change]) -> Result<String, EditError> {
    let root = parse(text)?;
    let regions = child_map(&root, "regions").ok_or_else(|| fail("no regions mapping"))?;
    let mut splices = Vec::new();
    let mut pending: Vec<(&MarkedMappingNode, String)> = Vec::new();
    let mut groups: BTreeMap<(&str, &str), Vec<&Change>> = BTreeMap::new();
    for c in changes {
        groups
            .entry((&c.cell.region, &c.cell.release))
            .or_default()
            .push(c);
    }
    for ((region, release), group) in groups {
        let amis = regions
            .get_node(region)
            .and_then(|r| child_map(r, "amis"))
            .ok_or_else(|| fail(&format!("{region} has no amis mapping")))?;
        match amis.get_node(release) {
            None => pending.push((amis, format!("\"{release}\": {}", render_release(&group)))),
            Some(node) => {
                let map = node
                    .as_mapping()
                    .ok_or_else(|| fail(&format!("{region} \"{release}\" is not a mapping")))?;
                edit_release(text, map, &group, &mut splices, &mut pending)?;
            }
        }
    }
    // Entries new to one mapping go in together, so that they are separated as its style wants.
    let mut by_map: BTreeMap<usize, (&MarkedMappingNode, Vec<String>)> = BTreeMap::new();
    for (map, entry) in pending {
        let at = map.span().start().map_or(0, |m| m.character());
        by_map.entry(at).or_insert((map, Vec::new())).1.push(entry);
    }
    for (map, entries) in by_map.into_values() {
        splices.push(insert(text, map, &entries)?);
    }
    let edited = splice(text, splices);
    check(text, &edited, changes)?;
    Ok(edited)
}

fn fail(why: &str) -> EditError {
    EditError(why.to_string())
}

fn parse(text: &str) -> Result<Node, EditError> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| fail(&e.to_string()))
}

fn child_map<'a>(node: &'a Node, key: &str) -> Option<&'a MarkedMappingNode> {
    node.as_mapping()?.get_node(key)?.as_mapping()
}

/// The changes of one release that already has a mapping in the file: replacements go to
/// `splices`, entries new to a mapping to `pending`.
fn edit_release<'a>(
    text: &str,
    release: &'a MarkedMappingNode,
    group: &[&Change],
    splices: &mut Vec<Splice>,
    pending: &mut Vec<(&'a MarkedMappingNode, String)>,
) -> Result<(), EditError> {
    let mut by_virt: BTreeMap<Virtualization, Vec<&Change>> = BTreeMap::new();
    for c in group {
        by_virt.entry(c.cell.virt).or_default().push(c);
    }
    for (virt, changes) in by_virt {
        match release.get_node(virt.as_str()) {
            None => pending.push((
                release,
                format!("{}: {}", virt.as_str(), render_arches(&changes, None)),
            )),
            Some(Node::Scalar(old)) => {
                let value = render_arches(&changes, Some(old.as_str()));
                splices.push(replace(text, old, &value)?);
            }
            Some(Node::Mapping(by_arch)) => {
                for c in changes {
                    match by_arch.get_node(c.cell.arch.as_str()) {
                        Some(Node::Scalar(old)) => splices.push(replace(text, old, &c.new.ami_id)?),
                        None => {
                            pending.push((by_arch, format!("{}: {}", c.cell.arch, c.new.ami_id)))
                        }
                        Some(_) => return Err(fail("an architecture's value is not an AMI ID")),
                    }
                }
            }
            Some(_) => return Err(fail("a virtualization type's value is a list")),
        }
    }
    Ok(())
}

/// A virtualization type's value: the ID alone when it is x86_64's only (as every file before
/// architectures has it), else a flow mapping by architecture; `x86_64` is the value the file
/// had as a single ID.
fn render_arches(changes: &[&Change], x86_before: Option<&str>) -> String {
    let mut ids: BTreeMap<Architecture, &str> = BTreeMap::new();
    if let Some(old) = x86_before {
        ids.insert(Architecture::X86_64, old);
    }
    for c in changes {
        ids.insert(c.cell.arch, &c.new.ami_id);
    }
    match ids.iter().collect::<Vec<_>>().as_slice() {
        [(Architecture::X86_64, id)] => id.to_string(),
        all => format!(
            "{{ {} }}",
            all.iter()
                .map(|(a, id)| format!("{a}: {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A whole release's value, as the file writes them: `{ paravirtual: ..., hvm: ... }`.
fn render_release(group: &[&Change]) -> String {
    let mut by_virt: BTreeMap<Virtualization, Vec<&Change>> = BTreeMap::new();
    for c in group {
        by_virt.entry(c.cell.virt).or_default().push(c);
    }
    let parts: Vec<String> = by_virt
        .iter()
        .map(|(v, cs)| format!("{}: {}", v.as_str(), render_arches(cs, None)))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// Replaces the scalar `old` (an AMI ID, plain or quoted) by `value`, keeping its quotes.
fn replace(text: &str, old: &MarkedScalarNode, value: &str) -> Result<Splice, EditError> {
    let at = old
        .span()
        .start()
        .ok_or_else(|| fail("a value without position"))?
        .character();
    let chars: Vec<char> = text
        .chars()
        .skip(at)
        .take(old.as_str().chars().count() + 2)
        .collect();
    let quote = chars.first().copied().filter(|c| *c == '"' || *c == '\'');
    let len = old.as_str().chars().count() + if quote.is_some() { 2 } else { 0 };
    let written: String = text.chars().skip(at).take(len).collect();
    let expected = match quote {
        Some(q) => format!("{q}{}{q}", old.as_str()),
        None => old.as_str().to_string(),
    };
    if written != expected {
        return Err(fail(&format!(
            "{} is written in a way amipub does not edit",
            old.as_str()
        )));
    }
    let text = match quote {
        // A mapping cannot be quoted: it replaces the quotes too.
        Some(q) if !value.starts_with('{') => format!("{q}{value}{q}"),
        _ => value.to_string(),
    };
    Ok(Splice {
        at,
        len,
        text,
        order: 0,
    })
}

/// Inserts `entries` (`key: value`) into `map`: before the closing brace of a flow mapping,
/// or as new lines after the last line of a block mapping, indented as its keys are.
fn insert(text: &str, map: &MarkedMappingNode, entries: &[String]) -> Result<Splice, EditError> {
    let chars: Vec<char> = text.chars().collect();
    let start = map
        .span()
        .start()
        .ok_or_else(|| fail("a mapping without position"))?;
    let entry = entries.join(", ");
    if chars.get(start.character()) == Some(&'{') {
        let end = map
            .span()
            .end()
            .map(|m| m.character())
            .ok_or_else(|| fail("a flow mapping without end"))?;
        let close = closing_brace(&chars, start.character(), end)
            .ok_or_else(|| fail("a flow mapping without its closing brace"))?;
        let last = (start.character() + 1..close)
            .rev()
            .find(|&i| !chars[i].is_whitespace());
        return Ok(match last {
            None => empty_flow(&chars, start.character(), close, entries),
            // A trailing comma (`{ a: 1, }`) already separates the new entry.
            Some(i) if chars[i] == ',' => Splice {
                at: i + 1,
                len: 0,
                text: format!(" {entry}"),
                order: 1,
            },
            Some(i) => Splice {
                at: i + 1,
                len: 0,
                text: format!(", {entry}"),
                order: 1,
            },
        });
    }
    let indent = map
        .keys()
        .next()
        .and_then(|k| k.span().start())
        .map(|m| m.column() - 1)
        .ok_or_else(|| fail("an empty block mapping"))?;
    let last_line = last_line(&Node::Mapping(map.clone()), &chars);
    let at = line_start(&chars, last_line + 1);
    let nl = line_ending(&chars);
    let newline = if at == chars.len() && chars.last() != Some(&'\n') {
        nl
    } else {
        ""
    };
    let lines: String = entries
        .iter()
        .map(|e| format!("{}{e}{nl}", " ".repeat(indent)))
        .collect();
    Ok(Splice {
        at,
        len: 0,
        text: format!("{newline}{lines}"),
        order: 1,
    })
}

/// Entries for an empty flow mapping `{}` at `open`..=`close`: where it is a block mapping's
/// value (`amis: {}` on a line of its own), it becomes a block of lines indented under its
/// key, as the file's other regions are written; inside a flow collection, `{ entries }`.
fn empty_flow(chars: &[char], open: usize, close: usize, entries: &[String]) -> Splice {
    let line_start = chars[..open]
        .iter()
        .rposition(|c| *c == '\n')
        .map_or(0, |i| i + 1);
    let before = &chars[line_start..open];
    let rest_of_line = chars[close + 1..]
        .iter()
        .take_while(|c| **c != '\n')
        .all(|c| c.is_whitespace());
    let in_block = !before.iter().any(|c| matches!(c, '{' | '[')) && rest_of_line;
    if !in_block {
        return Splice {
            at: open + 1,
            len: close - open - 1,
            text: format!(" {} ", entries.join(", ")),
            order: 1,
        };
    }
    let indent = before.iter().take_while(|c| **c == ' ').count() + 2;
    let nl = line_ending(chars);
    // Replaces the space before `{` too, so that the key's line ends with its colon.
    let at = if open > line_start && chars[open - 1] == ' ' {
        open - 1
    } else {
        open
    };
    let lines: String = entries
        .iter()
        .map(|e| format!("{nl}{}{e}", " ".repeat(indent)))
        .collect();
    Splice {
        at,
        len: close + 1 - at,
        text: lines,
        order: 1,
    }
}

/// The `}` closing the flow mapping that opens at `open`: the parser's end mark is on it, or,
/// after a trailing comma, on that comma (the brace then follows, past blanks).
fn closing_brace(chars: &[char], open: usize, end: usize) -> Option<usize> {
    let end = end.min(chars.len().checked_sub(1)?);
    if chars[end] == '}' {
        return Some(end);
    }
    let after = (end..chars.len()).find(|&i| !matches!(chars[i], ',' | ' ' | '\t' | '\r' | '\n'));
    match after {
        Some(i) if chars[i] == '}' => Some(i),
        _ => (open..end).rev().find(|&i| chars[i] == '}'),
    }
}

/// The file's own line ending, for the lines amipub adds.
fn line_ending(chars: &[char]) -> &'static str {
    let crlf = chars.windows(2).any(|w| w == ['\r', '\n']);
    if crlf { "\r\n" } else { "\n" }
}

/// The last line any part of `node` stands on: a flow collection's end is its closing
/// bracket; a block collection ends where the next token starts, so its children say where.
fn last_line(node: &Node, chars: &[char]) -> usize {
    let start = node.span().start();
    let line = start.map_or(0, |m| m.line());
    let flow = start.is_some_and(|m| matches!(chars.get(m.character()), Some('{' | '[')));
    match node {
        Node::Scalar(_) => line,
        _ if flow => node.span().end().map_or(line, |m| m.line()),
        Node::Mapping(m) => m
            .iter()
            .map(|(k, v)| last_line(v, chars).max(k.span().start().map_or(0, |m| m.line())))
            .fold(line, usize::max),
        Node::Sequence(s) => s.iter().map(|v| last_line(v, chars)).fold(line, usize::max),
    }
}

/// The character index where 1-based `line` starts (the end of the text past the last line).
fn line_start(chars: &[char], line: usize) -> usize {
    let mut current = 1;
    for (i, c) in chars.iter().enumerate() {
        if current == line {
            return i;
        }
        if *c == '\n' {
            current += 1;
        }
    }
    chars.len()
}

fn splice(text: &str, mut splices: Vec<Splice>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    // From the end, so that earlier positions stay valid; at one position, the later insert
    // first, so that inserts keep their order.
    splices.sort_by_key(|s| std::cmp::Reverse((s.at, s.order)));
    for s in splices {
        chars.splice(s.at..s.at + s.len, s.text.chars());
    }
    chars.into_iter().collect()
}

/// The edited text must parse, and hold the old file's values with `changes` applied.
fn check(old: &str, new: &str, changes: &[Change]) -> Result<(), EditError> {
    let read = |t: &str| -> Result<RegionsFile, EditError> {
        marked_yaml::from_node(&parse(t)?).map_err(|e| fail(&e.to_string()))
    };
    let mut want = read(old)?;
    for c in changes {
        set(&mut want, &c.cell, &c.new.ami_id);
    }
    let got = read(new)?;
    if got == want {
        Ok(())
    } else {
        Err(fail(
            "the edited file would not hold the new values; edit it by hand",
        ))
    }
}

fn set(file: &mut RegionsFile, cell: &Cell, id: &str) {
    let Some(entry) = file.regions.get_mut(&cell.region) else {
        return;
    };
    let by_virt = entry.amis.entry(cell.release.clone()).or_default();
    let slot = by_virt.entry(cell.virt).or_insert_with(|| match cell.arch {
        // A new virtualization type is written as the ID alone when it is x86_64's.
        Architecture::X86_64 => PerArch::One(String::new()),
        _ => PerArch::Each(BTreeMap::new()),
    });
    // As the editor writes it: a single ID stays one while only x86_64 is given; a mapping
    // (even of x86_64 alone) stays a mapping.
    *slot = match slot {
        PerArch::One(_) if cell.arch == Architecture::X86_64 => PerArch::One(id.to_string()),
        PerArch::One(old) => PerArch::Each(BTreeMap::from([
            (Architecture::X86_64, old.clone()),
            (cell.arch, id.to_string()),
        ])),
        PerArch::Each(m) => {
            let mut m = m.clone();
            m.insert(cell.arch, id.to_string());
            PerArch::Each(m)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Found;

    fn change(
        region: &str,
        release: &str,
        virt: Virtualization,
        arch: Architecture,
        id: &str,
    ) -> Change {
        Change {
            cell: Cell {
                region: region.into(),
                release: release.into(),
                virt,
                arch,
            },
            old: None,
            new: Found {
                ami_id: id.into(),
                name: "n".into(),
                created: "2026-11-01T00:00:00.000Z".into(),
            },
        }
    }

    const HVM: Virtualization = Virtualization::Hvm;
    const PV: Virtualization = Virtualization::Paravirtual;
    const X86: Architecture = Architecture::X86_64;
    const ARM: Architecture = Architecture::Arm64;

    const FILE: &str = "# Source images\nregions:\n  us-east-1:\n    amis:\n      # the old one\n      \"1404\": { paravirtual: ami-c51df2ae, hvm: \"ami-eb6b8480\" }\n  us-west-2:\n    disabled: \"kept\"\n    amis:\n      \"1404\":\n        hvm: ami-11111111  # block style\n";

    #[test]
    fn replaces_ids_where_they_stand_keeping_comments_and_quotes() {
        let out = apply(
            FILE,
            &[
                change("us-east-1", "1404", HVM, X86, "ami-22222222"),
                change("us-west-2", "1404", HVM, X86, "ami-33333333"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replace("\"ami-eb6b8480\"", "\"ami-22222222\"")
                .replace("ami-11111111", "ami-33333333")
        );
    }

    #[test]
    fn an_architecture_turns_a_single_id_into_a_mapping() {
        let out = apply(
            FILE,
            &[change("us-east-1", "1404", HVM, ARM, "ami-44444444")],
        )
        .unwrap();
        assert!(
            out.contains("hvm: { x86_64: ami-eb6b8480, arm64: ami-44444444 } }"),
            "{out}"
        );
        let again = apply(
            &out,
            &[change("us-east-1", "1404", HVM, ARM, "ami-55555555")],
        )
        .unwrap();
        assert!(again.contains("arm64: ami-55555555"), "{again}");
    }

    #[test]
    fn new_releases_and_types_go_into_their_mapping_in_its_style() {
        let out = apply(
            FILE,
            &[
                change("us-east-1", "2404", HVM, X86, "ami-0aaaaaaaaaaaaaaaa"),
                change("us-east-1", "2404", HVM, ARM, "ami-0bbbbbbbbbbbbbbbb"),
                change("us-west-2", "1404", PV, X86, "ami-66666666"),
            ],
        )
        .unwrap();
        assert!(
            out.contains("      \"2404\": { hvm: { x86_64: ami-0aaaaaaaaaaaaaaaa, arm64: ami-0bbbbbbbbbbbbbbbb } }\n  us-west-2:"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "        hvm: ami-11111111  # block style\n        paravirtual: ami-66666666\n"
            ),
            "{out}"
        );
        assert!(out.starts_with("# Source images\n"));
    }

    #[test]
    fn an_empty_flow_mapping_is_filled() {
        let file = "regions:\n  eu-west-1: { amis: {} }\n";
        let out = apply(
            file,
            &[
                change("eu-west-1", "2204", HVM, X86, "ami-77777777"),
                change("eu-west-1", "2404", HVM, ARM, "ami-99999999"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "regions:\n  eu-west-1: { amis: { \"2204\": { hvm: ami-77777777 }, \"2404\": { hvm: { arm64: ami-99999999 } } } }\n"
        );
    }

    #[test]
    fn an_empty_block_value_becomes_a_block() {
        let file = "regions:\n  eu-west-1:\n    amis: {}  \n  us-east-1:\n    amis: {}\n";
        let out = apply(
            file,
            &[
                change("eu-west-1", "2204", HVM, X86, "ami-77777777"),
                change("eu-west-1", "2404", HVM, ARM, "ami-99999999"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "regions:\n  eu-west-1:\n    amis:\n      \"2204\": { hvm: ami-77777777 }\n      \"2404\": { hvm: { arm64: ami-99999999 } }  \n  us-east-1:\n    amis: {}\n"
        );
    }

    #[test]
    fn crlf_files_and_trailing_commas_keep_their_style() {
        let file =
            "regions:\r\n  eu-west-1:\r\n    amis:\r\n      \"1404\": { hvm: ami-11111111, }\r\n";
        let out = apply(
            file,
            &[
                change("eu-west-1", "1404", PV, X86, "ami-22222222"),
                change("eu-west-1", "2404", HVM, X86, "ami-33333333"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "regions:\r\n  eu-west-1:\r\n    amis:\r\n      \"1404\": { hvm: ami-11111111, paravirtual: ami-22222222 }\r\n      \"2404\": { hvm: ami-33333333 }\r\n"
        );
    }

    #[test]
    fn an_x86_64_only_mapping_stays_a_mapping() {
        let file = "regions:\n  eu-west-1:\n    amis:\n      \"2404\": { hvm: { x86_64: ami-11111111 } }\n";
        let out = apply(
            file,
            &[change("eu-west-1", "2404", HVM, X86, "ami-22222222")],
        )
        .unwrap();
        assert_eq!(out, file.replace("ami-11111111", "ami-22222222"));
    }

    #[test]
    fn a_region_missing_from_the_file_is_refused() {
        let e = apply(
            FILE,
            &[change("ap-south-1", "1404", HVM, X86, "ami-88888888")],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("ap-south-1 has no amis mapping"),
            "{e}"
        );
    }
}
