"""The emulator's EC2 is as strict as EC2 where support/ec2_patches.py says it is.

Starts support/emulator.py once for the module (through emulated.py) and talks to its endpoint
(the strict proxy in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -v
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

SOURCE_AMI = "ami-eeb66aee"  # ap-northeast-1's 14.04 HVM image in regions.yaml
REGION = "ap-northeast-1"
OTHER_REGION = "ap-southeast-1"
PENDING = 0.6  # image_pending_seconds for these tests: short, yet long enough to see pending


class Ec2StrictTest(EmulatedTestCase):
    emulator_args = ("--regions-file", os.path.join(ROOT, "regions.yaml"),
                     "--image-pending-seconds", str(PENDING))

    def setUp(self):
        self.control({})

    # helpers

    def client(self, service, region=REGION):
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            # Standard retries, as amipub uses: the emulator throttles like EC2 (token buckets),
            # and errors the tests expect are not retried by the SDK anyway.
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def name(self, prefix="img"):
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def instance(self, ec2, **kw):
        args = dict(ImageId=SOURCE_AMI, InstanceType="m3.medium", MinCount=1, MaxCount=1)
        args.update(kw)
        return ec2.run_instances(**args)["Instances"][0]["InstanceId"]

    def image(self, ec2, image_id):
        return ec2.describe_images(ImageIds=[image_id])["Images"][0]

    def wait_settled(self, ec2, image_id, limit=10):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            img = self.image(ec2, image_id)
            if img["State"] != "pending":
                return img
            time.sleep(0.1)
        self.fail(f"{image_id} still pending after {limit}s")

    def assertError(self, cm, code, status=400):
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err["Error"]["Message"]

    def manifest(self, region=REGION):
        """An S3 object RegisterImage accepts as ImageLocation ("bucket/key")."""
        s3 = self.client("s3", region)
        bucket = f"bundles-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_object(Bucket=bucket, Key="b/image.manifest.xml", Body=b"<manifest/>")
        return f"{bucket}/b/image.manifest.xml"

    # 1. unique names

    def test_create_image_refuses_a_name_in_use(self):
        ec2 = self.client("ec2")
        name = self.name()
        first = ec2.create_image(InstanceId=self.instance(ec2), Name=name)["ImageId"]
        with self.assertRaises(ClientError) as cm:
            ec2.create_image(InstanceId=self.instance(ec2), Name=name)
        msg = self.assertError(cm, "InvalidAMIName.Duplicate")
        self.assertEqual(msg, f"AMI name {name} is already in use by AMI {first}")

    def test_register_image_refuses_a_name_in_use_but_not_after_deregister(self):
        ec2 = self.client("ec2")
        name = self.name()
        first = ec2.register_image(Name=name, ImageLocation=self.manifest())["ImageId"]
        with self.assertRaises(ClientError) as cm:
            ec2.register_image(Name=name, ImageLocation=self.manifest())
        self.assertError(cm, "InvalidAMIName.Duplicate")
        # Deregistering, even while pending, frees the name.
        self.assertEqual(self.image(ec2, first)["State"], "pending")
        ec2.deregister_image(ImageId=first)
        ec2.register_image(Name=name, ImageLocation=self.manifest())

    def test_the_same_name_is_allowed_in_another_region_and_beside_public_images(self):
        ec2, other = self.client("ec2"), self.client("ec2", OTHER_REGION)
        name = self.name()
        ec2.create_image(InstanceId=self.instance(ec2), Name=name)
        other.create_image(InstanceId=self.instance(other, ImageId="ami-9c99a2ce"), Name=name)
        # The preloaded upstream images belong to another owner: their names are free to use.
        upstream = self.image(ec2, SOURCE_AMI)["Name"]
        ec2.create_image(InstanceId=self.instance(ec2), Name=upstream)

    def test_copy_image_checks_the_name_in_the_destination_region(self):
        ec2, other = self.client("ec2"), self.client("ec2", OTHER_REGION)
        name = self.name()
        src = ec2.create_image(InstanceId=self.instance(ec2), Name=name)["ImageId"]
        other.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name)
        with self.assertRaises(ClientError) as cm:
            other.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name)
        self.assertError(cm, "InvalidAMIName.Duplicate")
        with self.assertRaises(ClientError) as cm:
            ec2.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name)
        self.assertError(cm, "InvalidAMIName.Duplicate")

    # 2. client tokens

    def test_run_instances_with_a_used_token_returns_the_same_instance(self):
        ec2 = self.client("ec2")
        token = uuid.uuid4().hex
        first = ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.medium", MinCount=1,
                                  MaxCount=1, ClientToken=token)
        again = ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.medium", MinCount=1,
                                  MaxCount=1, ClientToken=token)
        iid = first["Instances"][0]["InstanceId"]
        self.assertEqual(again["ReservationId"], first["ReservationId"])
        self.assertEqual([i["InstanceId"] for i in again["Instances"]], [iid])
        # moto has no client-token filter: look through every instance of the region.
        found = ec2.describe_instances(MaxResults=1000)["Reservations"]
        ids = [i["InstanceId"] for r in found for i in r["Instances"]
               if i.get("ClientToken") == token]
        self.assertEqual(ids, [iid])
        # Still the same instance once it is terminated.
        ec2.terminate_instances(InstanceIds=[iid])
        later = ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.medium", MinCount=1,
                                  MaxCount=1, ClientToken=token)
        self.assertEqual(later["Instances"][0]["InstanceId"], iid)
        # Another region is another token space.
        other = self.client("ec2", OTHER_REGION)
        there = other.run_instances(ImageId="ami-9c99a2ce", InstanceType="m3.medium",
                                    MinCount=1, MaxCount=1, ClientToken=token)
        self.assertNotEqual(there["Instances"][0]["InstanceId"], iid)

    def test_run_instances_with_a_used_token_and_other_parameters_is_refused(self):
        ec2 = self.client("ec2")
        token = uuid.uuid4().hex
        ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.medium", MinCount=1,
                          MaxCount=1, ClientToken=token)
        with self.assertRaises(ClientError) as cm:
            ec2.run_instances(ImageId=SOURCE_AMI, InstanceType="m3.large", MinCount=1,
                              MaxCount=1, ClientToken=token)
        self.assertError(cm, "IdempotentParameterMismatch")

    def test_copy_image_with_a_used_token_returns_the_same_image(self):
        ec2, other = self.client("ec2"), self.client("ec2", OTHER_REGION)
        src = ec2.create_image(InstanceId=self.instance(ec2), Name=self.name())["ImageId"]
        token, name = uuid.uuid4().hex, self.name("copy")
        a = other.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name, ClientToken=token)
        b = other.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name, ClientToken=token)
        self.assertEqual(a["ImageId"], b["ImageId"])
        with self.assertRaises(ClientError) as cm:
            other.copy_image(SourceImageId=src, SourceRegion=REGION, Name=name + "-x",
                             ClientToken=token)
        self.assertError(cm, "IdempotentParameterMismatch")

    # 3. images take time

    def test_a_new_image_is_pending_then_available(self):
        ec2 = self.client("ec2")
        for make in (
            lambda n: ec2.create_image(InstanceId=self.instance(ec2), Name=n),
            lambda n: ec2.register_image(Name=n, ImageLocation=self.manifest()),
            lambda n: ec2.copy_image(SourceImageId=SOURCE_AMI, SourceRegion=REGION, Name=n),
        ):
            started = time.monotonic()
            image_id = make(self.name())["ImageId"]
            img = self.image(ec2, image_id)
            self.assertEqual(img["State"], "pending")
            self.assertNotIn("StateReason", img)
            pending = ec2.describe_images(Filters=[{"Name": "state", "Values": ["pending"]}])
            self.assertIn(image_id, [i["ImageId"] for i in pending["Images"]])
            img = self.wait_settled(ec2, image_id)
            self.assertEqual(img["State"], "available")
            self.assertGreaterEqual(time.monotonic() - started, PENDING - 0.05)

    def test_the_snapshot_of_a_pending_image_is_pending(self):
        ec2 = self.client("ec2")
        image_id = ec2.create_image(InstanceId=self.instance(ec2), Name=self.name())["ImageId"]
        snap = self.image(ec2, image_id)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        state = lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
        self.assertEqual(state(), "pending")
        self.wait_settled(ec2, image_id)
        self.assertEqual(state(), "completed")

    def test_the_pending_time_comes_from_control(self):
        ec2 = self.client("ec2")
        self.control({"image_pending_seconds": 0})
        image_id = ec2.create_image(InstanceId=self.instance(ec2), Name=self.name())["ImageId"]
        self.assertEqual(self.image(ec2, image_id)["State"], "available")

    def test_an_image_named_in_image_fail_ends_failed_with_its_reason(self):
        ec2 = self.client("ec2")
        self.control({"image_pending_seconds": 0.2, "image_fail": ["doomed-*"]})
        image_id = ec2.create_image(InstanceId=self.instance(ec2),
                                    Name=self.name("doomed"))["ImageId"]
        self.assertEqual(self.image(ec2, image_id)["State"], "pending")
        img = self.wait_settled(ec2, image_id)
        self.assertEqual(img["State"], "failed")
        self.assertEqual(img["StateReason"]["Code"], "Server.InternalError")
        self.assertTrue(img["StateReason"]["Message"].startswith("Server.InternalError"))
        # The reason is configurable; deregistering a failed image works.
        why = "Client.InstanceTerminated: terminated during AMI creation"
        self.control({"image_pending_seconds": 0, "image_fail": ["doomed-*"],
                      "image_fail_reason": why})
        other = ec2.register_image(Name=self.name("doomed"),
                                   ImageLocation=self.manifest())["ImageId"]
        reason = self.image(ec2, other)["StateReason"]
        self.assertEqual(reason, {"Code": "Client.InstanceTerminated", "Message": why})
        ec2.deregister_image(ImageId=image_id)
        ec2.deregister_image(ImageId=other)

    def test_an_image_turning_failed_is_never_failed_without_its_reason(self):
        # Polled around the moment it turns failed, every answer that says `failed` carries
        # the reason: one request sees one moment, serialisation included.
        ec2 = self.client("ec2")
        self.control({"image_pending_seconds": 0.5, "image_fail": ["doomed-*"]})
        image_id = ec2.create_image(InstanceId=self.instance(ec2),
                                    Name=self.name("doomed"))["ImageId"]
        seen_failed = 0
        deadline = time.monotonic() + 10
        while seen_failed < 20 and time.monotonic() < deadline:
            img = ec2.describe_images(ImageIds=[image_id])["Images"][0]
            if img["State"] == "failed":
                seen_failed += 1
                self.assertIn("StateReason", img, img)
            else:
                self.assertEqual(img["State"], "pending")
                self.assertNotIn("StateReason", img, img)
        self.assertEqual(seen_failed, 20)
        ec2.deregister_image(ImageId=image_id)

    def test_modify_image_attribute_is_refused_while_pending(self):
        ec2 = self.client("ec2")
        self.control({"image_pending_seconds": 0.3})
        image_id = ec2.create_image(InstanceId=self.instance(ec2), Name=self.name())["ImageId"]
        add = {"Add": [{"UserId": "123456789012"}]}
        with self.assertRaises(ClientError) as cm:
            ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=add)
        msg = self.assertError(cm, "InvalidAMIID.Unavailable")
        self.assertIn("is currently pending and may not be used for this operation", msg)
        self.wait_settled(ec2, image_id)
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=add)
        perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        self.assertEqual(perms["LaunchPermissions"], [{"UserId": "123456789012"}])

    # 4. tags at creation

    def tags(self, described):
        return {t["Key"]: t["Value"] for t in described.get("Tags", [])}

    def test_create_image_tags_the_image_and_its_snapshots(self):
        ec2 = self.client("ec2")
        image_id = ec2.create_image(
            InstanceId=self.instance(ec2), Name=self.name(),
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "k", "Value": "image"}]},
                {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "snap"}]},
            ],
        )["ImageId"]
        img = self.image(ec2, image_id)
        self.assertEqual(self.tags(img), {"k": "image"})
        snaps = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"] if "Ebs" in m]
        self.assertTrue(snaps)
        for s in ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]:
            self.assertEqual(self.tags(s), {"k": "snap"})

    def test_create_image_refuses_other_resource_types(self):
        ec2 = self.client("ec2")
        with self.assertRaises(ClientError) as cm:
            ec2.create_image(InstanceId=self.instance(ec2), Name=self.name(), TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}])
        self.assertError(cm, "InvalidParameterValue")

    def test_register_image_tags_the_image(self):
        ec2 = self.client("ec2")
        image_id = ec2.register_image(
            Name=self.name(), ImageLocation=self.manifest(),
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "k", "Value": "v"}]}],
        )["ImageId"]
        self.assertEqual(self.tags(self.image(ec2, image_id)), {"k": "v"})
        with self.assertRaises(ClientError) as cm:
            ec2.register_image(Name=self.name(), ImageLocation=self.manifest(), TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
        self.assertError(cm, "InvalidParameterValue")

    def test_copy_image_tags_the_image_and_its_snapshots(self):
        other = self.client("ec2", OTHER_REGION)
        image_id = other.copy_image(
            SourceImageId=SOURCE_AMI, SourceRegion=REGION, Name=self.name(),
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "k", "Value": "image"}]},
                {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "snap"}]},
            ],
        )["ImageId"]
        img = self.image(other, image_id)
        self.assertEqual(self.tags(img), {"k": "image"})
        snaps = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"] if "Ebs" in m]
        for s in other.describe_snapshots(SnapshotIds=snaps)["Snapshots"]:
            self.assertEqual(self.tags(s), {"k": "snap"})

    def test_security_group_and_run_instances_tags_at_creation(self):
        ec2 = self.client("ec2")
        sg = ec2.create_security_group(
            GroupName=self.name("sg"), Description="d",
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": [{"Key": "k", "Value": "sg"}]}],
        )["GroupId"]
        described = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
        self.assertEqual(self.tags(described), {"k": "sg"})
        iid = self.instance(ec2, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "instance"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "volume"}]},
        ])
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        self.assertEqual(self.tags(inst), {"k": "instance"})
        vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])
        self.assertTrue(vols["Volumes"])
        for v in vols["Volumes"]:
            self.assertEqual(self.tags(v), {"k": "volume"})

    # 5. deprecation

    def own_image(self, ec2):
        return ec2.register_image(Name=self.name(), ImageLocation=self.manifest())["ImageId"]

    def test_enable_image_deprecation_rounds_to_the_minute_and_describe_images_shows_it(self):
        ec2 = self.client("ec2")
        image_id = self.own_image(ec2)
        self.assertNotIn("DeprecationTime", self.image(ec2, image_id))
        ahead = datetime.now(timezone.utc) + timedelta(minutes=2)
        for second, minutes in ((40, 1), (10, 0)):  # from 30 seconds on, up; else down
            at = ahead.replace(second=second, microsecond=123000)
            self.assertTrue(ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=at)["Return"])
            want = at.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
            img = self.image(ec2, image_id)  # pending or not: DescribeImages reports it
            self.assertEqual(img["DeprecationTime"], want.strftime("%Y-%m-%dT%H:%M:00.000Z"))
        self.assertEqual(self.wait_settled(ec2, image_id)["State"], "available")
        self.assertIn("DeprecationTime", self.image(ec2, image_id))

    def test_enable_image_deprecation_refuses_a_time_in_the_past_or_beyond_ten_years(self):
        ec2 = self.client("ec2")
        image_id = self.own_image(ec2)
        now = datetime.now(timezone.utc)
        for at in (now - timedelta(minutes=5), now + timedelta(days=3660 + 3)):
            with self.assertRaises(ClientError) as cm:
                ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=at)
            self.assertError(cm, "InvalidParameterValue")
        self.assertNotIn("DeprecationTime", self.image(ec2, image_id))
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=3 * 365))

    def test_a_public_image_deprecates_at_most_two_years_after_its_creation(self):
        ec2 = self.client("ec2")
        image_id = self.own_image(ec2)
        self.wait_settled(ec2, image_id)
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
        now = datetime.now(timezone.utc)
        with self.assertRaises(ClientError) as cm:
            ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=740))
        self.assertError(cm, "InvalidParameterValue")
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=700))

    def test_enable_image_deprecation_refuses_unknown_deregistered_and_others_images(self):
        ec2 = self.client("ec2")
        at = datetime.now(timezone.utc) + timedelta(minutes=2)
        gone = self.own_image(ec2)
        ec2.deregister_image(ImageId=gone)
        for image_id, code in (("ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
                               ("nope", "InvalidAMIID.Malformed"),
                               (gone, "InvalidAMIID.Unavailable"),
                               (SOURCE_AMI, "InvalidAMIID.Unavailable")):
            with self.assertRaises(ClientError) as cm:
                ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=at)
            self.assertError(cm, code)
        # the image is in REGION only
        mine = self.own_image(ec2)
        with self.assertRaises(ClientError) as cm:
            self.client("ec2", OTHER_REGION).enable_image_deprecation(ImageId=mine, DeprecateAt=at)
        self.assertError(cm, "InvalidAMIID.NotFound")
        with self.assertRaises(ClientError) as cm:
            ec2.disable_image_deprecation(ImageId="ami-0123456789abcdef0")
        self.assertError(cm, "InvalidAMIID.NotFound")

    def test_disable_image_deprecation_clears_it(self):
        ec2 = self.client("ec2")
        image_id = self.own_image(ec2)
        at = datetime.now(timezone.utc) + timedelta(minutes=2)
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=at)
        self.assertIn("DeprecationTime", self.image(ec2, image_id))
        self.assertTrue(ec2.disable_image_deprecation(ImageId=image_id)["Return"])
        self.assertNotIn("DeprecationTime", self.image(ec2, image_id))
        self.assertTrue(ec2.disable_image_deprecation(ImageId=image_id)["Return"])  # again: fine


if __name__ == "__main__":
    unittest.main()
