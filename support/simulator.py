"""The instance simulator: plays the build instances moto does not run (moto runs no VMs).

It notices instances amipub launched (by their amipub:run-id tag, read from moto's in-process
state), fetches their real user data and runs that bootstrap with bash in a scratch directory.
Commands that would touch a real machine are harmless stand-ins found first on PATH: `bash`
(the provisioning script's interpreter: the script is fetched for real, never run here),
`poweroff`, and the AMI bundle tools. The bootstrap's requests (curl to presigned URLs) reach
the emulator's S3 for real, through the strict proxy; gzip-compressed user data is expanded
first, as cloud-init does; its power-off stops the instance, or terminates it when its shutdown
behaviour is terminate.

It also serves the instance metadata service (IMDSv2) moto lacks, handing out credentials only
to instances launched with an instance profile, and stand-ins for the bundle tools
(ec2-bundle-vol, ec2-upload-bundle) that upload with S3 PutObject signed by the credentials
the upload command passes: the route a real ec2-upload-bundle takes.
"""

import base64
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter


STANDIN_BASH = r"""#!/bin/sh
# Stand-in for the provisioning script's interpreter: the script was fetched through its
# presigned URL for real, but it is never run on this machine.
set -f
echo "instance-sim: provisioning script $1 ($(wc -c < "$1") bytes) for $AMIPUB_BUILD_NAME"
env | grep -E '^(AMIPUB_BUILD_NAME|PACKER_BUILD_NAME|COMBOAMI_|EC2_)' | sort
for pat in $AMIPUB_SIM_HANG; do
  case "$AMIPUB_BUILD_NAME" in $pat) echo "instance-sim: hanging"; exec sleep 100000;; esac
done
sleep "$AMIPUB_SIM_SECONDS"
for pat in $AMIPUB_SIM_FAIL; do
  case "$AMIPUB_BUILD_NAME" in $pat) echo "instance-sim: provisioning failed"; exit 3;; esac
done
echo "instance-sim: provisioning finished"
"""

STANDIN_POWEROFF = """#!/bin/sh
# Stand-in for poweroff: tells the simulator to stop (or terminate) the instance.
touch "$AMIPUB_SIM_DIR/poweroff-called"
"""

# The bundle tools of an instance-store build: write a small manifest and parts into the
# destination directory, and upload them through the same route a real instance would.
STANDIN_BUNDLE_VOL = r"""#!/bin/sh
# Stand-in for ec2-bundle-vol: writes a small fake bundle (manifest and two parts).
set -e
dest=""; prefix="image"; partition="(none)"; exclude=""; key=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) dest="$2"; shift;; -p) prefix="$2"; shift;; -e) exclude="$2"; shift;;
    -k) key="$2"; shift;; --partition) partition="$2"; shift;;
  esac; shift
done
[ -r "$key" ] || { echo "instance-sim: cannot read the signing key" >&2; exit 2; }
# What a test may want to check; never the signing material itself.
echo "instance-sim: ec2-bundle-vol --partition $partition -e $exclude"
mkdir -p "$dest"
printf 'part0 of %s\n' "$AMIPUB_BUILD_NAME" > "$dest/$prefix.part.0"
for pat in $AMIPUB_SIM_BUNDLE_FAIL; do
  case "$AMIPUB_BUILD_NAME" in $pat) echo "instance-sim: bundling failed" >&2; exit 4;; esac
done
printf 'part1 of %s\n' "$AMIPUB_BUILD_NAME" > "$dest/$prefix.part.1"
cat > "$dest/$prefix.manifest.xml" <<XML
<manifest><image><name>$prefix</name><parts count="2"><part index="0"><filename>$prefix.part.0</filename></part><part index="1"><filename>$prefix.part.1</filename></part></parts></image></manifest>
XML
echo "instance-sim: bundled into $dest"
"""

