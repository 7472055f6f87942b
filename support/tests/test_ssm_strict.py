"""The emulator's SSM is as strict as Parameter Store where support/ssm_patches.py says it is.

Starts support/emulator.py once for the module (through emulated.py) and talks to its endpoint
(the strict proxy in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -v
"""

import os
import unittest
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulated import ROOT, EmulatedTestCase

SOURCE_AMI = "ami-eb6b8480"  # us-east-1's 14.04 HVM image in regions.yaml
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
IMAGE = "aws:ec2:image"


class SsmStrictTest(EmulatedTestCase):
    emulator_args = ("--regions-file", os.path.join(ROOT, "regions.yaml"),
                     "--image-pending-seconds", "0.2")

    def setUp(self):
        self.control({})

    # helpers

    def client(self, service, region=REGION):
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def name(self):
        return f"/amipub/test/{uuid.uuid4().hex[:12]}"

    def new_image(self):
        """An AMI of this account, made in REGION (from an instance of the source AMI)."""
        ec2 = self.client("ec2")
        instance = ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.medium",
                                     MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        return ec2.create_image(InstanceId=instance,
                                Name=f"ssm-{uuid.uuid4().hex[:12]}")["ImageId"]

    def assertRefused(self, ssm, name, value, **kw):
        with self.assertRaises(ClientError) as cm:
            ssm.put_parameter(Name=name, Value=value, Type="String", DataType=IMAGE, **kw)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], "ValidationException", err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)
        region = ssm.meta.region_name
        self.assertEqual(err["Error"]["Message"],
                         f"Parameter value {value} failed the {IMAGE} data type validation: "
                         f"no such image in {region}")

    def assertAbsent(self, ssm, name):
        with self.assertRaises(ClientError) as cm:
            ssm.get_parameter(Name=name)
        self.assertEqual(cm.exception.response["Error"]["Code"], "ParameterNotFound")

    # tests

    def test_a_value_that_names_no_image_is_refused_and_nothing_is_written(self):
        ssm = self.client("ssm")
        for value in ("ami-0123456789abcdef0", "ami-12345678", "not-an-ami", "ami-123",
                      "AMI-0123456789ABCDEF0"):
            name = self.name()
            self.assertRefused(ssm, name, value)
            self.assertAbsent(ssm, name)

    def test_an_image_counts_only_in_its_own_region(self):
        image = self.new_image()
        name = self.name()
        ssm = self.client("ssm")
        self.assertEqual(ssm.put_parameter(Name=name, Value=image, Type="String",
                                           DataType=IMAGE)["Version"], 1)
        got = ssm.get_parameter(Name=name)["Parameter"]
        self.assertEqual((got["Value"], got["DataType"]), (image, IMAGE))
        other = self.client("ssm", OTHER_REGION)
        self.assertRefused(other, name, image)
        self.assertAbsent(other, name)

    def test_overwrite_with_another_existing_image(self):
        first, second = self.new_image(), self.new_image()
        name = self.name()
        ssm = self.client("ssm")
        ssm.put_parameter(Name=name, Value=first, Type="String", DataType=IMAGE)
        self.assertEqual(ssm.put_parameter(Name=name, Value=second, Type="String",
                                           DataType=IMAGE, Overwrite=True)["Version"], 2)
        self.assertEqual(ssm.get_parameter(Name=name)["Parameter"]["Value"], second)
        # An overwrite naming no image is refused; the parameter keeps its value and version.
        self.assertRefused(ssm, name, "ami-00000000000000000", Overwrite=True)
        got = ssm.get_parameter(Name=name)["Parameter"]
        self.assertEqual((got["Value"], got["Version"]), (second, 2))

    def test_a_deregistered_image_no_longer_counts(self):
        image = self.new_image()
        self.client("ec2").deregister_image(ImageId=image)
        self.assertRefused(self.client("ssm"), self.name(), image)

    def test_text_parameters_are_not_checked(self):
        ssm = self.client("ssm")
        name = self.name()
        ssm.put_parameter(Name=name, Value="ami-12345678", Type="String")
        self.assertEqual(ssm.get_parameter(Name=name)["Parameter"]["DataType"], "text")


if __name__ == "__main__":
    unittest.main()
