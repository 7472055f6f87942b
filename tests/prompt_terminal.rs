//! `--on-error=ask` on a real terminal (tmux gives amipub a pseudo-terminal, so the progress
//! bars are on): the question stays on screen while the bars would redraw every quarter
//! second, event lines do not land on the line where the answer is typed, and answering `a`
//! keeps the build for inspection, said as such.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Scratch;
use common::emulator::{Emulator, Options, eventually};

const FAILS: &str = "us-east-1-1404-hvm";
const QUESTION: &str = "[c]lean up, [a]bort and leave everything, or [r]etry the step? ";

/// A tmux session running one command, killed when dropped.
struct Terminal(String);

impl Terminal {
    fn start(dir: &std::path::Path, command: &str) -> Terminal {
        // Tests of this file run at once: each session needs a name of its own.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("amipub-test-{}-{n}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "160",
                "-y",
                "50",
                "-c",
            ])
            .arg(dir)
            .arg(command)
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux started");
        Terminal(name)
    }

    /// What the terminal shows now, with its scrollback.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-S", "-200", "-t", &self.0])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last line with something on it.
    fn last_line(&self) -> String {
        let screen = self.screen();
        let last = screen.lines().rev().find(|l| !l.trim().is_empty());
        last.unwrap_or_default().to_string()
    }

    fn type_line(&self, text: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.0, text, "Enter"])
            .status()
            .expect("tmux send-keys");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// `amipub publish` of the test profile against `emu` with `flags`, in a terminal of its own
/// in `s`; the terminal then shows `EXIT=<code>`.
fn publishing(s: &Scratch, emu: &Emulator, flags: &str) -> Terminal {
    let command = format!(
        "env -u AWS_PROFILE AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
         AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
         AWS_EC2_METADATA_DISABLED=true {} publish --endpoint-url {} \
         --config configs/test-ebs.yaml --poll-interval 100ms {flags}; echo EXIT=$?; sleep 120",
        assert_cmd::cargo::cargo_bin("amipub").display(),
        emu.endpoint
    );
    Terminal::start(s.path(".").as_path(), &command)
}

#[test]
fn the_question_stays_readable_over_the_bars_and_abort_says_kept_for_inspection() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    });
    // One build fails, the other goes on provisioning for a while: its bar keeps redrawing
    // (and its events keep coming) while the question is open.
    emu.control(serde_json::json!({"provision_seconds": 6, "fail": [FAILS]}));
    let s = Scratch::new();
    let term = publishing(&s, &emu, "--only 'us-east-1-1404-*' --on-error=ask");
    let asked = eventually(Duration::from_secs(90), || {
        term.screen().contains(QUESTION.trim_end())
    });
    assert!(asked, "the question is shown:\n{}", term.screen());
    // Two seconds of bars redrawing and the other build's events: the question must still be
    // the last thing on screen, alone on its line.
    std::thread::sleep(Duration::from_secs(2));
    let screen = term.screen();
    assert_eq!(
        term.last_line(),
        QUESTION.trim_end(),
        "the question is not drawn over:\n{screen}"
    );
    assert!(
        screen.contains(&format!(
            "{FAILS}: provisioning failed: the provisioning script exited"
        )),
        "{screen}"
    );
    term.type_line("a");
    let ended = eventually(Duration::from_secs(90), || term.screen().contains("EXIT="));
    let screen = term.screen();
    assert!(ended, "the run ends:\n{screen}");
    assert!(
        screen.contains("EXIT=1"),
        "a failed build: exit 1\n{screen}"
    );
    assert!(
        screen.contains(&format!(
            "{FAILS}: kept for inspection: {FAILS}: instance i-"
        )),
        "{screen}"
    );
    assert!(
        !screen.contains("nothing to clean up; LEFT BEHIND"),
        "{screen}"
    );
}

/// `--debug` pauses before every step: while it waits for Enter no event line is printed onto
/// the prompt's line or into the "made so far" list; the held lines follow the answer.
#[test]
fn debug_pauses_keep_event_lines_off_the_prompt() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    });
    let s = Scratch::new();
    let term = publishing(&s, &emu, "--only us-east-1-1404-pv --debug");
    let prompt = "[debug] press Enter to continue";
    let mut answered = 0;
    let ended = eventually(Duration::from_secs(120), || {
        let screen = term.screen();
        if screen.contains("EXIT=") {
            return true;
        }
        if screen.matches(prompt).count() > answered {
            // Let the run go on for a moment while it waits: nothing may be printed meanwhile.
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(
                term.last_line(),
                prompt,
                "nothing printed onto the prompt:\n{}",
                term.screen()
            );
            answered += 1;
            term.type_line("");
        }
        false
    });
    let screen = term.screen();
    assert!(ended, "the run ends:\n{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        answered >= 5,
        "a pause before each step: {answered}\n{screen}"
    );
    for l in screen.lines().filter(|l| l.contains("made so far:")) {
        assert!(
            l.starts_with("    made so far: "),
            "an event line in the list: {l}"
        );
    }
}
