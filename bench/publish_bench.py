#!/usr/bin/env python3
"""Benchmark of `amipub publish` against the local emulator (not a test: numbers, no verdicts).

Publishes N EBS builds (or instance-store builds, --backing instance-store) with the instance simulator taking a fixed provisioning time, and
prints: wall time, the time of one build alone with the same provisioning time, their ratio,
amipub's peak memory, and amipub's requests per published AMI by operation (EC2 and S3, counted
by the emulator's proxy; the instances' own uploads are counted apart).

    bench/publish_bench.py --builds 32 --provision-seconds 2
    bench/publish_bench.py --builds 256 --provision-seconds 60

Each measurement uses a fresh emulator, so nothing is already published, warmed up in every
region first (moto builds a region's state on its first request there). --repeat K reports
medians of K measurements: with short provisioning times, poll intervals quantize the times.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "ap-south-1", "sa-east-1", "ca-central-1",
]
RELEASES = ["1204", "1404", "1604", "1804", "2004", "2204", "2404", "2604"]


def matrix(n):
    """(regions, releases) whose product with the two virtualization types is n: as many regions
    as possible with at least two releases, like the official matrix (32 = 8 x 2 x 2)."""
    for min_releases in (2, 1):
        for nreg in range(len(REGIONS), 0, -1):
            nrel, rem = divmod(n, 2 * nreg)
            if rem == 0 and min_releases <= nrel <= len(RELEASES):
                return REGIONS[:nreg], RELEASES[:nrel]
    sys.exit(f"--builds must be 2 x regions (<= 16) x releases (<= 8), e.g. 32 or 256; got {n}")


def write_config(d, regions, releases, backing):
    lines = ["regions:"]
    k = 0
    for r in regions:
        lines.append(f"  {r}:\n    amis:")
        for rel in releases:
            k += 1
            lines.append(f'      "{rel}": {{ paravirtual: ami-{k:08x}, hvm: ami-{k + 0x10000000:08x} }}')
    with open(os.path.join(d, "regions.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "provision.sh"), "w") as f:
        f.write("#!/bin/bash\necho benchmark\n")
    rel_list = ", ".join(f'"{r}"' for r in releases)
    with open(os.path.join(d, "bench.yaml"), "w") as f:
        f.write(f"""version: "1.0.0"
branch: "1.0"
backing: {backing}
instance_type: m3.medium
ami_name: "bench {{version}}-{{release}}-{{virt}}"
description: "amipub benchmark"
bucket: "amipub-bench-{{version}}-{{region}}"
provision:
  script: provision.sh
launch_permissions:
  groups: [all]
# An account whose "Public AMIs" quota AWS raised: 256 builds make 16 public AMIs per region.
public_ami_quota: 1000
releases: [{rel_list}]
virtualizations: [paravirtual, hvm]
timeouts:
  provision: 30m
  image: 30m
""" + ("iam_instance_profile: amipub-bundler\n" if backing == "instance-store" else ""))


def start_emulator(d, provision_seconds):
    work = tempfile.mkdtemp(prefix="bench-emu-", dir=d)
    out = open(os.path.join(work, "ready.json"), "w+")
    proc = subprocess.Popen(
        [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "support/emulator.py"),
         "--regions-file", os.path.join(d, "regions.yaml"), "--proxy", "--work", work,
         "--provision-seconds", str(provision_seconds), "--poll", "0.25",
         "--instance-profile", "amipub-bundler"],
        stdout=out, stderr=subprocess.DEVNULL)
    # The account's "Public AMIs" quota, raised as the profile says (EC2's default is 5).
    with open(os.path.join(work, "control.json"), "w") as f:
        json.dump({"public_ami_quota": 1000}, f)
    for _ in range(600):
        out.seek(0)
        line = out.readline()
        if line.endswith("\n"):
            return proc, json.loads(line)["endpoint"]
        time.sleep(0.1)
    proc.kill()
    sys.exit("the emulator did not start")


def warm_up(endpoint, regions):
    """Moto builds a region's backend (default VPC, preloaded images) on its first request there;
    do that before timing, so the figures measure amipub rather than the emulator's start-up."""
    import boto3

    for r in regions:
        boto3.client("ec2", region_name=r, endpoint_url=endpoint,
                     aws_access_key_id="bench", aws_secret_access_key="bench").describe_images(
            Filters=[{"Name": "name", "Values": ["warm-up"]}])


