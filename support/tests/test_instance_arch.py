"""The emulator's RunInstances refuses what EC2 refuses where support/instance_arch.py says so:
an instance type whose architectures exclude the AMI's, and an unknown instance type.

Starts support/emulator.py once for the module (through emulated.py) and talks to its endpoint
(the strict proxy in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -p 'test_instance_arch.py' -v
"""

import unittest
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulated import EmulatedTestCase

REGION = "us-east-1"
ZONE = "us-east-1a"


class InstanceArchTest(EmulatedTestCase):
    emulator_args = ("--region", REGION, "--image-pending-seconds", "0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ec2 = cls.client()
        cls.arm64 = cls.register(ec2, "arm64")
        cls.x86_64 = cls.register(ec2, "x86_64")

    # helpers

    @classmethod
    def client(cls):
        return boto3.client(
            "ec2", region_name=REGION, endpoint_url=cls.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    @classmethod
    def register(cls, ec2, arch):
        """An EBS-backed AMI of architecture `arch`, from a snapshot of a new volume."""
        volume = ec2.create_volume(AvailabilityZone=ZONE, Size=8)["VolumeId"]
        snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        image = ec2.register_image(
            Name=f"arch-{arch}-{uuid.uuid4().hex[:12]}", Architecture=arch,
            VirtualizationType="hvm", RootDeviceName="/dev/sda1",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}],
        )["ImageId"]
        assert ec2.describe_images(ImageIds=[image])["Images"][0]["Architecture"] == arch
        return image

    def instances(self, ec2, image):
        """IDs of every instance launched from `image`, whatever its state."""
        out = ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [image]}])
        return {i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]}

    def launch(self, ec2, image, **kw):
        args = dict(ImageId=image, MinCount=1, MaxCount=1)
        args.update(kw)
        return ec2.run_instances(**args)["Instances"][0]

    def assertRefused(self, ec2, image, message, **kw):
        """RunInstances is refused, 400 InvalidParameterValue with `message`, and launches
        nothing."""
        before = self.instances(ec2, image)
        reservations = len(ec2.describe_instances()["Reservations"])
        with self.assertRaises(ClientError) as cm:
            self.launch(ec2, image, **kw)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], "InvalidParameterValue", err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400, err)
        self.assertEqual(err["Error"]["Message"], message)
        self.assertEqual(self.instances(ec2, image), before)
        self.assertEqual(len(ec2.describe_instances()["Reservations"]), reservations)

    @staticmethod
    def mismatch(type_arch, ami_arch):
        return (f"The architecture '{type_arch}' of the specified instance type does not match "
                f"the architecture '{ami_arch}' of the specified AMI. Specify an instance type "
                "and an AMI that have matching architectures, and try again. You can use "
                "'describe-instance-types' or 'describe-images' to discover the architecture "
                "of the instance type or AMI.")

    # matching architectures launch

    def test_arm64_type_launches_an_arm64_ami(self):
        ec2 = self.client()
        inst = self.launch(ec2, self.arm64, InstanceType="m6g.large")
        self.assertEqual((inst["InstanceType"], inst["Architecture"]), ("m6g.large", "arm64"))
        self.assertIn(inst["InstanceId"], self.instances(ec2, self.arm64))

    def test_x86_64_types_launch_an_x86_64_ami(self):
        ec2 = self.client()
        for kind in ("m3.medium", "m5.large"):
            inst = self.launch(ec2, self.x86_64, InstanceType=kind)
            self.assertEqual((inst["InstanceType"], inst["Architecture"]), (kind, "x86_64"))

    def test_default_type_launches_an_x86_64_ami(self):
        inst = self.launch(self.client(), self.x86_64)  # m1.small: i386 and x86_64
        self.assertEqual(inst["InstanceType"], "m1.small")

    # mismatches are refused, nothing launched

    def test_x86_64_type_with_an_arm64_ami_is_refused(self):
        self.assertRefused(self.client(), self.arm64, self.mismatch("x86_64", "arm64"),
                           InstanceType="m5.large")

    def test_arm64_type_with_an_x86_64_ami_is_refused(self):
        self.assertRefused(self.client(), self.x86_64, self.mismatch("arm64", "x86_64"),
                           InstanceType="m6g.large")

    def test_default_type_with_an_arm64_ami_is_refused(self):
        self.assertRefused(self.client(), self.arm64, self.mismatch("i386,x86_64", "arm64"))

    def test_mismatch_is_refused_before_dry_run_and_client_token(self):
        ec2 = self.client()
        self.assertRefused(ec2, self.arm64, self.mismatch("x86_64", "arm64"),
                           InstanceType="m5.large", DryRun=True)
        token = uuid.uuid4().hex
        self.assertRefused(ec2, self.arm64, self.mismatch("x86_64", "arm64"),
                           InstanceType="m5.large", ClientToken=token)
        # The refused request did not use up the token.
        inst = self.launch(ec2, self.arm64, InstanceType="m6g.large", ClientToken=token)
        self.assertEqual(inst["Architecture"], "arm64")

    def test_launch_template_type_is_checked(self):
        ec2 = self.client()
        name = f"arch-{uuid.uuid4().hex[:12]}"
        ec2.create_launch_template(LaunchTemplateName=name,
                                   LaunchTemplateData={"InstanceType": "m5.large"})
        self.assertRefused(ec2, self.arm64, self.mismatch("x86_64", "arm64"),
                           LaunchTemplate={"LaunchTemplateName": name})
        inst = self.launch(ec2, self.x86_64, LaunchTemplate={"LaunchTemplateName": name})
        self.assertEqual(inst["InstanceType"], "m5.large")

    # unknown instance types

    def test_unknown_instance_type_is_refused(self):
        self.assertRefused(self.client(), self.x86_64,
                           "Invalid value 'xyz.huge' for InstanceType.", InstanceType="xyz.huge")


if __name__ == "__main__":
    unittest.main()
