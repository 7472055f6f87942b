#!/usr/bin/env python3
"""A local AWS for amipub's tests, demo and benchmark: moto's server, plus what it lacks.

Test and demo support only: nothing here is part of amipub's behaviour. Each piece fills one
named gap of the emulator:

- moto runs no VMs. The *instance simulator* notices instances amipub launched (by their
  amipub:run-id tag, read from moto's in-process state), fetches their real user data and runs that bootstrap with bash in a scratch
  directory. Commands that would touch a real machine are harmless stand-ins found first on
  PATH: `bash` (the provisioning script's interpreter: the script is fetched for real, never
  run here), `poweroff`, and the AMI bundle tools. The bootstrap's requests (curl to presigned
  URLs) reach the emulator's S3 for real; gzip-compressed user data is expanded first, as
  cloud-init does; its power-off stops the instance, or terminates it
  when its shutdown behaviour is terminate. The simulator shares moto's process and reads and
  changes instances in moto's own state (internals of the pinned version), so that playing
  hundreds of VMs adds no requests to the emulator's load.
- moto has no instance metadata service, which is where a real instance's bootstrap gets the
  upload credentials of its instance profile. The simulator serves one on 127.0.0.1 (the
  bootstrap reads its address from AMIPUB_IMDS, unset on real instances) that hands out
  credentials only to instances launched with an instance profile.
- The bundle tools (ec2-bundle-vol, ec2-upload-bundle) need a real machine. Their stand-ins
  write a small fake manifest and parts, and upload them with S3 PutObject signed by the
  credentials the upload command passes: the route a real ec2-upload-bundle takes.
- moto's RegisterImage ignores ImageLocation, VirtualizationType and Architecture and never
  checks the manifest. Patched (in this process only) to keep them, to report the AMI as
  instance-store backed, and to refuse a manifest that is not in S3 as EC2 does
  (InvalidManifest), so that tests can check what amipub registered.
- moto counts nothing and never throttles. With --proxy, a proxy in front of it counts the
  requests it forwards by client and operation (GET /_amipub/stats) and can answer every Nth
  EC2 request of amipub with RequestLimitExceeded (--throttle-every).

Control: the simulator re-reads <work>/control.json before starting each bootstrap:
  {"provision_seconds": 1.0, "fail": ["glob", ...], "hang": ["glob", ...],
   "bundle_fail": ["glob", ...], "upload_fail": ["glob", ...]}
"fail" builds' provisioning exits 3; "hang" builds' provisioning never finishes;
"bundle_fail" builds' ec2-bundle-vol exits 4 after writing part of a bundle;
"upload_fail" builds' ec2-upload-bundle exits 5 after uploading one part.

On start it prints one JSON line to stdout: {"endpoint": URL, "moto": URL, "work": DIR}.
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter


def load_ami_ids(regions_files):
    """Every AMI ID in the given regions.yaml files, with its virtualization type."""
    import yaml  # moto depends on PyYAML

    amis = {}
    for path in regions_files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        for region in (doc.get("regions") or {}).values():
            for by_virt in ((region or {}).get("amis") or {}).values():
                for virt, ami in (by_virt or {}).items():
                    amis[str(ami)] = str(virt)
    return amis


def write_amis_file(amis, path):
    """The MOTO_AMIS_PATH file: upstream images as moto should preload them (in every region)."""
    entries = [
        {
            "ami_id": ami,
            "name": f"ubuntu-upstream-{ami}",
            "description": "Upstream Ubuntu image (emulated)",
            "owner_id": "099720109477",
            "public": True,
            "virtualization_type": virt,
            "architecture": "x86_64",
            "state": "available",
            "root_device_type": "ebs",
            "root_device_name": "/dev/sda1",
        }
        for ami, virt in sorted(amis.items())
    ]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entries, f)


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
        self.ignored = set()
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
            if iid in self.started or iid in self.ignored:
                continue
            tags = {t["key"]: t["value"] for t in inst.get_tags()}
            if "amipub:run-id" not in tags:
                self.ignored.add(iid)
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
        if os.path.exists(os.path.join(d, "poweroff-called")):
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


def patch_register_image():
    """RegisterImage as EC2 does it for a bundle: see the module's docstring."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.amis import AmisResponse
    from moto.s3.models import s3_backends

    original = AmisResponse.register_image

    def register_image(self):
        location = self._get_param("ImageLocation")
        if location:
            bucket, _, key = location.partition("/")
            try:
                s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key).value
            except Exception:
                raise EC2ClientError(
                    "InvalidManifest", f"The manifest {location} could not be read."
                )
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        if location:
            ami.image_location = location
            ami.root_device_type = "instance-store"
        ami.virtualization_type = self._get_param("VirtualizationType") or ami.virtualization_type
        ami.architecture = self._get_param("Architecture") or ami.architecture
        return result

    AmisResponse.register_image = register_image


