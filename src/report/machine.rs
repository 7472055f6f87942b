//! Packer's machine-readable format (`timestamp,target,type,data...`), so that scripts written
//! for `packer build -machine-readable` (such as the legacy AMI-ID extractor) keep working.

use std::io::Write;
use std::time::UNIX_EPOCH;

use super::{Reporter, text};
use crate::events::{Event, Stamped};

/// Writes machine-readable lines.
pub struct Machine<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Machine<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> Self {
        Machine { out }
    }

    fn line(&mut self, ts: u64, target: &str, fields: &[&str]) -> std::io::Result<()> {
        let data: Vec<String> = fields.iter().map(|f| escape(f)).collect();
        writeln!(self.out, "{ts},{target},{}", data.join(","))
    }
}

/// Packer's escaping: commas become `%!(PACKER_COMMA)`, newlines `\n`.
pub fn escape(s: &str) -> String {
    s.replace(',', "%!(PACKER_COMMA)")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

impl<W: Write + Send> Reporter for Machine<W> {
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        let ts =
            e.at.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
        if let Some((build, msg)) = text::line(&e.event) {
            let kind = if matches!(e.event, Event::BuildFailed { .. }) {
                "error"
            } else {
                "say"
            };
            let say = if build.is_empty() {
                msg.clone()
            } else {
                format!("==> {build}: {msg}")
            };
            self.line(ts, "", &["ui", kind, &say])?;
        }
        match &e.event {
            Event::Artifact(a) => {
                let id = format!("{}:{}", a.region, a.ami_id);
                let string = format!("AMIs were created:\n{}: {}\n", a.region, a.ami_id);
                let b = a.build.as_str();
                self.line(ts, b, &["artifact-count", "1"])?;
                self.line(ts, b, &["artifact", "0", "builder-id", "amipub"])?;
                self.line(ts, b, &["artifact", "0", "id", &id])?;
                self.line(ts, b, &["artifact", "0", "string", &string])?;
                self.line(ts, b, &["artifact", "0", "files-count", "0"])?;
                self.line(ts, b, &["artifact", "0", "end"])
            }
            Event::BuildFailed { build, error, .. } => self.line(ts, build, &["error", error]),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Artifact;
    use std::time::{Duration, SystemTime};

    #[test]
    fn artifact_lines_are_what_the_legacy_extractor_reads() {
        let mut out = Vec::new();
        let mut m = Machine::new(&mut out);
        m.event(&Stamped {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1439600749),
            event: Event::Artifact(Artifact {
                build: "us-west-1-1204-hvm".into(),
                region: "us-west-1".into(),
                ami_id: "ami-0f78864b".into(),
                ami_name: "n".into(),
                snapshot_ids: vec![],
                reused: false,
                run_id: "r".into(),
                copied_from: None,
            }),
        })
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\n1439600749,us-west-1-1204-hvm,artifact,0,id,us-west-1:ami-0f78864b\n"),
            "{text}"
        );
        assert!(text.contains("1439600749,us-west-1-1204-hvm,artifact-count,1\n"));
        assert!(
            text.contains("artifact,0,string,AMIs were created:\\nus-west-1: ami-0f78864b\\n\n")
        );
        assert!(text.starts_with(
            "1439600749,,ui,say,==> us-west-1-1204-hvm: published ami-0f78864b in us-west-1\n"
        ));
    }

    #[test]
    fn commas_are_escaped() {
        assert_eq!(escape("a,b\nc"), "a%!(PACKER_COMMA)b\\nc");
    }
}
