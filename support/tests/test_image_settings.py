"""The emulator keeps AMI settings and deregistration protection as support/image_settings.py
says EC2 does.

Starts support/emulator.py once for the module (through emulated.py) and talks to its endpoint
(the strict proxy in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -p 'test_image_settings.py'
"""

import os
import time
import unittest
import uuid
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulated import ROOT, EmulatedTestCase

SOURCE_AMI = "ami-eeb66aee"  # ap-northeast-1's 14.04 HVM image in regions.yaml (no boot mode)
REGION = "ap-northeast-1"
OTHER_REGION = "ap-southeast-1"
PENDING = 0.3

FULL = dict(BootMode="uefi", TpmSupport="v2.0", ImdsSupport="v2.0", EnaSupport=True)


class ImageSettingsTest(EmulatedTestCase):
    emulator_args = ("--regions-file", os.path.join(ROOT, "regions.yaml"),
                     "--image-pending-seconds", str(PENDING))

    def setUp(self):
        self.control({})

    # helpers

    def client(self, region=REGION):
        return boto3.client(
            "ec2", region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def name(self, prefix="img"):
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def manifest(self, region=REGION):
        s3 = boto3.client("s3", region_name=region, endpoint_url=self.endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        bucket = f"bundles-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_object(Bucket=bucket, Key="b/image.manifest.xml", Body=b"<manifest/>")
        return f"{bucket}/b/image.manifest.xml"

    def register(self, ec2, **kw):
        args = dict(Name=self.name(), ImageLocation=self.manifest(), Architecture="x86_64",
                    VirtualizationType="hvm")
        args.update(kw)
        return ec2.register_image(**args)["ImageId"]

    def instance(self, ec2, image=SOURCE_AMI, kind="m5.large", **kw):
        return ec2.run_instances(ImageId=image, InstanceType=kind, MinCount=1, MaxCount=1,
                                 **kw)["Instances"][0]["InstanceId"]

    def image(self, ec2, image_id):
        return ec2.describe_images(ImageIds=[image_id])["Images"][0]

    def root(self, ec2, image_id):
        img = self.image(ec2, image_id)
        (m,) = [m for m in img["BlockDeviceMappings"] if m["DeviceName"] == img["RootDeviceName"]]
        return m["Ebs"]

    def root_volume(self, ec2, instance_id):
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        (m,) = [m for m in inst["BlockDeviceMappings"]
                if m["DeviceName"] == inst["RootDeviceName"]]
        return ec2.describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"]])["Volumes"][0]

    def wait_available(self, ec2, image_id, limit=10):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.image(ec2, image_id)["State"] == "available":
                return
            time.sleep(0.05)
        self.fail(f"{image_id} not available after {limit}s")

    def attribute(self, ec2, image_id, name, key):
        return ec2.describe_image_attribute(ImageId=image_id, Attribute=name)[key]

    def assertError(self, cm, code, status=400):
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err["Error"]["Message"]

    def refused(self, code, call, *args, **kw):
        with self.assertRaises(ClientError) as cm:
            call(*args, **kw)
        return self.assertError(cm, code)

    # 1. RegisterImage

    def test_register_image_keeps_each_setting(self):
        ec2 = self.client()
        image_id = self.register(ec2, **FULL)
        img = self.image(ec2, image_id)
        self.assertEqual((img["BootMode"], img["TpmSupport"], img["ImdsSupport"],
                          img["EnaSupport"]), ("uefi", "v2.0", "v2.0", True))
        for name, key, want in (("bootMode", "BootMode", "uefi"),
                                ("tpmSupport", "TpmSupport", "v2.0"),
                                ("imdsSupport", "ImdsSupport", "v2.0")):
            self.assertEqual(self.attribute(ec2, image_id, name, key), {"Value": want})
        for mode in ("legacy-bios", "uefi-preferred"):
            other = self.register(ec2, BootMode=mode, EnaSupport=False)
            img = self.image(ec2, other)
            self.assertEqual((img["BootMode"], img["EnaSupport"]), (mode, False))
            self.assertNotIn("TpmSupport", img)

    def test_an_image_without_settings_reports_none(self):
        ec2 = self.client()
        for image_id in (self.register(ec2), SOURCE_AMI):
            img = self.image(ec2, image_id)
            for key in ("BootMode", "TpmSupport", "ImdsSupport", "EnaSupport"):
                self.assertNotIn(key, img, image_id)
            self.assertEqual(self.attribute(ec2, image_id, "bootMode", "BootMode"), {})
            self.assertEqual(self.attribute(ec2, image_id, "imdsSupport", "ImdsSupport"), {})
            self.assertEqual(self.attribute(ec2, image_id, "tpmSupport", "TpmSupport"), {})

    def test_register_image_refuses_bad_settings(self):
        ec2 = self.client()
        name = self.name()
        for code, kw in (
            ("InvalidParameterValue", dict(BootMode="bios")),
            ("InvalidParameterValue", dict(BootMode="uefi", TpmSupport="v1.2")),
            ("InvalidParameterValue", dict(ImdsSupport="v1.0")),
            ("InvalidParameterCombination", dict(TpmSupport="v2.0")),
            ("InvalidParameterCombination", dict(BootMode="uefi-preferred", TpmSupport="v2.0")),
            ("InvalidParameterCombination", dict(BootMode="legacy-bios", TpmSupport="v2.0")),
            ("InvalidParameterCombination", dict(EnaSupport=True,
                                                 VirtualizationType="paravirtual")),
            ("InvalidParameterCombination", dict(Architecture="arm64", BootMode="legacy-bios")),
        ):
            self.refused(code, self.register, ec2, Name=name, **kw)
        # Nothing was registered: the name is free; arm64 with uefi is fine.
        img = self.image(ec2, self.register(ec2, Name=name, Architecture="arm64",
                                            BootMode="uefi"))
        self.assertEqual((img["Architecture"], img["BootMode"]), ("arm64", "uefi"))

    # 2. ModifyImageAttribute ImdsSupport

    def test_imds_support_can_only_be_set_to_v2(self):
        ec2 = self.client()
        image_id = self.register(ec2)
        self.refused("InvalidAMIID.Unavailable", ec2.modify_image_attribute, ImageId=image_id,
                     ImdsSupport={"Value": "v2.0"})  # pending
        self.wait_available(ec2, image_id)
        self.refused("InvalidParameterValue", ec2.modify_image_attribute, ImageId=image_id,
                     ImdsSupport={"Value": "v1.0"})
        self.assertNotIn("ImdsSupport", self.image(ec2, image_id))
        ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v2.0"})
        self.assertEqual(self.image(ec2, image_id)["ImdsSupport"], "v2.0")
        self.assertEqual(self.attribute(ec2, image_id, "imdsSupport", "ImdsSupport"),
                         {"Value": "v2.0"})
        # No way back: the only value accepted is v2.0.
        self.refused("InvalidParameterValue", ec2.modify_image_attribute, ImageId=image_id,
                     Attribute="imdsSupport", Value="v1.0")
        ec2.modify_image_attribute(ImageId=image_id, Attribute="imdsSupport", Value="v2.0")
        self.assertEqual(self.image(ec2, image_id)["ImdsSupport"], "v2.0")

    def test_modify_image_attribute_refusals(self):
        ec2 = self.client()
        image_id = self.register(ec2)
        self.wait_available(ec2, image_id)
        self.refused("InvalidParameterCombination", ec2.modify_image_attribute,
                     ImageId=image_id, ImdsSupport={"Value": "v2.0"},
                     LaunchPermission={"Add": [{"UserId": "123456789012"}]})
        self.refused("InvalidParameterValue", ec2.modify_image_attribute, ImageId=image_id,
                     Attribute="bootMode", Value="uefi")
        self.refused("InvalidAMIID.Unavailable", ec2.modify_image_attribute,
                     ImageId=SOURCE_AMI, ImdsSupport={"Value": "v2.0"})
        self.refused("InvalidAMIID.NotFound", ec2.modify_image_attribute,
                     ImageId="ami-0123456789abcdef0", ImdsSupport={"Value": "v2.0"})
        self.assertNotIn("ImdsSupport", self.image(ec2, image_id))
        self.assertNotIn("ImdsSupport", self.image(ec2, SOURCE_AMI))
        # Launch permissions still work as before.
        ec2.modify_image_attribute(ImageId=image_id,
                                   LaunchPermission={"Add": [{"UserId": "123456789012"}]})

    # 3. CreateImage inherits; 4. the root volume comes from RunInstances

    def test_create_image_inherits_the_settings_of_the_instance_image(self):
        ec2 = self.client()
        source = self.register(ec2, **FULL)
        self.wait_available(ec2, source)
        image_id = ec2.create_image(InstanceId=self.instance(ec2, source),
                                    Name=self.name())["ImageId"]
        img = self.image(ec2, image_id)
        self.assertEqual((img["BootMode"], img["TpmSupport"], img["ImdsSupport"],
                          img["EnaSupport"]), ("uefi", "v2.0", "v2.0", True))
        # Deregistering the source later changes nothing for instances launched from it.
        inst = self.instance(ec2, source)
        ec2.deregister_image(ImageId=source)
        img = self.image(ec2, ec2.create_image(InstanceId=inst, Name=self.name())["ImageId"])
        self.assertEqual(img["BootMode"], "uefi")
        # An instance of an image without settings gives an image without them.
        img = self.image(ec2, ec2.create_image(InstanceId=self.instance(ec2),
                                               Name=self.name())["ImageId"])
        for key in ("BootMode", "TpmSupport", "ImdsSupport", "EnaSupport"):
            self.assertNotIn(key, img)

    def test_the_root_volume_of_an_image_is_its_instance_root_volume(self):
        ec2 = self.client()
        # Default: the AMI's root mapping (moto's images: 15 GiB standard).
        inst = self.instance(ec2)
        vol = self.root_volume(ec2, inst)
        self.assertEqual((vol["Size"], vol["VolumeType"]), (15, "standard"))
        image_id = ec2.create_image(InstanceId=inst, Name=self.name())["ImageId"]
        root = self.root(ec2, image_id)
        self.assertEqual((root["VolumeSize"], root["VolumeType"], root["DeleteOnTermination"]),
                         (15, "standard", True))
        self.assertEqual(self.image(ec2, image_id)["RootDeviceType"], "ebs")
        # Chosen at launch: the image takes them, and its snapshot is that size.
        inst = self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "gp3", "VolumeSize": 30}}])
        vol = self.root_volume(ec2, inst)
        self.assertEqual((vol["Size"], vol["VolumeType"]), (30, "gp3"))
        image_id = ec2.create_image(InstanceId=inst, Name=self.name())["ImageId"]
        root = self.root(ec2, image_id)
        self.assertEqual((root["VolumeSize"], root["VolumeType"]), (30, "gp3"))
        snap = ec2.describe_snapshots(SnapshotIds=[root["SnapshotId"]])["Snapshots"][0]
        self.assertEqual(snap["VolumeSize"], 30)
        # io1 takes its Iops; an instance of the new image gets its root mapping.
        inst = self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "io1", "VolumeSize": 100,
                                                "Iops": 3000}}])
        io1 = ec2.create_image(InstanceId=inst, Name=self.name())["ImageId"]
        root = self.root(ec2, io1)
        self.assertEqual((root["VolumeSize"], root["VolumeType"], root["Iops"]),
                         (100, "io1", 3000))
        self.wait_available(ec2, io1)
        vol = self.root_volume(ec2, self.instance(ec2, io1))
        self.assertEqual((vol["Size"], vol["VolumeType"], vol["Iops"]), (100, "io1", 3000))
        # Other mappings alone still give the instance its root volume.
        inst = self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 5}}])
        self.assertEqual(self.root_volume(ec2, inst)["Size"], 15)

    def test_run_instances_refuses_bad_root_volumes(self):
        ec2 = self.client()
        snapshot = self.root(ec2, SOURCE_AMI)["SnapshotId"]

        def launch(code, **ebs):
            return self.refused(code, self.instance, ec2, BlockDeviceMappings=[
                {"DeviceName": "/dev/sda1", "Ebs": ebs}])

        msg = launch("InvalidBlockDeviceMapping", VolumeSize=8)
        self.assertEqual(msg, f"Volume of size 8GB is smaller than snapshot '{snapshot}', "
                              "expect size >= 15GB")
        launch("InvalidParameterValue", VolumeType="gp4", VolumeSize=20)
        launch("InvalidBlockDeviceMapping", VolumeType="st1", VolumeSize=500)
        launch("InvalidBlockDeviceMapping", VolumeType="sc1", VolumeSize=500)
        launch("InvalidParameterValue", VolumeType="gp2", VolumeSize=16385)
        launch("InvalidParameterValue", VolumeType="standard", VolumeSize=1025)
        launch("InvalidParameterCombination", VolumeType="io2", VolumeSize=100)
        launch("InvalidParameterCombination", VolumeType="gp2", VolumeSize=100, Iops=3000)
        # The limits themselves are fine.
        self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "gp3", "VolumeSize": 65536}}])
        self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 15}}])

    def test_create_image_can_change_only_delete_on_termination(self):
        ec2 = self.client()
        inst = self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "gp3", "VolumeSize": 20}}])

        def create(code, **ebs):
            return self.refused(code, ec2.create_image, InstanceId=inst, Name=self.name(),
                                BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": ebs}])

        create("InvalidBlockDeviceMapping", VolumeSize=40)
        create("InvalidBlockDeviceMapping", VolumeType="gp2")
        create("InvalidBlockDeviceMapping", VolumeType="gp3", VolumeSize=20, Iops=4000)
        self.refused("InvalidBlockDeviceMapping", ec2.create_image, InstanceId=inst,
                     Name=self.name(), BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                                                             "NoDevice": ""}])
        image_id = ec2.create_image(
            InstanceId=inst, Name=self.name(), BlockDeviceMappings=[
                {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "gp3", "VolumeSize": 20,
                                                    "DeleteOnTermination": False}}],
        )["ImageId"]
        root = self.root(ec2, image_id)
        self.assertEqual((root["VolumeSize"], root["VolumeType"], root["DeleteOnTermination"]),
                         (20, "gp3", False))

    def test_boot_mode_override(self):
        ec2 = self.client()
        preferred = self.register(ec2, BootMode="uefi-preferred")
        self.wait_available(ec2, preferred)
        image_id = ec2.create_image(InstanceId=self.instance(ec2, preferred, "m5.large"),
                                    Name=self.name(), BootModeOverride="uefi")["ImageId"]
        self.assertEqual(self.image(ec2, image_id)["BootMode"], "uefi")
        image_id = ec2.create_image(InstanceId=self.instance(ec2, preferred, "m5.large"),
                                    Name=self.name())["ImageId"]
        self.assertEqual(self.image(ec2, image_id)["BootMode"], "uefi-preferred")
        # Legacy BIOS instances: a Xen type, an image without boot mode on x86.
        for inst in (self.instance(ec2, preferred, "m3.medium"), self.instance(ec2)):
            self.refused("InvalidParameterCombination", ec2.create_image, InstanceId=inst,
                         Name=self.name(), BootModeOverride="uefi")
        self.refused("InvalidParameterValue", ec2.create_image,
                     InstanceId=self.instance(ec2, preferred), Name=self.name(),
                     BootModeOverride="legacy-bios")

    # 5. CopyImage

    def test_copy_image_keeps_the_settings_and_the_root_volume(self):
        ec2, other = self.client(), self.client(OTHER_REGION)
        source = self.register(ec2, **FULL)
        copy = other.copy_image(SourceImageId=source, SourceRegion=REGION,
                                Name=self.name())["ImageId"]
        img = self.image(other, copy)
        self.assertEqual((img["BootMode"], img["TpmSupport"], img["ImdsSupport"],
                          img["EnaSupport"]), ("uefi", "v2.0", "v2.0", True))
        self.assertEqual(img["DeregistrationProtection"], "disabled")
        inst = self.instance(ec2, BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeType": "gp3", "VolumeSize": 25}}])
        built = ec2.create_image(InstanceId=inst, Name=self.name())["ImageId"]
        ec2.enable_image_deregistration_protection(ImageId=built)
        copy = other.copy_image(SourceImageId=built, SourceRegion=REGION,
                                Name=self.name())["ImageId"]
        root = self.root(other, copy)
        self.assertEqual((root["VolumeSize"], root["VolumeType"]), (25, "gp3"))
        self.assertEqual(self.image(other, copy)["RootDeviceType"], "ebs")
        self.assertEqual(self.image(other, copy)["DeregistrationProtection"], "disabled")

    # 6. deregistration protection

    def test_protection_without_cooldown(self):
        ec2 = self.client()
        image_id = self.register(ec2)
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"], "disabled")
        self.assertEqual(
            self.attribute(ec2, image_id, "deregistrationProtection", "DeregistrationProtection"),
            {"Value": "disabled"})
        got = ec2.enable_image_deregistration_protection(ImageId=image_id)
        self.assertEqual(got["Return"], "enabled-without-cooldown")
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"],
                         "enabled-without-cooldown")
        self.assertEqual(
            self.attribute(ec2, image_id, "deregistrationProtection", "DeregistrationProtection"),
            {"Value": "enabled-without-cooldown"})
        msg = self.refused("OperationNotPermitted", ec2.deregister_image, ImageId=image_id)
        self.assertIn(image_id, msg)
        self.assertEqual(ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"],
                         "disabled")
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"], "disabled")
        ec2.deregister_image(ImageId=image_id)

    def test_protection_with_cooldown_refuses_until_it_ends(self):
        ec2 = self.client()
        self.control({"deregistration_cooldown_seconds": 1.5})
        image_id = self.register(ec2)
        got = ec2.enable_image_deregistration_protection(ImageId=image_id, WithCooldown=True)
        self.assertEqual(got["Return"], "enabled-with-cooldown")
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"],
                         "enabled-with-cooldown")
        self.refused("OperationNotPermitted", ec2.deregister_image, ImageId=image_id)
        before = datetime.now(timezone.utc)
        got = ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"]
        self.assertTrue(got.startswith("disabled-until "), got)
        until = datetime.strptime(got.split(" ", 1)[1], "%Y-%m-%dT%H:%M:%S.000Z").replace(
            tzinfo=timezone.utc)
        self.assertLess(abs((until - before).total_seconds() - 1.5), 2)
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"], got)
        msg = self.refused("OperationNotPermitted", ec2.deregister_image, ImageId=image_id)
        self.assertIn(got.split(" ", 1)[1], msg)
        # Disabling again does not restart the cooldown.
        self.assertEqual(ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"],
                         got)
        time.sleep(2.1)
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"], "disabled")
        ec2.deregister_image(ImageId=image_id)

    def test_the_cooldown_lasts_a_day_by_default_and_reenabling_ends_it(self):
        ec2 = self.client()
        image_id = self.register(ec2)
        ec2.enable_image_deregistration_protection(ImageId=image_id, WithCooldown=True)
        got = ec2.disable_image_deregistration_protection(ImageId=image_id)["Return"]
        until = datetime.strptime(got.split(" ", 1)[1], "%Y-%m-%dT%H:%M:%S.000Z").replace(
            tzinfo=timezone.utc)
        self.assertLess(abs(until - datetime.now(timezone.utc) - timedelta(hours=24)),
                        timedelta(seconds=60))
        self.refused("OperationNotPermitted", ec2.deregister_image, ImageId=image_id)
        # Protection without cooldown replaces it; disabling that frees the image at once.
        ec2.enable_image_deregistration_protection(ImageId=image_id, WithCooldown=False)
        self.assertEqual(self.image(ec2, image_id)["DeregistrationProtection"],
                         "enabled-without-cooldown")
        ec2.disable_image_deregistration_protection(ImageId=image_id)
        ec2.deregister_image(ImageId=image_id)

    def test_protection_refuses_unknown_and_others_images(self):
        ec2 = self.client()
        gone = self.register(ec2)
        ec2.deregister_image(ImageId=gone)
        for image_id, code in (("ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
                               ("nope", "InvalidAMIID.Malformed"),
                               (gone, "InvalidAMIID.Unavailable"),
                               (SOURCE_AMI, "InvalidAMIID.Unavailable")):
            self.refused(code, ec2.enable_image_deregistration_protection, ImageId=image_id)
            self.refused(code, ec2.disable_image_deregistration_protection, ImageId=image_id)
        mine = self.register(ec2)
        self.refused("InvalidAMIID.NotFound",
                     self.client(OTHER_REGION).enable_image_deregistration_protection,
                     ImageId=mine)


if __name__ == "__main__":
    unittest.main()