def create_instance_profile(moto_url, name):
    """An IAM role and instance profile named `name`, for RunInstances to accept."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_url)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def classify(method, path, headers, body):
    """(client, operation) of one request, for the counts."""
    ua = headers.get("User-Agent", "")
    if "aws-sdk-rust" in ua:
        client = "amipub"
    elif ua.startswith("curl"):
        client = "instance"
    else:
        client = "other"
    parsed = urllib.parse.urlsplit(path)
    ctype = headers.get("Content-Type", "")
    if method == "POST" and parsed.path == "/" and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return client, "ec2:" + form.get("Action", ["?"])[0]
    parts = [p for p in parsed.path.split("/") if p]
    kind = "object" if len(parts) > 1 else ("bucket" if parts else "service")
    q = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    auth = {"AWSAccessKeyId", "Signature", "Expires", "x-id"}
    sub = sorted(k for k in q if not k.startswith("X-Amz-") and k not in auth)
    return client, f"s3:{method} {kind}" + (f"?{sub[0]}" if sub else "")


def make_proxy(moto_host, moto_port, throttle_every):
    counts = Counter()
    lock = threading.Lock()
    state = {"ec2_from_amipub": 0}
    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def conn(self):
            c = getattr(local, "conn", None)
            if c is None:
                c = http.client.HTTPConnection(moto_host, moto_port, timeout=120)
                local.conn = c
            return c

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            body = self.read_body()
            if self.path == "/_amipub/stats":
                with lock:
                    data = {f"{c} {op}": n for (c, op), n in sorted(counts.items())}
                self.reply(200, json.dumps(data).encode(), "application/json")
                return
            client, op = classify(self.command, self.path, self.headers, body)
            with lock:
                counts[(client, op)] += 1
                throttle = False
                if client == "amipub" and op.startswith("ec2:") and throttle_every:
                    state["ec2_from_amipub"] += 1
                    throttle = state["ec2_from_amipub"] % throttle_every == 0
            if throttle:
                xml = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                    b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                    b"</Message></Error></Errors><RequestID>throttled</RequestID></Response>"
                )
                self.reply(503, xml, "text/xml")
                return
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            }
            headers["Content-Length"] = str(len(body))
            for attempt in range(2):
                try:
                    c = self.conn()
                    c.request(self.command, self.path, body=body, headers=headers)
                    resp = c.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    local.conn = None
                    if attempt:
                        raise
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def reply(self, status, data, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions-file", action="append", default=[],
                    help="preload the source AMIs of this regions.yaml (repeatable)")
    ap.add_argument("--region", action="append", default=[],
                    help="also watch this region for instances (repeatable)")
    ap.add_argument("--port", type=int, default=0, help="endpoint port (0: a free one)")
    ap.add_argument("--work", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--provision-seconds", type=float, default=1.0)
    ap.add_argument("--proxy", action="store_true", help="count requests (and inject faults)")
    ap.add_argument("--throttle-every", type=int, default=0)
    ap.add_argument("--poll", type=float, default=0.25, help="simulator poll interval")
    ap.add_argument("--instance-profile", action="append", default=[],
                    help="create this IAM instance profile (repeatable)")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="amipub-emulator-")
    os.makedirs(work, exist_ok=True)
    amis = load_ami_ids(args.regions_file)
    regions = set(args.region)
    import yaml

    for path in args.regions_file:
        with open(path, encoding="utf-8") as f:
            regions.update(((yaml.safe_load(f) or {}).get("regions") or {}).keys())
    regions = sorted(regions or ["us-east-1"])
    amis_path = os.path.join(work, "amis.json")
    write_amis_file(amis, amis_path)
    os.environ["MOTO_AMIS_PATH"] = amis_path
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_register_image()

    moto_port = 0 if args.proxy else args.port
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    endpoint = moto_url
    if args.proxy:
        handler = make_proxy(host, port, args.throttle_every)
        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
        proxy.daemon_threads = True
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"

    control = Control(
        os.path.join(work, "control.json"),
        {"provision_seconds": args.provision_seconds, "fail": [], "hang": [],
         "bundle_fail": [], "upload_fail": []},
    )
    for name in args.instance_profile:
        create_instance_profile(moto_url, name)
    imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)
    imds_url = f"http://127.0.0.1:{imds.server_address[1]}"
    sim = Simulator(moto_url, regions, work, control, args.poll, endpoint, imds_url)
    imds.RequestHandlerClass = make_imds(sim)
    imds.daemon_threads = True
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    threading.Thread(target=sim.run_forever, daemon=True).start()

    print(json.dumps({"endpoint": endpoint, "moto": moto_url, "work": work}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    with sim.lock:
        for _, proc in sim.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
