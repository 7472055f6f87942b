//! The user-data bootstrap: the only thing amipub runs on a build instance. It fetches the
//! provisioning script through a presigned URL, runs it as root, uploads its log while it runs
//! and its exit status (with the whole log) at the end, then powers the instance off. No SSH,
//! no key pair, no inbound rule.
//!
//! An instance-store build does more before powering off: it fetches the signing material
//! through presigned URLs (and deletes the bucket's copies at once through presigned DELETEs),
//! takes upload credentials from its instance profile through the instance metadata service,
//! runs the profile's bundle and upload commands, and reports the manifest's key. User data
//! holds URLs only: no signing material and no credential.

use std::collections::BTreeMap;

/// EC2 refuses user data over 16 KB (before base64).
pub const USER_DATA_LIMIT: usize = 16 * 1024;

/// Exit status the bootstrap reports when it cannot fetch the provisioning script.
pub const FETCH_FAILED: i32 = 90;
/// Exit status the bootstrap reports when it cannot fetch the signing material.
pub const SIGNING_FAILED: i32 = 91;
/// Exit status the bootstrap reports when the instance profile gives it no credentials.
pub const CREDENTIALS_FAILED: i32 = 92;

/// The file name (without extension) of the bundle: the manifest is `image.manifest.xml`.
pub const BUNDLE_NAME: &str = "image";

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
    /// Presigned PUT of the final status (header lines, a blank line, then the whole log).
    pub status_url: &'a str,
    /// Seconds between log uploads while the script runs (the first comes after 2 s).
    pub log_interval_secs: u64,
    /// For instance-store builds: how to bundle and upload after provisioning.
    pub bundle: Option<BundleInput<'a>>,
}

/// The bundle phase of an instance-store build.
pub struct BundleInput<'a> {
    /// Presigned GETs of the account ID, certificate and key, in that order.
    pub signing_urls: [String; 3],
    /// Presigned DELETEs of the same objects.
    pub signing_delete_urls: [String; 3],
    /// The staging bucket.
    pub bucket: &'a str,
    /// The build's prefix in it (no trailing slash).
    pub prefix: &'a str,
    /// The build's region.
    pub region: &'a str,
    /// `--partition mbr` (HVM images of 14.04 and later must switch from GPT to MBR).
    pub partition_mbr: bool,
    /// The image's architecture, as ec2-bundle-vol's `-r` takes it (`x86_64`, `arm64`).
    pub arch: &'a str,
    /// The bundle command (bash).
    pub command: &'a str,
    /// The upload command (bash).
    pub upload: &'a str,
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
    let bundle = match &i.bundle {
        None => String::new(),
        Some(b) => {
            let [account, cert, key] = &b.signing_urls;
            let deletes: Vec<String> = b.signing_delete_urls.iter().map(|u| quote(u)).collect();
            BUNDLE_TEMPLATE
                .replace("@ACCOUNT_URL@", &quote(account))
                .replace("@CERT_URL@", &quote(cert))
                .replace("@KEY_URL@", &quote(key))
                .replace("@DELETE_URLS@", &deletes.join(" "))
                .replace("@BUCKET@", &quote(b.bucket))
                .replace("@PREFIX@", &quote(b.prefix))
                .replace("@REGION@", &quote(b.region))
                .replace(
                    "@PARTITION@",
                    &quote(if b.partition_mbr {
                        "--partition mbr"
                    } else {
                        ""
                    }),
                )
                .replace("@BUNDLE_NAME@", BUNDLE_NAME)
                .replace("@ARCH@", &quote(b.arch))
                .replace("@SIGNING_FAILED@", &SIGNING_FAILED.to_string())
                .replace("@CREDENTIALS_FAILED@", &CREDENTIALS_FAILED.to_string())
                // Last: the commands are the user's text and may contain anything.
                .replace("@BUNDLE_COMMAND@", b.command.trim())
                .replace("@UPLOAD_COMMAND@", b.upload.trim())
        }
    };
    TEMPLATE
        .replace("@BUILD@", &quote(i.build))
        .replace("@RUN@", &quote(i.run_id))
        .replace("@EXPORTS@", &exports)
        .replace("@SCRIPT_URL@", &quote(i.script_url))
        .replace("@LOG_URL@", &quote(i.log_url))
        .replace("@STATUS_URL@", &quote(i.status_url))
        .replace("@INTERVAL@", &i.log_interval_secs.max(1).to_string())
        .replace("@FETCH_FAILED@", &FETCH_FAILED.to_string())
        // Last, for the same reason.
        .replace("@BUNDLE@", &bundle)
}

