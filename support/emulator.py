#!/usr/bin/env python3
"""A local AWS for amipub's tests, demo and benchmark: moto's server, plus what it lacks.

Test and demo support only: nothing here is part of amipub's behaviour. Each piece fills one
named gap of the emulator:

- moto runs no VMs. The *instance simulator* notices instances amipub launched (by their
  amipub:run-id tag, read from moto's in-process state), fetches their real user data and
  runs that bootstrap with bash in a scratch directory (simulator.py). Commands that would touch a real machine are harmless stand-ins found first on
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
- moto's EC2 is kinder than EC2 in ways amipub depends on. ec2_patches.py patches it in this
  process only, each patch naming its gap: RegisterImage keeps ImageLocation, virtualization
  and architecture and refuses a manifest not in S3 (InvalidManifest); AMI names are unique per
  account and Region (InvalidAMIName.Duplicate); RunInstances and CopyImage honour their client
  token (IdempotentParameterMismatch); new images are pending for a while and may end failed;
  TagSpecifications of CreateImage, RegisterImage and CopyImage are applied; block public
  access for AMIs and the public AMI quota refuse making an AMI public (OperationNotPermitted,
  ResourceLimitExceeded); DescribeRegions reports the account's opt-in Regions (optin.py).
- moto's RunInstances launches any instance type, of any architecture, from any AMI;
  instance_arch.py refuses an unknown type and one whose architectures exclude the AMI's
  (InvalidParameterValue, as EC2).
- moto's S3 drops CreateBucket's tags and ListBuckets' BucketRegion; s3_patches.py adds them,
  and gives new buckets S3's defaults (public access blocked, BucketOwnerEnforced, SSE-S3).
- moto's SSM stores any value as an aws:ec2:image parameter; ssm_patches.py refuses a value
  that is not an AMI of the parameter's own Region (ValidationException).
- moto has no Canonical images and no /aws/service/canonical parameters, and preloads the
  MOTO_AMIS_PATH images in every Region. canonical.py adds, in each Region served (--region and
  the regions files), Canonical's Ubuntu 22.04 and 24.04 images (amd64 and arm64, gp2/gp3, a
  current and an older serial, IDs of that Region only) and the current one's public parameter
  /aws/service/canonical/ubuntu/server/<release>/stable/current/<arch>/hvm/<volume>/ami-id;
  DeleteParameter of an /aws/ name is refused (AccessDeniedException), as PutParameter is.
- moto counts nothing, never fails, never throttles, and is kinder than AWS at the HTTP level.
  The strict proxy in front of it (always on; proxy.py, sigv4.py, s3rules.py, faults.py) counts
  requests by client and operation (GET /_amipub/stats), injects faults per operation
  (control.json "faults"; --throttle-every), throttles EC2 with its documented token buckets
  (--no-rate-limits for benchmarks only), labels and faults JSON-protocol requests (SSM,
  EventBridge, SQS) by their X-Amz-Target, keeps S3 buckets to their Region, checks presigned
  URLs (--credentials KEY:SECRET adds known secrets), refuses expired STS credentials, enforces
  bucket policies' Deny statements, refuses requests signed for a Region the account has not
  enabled ("regions_not_opted_in"), and shifts its clock with "clock_offset_seconds". See
  proxy.py's docstring for control.json's keys and the stats, ec2_patches.py's for the EC2 ones
  ("image_block_public_access", "image_block_public_access_managed_by", "public_ami_quota").

Control: the simulator re-reads <work>/control.json before starting each bootstrap, the EC2
patches whenever an image is created:
  {"provision_seconds": 1.0, "fail": ["glob", ...], "hang": ["glob", ...],
   "bundle_fail": ["glob", ...], "upload_fail": ["glob", ...],
   "image_pending_seconds": 1.0, "image_fail": ["glob", ...], "image_fail_reason": "..."}
"fail" builds' provisioning exits 3; "hang" builds' provisioning never finishes;
"bundle_fail" builds' ec2-bundle-vol exits 4 after writing part of a bundle;
"upload_fail" builds' ec2-upload-bundle exits 5 after uploading one part;
a new image is pending for "image_pending_seconds" (default --image-pending-seconds), then
available, or failed with StateReason "image_fail_reason" if its name matches "image_fail".
Read at each SSM request (canonical.py):
  "canonical_parameters_missing": ["eu-west-1", ...]  none of Canonical's public parameters
      exist in these Regions (ParameterNotFound; their images stay in EC2).
Read when deregistration protection is disabled (image_settings.py, which also makes images
keep BootMode/EnaSupport/TpmSupport/ImdsSupport and their root volume as EC2 does):
  "deregistration_cooldown_seconds": 86400  how long an AMI protected with cooldown still
      refuses DeregisterImage after DisableImageDeregistrationProtection.

On start it prints one JSON line to stdout: {"endpoint": URL, "moto": URL, "work": DIR}.
"""

