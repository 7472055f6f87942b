"""Canonical's images and public SSM parameters, seeded per Region by support/canonical.py.

Starts support/emulator.py once for the module (through emulated.py), with regions.yaml and a
second regions file in the per-architecture shape, and talks to its endpoint (the strict proxy
in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -p test_canonical.py -v
"""

import os
import shutil
import tempfile
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulated import ROOT, EmulatedTestCase

CANONICAL = "099720109477"
CURRENT, OLDER = "20261101", "20260901"
# (release, codename, volume types); the architectures: Ubuntu's -> EC2's
RELEASES = (("22.04", "jammy", ("ebs-gp2", "ebs-gp3")), ("24.04", "noble", ("ebs-gp3",)))
ARCHES = {"amd64": "x86_64", "arm64": "arm64"}
BOOT_MODES = {"x86_64": "uefi-preferred", "arm64": "uefi"}
PREFIX = {"ebs-gp2": "ubuntu/images/hvm-ssd/", "ebs-gp3": "ubuntu/images/hvm-ssd-gp3/"}
IMAGE = "aws:ec2:image"

# A regions file in the per-architecture shape (plus a null entry), for the preloaded images.
EXTRA_REGION = "eu-north-1"
EXTRA_REGIONS_YAML = f"""
regions:
  {EXTRA_REGION}:
    amis:
      "2404": {{ hvm: {{ x86_64: ami-0aa11111, arm64: ami-0bb22222 }}, paravirtual: null }}
      "2204": {{ hvm: ami-0cc33333 }}
"""


def combos():
    """Every (release, codename, arch, volume) Canonical publishes."""
    return [(release, codename, arch, volume)
            for release, codename, volumes in RELEASES
            for arch in ARCHES for volume in volumes]


def param(release, arch, volume):
    return (f"/aws/service/canonical/ubuntu/server/{release}/stable/current/{arch}/hvm/"
            f"{volume}/ami-id")


def image_name(release, codename, arch, volume, serial):
    return f"{PREFIX[volume]}ubuntu-{codename}-{release}-{arch}-server-{serial}"