/// The user data to send for `script`: the script itself when it fits EC2's limit, otherwise
/// gzip-compressed, which cloud-init recognises and expands. Presigned URLs made with session
/// credentials each carry the session token, so an instance-store bootstrap can pass 16 KB;
/// the repeated token compresses away.
pub fn user_data(script: &str) -> Result<Vec<u8>, String> {
    if script.len() <= USER_DATA_LIMIT {
        return Ok(script.as_bytes().to_vec());
    }
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(script.as_bytes())
        .and_then(|_| gz.finish())
        .map_err(|e| format!("compressing the bootstrap: {e}"))
        .and_then(|packed| {
            if packed.len() <= USER_DATA_LIMIT {
                Ok(packed)
            } else {
                Err(format!(
                    "the bootstrap is {} bytes ({} compressed), over EC2's user-data limit of {}; shorten provision.env",
                    script.len(),
                    packed.len(),
                    USER_DATA_LIMIT
                ))
            }
        })
}

/// Single-quotes `s` for bash.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The stage of the bootstrap that ended it, as its status object names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fetching and running the provisioning script.
    Provision,
    /// Fetching the signing material (instance-store).
    Signing,
    /// Taking the instance profile's credentials from the metadata service.
    Credentials,
    /// Bundling the volume.
    Bundle,
    /// Uploading the bundle.
    Upload,
}

impl Stage {
    /// The stage the bootstrap names `name`; `None` for a name it never writes.
    fn parse(name: &str) -> Option<Stage> {
        Some(match name {
            "provision" => Stage::Provision,
            "signing" => Stage::Signing,
            "credentials" => Stage::Credentials,
            "bundle" => Stage::Bundle,
            "upload" => Stage::Upload,
            _ => return None,
        })
    }

    /// Its name, as the bootstrap writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Provision => "provision",
            Stage::Signing => "signing",
            Stage::Credentials => "credentials",
            Stage::Bundle => "bundle",
            Stage::Upload => "upload",
        }
    }
}

/// The final report of a bootstrap.
#[derive(Debug, PartialEq, Eq)]
pub struct Status<'a> {
    /// Exit status of the stage that ended the bootstrap (0: everything succeeded).
    pub code: i32,
    /// That stage.
    pub stage: Stage,
    /// The manifest's key, when the bundle was uploaded.
    pub manifest: Option<&'a str>,
    /// The whole log.
    pub log: &'a str,
}

/// Parses the status object: `key=value` header lines, a blank line, then the log.
pub fn parse_status(body: &str) -> Option<Status<'_>> {
    let (head, log) = body.split_once("\n\n").unwrap_or((body, ""));
    let mut status = Status {
        code: i32::MIN,
        stage: Stage::Provision,
        manifest: None,
        log,
    };
    for line in head.lines() {
        match line.split_once('=')? {
            ("status", v) => status.code = v.trim().parse().ok()?,
            ("stage", v) => status.stage = Stage::parse(v.trim())?,
            ("manifest", v) if !v.trim().is_empty() => status.manifest = Some(v.trim()),
            _ => {}
        }
    }
    (status.code != i32::MIN).then_some(status)
}

// Commands are called by name (curl, bash, poweroff) so that they resolve on PATH; AMIPUB_ROOT
// and AMIPUB_IMDS are unset on real instances. cloud-init keeps user data on disk: it holds
// presigned URLs, so it is removed before the instance powers off and cannot end up in the image.
const TEMPLATE: &str = r#"#!/bin/bash
# amipub bootstrap: build @BUILD@, run @RUN@
set -u
@EXPORTS@
script_url=@SCRIPT_URL@
log_url=@LOG_URL@
status_url=@STATUS_URL@
work=$(mktemp -d /tmp/amipub.XXXXXX)
log="$work/build.log"
stage=provision
manifest=
put() { curl -fsS --retry 5 --retry-delay 2 -X PUT --upload-file "$1" "$2" >/dev/null 2>&1; }
echo "amipub: bootstrap of $AMIPUB_BUILD_NAME started $(date -u +%FT%TZ)" >"$log"
# The log goes up from a loop of its own: early, so that even a build that hangs at once
# shows something, then every @INTERVAL@ s. The work itself is simply waited for.
( sleep 2; put "$log" "$log_url"; while sleep @INTERVAL@; do put "$log" "$log_url"; done ) &
uploader=$!
if curl -fsS --retry 10 --retry-delay 3 --retry-connrefused -o "$work/provision.sh" "$script_url" >>"$log" 2>&1; then
  bash "$work/provision.sh" >>"$log" 2>&1 </dev/null
  status=$?