import argparse
import http.server
import json
import os
import signal
import tempfile
import threading

from canonical import apply_all as apply_canonical
from ec2_patches import DEFAULT_IMAGE_FAIL_REASON, apply_all
from proxy import make_proxy
from s3_patches import apply_all as apply_s3_patches
from ssm_patches import apply_all as apply_ssm_patches
from simulator import Control, Simulator, make_imds


def load_ami_ids(regions_files):
    """Every AMI ID in the given regions.yaml files: {ID: (virtualization, architecture)}.

    Under region -> amis -> release -> virtualization, a value is one AMI ID (an x86_64 image)
    or a mapping architecture -> AMI ID ({x86_64: ami-..., arm64: ami-...}); empty values and
    nulls are skipped."""
    import yaml  # moto depends on PyYAML

    amis = {}
    for path in regions_files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        for region in (doc.get("regions") or {}).values():
            for by_virt in ((region or {}).get("amis") or {}).values():
                for virt, value in (by_virt or {}).items():
                    by_arch = value if isinstance(value, dict) else {"x86_64": value}
                    for arch, ami in by_arch.items():
                        if ami not in (None, ""):
                            amis[str(ami)] = (str(virt), str(arch))
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
            "architecture": arch,
            "state": "available",
            "root_device_type": "ebs",
            "root_device_name": "/dev/sda1",
        }
        for ami, (virt, arch) in sorted(amis.items())
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
    ap.add_argument("--image-pending-seconds", type=float, default=1.0,
                    help="how long a new image stays pending (control: image_pending_seconds)")
    ap.add_argument("--proxy", action="store_true",
                    help="accepted for older scripts: the strict proxy is always in front")
    ap.add_argument("--throttle-every", type=int, default=0,
                    help="answer every Nth EC2 request of amipub RequestLimitExceeded")
    ap.add_argument("--credentials", action="append", default=[], metavar="KEY:SECRET",
                    help="also accept these static credentials in presigned URLs (repeatable)")
    ap.add_argument("--no-rate-limits", action="store_true",
                    help="no EC2 request throttling (benchmarks only)")
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
    control = Control(
        os.path.join(work, "control.json"),
        {"provision_seconds": args.provision_seconds, "fail": [], "hang": [],
         "bundle_fail": [], "upload_fail": [],
         "image_pending_seconds": args.image_pending_seconds, "image_fail": [],
         "image_fail_reason": DEFAULT_IMAGE_FAIL_REASON},
    )
    apply_all(control)
    from image_settings import apply as apply_image_settings  # wraps ec2_patches' handlers

    apply_image_settings(control)
    from instance_arch import apply as apply_instance_arch  # wraps RunInstances last

    apply_instance_arch()
    apply_s3_patches()
    apply_ssm_patches()
    apply_canonical(control, regions)

    # moto listens on a port of its own that only the proxy and the simulator use: every
    # client (amipub, the tests, the simulated instances) goes through the strict proxy.
    moto_port = 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    endpoint = moto_url
    handler = make_proxy(
        host, port, args.throttle_every,
        control_path=os.path.join(work, "control.json"),
        credentials=dict(c.split(":", 1) for c in args.credentials),
        rate_limits=not args.no_rate_limits,
    )
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"

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

