"""The emulator's S3 is as strict as S3 where support/s3_patches.py says it is, and gives new
buckets S3's defaults.

Starts support/emulator.py once for the module (through emulated.py) and talks to its endpoint
(the strict proxy in front of moto) with boto3.
Run: .venv/bin/python -m unittest discover -s support/tests -v
"""

import unittest
import uuid

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulated import EmulatedTestCase

KEY, SECRET = "testing", "testing"
# Whether this botocore's S3 model knows CreateBucketConfiguration.Tags (else: raw requests).
MODEL_HAS_TAGS = "Tags" in botocore.session.get_session().get_service_model("s3").shape_for(
    "CreateBucketConfiguration").members
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def config_xml(tags=(), location=None, raw_tags=None):
    """A CreateBucketConfiguration body, as the SDKs write it."""
    parts = [f'<CreateBucketConfiguration xmlns="{NS}">']
    if location:
        parts.append(f"<LocationConstraint>{location}</LocationConstraint>")
    if raw_tags is not None:
        parts.append(f"<Tags>{raw_tags}</Tags>")
    elif tags:
        parts.append("<Tags>")
        parts += [f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags]
        parts.append("</Tags>")
    parts.append("</CreateBucketConfiguration>")
    return "".join(parts).encode()


class S3StrictTest(EmulatedTestCase):
    # helpers

    def s3(self, region):
        return boto3.client(
            "s3", region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def bucket(self):
        return f"amipub-test-{uuid.uuid4().hex[:12]}"

    def create(self, region, bucket, tags, location=None):
        """CreateBucket with Tags (and LocationConstraint if given), through boto3's model when
        it has Tags, else as a raw signed request."""
        if MODEL_HAS_TAGS:
            conf = {"Tags": [{"Key": k, "Value": v} for k, v in tags]}
            if location:
                conf["LocationConstraint"] = location
            return self.s3(region).create_bucket(Bucket=bucket, CreateBucketConfiguration=conf)
        status, body = self.raw_create(region, bucket, config_xml(tags, location))
        if status != 200:
            raise AssertionError(f"CreateBucket: {status} {body}")
        return None

    def raw_create(self, region, bucket, body):
        """PUT /bucket with `body`, SigV4-signed for `region`: (status, response text)."""
        import urllib.request

        url = f"{self.endpoint}/{bucket}"
        req = AWSRequest(method="PUT", url=url, data=body,
                         headers={"Content-Type": "application/xml"})
        SigV4Auth(Credentials(KEY, SECRET), "s3", region).add_auth(req)
        prepared = urllib.request.Request(url, data=body, method="PUT",
                                          headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(prepared, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def tags(self, region, bucket):
        got = self.s3(region).get_bucket_tagging(Bucket=bucket)["TagSet"]
        return {t["Key"]: t["Value"] for t in got}

    def location(self, region, bucket):
        return self.s3(region).get_bucket_location(Bucket=bucket)["LocationConstraint"]

    def assertRefused(self, region, body, code, status=400):
        bucket = self.bucket()
        got_status, text = self.raw_create(region, bucket, body)
        self.assertEqual(got_status, status, text)
        self.assertIn(f"<Code>{code}</Code>", text)
        # Nothing was created.
        with self.assertRaises(ClientError) as cm:
            self.s3(region).head_bucket(Bucket=bucket)
        self.assertEqual(cm.exception.response["Error"]["Code"], "404")

    # CreateBucket with tags

    def test_tags_us_east_1_without_location_constraint(self):
        bucket = self.bucket()
        tags = [("amipub:managed", "true"), ("amipub:version", "1.2.3"), ("team", "")]
        self.create("us-east-1", bucket, tags)
        self.assertEqual(self.tags("us-east-1", bucket), dict(tags))
        self.assertIsNone(self.location("us-east-1", bucket))

    def test_tags_with_location_constraint(self):
        bucket = self.bucket()
        tags = [("amipub:managed", "true"), ("Name", "staging bucket @ eu-west-1")]
        self.create("eu-west-1", bucket, tags, location="eu-west-1")
        self.assertEqual(self.tags("eu-west-1", bucket), dict(tags))
        self.assertEqual(self.location("eu-west-1", bucket), "eu-west-1")

    def test_raw_bodies_as_the_rust_sdk_writes_them(self):
        # Tags only (us-east-1), and LocationConstraint then Tags (elsewhere).
        bucket = self.bucket()
        status, text = self.raw_create("us-east-1", bucket, config_xml([("a", "1")]))
        self.assertEqual(status, 200, text)
        self.assertEqual(self.tags("us-east-1", bucket), {"a": "1"})
        bucket = self.bucket()
        body = config_xml([("a", "1"), ("b", "2")], location="ap-southeast-2")
        status, text = self.raw_create("ap-southeast-2", bucket, body)
        self.assertEqual(status, 200, text)
        self.assertEqual(self.tags("ap-southeast-2", bucket), {"a": "1", "b": "2"})
        self.assertEqual(self.location("ap-southeast-2", bucket), "ap-southeast-2")

    # moto's behaviour kept

    def test_location_constraint_only_keeps_moto_behaviour(self):
        bucket = self.bucket()
        self.s3("eu-west-1").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(self.location("eu-west-1", bucket), "eu-west-1")
        with self.assertRaises(ClientError) as cm:
            self.s3("eu-west-1").get_bucket_tagging(Bucket=bucket)
        self.assertEqual(cm.exception.response["Error"]["Code"], "NoSuchTagSet")
        # No body at all, in us-east-1.
        bucket = self.bucket()
        self.s3("us-east-1").create_bucket(Bucket=bucket)
        self.assertIsNone(self.location("us-east-1", bucket))

    def test_location_constraint_checks_still_apply_with_tags(self):
        # A constraint other than the endpoint's Region: moto's IllegalLocationConstraint.
        body = config_xml([("a", "1")], location="eu-west-1")
        self.assertRefused("ap-southeast-2", body, "IllegalLocationConstraintException")
        # No constraint outside us-east-1: refused, with or without tags.
        self.assertRefused("eu-west-1", config_xml([("a", "1")]),
                           "IllegalLocationConstraintException")

    def test_recreating_own_us_east_1_bucket_keeps_its_tags(self):
        bucket = self.bucket()
        self.create("us-east-1", bucket, [("a", "1")])
        self.create("us-east-1", bucket, [("b", "2")])  # 200, as on S3 in us-east-1
        self.assertEqual(self.tags("us-east-1", bucket), {"a": "1"})

    # a new bucket's defaults (public access blocked, BucketOwnerEnforced, SSE-S3)

    ALL_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                   "BlockPublicPolicy": True, "RestrictPublicBuckets": True}

    def public_access_block(self, region, bucket):
        return self.s3(region).get_public_access_block(
            Bucket=bucket)["PublicAccessBlockConfiguration"]

    def ownership(self, region, bucket):
        rules = self.s3(region).get_bucket_ownership_controls(
            Bucket=bucket)["OwnershipControls"]["Rules"]
        self.assertEqual(len(rules), 1, rules)
        return rules[0]["ObjectOwnership"]

    def encryption_rules(self, region, bucket):
        return self.s3(region).get_bucket_encryption(
            Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]

    def assertS3Defaults(self, region, bucket, ownership="BucketOwnerEnforced"):
        self.assertEqual(self.public_access_block(region, bucket), self.ALL_BLOCKED)
        self.assertEqual(self.ownership(region, bucket), ownership)
        self.assertEqual(self.encryption_rules(region, bucket), [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }])

    def test_new_bucket_has_s3_defaults(self):
        # No body (us-east-1), a LocationConstraint, and Tags as amipub creates its buckets.
        bucket = self.bucket()
        self.s3("us-east-1").create_bucket(Bucket=bucket)
        self.assertS3Defaults("us-east-1", bucket)
        bucket = self.bucket()
        self.s3("eu-west-1").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertS3Defaults("eu-west-1", bucket)
        bucket = self.bucket()
        self.create("ap-southeast-2", bucket, [("a", "1")], location="ap-southeast-2")
        self.assertS3Defaults("ap-southeast-2", bucket)
        self.assertEqual(self.tags("ap-southeast-2", bucket), {"a": "1"})

    def test_new_objects_are_encrypted_with_sse_s3(self):
        bucket = self.bucket()
        s3 = self.s3("us-east-1")
        s3.create_bucket(Bucket=bucket)
        put = s3.put_object(Bucket=bucket, Key="k", Body=b"data")
        self.assertEqual(put["ServerSideEncryption"], "AES256")
        self.assertEqual(s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"],
                         "AES256")

    def test_object_ownership_header_chooses_the_ownership(self):
        for ownership in ("ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"):
            with self.subTest(ownership=ownership):
                bucket = self.bucket()
                self.s3("eu-west-1").create_bucket(
                    Bucket=bucket, ObjectOwnership=ownership,
                    CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
                self.assertS3Defaults("eu-west-1", bucket, ownership=ownership)

    def test_put_and_delete_still_change_the_settings(self):
        bucket = self.bucket()
        s3 = self.s3("us-east-1")
        s3.create_bucket(Bucket=bucket)
        open_ = {"BlockPublicAcls": False, "IgnorePublicAcls": True,
                 "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=open_)
        self.assertEqual(self.public_access_block("us-east-1", bucket), open_)
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
        self.assertEqual(self.ownership("us-east-1", bucket), "ObjectWriter")
        kms = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/amipub-test"}
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": kms, "BucketKeyEnabled": True}]})
        rules = self.encryption_rules("us-east-1", bucket)
        self.assertEqual(rules[0]["ApplyServerSideEncryptionByDefault"], kms)
        # Re-creating one's own us-east-1 bucket (200) does not bring the defaults back.
        s3.create_bucket(Bucket=bucket)
        self.assertEqual(self.public_access_block("us-east-1", bucket), open_)
        self.assertEqual(self.ownership("us-east-1", bucket), "ObjectWriter")
        s3.delete_public_access_block(Bucket=bucket)
        with self.assertRaises(ClientError) as cm:
            s3.get_public_access_block(Bucket=bucket)
        self.assertEqual(cm.exception.response["Error"]["Code"],
                         "NoSuchPublicAccessBlockConfiguration")
        s3.delete_bucket_ownership_controls(Bucket=bucket)
        with self.assertRaises(ClientError) as cm:
            s3.get_bucket_ownership_controls(Bucket=bucket)
        self.assertEqual(cm.exception.response["Error"]["Code"],
                         "OwnershipControlsNotFoundError")

    # validation, before anything is created

    def test_duplicate_keys_are_invalid_tag(self):
        self.assertRefused("us-east-1", config_xml([("k", "1"), ("k", "2")]), "InvalidTag")

    def test_invalid_keys_and_values_are_invalid_tag(self):
        for tags in ([("", "v")], [("k" * 129, "v")], [("k", "v" * 257)], [("a#b", "v")],
                     [("k", "a,b")], [("aws:owner", "me")], [("AWS:owner", "me")]):
            with self.subTest(tags=tags):
                self.assertRefused("us-east-1", config_xml(tags), "InvalidTag")
        # The limits themselves are fine.
        bucket = self.bucket()
        self.create("us-east-1", bucket, [("k" * 128, "v" * 256)])
        self.assertEqual(self.tags("us-east-1", bucket), {"k" * 128: "v" * 256})

    def test_more_than_50_tags_is_bad_request(self):
        tags = [(f"k{i}", "v") for i in range(51)]
        self.assertRefused("us-east-1", config_xml(tags), "BadRequest")
        bucket = self.bucket()
        self.create("us-east-1", bucket, tags[:50])
        self.assertEqual(len(self.tags("us-east-1", bucket)), 50)

    def test_schema_violations_are_malformed_xml(self):
        for body in (
            b"<CreateBucketConfiguration><Tags><Tag><Key>k</Key>",  # not well-formed
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
            config_xml(raw_tags="<Tag><Key>k</Key></Tag>"),  # Value missing
            config_xml(raw_tags="<Tag><Value>v</Value></Tag>"),  # Key missing
            config_xml(raw_tags="<Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag>"),
            config_xml(raw_tags="<Tag><Key>k</Key><Value>v</Value><Extra/></Tag>"),
            config_xml(raw_tags="<Item><Key>k</Key><Value>v</Value></Item>"),
        ):
            with self.subTest(body=body):
                self.assertRefused("us-east-1", body, "MalformedXML")


if __name__ == "__main__":
    unittest.main()
