"""Public sharing of AMIs and opt-in Regions in the emulator, as EC2 does them.

Block public access for AMIs and the public AMI quota (support/ec2_patches.py,
patch_image_public_sharing), DescribeRegions' opt-in statuses (patch_describe_regions, optin.py)
and the strict proxy refusing requests signed for a Region the account has not enabled
(support/proxy.py). One emulator for the module (emulated.py); block public access set by calls
and public images persist in it, so each test uses Regions of its own.

    cd /work/main && .venv/bin/python -m unittest discover -s support/tests -v
"""

import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulated import EmulatedTestCase

BLOCKED_MESSAGE = ("You can’t publicly share this image because block public access for AMIs "
                   "is enabled for this account. To publicly share the image, you must call the "
                   "DisableImageBlockPublicAccess API.")
PUBLIC = {"Add": [{"Group": "all"}]}
PRIVATE = {"Remove": [{"Group": "all"}]}


class PublicSharingTest(EmulatedTestCase):
    emulator_args = ("--image-pending-seconds", "0")

    def setUp(self):
        self.control({})

    # helpers

    def client(self, service, region):
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def image(self, ec2):
        """A new private image of the account's, available at once."""
        return ec2.register_image(Name=f"img-{uuid.uuid4().hex[:12]}")["ImageId"]

    def is_public(self, ec2, image_id):
        perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        return {"Group": "all"} in perms["LaunchPermissions"]

    def assertError(self, call, code, status=400, **kwargs):
        with self.assertRaises(ClientError) as cm:
            call(**kwargs)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err["Error"]["Message"]

    def state(self, ec2):
        r = ec2.get_image_block_public_access_state()
        return r["ImageBlockPublicAccessState"], r["ManagedBy"]

    # 1. block public access for AMIs

    def test_block_public_access_defaults_to_unblocked_managed_by_the_account(self):
        self.assertEqual(self.state(self.client("ec2", "eu-west-2")), ("unblocked", "account"))

    def test_block_public_access_state_and_manager_come_from_control_per_region(self):
        self.control({"image_block_public_access": {"eu-west-3": "block-new-sharing"},
                      "image_block_public_access_managed_by": {"eu-west-3": "declarative-policy"}})
        self.assertEqual(self.state(self.client("ec2", "eu-west-3")),
                         ("block-new-sharing", "declarative-policy"))
        self.assertEqual(self.state(self.client("ec2", "eu-south-1")), ("unblocked", "account"))

    def test_enable_and_disable_change_their_region_only(self):
        ec2, other = self.client("ec2", "us-east-2"), self.client("ec2", "us-west-1")
        r = ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
        self.assertEqual(r["ImageBlockPublicAccessState"], "block-new-sharing")
        self.assertEqual(self.state(ec2), ("block-new-sharing", "account"))
        self.assertEqual(self.state(other), ("unblocked", "account"))
        self.assertEqual(ec2.disable_image_block_public_access()["ImageBlockPublicAccessState"],
                         "unblocked")
        self.assertEqual(self.state(ec2), ("unblocked", "account"))
        # EC2 throttles Enable/Disable to 1 request per Region and 10 s: other Regions here.
        self.assertError(other.enable_image_block_public_access, "DryRunOperation", status=412,
                         ImageBlockPublicAccessState="block-new-sharing", DryRun=True)
        self.assertEqual(self.state(other), ("unblocked", "account"))
        self.assertError(self.client("ec2", "ap-southeast-1").enable_image_block_public_access,
                         "InvalidParameterValue", ImageBlockPublicAccessState="unblocked")

    def test_control_wins_over_enable_until_it_no_longer_names_the_region(self):
        ec2 = self.client("ec2", "ap-south-1")
        self.control({"image_block_public_access": {"ap-south-1": "unblocked"}})
        ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
        self.assertEqual(self.state(ec2), ("unblocked", "account"))
        self.control({})
        self.assertEqual(self.state(ec2), ("block-new-sharing", "account"))
        ec2.disable_image_block_public_access()

    def test_a_declarative_policy_refuses_enable_and_disable(self):
        ec2 = self.client("ec2", "ap-northeast-3")
        self.control({"image_block_public_access_managed_by": {"ap-northeast-3":
                                                               "declarative-policy"}})
        self.assertError(ec2.enable_image_block_public_access, "OperationNotPermitted",
                         ImageBlockPublicAccessState="block-new-sharing")
        self.assertError(ec2.disable_image_block_public_access, "OperationNotPermitted")
        self.assertEqual(self.state(ec2), ("unblocked", "declarative-policy"))

    def test_a_blocked_region_refuses_making_an_ami_public_but_keeps_public_ones(self):
        ec2 = self.client("ec2", "ca-central-1")
        image_id, already = self.image(ec2), self.image(ec2)
        ec2.modify_image_attribute(ImageId=already, LaunchPermission=PUBLIC)
        self.control({"image_block_public_access": {"ca-central-1": "block-new-sharing"}})
        msg = self.assertError(ec2.modify_image_attribute, "OperationNotPermitted",
                               ImageId=image_id, LaunchPermission=PUBLIC)
        self.assertEqual(msg, BLOCKED_MESSAGE)
        self.assertError(ec2.modify_image_attribute, "OperationNotPermitted", ImageId=image_id,
                         Attribute="launchPermission", OperationType="add", UserGroups=["all"])
        self.assertFalse(self.is_public(ec2, image_id))
        # Sharing with an account is not public sharing; an AMI already public stays so.
        ec2.modify_image_attribute(ImageId=image_id,
                                   LaunchPermission={"Add": [{"UserId": "111122223333"}]})
        self.assertTrue(self.is_public(ec2, already))
        ec2.modify_image_attribute(ImageId=already, LaunchPermission=PUBLIC)  # changes nothing
        ec2.modify_image_attribute(ImageId=already, LaunchPermission=PRIVATE)
        self.assertFalse(self.is_public(ec2, already))
        # Another region, and this one once unblocked, share publicly.
        elsewhere = self.client("ec2", "sa-east-1")
        elsewhere.modify_image_attribute(ImageId=self.image(elsewhere), LaunchPermission=PUBLIC)
        self.control({})
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=PUBLIC)
        self.assertTrue(self.is_public(ec2, image_id))

    def test_enable_blocks_public_sharing_in_its_region(self):
        ec2 = self.client("ec2", "ap-southeast-3")
        image_id = self.image(ec2)
        ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
        self.assertError(ec2.modify_image_attribute, "OperationNotPermitted",
                         ImageId=image_id, LaunchPermission=PUBLIC)
        ec2.disable_image_block_public_access()
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=PUBLIC)
        self.assertTrue(self.is_public(ec2, image_id))

    # 2. the public AMI quota

    def test_the_public_ami_quota_is_five_per_region_by_default(self):
        ec2 = self.client("ec2", "eu-north-1")
        images = [self.image(ec2) for _ in range(6)]
        for image_id in images[:5]:
            ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=PUBLIC)
        msg = self.assertError(ec2.modify_image_attribute, "ResourceLimitExceeded",
                               ImageId=images[5], LaunchPermission=PUBLIC)
        self.assertEqual(msg, "You have reached your quota of 5 for the number of public images "
                              "allowed in this Region. Deregister unused public images or make "
                              "them private, or request an increase in your public AMIs quota.")
        self.assertFalse(self.is_public(ec2, images[5]))
        # Making one private, or deregistering it, frees a place.
        ec2.modify_image_attribute(ImageId=images[0], LaunchPermission=PRIVATE)
        ec2.modify_image_attribute(ImageId=images[5], LaunchPermission=PUBLIC)
        self.assertError(ec2.modify_image_attribute, "ResourceLimitExceeded",
                         ImageId=images[0], LaunchPermission=PUBLIC)
        ec2.deregister_image(ImageId=images[1])
        ec2.modify_image_attribute(ImageId=images[0], LaunchPermission=PUBLIC)

    def test_the_public_ami_quota_comes_from_control_and_counts_each_region(self):
        ec2, other = self.client("ec2", "ap-northeast-2"), self.client("ec2", "us-west-2")
        self.control({"public_ami_quota": 1})
        first, second = self.image(ec2), self.image(ec2)
        ec2.modify_image_attribute(ImageId=first, LaunchPermission=PUBLIC)
        msg = self.assertError(ec2.modify_image_attribute, "ResourceLimitExceeded",
                               ImageId=second, LaunchPermission=PUBLIC)
        self.assertIn("quota of 1 for the number of public images", msg)
        other.modify_image_attribute(ImageId=self.image(other), LaunchPermission=PUBLIC)
        self.control({"public_ami_quota": 2})
        ec2.modify_image_attribute(ImageId=second, LaunchPermission=PUBLIC)

    def test_block_public_access_is_checked_before_the_quota(self):
        ec2 = self.client("ec2", "eu-central-1")
        self.control({"public_ami_quota": 0,
                      "image_block_public_access": {"eu-central-1": "block-new-sharing"}})
        self.assertError(ec2.modify_image_attribute, "OperationNotPermitted",
                         ImageId=self.image(ec2), LaunchPermission=PUBLIC)

    # 3. opt-in regions

    def regions(self, **kwargs):
        out = self.client("ec2", "us-east-1").describe_regions(**kwargs)["Regions"]
        return {r["RegionName"]: r["OptInStatus"] for r in out}

    def test_describe_regions_lists_enabled_regions_unless_all_regions(self):
        default, every = self.regions(), self.regions(AllRegions=True)
        self.assertEqual(default["us-east-1"], "opt-in-not-required")
        self.assertNotIn("ap-east-1", default)  # an opt-in region moto reports not-opted-in
        self.assertEqual(every["ap-east-1"], "not-opted-in")
        self.assertNotIn("not-opted-in", default.values())

        self.control({"regions_not_opted_in": ["ap-southeast-2", "eu-west-1"],
                      "regions_opted_in": ["ap-east-1", "eu-west-1"]})
        default, every = self.regions(), self.regions(AllRegions=True)
        self.assertNotIn("ap-southeast-2", default)
        self.assertEqual(every["ap-southeast-2"], "not-opted-in")
        self.assertEqual(every["eu-west-1"], "not-opted-in")  # not_opted_in wins
        self.assertEqual(default["ap-east-1"], "opted-in")
        self.assertEqual(every["us-west-2"], "opt-in-not-required")
        # RegionNames: any region, enabled or not; filters as EC2 documents them.
        self.assertEqual(self.regions(RegionNames=["ap-southeast-2", "us-west-2"]),
                         {"ap-southeast-2": "not-opted-in", "us-west-2": "opt-in-not-required"})
        off = self.regions(AllRegions=True,
                           Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}])
        self.assertIn("ap-southeast-2", off)
        self.assertNotIn("ap-east-1", off)
        self.assertEqual(set(off.values()), {"not-opted-in"})
        self.assertEqual(
            self.regions(Filters=[{"Name": "region-name", "Values": ["ap-southeast-*"]},
                                  {"Name": "opt-in-status", "Values": ["opt-in-not-required"]}]),
            {"ap-southeast-1": "opt-in-not-required", "ap-southeast-3": "opt-in-not-required"})

    def test_requests_signed_for_a_region_not_opted_in_are_refused(self):
        self.control({"regions_not_opted_in": ["me-central-1", "sa-east-1"]})
        region = "sa-east-1"
        msg = self.assertError(self.client("ec2", region).describe_images, "AuthFailure",
                               status=401, Owners=["self"])
        self.assertEqual(msg, "AWS was not able to validate the provided access credentials")
        self.assertError(self.client("s3", region).list_buckets, "InvalidAccessKeyId", status=403)
        self.assertError(self.client("ssm", region).get_parameter,
                         "UnrecognizedClientException", Name="/x")
        self.assertError(self.client("sts", region).get_caller_identity, "InvalidClientTokenId",
                         status=403)
        stats = self.emu.stats()
        self.assertGreaterEqual(stats.get("refused other ec2:DescribeImages AuthFailure", 0), 1)
        self.assertGreaterEqual(stats.get("refused other ssm:GetParameter "
                                          "UnrecognizedClientException", 0), 1)
        # Other regions answer; the region answers once enabled.
        self.client("ec2", "us-east-1").describe_images(Owners=["self"])
        self.control({"regions_not_opted_in": ["me-central-1"]})
        self.client("ec2", region).describe_images(Owners=["self"])
        self.client("s3", region).list_buckets()

    def test_moto_opt_in_regions_are_refused_until_opted_in(self):
        ec2 = self.client("ec2", "il-central-1")
        self.assertError(ec2.describe_images, "AuthFailure", status=401, Owners=["self"])
        self.control({"regions_opted_in": ["il-central-1"]})
        ec2.describe_images(Owners=["self"])
