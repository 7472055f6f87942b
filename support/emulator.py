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
import http.server
import json
import os
import signal
import tempfile
import threading

from ec2_patches import patch_register_image
from proxy import make_proxy
from simulator import Control, Simulator, make_imds


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


def create_instance_profile(moto_url, name):
    """An IAM role and instance profile named `name`, for RunInstances to accept."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_url)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions-file", action="append", default=[],
                    help="preload the source AMIs of this regions.yaml (repeatable)")
    ap.add_argument("--region", action="append", default=[],
                    help="also watch this region for instances (repeatable)")
    ap.add_argument("--port", type=int, default=0, help="endpoint port (0: a free one)")
    ap.add_argument("--work", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--provision-seconds", type=float, default=1.0)
    ap.add_argument("--proxy", action="store_true",
                    help="accepted for older scripts: the strict proxy is always in front")
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

    # moto listens on a port of its own that only the proxy and the simulator use: every
    # client (amipub, the tests, the simulated instances) goes through the strict proxy.
    moto_port = 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    endpoint = moto_url
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

