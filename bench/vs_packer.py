#!/usr/bin/env python3
"""Side-by-side benchmark of Packer and amipub on the same matrix, against the same emulator
(not a test: numbers, no verdicts).

Both tools publish the 32-build public EBS matrix (the official 2.6.2 matrix of regions.yaml,
8 regions x 2 releases x 2 virtualization types, as EBS builds made public to group all)
against a fresh emulator each (same options as bench/publish_bench.py, regions warmed up
first), through the emulator's counting proxy, and the script prints requests per AMI by
operation, wall time and peak memory of each, and amipub/Packer ratios.

    bench/vs_packer.py --delay-ms 0
    bench/vs_packer.py --delay-ms 100 --repeat 3
    bench/vs_packer.py --delay-ms 100 --json

Per-request delay: a small forwarding proxy of this script's own sits in front of the
emulator's strict proxy; it waits --delay-ms before forwarding each request verbatim (method,
path, headers, the client's Host header included, so presigned URLs still verify) and relays
the answer, over a pool of kept-alive connections to the strict proxy (whose listen backlog
resets bursts of new connections: a connection reset before any answer is retried, and the
retries are printed as "upstream reconnects"). Both tools, and the build instances' requests
to amipub's presigned URLs, go through it. Counting stays the strict proxy's (GET /_amipub/stats): it tells clients by
User-Agent, "amipub" (aws-sdk-rust), "instance" (curl) and "other" (anything else: Packer's
aws-sdk-go, and this script's boto3 warm-up); the script reads the stats before and after the
tool's run and reports the difference, so the warm-up is not counted.

Packer (benchmark only, never a dependency of amipub) is Debian's `packer` package (1.6.6),
installed with apt-get when `packer` is not on PATH. It builds the same matrix from a JSON
template of one amazon-ebs builder per build (communicator none: Packer launches, stops,
images, makes public and terminates; it provisions nothing). The instance simulator ignores
its instances (they lack amipub's amipub:run-id tag). amipub's build instances run amipub's
bootstrap in the simulator with --provision-seconds of provisioning (default 0: the
emulator's minimum, since Packer provisions nothing). Both poll every --poll-seconds (amipub's
--poll-interval, Packer's aws_polling delay_seconds).

Peak memory: the whole process tree is sampled every 100 ms (Packer runs each builder in a
plugin process of its own; amipub is one process): the peak of the tree's summed PSS
(proportional set size, so the packer binary shared by its plugin processes counts once), and
the largest single process's peak RSS (VmHWM, what bench/publish_bench.py reports).
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
try:
    import boto3  # noqa: F401  (publish_bench's warm-up needs it)
    import yaml
except ImportError:  # run with the emulator's virtualenv, which has both
    venv = os.path.join(ROOT, ".venv/bin/python")
    if os.path.exists(venv) and os.path.realpath(sys.executable) != os.path.realpath(venv):
        os.execv(venv, [venv] + sys.argv)
    raise

sys.path.insert(0, HERE)
import publish_bench  # noqa: E402  (start_emulator, warm_up, stats)

NAME = "DataStax Auto-Clustering AMI"
DESCRIPTION = "ComboAMI benchmark build (amipub vs Packer)"
TAGS = {"Project": "ComboAMI"}


# The matrix -------------------------------------------------------------------------------

def official_matrix():
    """The official 2.6.2 matrix: configs/official.yaml's releases and virtualization types in
    every enabled region of regions.yaml. [(build name, region, release, virt, source AMI)]."""
    with open(os.path.join(ROOT, "configs/official.yaml")) as f:
        profile = yaml.safe_load(f)
    with open(os.path.join(ROOT, "regions.yaml")) as f:
        regions = yaml.safe_load(f)["regions"]
    builds = []
    for region, spec in sorted(regions.items()):
        if spec.get("disabled"):
            continue
        for rel in profile["releases"]:
            for virt in profile["virtualizations"]:
                short = "pv" if virt == "paravirtual" else virt
                builds.append((f"{region}-{rel}-{short}", region, str(rel), virt,
                               spec["amis"][str(rel)][virt]))
    return profile, builds


def write_files(d, profile, builds, delay_url, poll_seconds, tags):
    """regions.yaml (the enabled regions only), the amipub profile, and the Packer template."""
    regions = {}
    for _, region, rel, virt, ami in builds:
        regions.setdefault(region, {"amis": {}})["amis"].setdefault(rel, {})[virt] = ami
    with open(os.path.join(d, "regions.yaml"), "w") as f:
        yaml.safe_dump({"regions": regions}, f)
    with open(os.path.join(d, "provision.sh"), "w") as f:
        f.write("#!/bin/bash\necho benchmark\n")
    version = profile["version"]
    rels = ", ".join(f'"{r}"' for r in profile["releases"])
    tag_lines = "".join(f"  {k}: {v}\n" for k, v in tags.items())
    with open(os.path.join(d, "bench.yaml"), "w") as f:
        f.write(f"""version: "{version}"
