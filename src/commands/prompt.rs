//! The terminal side of `--debug` and `--on-error=ask`: pauses and questions on stderr,
//! answers from stdin (read on a blocking thread, never on the async runtime).

use futures::future::BoxFuture;

use crate::engine::{Decision, Interact, Made};
use crate::events::Step;

/// One question on the terminal at a time: builds failing together ask in turn, each answer
/// read for its own question.
static ASKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Asks on the terminal. `pause` is true with `--debug`.
pub struct TerminalPrompt {
    /// Pause before every step.
    pub pause: bool,
}

/// Asks `question` on a terminal (yes when there is none to ask on, or `yes` was given).
pub async fn confirmed(question: &str, yes: bool) -> bool {
    use std::io::IsTerminal;
    if yes || !std::io::stdin().is_terminal() {
        return true;
    }
    eprint!("{question} [y/N] ");
    matches!(read_line().await.trim(), "y" | "Y" | "yes")
}

async fn read_line() -> String {
    tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
        s
    })
    .await
    .unwrap_or_default()
}

fn show_made(build: &str, made: &Made) {
    let lines = made.describe(build);
    if lines.is_empty() {
        eprintln!("    made so far: nothing");
    } else {
        for l in lines {
            eprintln!("    made so far: {l}");
        }
    }
    if let Some(p) = &made.log_path {
        eprintln!("    provisioning log: {}", p.display());
    }
}

impl Interact for TerminalPrompt {
    fn before_step<'a>(&'a self, build: &'a str, step: Step, made: &'a Made) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.pause {
                return;
            }
            let _turn = ASKING.lock().await;
            let _held = crate::report::gate::hold();
            eprintln!("[debug] {build}: next step is {}", step.describe());
            show_made(build, made);
            eprint!("[debug] press Enter to continue ");
            read_line().await;
        })
    }

    fn on_failure<'a>(
        &'a self,
        build: &'a str,
        step: Step,
        error: &'a str,
        made: &'a Made,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let _turn = ASKING.lock().await;
            let _held = crate::report::gate::hold();
            eprintln!("{build}: {} failed: {error}", step.describe());
            show_made(build, made);
            loop {
                eprint!("[c]lean up, [a]bort and leave everything, or [r]etry the step? ");
                match read_line().await.trim() {
                    "c" | "clean" | "cleanup" => return Decision::Cleanup,
                    "a" | "abort" => return Decision::Abort,
                    "r" | "retry" => return Decision::Retry,
                    // End of input: nobody is there to answer, so take the safe default.
                    "" => return Decision::Cleanup,
                    _ => {}
                }
            }
        })
    }
}