def run_amipub(binary, d, endpoint, only, poll, runs_dir=None, strategy=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               # Throwaway signing material for instance-store builds (the emulator checks none).
               AMIPUB_ACCOUNT_ID="123456789012",
               AMIPUB_SIGNING_CERT="-----BEGIN CERTIFICATE-----\nYmVuY2g=\n-----END CERTIFICATE-----\n",
               AMIPUB_SIGNING_KEY="-----BEGIN RSA PRIVATE KEY-----\nYmVuY2g=\n-----END RSA PRIVATE KEY-----\n")
    args = [binary, "publish", "--config", "bench.yaml", "--regions-file", "regions.yaml",
            "--endpoint-url", endpoint, "--poll-interval", poll, "--output",
            f"out-{time.time_ns()}/ami_ids.json"]
    if only:
        args += ["--only", only]
    if runs_dir:
        args += ["--runs-dir", runs_dir]
    if strategy:
        args += ["--strategy", strategy[0], "--home-region", strategy[1]]
    start = time.monotonic()
    proc = subprocess.Popen(args, cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # VmHWM is the peak resident size of amipub's own memory since its exec; it only grows, so
    # the last reading before exit is the peak. (The child's ru_maxrss would include this Python
    # process's size at fork time.)
    peak_kb = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        sys.exit(f"amipub failed:\n{err}")
    return wall, peak_kb / 1024.0


def stats(endpoint):
    with urllib.request.urlopen(endpoint + "/_amipub/stats") as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builds", type=int, default=32)
    ap.add_argument("--provision-seconds", type=float, default=2.0)
    ap.add_argument("--poll-interval", default="2s", help="amipub's --poll-interval (its default: 2s)")
    ap.add_argument("--backing", choices=["ebs", "instance-store"], default="ebs")
    ap.add_argument("--repeat", type=int, default=1, help="measure K times; report medians")
    ap.add_argument("--strategy", choices=["per-region", "copy"], default="per-region",
                    help="copy: build once in the first region and copy to the others")
    ap.add_argument("--keep-runs", metavar="DIR", help="keep the N-build run's directory (events, logs) under DIR")
    ap.add_argument("--binary", default=None, help="amipub binary (default: target/release, else target/debug)")
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        rel = os.path.join(ROOT, "target/release/amipub")
        binary = rel if os.path.exists(rel) else os.path.join(ROOT, "target/debug/amipub")
    regions, releases = matrix(args.builds)

    with tempfile.TemporaryDirectory(prefix="amipub-bench-") as d:
        write_config(d, regions, releases, args.backing)
        first = f"{regions[0]}-{releases[0]}-pv"

        ones, walls, rsss = [], [], []
        for _ in range(args.repeat):
            emu, endpoint = start_emulator(d, args.provision_seconds)
            try:
                warm_up(endpoint, regions[:1])
                one, _ = run_amipub(binary, d, endpoint, first, args.poll_interval)
                ones.append(one)
            finally:
                emu.kill()
                emu.wait()

            emu, endpoint = start_emulator(d, args.provision_seconds)
            try:
                warm_up(endpoint, regions)
                runs = os.path.abspath(args.keep_runs) if args.keep_runs else None
                strategy = (args.strategy, regions[0]) if args.strategy == "copy" else None
                wall, rss = run_amipub(binary, d, endpoint, None, args.poll_interval, runs, strategy)
                walls.append(wall)
                rsss.append(rss)
                counts = stats(endpoint)
            finally:
                emu.kill()
                emu.wait()
    one, wall, rss = statistics.median(ones), statistics.median(walls), max(rsss)

    n = args.builds
    ours = {k.split(" ", 1)[1]: v for k, v in counts.items() if k.startswith("amipub ")}
    instance = sum(v for k, v in counts.items() if k.startswith("instance "))
    total = sum(ours.values())
    print(f"binary: {os.path.relpath(binary, ROOT)}; poll interval {args.poll_interval}")
    print(f"builds: {n} {args.backing} ({len(regions)} regions x {len(releases)} releases x 2), provisioning {args.provision_seconds:g}s")
    runs = f" (median of {args.repeat}: " if args.repeat > 1 else " ("
    print(f"one build alone: {one:.1f}s{runs}{', '.join(f'{x:.1f}' for x in ones)})")
    print(f"{n} builds: {wall:.1f}s{runs}{', '.join(f'{x:.1f}' for x in walls)})  ratio {wall / one:.2f}")
    print(f"peak memory (amipub): {rss:.1f} MB")
    launches = ours.get("ec2:RunInstances", 0)
    print(f"strategy {args.strategy}: {launches} instance launches for {n} AMIs "
          f"({launches / n:.2f} per AMI), {ours.get('ec2:CopyImage', 0)} copies")
    print(f"requests per AMI (amipub, EC2 + S3, polls included): {total / n:.2f}  ({total} in all)")
    for op, v in sorted(ours.items(), key=lambda kv: -kv[1]):
        print(f"  {op:40} {v / n:6.2f}  ({v})")
    print(f"requests from the build instances (bootstrap uploads and downloads): {instance / n:.2f} per AMI")
    # The emulator runs with EC2's token buckets per region (AWS-limits mode, the default).
    limited = {k: v for k, v in counts.items() if k.startswith("rate-limited amipub ")}
    print(f"throttled responses to amipub (RequestLimitExceeded, AWS's limits): "
          f"{sum(limited.values())} {limited if limited else ''}")


if __name__ == "__main__":
    main()