branch: "{profile['branch']}"
backing: ebs
instance_type: {profile['instance_type']}
ami_name: "{NAME} {{version}}-{{release}}-{{virt}}"
description: "{DESCRIPTION}"
bucket: "comboami-bench-{{version}}-{{region}}"
provision:
  script: provision.sh
launch_permissions:
  groups: [all]
releases: [{rels}]
virtualizations: [paravirtual, hvm]
timeouts:
  provision: 30m
  image: 30m
""" + (f"tags:\n{tag_lines}" if tags else ""))
    builders = []
    for name, region, rel, virt, ami in builds:
        short = "pv" if virt == "paravirtual" else virt
        b = {
            "type": "amazon-ebs",
            "name": name,
            "region": region,
            "source_ami": ami,
            "instance_type": profile["instance_type"],
            "ami_name": f"{NAME} {version}-{rel}-{short}",  # as amipub renders the profile's
            "ami_description": DESCRIPTION,
            "ami_groups": ["all"],
            "communicator": "none",
            "access_key": "bench",
            "secret_key": "bench",
            "custom_endpoint_ec2": delay_url,
            "skip_region_validation": True,
            "skip_metadata_api_check": True,
            "aws_polling": {"delay_seconds": int(poll_seconds), "max_attempts": 3600},
        }
        if tags:
            b["tags"] = dict(tags)
        builders.append(b)
    with open(os.path.join(d, "packer.json"), "w") as f:
        json.dump({"builders": builders}, f, indent=2)


# The per-request delay ----------------------------------------------------------------------

def start_delay_proxy(upstream, delay_s):
    """A forwarding proxy that waits delay_s before each request. Returns (server, url,
    counter); counter["requests"] counts what it forwarded, counter["retries"] the
    upstream connections it had to open again (see below)."""
    host, port = upstream.split("//", 1)[1].rsplit(":", 1)
    port = int(port)
    pool = []  # idle kept-alive connections to the strict proxy
    counter = {"requests": 0, "retries": 0}
    lock = threading.Lock()
    hop = ("transfer-encoding", "connection", "content-length", "keep-alive", "proxy-connection",
           "expect")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            body = self.read_body()
            if delay_s > 0:
                time.sleep(delay_s)
            with lock:
                counter["requests"] += 1
            # Verbatim, Host included: SigV4 signs it (presigned S3 URLs are verified).
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in hop]
            # Upstream connections are pooled (kept alive, shared by this proxy's threads), so
            # a burst of new client connections does not become one of new connections to the
            # strict proxy, whose listen backlog (http.server's default, 5) resets the
            # connections of a burst (ConnectionResetError on connect or first read). A failure
            # on a reused connection is a stale keep-alive: retried at once on a fresh one. A
            # fresh connection that fails before any answer never reached the strict proxy's
            # handler (no faults are configured here): retried after a short pause, and counted
            # (counter["retries"]), up to 20 times.
            resp = None
            for attempt in range(21):
                with lock:
                    c = pool.pop() if pool else None
                fresh = c is None
                if fresh:
                    c = http.client.HTTPConnection(host, port, timeout=300)
                try:
                    c.putrequest(self.command, self.path, skip_host=True,
                                 skip_accept_encoding=True)
                    for k, v in headers:
                        c.putheader(k, v)
                    if body or self.command in ("POST", "PUT"):
                        c.putheader("Content-Length", str(len(body)))
                    c.endheaders(body)
                    resp = c.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    c.close()
                    resp = None
                    if fresh:
                        with lock:
                            counter["retries"] += 1
                        time.sleep(0.05 * (attempt + 1))
            if resp is None:
                self.close_connection = True  # no answer upstream: none here either
                return
            self.send_response_only(resp.status, resp.reason)
            length = None
            for k, v in resp.getheaders():
                if k.lower() == "content-length":
                    length = v
                elif k.lower() not in hop:
                    self.send_header(k, v)
            self.send_header("Content-Length",
                             length if self.command == "HEAD" and length else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            if resp.will_close:
                c.close()
            else:
                with lock:
                    pool.append(c)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # 32 builds connect at once

        def handle_error(self, request, client_address):
            pass  # a client that hung up

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}", counter


# Running and measuring ----------------------------------------------------------------------

def descendants(root):
    """root and its descendants' PIDs (from /proc/*/stat)."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_of(pid):
    """(PSS kB, VmHWM kB) of one process, (0, 0) when it is gone."""
    pss = hwm = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:") and not pss:
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return pss, hwm