STANDIN_UPLOAD_BUNDLE = r'''#!@PYTHON@
"""Stand-in for ec2-upload-bundle: uploads the manifest's parts, then the manifest, to
-b BUCKET[/PREFIX] with S3 PutObject signed by -a/-s/-t, as the real tool does."""
import fnmatch, os, re, sys
import boto3

args, i = {}, 1
while i < len(sys.argv):
    a = sys.argv[i]
    if a in ("--batch", "--retry"):
        i += 1
        continue
    args[a] = sys.argv[i + 1] if i + 1 < len(sys.argv) else ""
    i += 2
for flag in ("-b", "-m", "-a", "-s"):
    if not args.get(flag):
        sys.exit(f"ec2-upload-bundle: missing {flag}")
bucket, _, prefix = args["-b"].partition("/")
manifest = args["-m"]
folder = args.get("-d") or os.path.dirname(manifest)
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["AMIPUB_SIM_S3"],
    region_name=args.get("--region", "us-east-1"),
    aws_access_key_id=args["-a"],
    aws_secret_access_key=args["-s"],
    aws_session_token=args.get("-t") or None,
)
parts = re.findall(r"<filename>([^<]+)</filename>", open(manifest).read())
build = os.environ.get("AMIPUB_BUILD_NAME", "")
failing = any(fnmatch.fnmatch(build, p) for p in os.environ.get("AMIPUB_SIM_UPLOAD_FAIL", "").split())
for n, name in enumerate(parts + [os.path.basename(manifest)]):
    key = f"{prefix}/{name}" if prefix else name
    with open(os.path.join(folder, name), "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    if failing and n == 0:
        sys.exit("instance-sim: upload failed")
print(f"instance-sim: uploaded {len(parts)} parts and {os.path.basename(manifest)} to {args['-b']}")
'''


class Control:
    def __init__(self, path, defaults):
        self.path = path
        self.defaults = defaults

    def read(self):
        conf = dict(self.defaults)
        try:
            with open(self.path, encoding="utf-8") as f:
                conf.update(json.load(f))
        except (FileNotFoundError, ValueError):
            pass
        return conf