class CanonicalTest(EmulatedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="canonical-test-")
        extra = os.path.join(cls.tmp, "regions.yaml")
        with open(extra, "w", encoding="utf-8") as f:
            f.write(EXTRA_REGIONS_YAML)
        cls.emulator_args = ("--regions-file", os.path.join(ROOT, "regions.yaml"),
                             "--regions-file", extra)
        try:
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.control({})

    # helpers

    def client(self, service, region="us-east-1"):
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def value(self, region, name):
        p = self.client("ssm", region).get_parameter(Name=name)["Parameter"]
        self.assertEqual((p["Type"], p["DataType"]), ("String", IMAGE), p)
        return p["Value"]

    def image(self, region, ami):
        images = self.client("ec2", region).describe_images(ImageIds=[ami])["Images"]
        self.assertEqual(len(images), 1, images)
        return images[0]

    def by_path(self, region, path="/aws/service/canonical/"):
        pages = self.client("ssm", region).get_paginator("get_parameters_by_path")
        return {p["Name"]: p["Value"]
                for page in pages.paginate(Path=path, Recursive=True)
                for p in page["Parameters"]}

    def fallback(self, region, pattern):
        return self.client("ec2", region).describe_images(
            Owners=[CANONICAL], Filters=[{"Name": "name", "Values": [pattern]}])["Images"]

    def assertNotFound(self, region, name):
        with self.assertRaises(ClientError) as cm:
            self.client("ssm", region).get_parameter(Name=name)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], "ParameterNotFound", err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)

    # tests

    def test_each_parameter_names_a_current_image_of_its_own_region(self):
        seen = {}
        for region in ("us-east-1", "eu-west-1", EXTRA_REGION):
            for release, codename, arch, volume in combos():
                with self.subTest(region=region, release=release, arch=arch, volume=volume):
                    ami = self.value(region, param(release, arch, volume))
                    self.assertRegex(ami, r"^ami-[0-9a-f]{17}$")
                    image = self.image(region, ami)
                    self.assertEqual(image["Name"],
                                     image_name(release, codename, arch, volume, CURRENT))
                    self.assertEqual(image["Architecture"], ARCHES[arch])
                    self.assertEqual(image["BootMode"], BOOT_MODES[ARCHES[arch]])
                    self.assertEqual(image["OwnerId"], CANONICAL)
                    self.assertNotIn("ImageOwnerAlias", image)
                    self.assertTrue(image["Public"])
                    self.assertEqual(image["State"], "available")
                    self.assertEqual(image["VirtualizationType"], "hvm")
                    self.assertEqual(image["RootDeviceType"], "ebs")
                    self.assertEqual(image["RootDeviceName"], "/dev/sda1")
                    self.assertTrue(image["EnaSupport"])
                    self.assertTrue(image["CreationDate"].startswith("2026-11-01T"), image)
                    root = image["BlockDeviceMappings"][0]
                    self.assertEqual(root["DeviceName"], "/dev/sda1")
                    self.assertEqual(root["Ebs"]["VolumeType"], volume.removeprefix("ebs-"))
                    seen.setdefault(ami, []).append(region)
        # an AMI ID belongs to one Region: every region has IDs of its own...
        self.assertTrue(all(len(regions) == 1 for regions in seen.values()), seen)
        # ...unknown in the others
        ami = self.value("us-east-1", param("24.04", "amd64", "ebs-gp3"))
        with self.assertRaises(ClientError) as cm:
            self.client("ec2", "eu-west-1").describe_images(ImageIds=[ami])
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidAMIID.NotFound")

    def test_get_parameters_and_by_path_find_every_parameter(self):
        names = [param(release, arch, volume) for release, _, arch, volume in combos()]
        self.assertEqual(len(names), 6)
        got = self.client("ssm", "eu-west-1").get_parameters(Names=names)
        self.assertEqual(got["InvalidParameters"], [])
        values = {p["Name"]: p["Value"] for p in got["Parameters"]}
        self.assertEqual(set(values), set(names))
        self.assertEqual(self.by_path("eu-west-1"), values)
        self.assertEqual(
            set(self.by_path("eu-west-1", "/aws/service/canonical/ubuntu/server/24.04/stable/")),
            {param("24.04", "amd64", "ebs-gp3"), param("24.04", "arm64", "ebs-gp3")})

    def test_the_fallback_filter_finds_current_and_older_images_newest_is_the_parameters(self):
        for release, codename, arch, volume in combos():
            with self.subTest(release=release, arch=arch, volume=volume):
                pattern = f"{PREFIX[volume]}ubuntu-*-{release}-{arch}-server-*"
                images = self.fallback("eu-west-1", pattern)
                self.assertEqual(
                    sorted(i["Name"] for i in images),
                    [image_name(release, codename, arch, volume, s) for s in (OLDER, CURRENT)])
                self.assertTrue(all(i["Architecture"] == ARCHES[arch] for i in images))
                self.assertTrue(all(i["BlockDeviceMappings"][0]["Ebs"]["VolumeType"]
                                    == volume.removeprefix("ebs-") for i in images))
                newest = max(images, key=lambda i: i["CreationDate"])
                self.assertEqual(newest["ImageId"],
                                 self.value("eu-west-1", param(release, arch, volume)))

    def test_amd64_and_arm64_differ(self):
        for release, _, volumes in RELEASES:
            for volume in volumes:
                amd = self.value("us-east-1", param(release, "amd64", volume))
                arm = self.value("us-east-1", param(release, "arm64", volume))
                self.assertNotEqual(amd, arm)
                self.assertEqual(self.image("us-east-1", amd)["Architecture"], "x86_64")
                self.assertEqual(self.image("us-east-1", arm)["Architecture"], "arm64")

    def test_missing_parameters_hide_them_in_one_region_only_images_stay(self):
        names = [param(release, arch, volume) for release, _, arch, volume in combos()]
        before = self.by_path("eu-west-1")
        self.control({"canonical_parameters_missing": ["eu-west-1"]})
        for name in names:
            self.assertNotFound("eu-west-1", name)
        got = self.client("ssm", "eu-west-1").get_parameters(Names=names)
        self.assertEqual(got["Parameters"], [])
        self.assertEqual(sorted(got["InvalidParameters"]), sorted(names))
        self.assertEqual(self.by_path("eu-west-1"), {})
        with self.assertRaises(ClientError) as cm:
            self.client("ssm", "eu-west-1").get_parameter_history(Name=names[0])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ParameterNotFound")
        # the images are still there, and the fallback finds the same current image
        for name, ami in before.items():
            self.assertEqual(self.image("eu-west-1", ami)["OwnerId"], CANONICAL)
        pattern = "ubuntu/images/hvm-ssd-gp3/ubuntu-*-24.04-amd64-server-*"
        newest = max(self.fallback("eu-west-1", pattern), key=lambda i: i["CreationDate"])
        self.assertEqual(newest["ImageId"], before[param("24.04", "amd64", "ebs-gp3")])
        # other regions keep theirs
        self.assertEqual(len(self.by_path("us-east-1")), 6)
        self.value("us-east-1", names[0])
        # read at each request: lifting it brings them back
        self.control({})
        self.assertEqual(self.by_path("eu-west-1"), before)

    def test_writes_under_aws_are_refused(self):
        ssm = self.client("ssm", "us-east-1")
        name = param("24.04", "amd64", "ebs-gp3")
        before = self.value("us-east-1", name)
        other = self.value("us-east-1", param("24.04", "arm64", "ebs-gp3"))
        for call in (
            lambda: ssm.put_parameter(Name=name, Value=other, Type="String", DataType=IMAGE,
                                      Overwrite=True),
            lambda: ssm.put_parameter(Name=param("26.04", "amd64", "ebs-gp3"), Value=other,
                                      Type="String", DataType=IMAGE),
            lambda: ssm.delete_parameter(Name=name),
        ):
            with self.assertRaises(ClientError) as cm:
                call()
            err = cm.exception.response
            self.assertEqual(err["Error"]["Code"], "AccessDeniedException", err)
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)
        got = ssm.delete_parameters(Names=[name])
        self.assertEqual((got["DeletedParameters"], got["InvalidParameters"]), ([], [name]))
        self.assertEqual(self.value("us-east-1", name), before)
        self.assertNotFound("us-east-1", param("26.04", "amd64", "ebs-gp3"))

    def test_unpublished_parameters_and_unserved_regions_are_not_found(self):
        self.assertNotFound("us-east-1", param("24.04", "amd64", "ebs-gp2"))
        self.assertNotFound("us-east-1", param("20.04", "amd64", "ebs-gp3"))
        # a Region the emulator does not serve has neither parameters nor images
        self.assertNotFound("ap-south-1", param("24.04", "amd64", "ebs-gp3"))
        self.assertEqual(self.by_path("ap-south-1"), {})
        self.assertEqual(self.fallback("ap-south-1", "ubuntu/images/*"), [])
        # moto's own public parameters are still there
        p = self.client("ssm", "us-east-1").get_parameter(
            Name="/aws/service/global-infrastructure/regions/us-east-1/longName")["Parameter"]
        self.assertEqual(p["Value"], "US East (N. Virginia)")

    def test_preloaded_images_have_their_architecture(self):
        ec2 = self.client("ec2", EXTRA_REGION)
        for ami, arch in (("ami-0aa11111", "x86_64"), ("ami-0bb22222", "arm64"),
                          ("ami-0cc33333", "x86_64"), ("ami-eb6b8480", "x86_64")):
            with self.subTest(ami=ami):
                image = ec2.describe_images(ImageIds=[ami])["Images"][0]
                self.assertEqual(image["Architecture"], arch)
                self.assertEqual(image["VirtualizationType"], "hvm")


if __name__ == "__main__":
    unittest.main()