else
  echo "amipub: could not fetch the provisioning script" >>"$log"
  status=@FETCH_FAILED@
fi
echo "amipub: provisioning exited with status $status $(date -u +%FT%TZ)" >>"$log"
@BUNDLE@
kill "$uploader" 2>/dev/null
# The status object carries the whole log, so one upload ends the build's reporting.
{ echo "status=$status"; echo "stage=$stage"; echo "manifest=$manifest"; echo; cat "$log"; } >"$work/status"
put "$work/status" "$status_url"
rm -rf "$work" "${AMIPUB_ROOT:-}"/var/lib/cloud/instance/user-data.txt* "${AMIPUB_ROOT:-}"/var/lib/cloud/instance/scripts/part-*
poweroff
"#;

// The signing material lives under $work, which the bundle excludes and the bootstrap removes;
// the key goes as soon as the bundle is signed. Credentials come from the instance profile
// through the metadata service (IMDSv2) and are never written to a file or the log.
const BUNDLE_TEMPLATE: &str = r#"secrets="$work/signing"
bundle_dir="${AMIPUB_ROOT:-}/mnt/amipub-bundle"
fetch() { curl -fsS --retry 10 --retry-delay 3 --retry-connrefused -o "$1" "$2" 2>>"$log"; }
if [ "$status" = 0 ]; then
  stage=signing
  mkdir -m 700 "$secrets"
  if ! { fetch "$secrets/account" @ACCOUNT_URL@ && fetch "$secrets/cert.pem" @CERT_URL@ && fetch "$secrets/pk.pem" @KEY_URL@; }; then
    echo "amipub: could not fetch the signing material" >>"$log"
    status=@SIGNING_FAILED@
  fi
  # The bucket's copies go at once: this instance has what it needs.
  for u in @DELETE_URLS@; do curl -fsS --retry 5 -X DELETE "$u" >/dev/null 2>&1; done