class Simulator:
    """Plays the build instances moto does not run."""

    def __init__(self, moto_url, regions, work, control, poll, s3_endpoint, imds_url):
        import boto3

        self.s3_endpoint = s3_endpoint
        self.imds_url = imds_url
        self.clients = {
            r: boto3.client("ec2", region_name=r, endpoint_url=moto_url) for r in regions
        }
        self.work = work
        self.control = control
        self.poll = poll
        self.procs = {}  # instance id -> Popen
        self.started = set()
        self.lock = threading.Lock()
        self.stats = Counter()

    def run_forever(self):
        while True:
            for region, ec2 in self.clients.items():
                try:
                    self.tick(region, ec2)
                except Exception as e:  # the emulator may be busy; try again next tick
                    print(f"instance-sim: {region}: {e}", file=sys.stderr)
            time.sleep(self.poll)

    def backend(self, region):
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        return ec2_backends[DEFAULT_ACCOUNT_ID][region]

    def instance(self, region, iid):
        return self.backend(region).get_instance(iid)

    def live_instances(self, region):
        """Instances that are pending or running in `region`, read from moto's own state.

        The simulator shares moto's process, so it discovers instances without HTTP: polling
        DescribeInstances in every region several times a second would load the emulator more
        than amipub itself does. This reads internals of the pinned moto version
        (ec2_backends, all_instances, get_tags); actions still go through the API.
        """
        backend = self.backend(region)
        for _ in range(5):
            try:
                return {
                    i.id: i for i in list(backend.all_instances()) if i.state in ("pending", "running")
                }
            except RuntimeError:  # moto changed a dict while we read it; read again
                time.sleep(0.01)
        return None

    def tick(self, region, ec2):
        live = self.live_instances(region)
        if live is None:
            return
        for iid, inst in live.items():
            if iid in self.started:
                continue
            # Looked at again every tick: moto adds an instance before the tags RunInstances
            # gave it, so one seen untagged may be amipub's a moment later.
            tags = {t["key"]: t["value"] for t in inst.get_tags()}
            if "amipub:run-id" not in tags:
                continue
            self.started.add(iid)
            threading.Thread(
                target=self.boot, args=(ec2, iid, tags), daemon=True
            ).start()
        # amipub terminated or stopped an instance whose bootstrap still runs: the machine is
        # gone, so is its bootstrap.
        with self.lock:
            region_procs = [
                (iid, p) for iid, (r, p) in self.procs.items() if r == region
            ]
        for iid, proc in region_procs:
            if iid not in live and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                self.stats["killed"] += 1

    def boot(self, ec2, iid, tags):
        build = tags.get("amipub:build", "?")
        d = os.path.join(self.work, iid)
        os.makedirs(os.path.join(d, "bin"), exist_ok=True)
        os.makedirs(os.path.join(d, "root"), exist_ok=True)
        inst = self.instance(ec2.meta.region_name, iid)
        data = base64.b64decode(inst.user_data.as_bytes()) if inst.user_data else b""
        if data[:2] == b"\x1f\x8b":
            # cloud-init expands gzip-compressed user data before running it; so does this.
            import gzip

            data = gzip.decompress(data)
        with open(os.path.join(d, "user-data"), "wb") as f:
            f.write(data)
        for name, body in [
            ("bash", STANDIN_BASH),
            ("poweroff", STANDIN_POWEROFF),
            ("ec2-bundle-vol", STANDIN_BUNDLE_VOL),
            ("ec2-upload-bundle", STANDIN_UPLOAD_BUNDLE.replace("@PYTHON@", sys.executable)),
        ]:
            p = os.path.join(d, "bin", name)
            with open(p, "w", encoding="utf-8") as f:
                f.write(body)
            os.chmod(p, 0o755)
        conf = self.control.read()
        env = dict(os.environ)
        env.update(
            PATH=os.path.join(d, "bin") + ":" + env.get("PATH", "/usr/bin:/bin"),
            AMIPUB_ROOT=os.path.join(d, "root"),
            AMIPUB_SIM_DIR=d,
            AMIPUB_SIM_SECONDS=str(conf.get("provision_seconds", 1.0)),
            AMIPUB_SIM_FAIL=" ".join(conf.get("fail", [])),
            AMIPUB_SIM_HANG=" ".join(conf.get("hang", [])),
            AMIPUB_SIM_BUNDLE_FAIL=" ".join(conf.get("bundle_fail", [])),
            AMIPUB_SIM_UPLOAD_FAIL=" ".join(conf.get("upload_fail", [])),
            AMIPUB_SIM_S3=self.s3_endpoint,
            AMIPUB_IMDS=f"{self.imds_url}/{iid}",
        )
        self.stats["booted"] += 1
        with open(os.path.join(d, "console.log"), "wb") as log:
            proc = subprocess.Popen(
                ["/bin/bash", os.path.join(d, "user-data")],
                cwd=d,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            with self.lock:
                self.procs[iid] = (ec2.meta.region_name, proc)
            rc = proc.wait()
        self.stats[f"bootstrap_exit_{rc}"] += 1
        # A machine amipub terminated (or stopped) while its bootstrap finished stays as it
        # is: moto's stop would bring a terminated instance back as "stopped", a leak no real
        # instance can cause.
        powered_off = os.path.exists(os.path.join(d, "poweroff-called"))
        if powered_off and inst.state in ("pending", "running"):
            backend = self.backend(ec2.meta.region_name)
            if inst.instance_initiated_shutdown_behavior == "terminate":
                backend.terminate_instances([iid])
            else:
                backend.stop_instances([iid])
            self.stats["powered_off"] += 1
        print(f"instance-sim: {iid} ({build}) bootstrap exited {rc}", file=sys.stderr)


def make_imds(sim):
    """The instance metadata service (IMDSv2) of every simulated instance, at /<instance-id>/."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.path.endswith("/latest/api/token"):
                self.reply(200, "sim-imds-token")
            else:
                self.reply(404, "")

        def do_GET(self):
            if self.headers.get("X-aws-ec2-metadata-token") != "sim-imds-token":
                self.reply(401, "")
                return
            _, iid, rest = self.path.split("/", 2)
            profile = None
            for region in sim.clients:
                try:
                    profile = sim.instance(region, iid).iam_instance_profile
                    break
                except Exception:
                    continue
            base = "latest/meta-data/iam/security-credentials/"
            if not profile or not rest.startswith(base):
                self.reply(404, "")
                return
            role = str(profile.get("Arn", "role")).rsplit("/", 1)[-1]
            if rest == base:
                self.reply(200, role)
            elif rest == base + role:
                self.reply(200, json.dumps({
                    "Code": "Success",
                    "Type": "AWS-HMAC",
                    "AccessKeyId": "ASIASIMULATEDINSTANCE",
                    "SecretAccessKey": "simulated-instance-secret",
                    "Token": "simulated-session-token",
                    "Expiration": "2099-01-01T00:00:00Z",
                }, indent=2))
            else:
                self.reply(404, "")

    return Handler


