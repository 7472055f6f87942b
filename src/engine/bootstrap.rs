//! The user-data bootstrap: the only thing amipub runs on a build instance. It fetches the
//! provisioning script through a presigned URL, runs it as root, uploads its log while it runs
//! and its exit status (with the whole log) at the end, then powers the instance off. No SSH,
//! no key pair, no inbound rule.

use std::collections::BTreeMap;

/// EC2 refuses user data over 16 KB (before base64).
pub const USER_DATA_LIMIT: usize = 16 * 1024;

/// Exit status the bootstrap reports when it cannot fetch the provisioning script.
pub const FETCH_FAILED: i32 = 90;

/// What the bootstrap of one build needs.
pub struct BootstrapInput<'a> {
    /// Build name (exported as AMIPUB_BUILD_NAME and PACKER_BUILD_NAME).
    pub build: &'a str,
    /// Run ID, for the log.
    pub run_id: &'a str,
    /// The profile's environment for the script.
    pub env: &'a BTreeMap<String, String>,
    /// Presigned GET of the provisioning script.
    pub script_url: &'a str,
    /// Presigned PUT of the running log.
    pub log_url: &'a str,
    /// Presigned PUT of the final status (exit code on the first line, then the whole log).
    pub status_url: &'a str,
    /// Seconds between log uploads while the script runs (the first comes after 2 s).
    pub log_interval_secs: u64,
}

/// Renders the bootstrap script.
pub fn render(i: &BootstrapInput<'_>) -> String {
    let mut exports = format!(
        "export AMIPUB_BUILD_NAME={b} PACKER_BUILD_NAME={b}\n",
        b = quote(i.build)
    );
    for (k, v) in i.env {
        // Keys were checked to be shell identifiers when the profile was loaded.
        exports.push_str(&format!("export {k}={}\n", quote(v)));
    }
    TEMPLATE
        .replace("@BUILD@", &quote(i.build))
        .replace("@RUN@", &quote(i.run_id))
        .replace("@EXPORTS@", &exports)
        .replace("@SCRIPT_URL@", &quote(i.script_url))
        .replace("@LOG_URL@", &quote(i.log_url))
        .replace("@STATUS_URL@", &quote(i.status_url))
        .replace("@INTERVAL@", &i.log_interval_secs.max(1).to_string())
        .replace("@FETCH_FAILED@", &FETCH_FAILED.to_string())
}

/// Single-quotes `s` for bash.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Parses the status object: the exit code on the first line, the log after it.
pub fn parse_status(body: &str) -> Option<(i32, &str)> {
    let (first, rest) = body.split_once('\n').unwrap_or((body, ""));
    first.trim().parse().ok().map(|code| (code, rest))
}

// Commands are called by name (curl, bash, poweroff) so that they resolve on PATH; AMIPUB_ROOT
// is unset on real instances. cloud-init keeps user data on disk: it holds presigned URLs, so it
// is removed before the instance powers off and cannot end up in the image.
const TEMPLATE: &str = r#"#!/bin/bash
# amipub bootstrap: build @BUILD@, run @RUN@
set -u
@EXPORTS@
script_url=@SCRIPT_URL@
log_url=@LOG_URL@
status_url=@STATUS_URL@
work=$(mktemp -d /tmp/amipub.XXXXXX)
log="$work/build.log"
put() { curl -fsS --retry 5 --retry-delay 2 -X PUT --upload-file "$1" "$2" >/dev/null 2>&1; }
echo "amipub: bootstrap of $AMIPUB_BUILD_NAME started $(date -u +%FT%TZ)" >"$log"
if curl -fsS --retry 10 --retry-delay 3 --retry-connrefused -o "$work/provision.sh" "$script_url" >>"$log" 2>&1; then
  # The log goes up from a loop of its own: early, so that even a build that hangs at once
  # shows something, then every @INTERVAL@ s. The script itself is simply waited for.
  ( sleep 2; put "$log" "$log_url"; while sleep @INTERVAL@; do put "$log" "$log_url"; done ) &
  uploader=$!
  bash "$work/provision.sh" >>"$log" 2>&1 </dev/null
  status=$?
  kill "$uploader" 2>/dev/null
else
  echo "amipub: could not fetch the provisioning script" >>"$log"
  status=@FETCH_FAILED@
fi
echo "amipub: provisioning exited with status $status $(date -u +%FT%TZ)" >>"$log"
# The status object carries the whole log, so one upload ends the build's reporting.
{ echo "$status"; cat "$log"; } >"$work/status"
put "$work/status" "$status_url"
rm -rf "$work" "${AMIPUB_ROOT:-}"/var/lib/cloud/instance/user-data.txt* "${AMIPUB_ROOT:-}"/var/lib/cloud/instance/scripts/part-*
poweroff
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(env: &'a BTreeMap<String, String>) -> BootstrapInput<'a> {
        BootstrapInput {
            build: "us-east-1-1404-hvm",
            run_id: "r1",
            env,
            script_url: "https://s3/x?sig=a&b=c",
            log_url: "https://s3/log",
            status_url: "https://s3/status",
            log_interval_secs: 20,
        }
    }

    #[test]
    fn exports_build_name_and_profile_environment_quoted() {
        let mut env = BTreeMap::new();
        env.insert("COMBOAMI_VERSION".to_string(), "2.6.2".to_string());
        env.insert("TRICKY".to_string(), "it's $(rm -rf /)".to_string());
        let s = render(&input(&env));
        assert!(s.contains(
            "export AMIPUB_BUILD_NAME='us-east-1-1404-hvm' PACKER_BUILD_NAME='us-east-1-1404-hvm'"
        ));
        assert!(s.contains("export COMBOAMI_VERSION='2.6.2'"));
        assert!(s.contains(r"export TRICKY='it'\''s $(rm -rf /)'"));
        assert!(s.contains("script_url='https://s3/x?sig=a&b=c'"));
        assert!(!s.contains('@'), "every placeholder is filled: {s}");
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.trim_end().ends_with("poweroff"));
    }

    #[test]
    fn status_parsing() {
        assert_eq!(parse_status("0\nlog line\n"), Some((0, "log line\n")));
        assert_eq!(parse_status("3\n"), Some((3, "")));
        assert_eq!(parse_status("90"), Some((90, "")));
        assert_eq!(parse_status("x\n"), None);
    }

    #[test]
    fn quote_handles_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