def run_measured(args, cwd, env, log_path):
    """Runs a command; (rc, wall s, peak tree PSS MB, peak single-process RSS MB, processes)."""
    with open(log_path, "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        peak_tree = peak_one = 0
        seen = set()
        while proc.poll() is None:
            total = 0
            for pid in descendants(proc.pid):
                pss, hwm = memory_of(pid)
                total += pss
                peak_one = max(peak_one, hwm)
                seen.add(pid)
            peak_tree = max(peak_tree, total)
            time.sleep(0.1)
        wall = time.monotonic() - start
    return proc.returncode, wall, peak_tree / 1024.0, peak_one / 1024.0, len(seen)


def ensure_packer(path):
    """The packer binary, installed from Debian's package when missing."""
    found = shutil.which(path)
    if not found:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        print("packer not found: installing Debian's packer package", file=sys.stderr)
        cmd = sudo + ["apt-get", "install", "-y", "--no-install-recommends", "packer"]
        if subprocess.call(cmd, env=env) != 0:
            subprocess.check_call(sudo + ["apt-get", "update"], env=env)
            subprocess.check_call(cmd, env=env)
        found = shutil.which(path) or shutil.which("packer")
        if not found:
            sys.exit("packer is still not on PATH after installing Debian's packer package")
    out = subprocess.run([found, "version"], capture_output=True, text=True,
                         env=packer_env(tempfile.gettempdir()))
    version = (out.stdout.strip().splitlines() or ["?"])[0]
    return found, version


def packer_env(d):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PACKER_")) and k != "CHECKPOINT_DISABLE"}
    env.update(CHECKPOINT_DISABLE="1",  # no phoning home to checkpoint.hashicorp.com
               PACKER_CONFIG_DIR=os.path.join(d, "packer-home"),
               PACKER_CACHE_DIR=os.path.join(d, "packer-cache"),
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def amipub_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMIPUB_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def verify(endpoint, regions, n):
    """(AMIs named like the matrix's, of them public, instances still pending or running),
    read after the stats so these requests are not counted."""
    import boto3

    amis = public = live = 0
    for r in regions:
        ec2 = boto3.client("ec2", region_name=r, endpoint_url=endpoint,
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        for img in ec2.describe_images(Owners=["self"])["Images"]:
            if img.get("Name", "").startswith(NAME):
                amis += 1
                public += bool(img.get("Public"))
        for res in ec2.describe_instances(Filters=[{"Name": "instance-state-name",
                                                    "Values": ["pending", "running"]}])["Reservations"]:
            live += len(res["Instances"])
    return amis, public, live


def diff(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def measure(tool, d, args, builds, regions, packer, binary):
    """One run of one tool on a fresh emulator."""
    emu, endpoint = publish_bench.start_emulator(d, args.provision_seconds)
    srv = None
    try:
        publish_bench.warm_up(endpoint, regions)
        srv, delay_url, through = start_delay_proxy(endpoint, args.delay_ms / 1000.0)
        profile, _ = official_matrix()
        write_files(d, profile, builds, delay_url, args.poll_seconds, TAGS if args.tags else {})
        before = publish_bench.stats(endpoint)
        log = os.path.join(d, f"{tool}-{time.time_ns()}.log")
        if tool == "packer":
            cmd = [packer, "build", "-color=false", "-parallel-builds=0", "packer.json"]
            env = packer_env(d)
        else:
            cmd = [binary, "publish", "--config", "bench.yaml", "--regions-file", "regions.yaml",
                   "--endpoint-url", delay_url, "--poll-interval", f"{args.poll_seconds:g}s",
                   "--output", f"out-{time.time_ns()}/ami_ids.json"]
            env = amipub_env()
        rc, wall, tree_mb, one_mb, nproc = run_measured(cmd, d, env, log)
        after = publish_bench.stats(endpoint)
        amis, public, live = verify(endpoint, regions, len(builds))
    finally:
        if srv:
            srv.shutdown()
            srv.server_close()
        emu.kill()
        emu.wait()
    counts = diff(before, after)
    client = "other" if tool == "packer" else "amipub"
    ops = {k.split(" ", 1)[1]: v for k, v in counts.items() if k.startswith(client + " ")}
    result = {
        "tool": tool, "rc": rc, "wall_s": wall, "peak_tree_pss_mb": tree_mb,
        "peak_process_rss_mb": one_mb, "processes": nproc, "requests": sum(ops.values()),
        "ops": ops, "instance_requests": sum(v for k, v in counts.items() if k.startswith("instance ")),
        "throttled": counts.get("throttled", 0),
        "faults": {k: v for k, v in counts.items() if k.startswith(("refused ", "rate-limited ", "injected "))},
        "through_delay_proxy": through["requests"], "upstream_retries": through["retries"], "amis": amis, "public": public,
        "instances_left_running": live, "log": log,
    }
    if rc != 0 or amis != len(builds):
        with open(log, errors="replace") as f:
            tail = f.read()[-4000:]
        print(f"{tool} exited {rc}, {amis} of {len(builds)} AMIs made; end of its output:\n{tail}",
              file=sys.stderr)
    return result


def med(xs):
    return statistics.median(xs) if xs else 0.0


def summarize(runs, n):
    ops = {}
    for r in runs:
        for op in r["ops"]:
            ops[op] = med([x["ops"].get(op, 0) for x in runs])
    return {
        "wall_s": med([r["wall_s"] for r in runs]), "walls": [r["wall_s"] for r in runs],
        "peak_tree_pss_mb": med([r["peak_tree_pss_mb"] for r in runs]),
        "peak_process_rss_mb": med([r["peak_process_rss_mb"] for r in runs]),
        "requests_per_ami": med([r["requests"] for r in runs]) / n,
        "ops_per_ami": {k: v / n for k, v in sorted(ops.items(), key=lambda kv: -kv[1])},
        "runs": runs,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay-ms", type=float, default=0.0, help="wait this long before each request")
    ap.add_argument("--repeat", type=int, default=1, help="measure K times; report medians")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--poll-seconds", type=int, default=2,
                    help="both tools' poll interval (amipub --poll-interval, Packer aws_polling)")
    ap.add_argument("--provision-seconds", type=float, default=0.0,
                    help="the simulator's provisioning time for amipub's instances (Packer provisions nothing)")
    ap.add_argument("--no-tags", dest="tags", action="store_false",
                    help="leave out the official profile's tag Project=ComboAMI (both tools)")
    ap.add_argument("--tools", default="packer,amipub", help="which to run (comma-separated)")
    ap.add_argument("--packer", default="packer", help="packer binary (installed when missing)")
    ap.add_argument("--binary", default=None, help="amipub binary (default: target/release, else target/debug)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (logs, template, profile)")
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        rel = os.path.join(ROOT, "target/release/amipub")
        binary = rel if os.path.exists(rel) else os.path.join(ROOT, "target/debug/amipub")
    tools = [t for t in args.tools.split(",") if t]
    packer, packer_version = (None, None)
    if "packer" in tools:
        packer, packer_version = ensure_packer(args.packer)
    profile, builds = official_matrix()
    regions = sorted({b[1] for b in builds})
    n = len(builds)

    d = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="amipub-vs-packer-")
    os.makedirs(d, exist_ok=True)
    runs = {t: [] for t in tools}
    try:
        write_files(d, profile, builds, "http://127.0.0.1:1", args.poll_seconds, {})
        for _ in range(args.repeat):
            for t in tools:
                runs[t].append(measure(t, d, args, builds, regions, packer, binary))
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    res = {t: summarize(runs[t], n) for t in tools}
    out = {
        "builds": n, "regions": len(regions), "releases": [str(r) for r in profile["releases"]],
        "delay_ms": args.delay_ms, "poll_seconds": args.poll_seconds,
        "provision_seconds": args.provision_seconds, "tags": args.tags, "repeat": args.repeat,
        "packer": packer, "packer_version": packer_version,
        "amipub": os.path.relpath(binary, ROOT), "results": res,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"matrix: {n} public EBS builds ({len(regions)} regions x {len(profile['releases'])} "
          f"releases x 2 virtualization types){', tag Project=ComboAMI' if args.tags else ''}")
    print(f"delay: {args.delay_ms:g} ms per request; polls every {args.poll_seconds}s; "
          f"amipub provisioning {args.provision_seconds:g}s (Packer: none); "
          f"{'median of %d runs' % args.repeat if args.repeat > 1 else '1 run'}")
    if packer:
        print(f"packer: {packer_version} ({packer}); amipub: {out['amipub']}")
    cols = [t for t in ("packer", "amipub") if t in res]
    both = len(cols) == 2
    head = "".join(f"{c:>12}" for c in cols) + ("   amipub/Packer" if both else "")

    def row(label, vals, fmt="{:12.2f}"):
        line = f"{label:38}" + "".join(fmt.format(v) for v in vals)
        if both and vals[0]:
            line += f"   {vals[1] / vals[0]:10.2f}"
        print(line)

    print(f"{'':38}{head}")
    row("requests per AMI (all operations)", [res[c]["requests_per_ami"] for c in cols])
    all_ops = sorted({op for c in cols for op in res[c]["ops_per_ami"]},
                     key=lambda op: -max(res[c]["ops_per_ami"].get(op, 0) for c in cols))
    for op in all_ops:
        row("  " + op, [res[c]["ops_per_ami"].get(op, 0) for c in cols])
    row("wall time (s)", [res[c]["wall_s"] for c in cols])
    row("peak memory, process tree PSS (MB)", [res[c]["peak_tree_pss_mb"] for c in cols], "{:12.1f}")
    row("peak RSS of one process (MB)", [res[c]["peak_process_rss_mb"] for c in cols], "{:12.1f}")
    for c in cols:
        for r in res[c]["runs"]:
            extra = f", faults/refusals {r['faults']}" if r["faults"] else ""
            print(f"{c} run: exit {r['rc']}, wall {r['wall_s']:.2f}s, {r['amis']} AMIs "
                  f"({r['public']} public), {r['instances_left_running']} instances left running, "
                  f"{r['processes']} processes, {r['through_delay_proxy']} requests via the delay "
                  f"proxy ({r['upstream_retries']} upstream reconnects), {r['instance_requests']} from build instances, throttled "
                  f"{r['throttled']}{extra}")


if __name__ == "__main__":
    main()