fi
if [ "$status" = 0 ]; then
  stage=credentials
  imds="${AMIPUB_IMDS:-http://169.254.169.254}"
  token=$(curl -fsS --retry 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$imds/latest/api/token" 2>>"$log")
  md() { curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1" 2>>"$log"; }
  role=$(md iam/security-credentials/ | head -n 1)
  creds=$(md "iam/security-credentials/$role" | tr -d '\n')
  field() { printf '%s' "$creds" | sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"; }
  export AWS_ACCESS_KEY_ID="$(field AccessKeyId)" AWS_SECRET_ACCESS_KEY="$(field SecretAccessKey)" AWS_SESSION_TOKEN="$(field Token)"
  unset creds
  if [ -z "$AWS_ACCESS_KEY_ID" ] || [ -z "$AWS_SECRET_ACCESS_KEY" ]; then
    echo "amipub: the instance profile gave no credentials (role \"$role\"); check iam_instance_profile" >>"$log"
    status=@CREDENTIALS_FAILED@
  fi
fi
if [ "$status" = 0 ]; then
  export AMIPUB_ACCOUNT_ID="$(cat "$secrets/account")" AMIPUB_SIGNING_CERT="$secrets/cert.pem" AMIPUB_SIGNING_KEY="$secrets/pk.pem"
  export AMIPUB_ARCH=@ARCH@ AMIPUB_EXCLUDE="$work,$bundle_dir" AMIPUB_BUNDLE_DIR="$bundle_dir" AMIPUB_BUNDLE_NAME=@BUNDLE_NAME@
  export AMIPUB_BUCKET=@BUCKET@ AMIPUB_PREFIX=@PREFIX@ AMIPUB_REGION=@REGION@ AMIPUB_PARTITION_FLAGS=@PARTITION@
  mkdir -p "$bundle_dir"
  stage=bundle
  echo "amipub: bundling the root volume $(date -u +%FT%TZ)" >>"$log"
  (
@BUNDLE_COMMAND@
  ) >>"$log" 2>&1 </dev/null
  status=$?
  rm -rf "$secrets"
  if [ "$status" = 0 ]; then
    stage=upload
    echo "amipub: uploading the bundle to s3://$AMIPUB_BUCKET/$AMIPUB_PREFIX/ $(date -u +%FT%TZ)" >>"$log"
    (
@UPLOAD_COMMAND@
    ) >>"$log" 2>&1 </dev/null
    status=$?
  fi
  [ "$status" = 0 ] && manifest="$AMIPUB_PREFIX/$AMIPUB_BUNDLE_NAME.manifest.xml"
  echo "amipub: $stage exited with status $status $(date -u +%FT%TZ)" >>"$log"
fi
rm -rf "$secrets" "$bundle_dir"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN"#;

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
            bundle: None,
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
        assert!(
            !s.contains("ec2-bundle-vol"),
            "an EBS build bundles nothing"
        );
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.trim_end().ends_with("poweroff"));
    }

    #[test]
    fn instance_store_bootstrap_carries_urls_and_commands_only() {
        let env = BTreeMap::new();
        let mut i = input(&env);
        let urls = |k: &str| {
            [
                format!("https://s3/{k}/account"),
                format!("https://s3/{k}/cert"),
                format!("https://s3/{k}/key"),
            ]
        };
        i.bundle = Some(BundleInput {
            signing_urls: urls("get"),
            signing_delete_urls: urls("delete"),
            bucket: "comboami-2-6-2-us-east-1",
            prefix: "run/us-east-1-1404-hvm",
            region: "us-east-1",
            partition_mbr: true,
            arch: "x86_64",
            command: crate::config::Bundle::DEFAULT_COMMAND,
            upload: crate::config::Bundle::DEFAULT_UPLOAD,
        });
        let s = render(&i);
        assert!(s.contains("'https://s3/get/key'") && s.contains("'https://s3/delete/key'"));
        assert!(s.contains("AMIPUB_PARTITION_FLAGS='--partition mbr'"));
        assert!(s.contains("AMIPUB_PREFIX='run/us-east-1-1404-hvm'"));
        assert!(s.contains("ec2-bundle-vol -k \"$AMIPUB_SIGNING_KEY\""));
        assert!(s.contains("ec2-upload-bundle -b \"$AMIPUB_BUCKET/$AMIPUB_PREFIX\""));
        assert!(!s.contains('@'), "every placeholder is filled: {s}");
        i.bundle.as_mut().unwrap().partition_mbr = false;
        assert!(render(&i).contains("AMIPUB_PARTITION_FLAGS=''"));
    }

    #[test]
    fn status_parsing() {
        let ok =
            parse_status("status=0\nstage=upload\nmanifest=r/b/image.manifest.xml\n\nlog line\n");
        assert_eq!(
            ok,
            Some(Status {
                code: 0,
                stage: Stage::Upload,
                manifest: Some("r/b/image.manifest.xml"),
                log: "log line\n"
            })
        );
        let failed = parse_status("status=4\nstage=bundle\nmanifest=\n\n").unwrap();
        assert_eq!(
            (failed.code, failed.stage, failed.manifest),
            (4, Stage::Bundle, None)
        );
        assert_eq!(parse_status("status=90").map(|s| s.code), Some(90));
        assert_eq!(parse_status("x\n"), None);
        assert_eq!(parse_status("stage=bundle\n\n"), None);
        assert_eq!(parse_status("status=1\nstage=elsewhere\n\n"), None);
    }

    #[test]
    fn user_data_is_compressed_only_when_it_must_be() {
        let small = "#!/bin/bash\necho hi\n";
        assert_eq!(user_data(small).unwrap(), small.as_bytes());
        // A session token repeated in every URL: large, but compresses well.
        let token = "IQoJb3JpZ2luX2VjE".repeat(60);
        let big = format!(
            "#!/bin/bash\n{}",
            format!("curl 'https://s3/x?X-Amz-Security-Token={token}'\n").repeat(20)
        );
        assert!(big.len() > USER_DATA_LIMIT);
        let packed = user_data(&big).unwrap();
        assert!(packed.len() <= USER_DATA_LIMIT && packed.starts_with(&[0x1f, 0x8b]));
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out)
            .unwrap();
        assert_eq!(out, big);
        // Text that does not compress is refused with its sizes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: String = (0..40_000)
            .map(|_| {
                // xorshift: text with no repetition for gzip to find.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let e = user_data(&noise).unwrap_err();
        assert!(e.contains("over EC2's user-data limit of 16384"), "{e}");
    }

    #[test]
    fn quote_handles_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
