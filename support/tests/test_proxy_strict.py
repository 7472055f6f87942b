"""The strict proxy in front of moto (support/proxy.py): each behaviour that makes the emulator at
least as strict as AWS, and the fault injection, seen from a client.

    cd /work/main && .venv/bin/python -m unittest discover -s support/tests -v

One emulator for the whole module (through emulated.py; starting moto takes seconds); each test
uses its own buckets, Regions or operations and rewrites control.json, so the tests do not
depend on each other's order.
"""

import datetime
import http.client
import json
import os
import random
import tempfile
import time
import unittest
import urllib.parse

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
from botocore.config import Config

from emulated import ROOT, EmulatedTestCase, Emulator

ACCOUNT = "123456789012"  # moto's default account
NO_RETRY = {"total_max_attempts": 1}


class ProxyEmulator(Emulator):
    """The emulator, with a client and raw requests (signed or not) to its endpoint."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.host, self.port = urllib.parse.urlsplit(self.endpoint).netloc.split(":")

    def client(self, service, region="us-east-1", key="testing", secret="testing", token=None,
               retries=NO_RETRY, validate=True):
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
            config=Config(s3={"addressing_style": "path"}, retries=retries,
                          parameter_validation=validate,
                          signature_version="s3v4" if service == "s3" else None),
        )

    def send(self, method, path, body=b"", headers=None):
        """A raw request to the endpoint: (status, headers, body)."""
        c = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def signed(self, method, path, region, service="s3", body=b"", headers=None,
               key="testing", secret="testing", token=None):
        """A header-signed (SigV4) raw request, signed for `region` and `service`."""
        req = botocore.awsrequest.AWSRequest(method=method, url=self.endpoint + path, data=body,
                                             headers=dict(headers or {}))
        creds = botocore.credentials.Credentials(key, secret, token)
        signer = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
        signer(creds, service, region).add_auth(req)
        return self.send(method, path, body, dict(req.headers.items()))


def code_of(body):
    text = body.decode("utf-8", "replace")
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else None


class ProxyStrictTest(EmulatedTestCase):
    emulator_class = ProxyEmulator
    emulator_args = ("--regions-file", os.path.join(ROOT, "regions.yaml"))
    stderr_limit = 5000

    def setUp(self):
        self.emu.control({})

    def bucket(self, name, region):
        s3 = self.emu.client("s3", region)
        conf = {} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **conf)
        return s3

    def assertError(self, code, fn, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.response["Error"]["Code"], code, cm.exception.response)
        return cm.exception.response

    def delta(self, before, key):
        return self.emu.stats().get(key, 0) - before.get(key, 0)

    # 1. Regions ------------------------------------------------------------------------

    def test_a_bucket_answers_only_in_its_region(self):
        self.bucket("strict-region-eu", "eu-west-1").put_object(
            Bucket="strict-region-eu", Key="k", Body=b"eu")
        status, headers, body = self.emu.signed("GET", "/strict-region-eu/k", "us-east-1")
        self.assertEqual(status, 301)
        self.assertEqual(headers["x-amz-bucket-region"], "eu-west-1")
        self.assertEqual(code_of(body), "PermanentRedirect")
        self.assertIn(b"<Bucket>strict-region-eu</Bucket>", body)
        status, headers, body = self.emu.signed("HEAD", "/strict-region-eu", "us-west-2")
        self.assertEqual((status, headers["x-amz-bucket-region"], body), (301, "eu-west-1", b""))
        status, headers, body = self.emu.signed("PUT", "/strict-region-eu/k2", "eu-west-2", body=b"x")
        self.assertEqual((status, code_of(body)), (301, "PermanentRedirect"))
        # The right Region works; ListBuckets and GetBucketLocation answer from any Region.
        self.assertEqual(self.emu.signed("GET", "/strict-region-eu/k", "eu-west-1")[2], b"eu")
        self.assertEqual(self.emu.signed("GET", "/", "ap-southeast-2")[0], 200)
        self.assertEqual(self.emu.signed("GET", "/strict-region-eu?location", "us-east-1")[0], 200)
        # A presigned URL signed for another Region is redirected too.
        url = self.emu.client("s3", "us-east-1").generate_presigned_url(
            "get_object", Params={"Bucket": "strict-region-eu", "Key": "k"})
        status, headers, _ = self.emu.send("GET", url[len(self.emu.endpoint):])
        self.assertEqual((status, headers["x-amz-bucket-region"]), (301, "eu-west-1"))
        self.assertGreaterEqual(
            self.emu.stats()["refused other s3:GetObject PermanentRedirect"], 2)

    def test_create_bucket_location_must_match_the_signing_region(self):
        s3 = self.emu.client("s3", "us-west-2")
        r = self.assertError("IllegalLocationConstraintException", s3.create_bucket,
                             Bucket="strict-region-mismatch",
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertError("IllegalLocationConstraintException", s3.create_bucket,
                         Bucket="strict-region-mismatch")

    # 2. Presigned URLs -------------------------------------------------------------------

    def presigned(self, method, bucket, obj, expires=3600, region="us-east-1", **creds):
        s3 = self.emu.client("s3", region, **creds)
        op = {"GET": "get_object", "PUT": "put_object", "DELETE": "delete_object"}[method]
        url = s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": obj},
                                        ExpiresIn=expires)
        return url[len(self.emu.endpoint):]

    def test_presigned_urls_are_checked(self):
        self.bucket("strict-presign", "us-east-1")
        put = self.presigned("PUT", "strict-presign", "dir/obj")
        self.assertEqual(self.emu.send("PUT", put, b"payload")[0], 200)
        get = self.presigned("GET", "strict-presign", "dir/obj")
        status, _, body = self.emu.send("GET", get)
        self.assertEqual((status, body), (200, b"payload"))

        # Another method than the signed one.
        status, _, body = self.emu.send("PUT", get, b"evil")
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        status, _, body = self.emu.send("DELETE", get)
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        # Another key than the signed one.
        status, _, body = self.emu.send("PUT", put.replace("dir/obj", "dir/other"), b"evil")
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        # A tampered signature, a tampered expiry.
        status, _, body = self.emu.send("GET", get[:-4] + "0000")
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        status, _, body = self.emu.send("GET", get.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601"))
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        # A key the emulator does not know, a wrong secret.
        status, _, body = self.emu.send("GET", self.presigned(
            "GET", "strict-presign", "dir/obj", key="AKIAUNKNOWN", secret="x"))
        self.assertEqual((status, code_of(body)), (403, "InvalidAccessKeyId"))
        self.assertIn(b"<AWSAccessKeyId>AKIAUNKNOWN</AWSAccessKeyId>", body)
        status, _, body = self.emu.send("GET", self.presigned(
            "GET", "strict-presign", "dir/obj", key="testing", secret="wrong"))
        self.assertEqual((status, code_of(body)), (403, "SignatureDoesNotMatch"))
        # Other static credentials the emulator knows.
        status, _, _ = self.emu.send("GET", self.presigned(
            "GET", "strict-presign", "dir/obj", key="demo", secret="demo"))
        self.assertEqual(status, 200)
        # Nothing was written by the refused PUTs.
        self.assertEqual(self.emu.send("GET", get)[2], b"payload")
        self.assertEqual(self.emu.send("GET", self.presigned("GET", "strict-presign", "dir/other"))[0],
                         404)

    def test_presigned_urls_expire(self):
        self.bucket("strict-expiry", "us-east-1").put_object(
            Bucket="strict-expiry", Key="k", Body=b"v")
        get = self.presigned("GET", "strict-expiry", "k", expires=60)
        self.assertEqual(self.emu.send("GET", get)[0], 200)
        self.emu.control({"clock_offset_seconds": 61})
        status, _, body = self.emu.send("GET", get)
        self.assertEqual((status, code_of(body)), (403, "AccessDenied"))
        self.assertIn(b"<Message>Request has expired</Message>", body)
        self.assertIn(b"<X-Amz-Expires>60</X-Amz-Expires>", body)
        self.assertIn(b"<Expires>", body)
        self.assertIn(b"<ServerTime>", body)
        # At most a week.
        self.emu.control({})
        status, _, body = self.emu.send("GET", self.presigned("GET", "strict-expiry", "k",
                                                              expires=604801))
        self.assertEqual((status, code_of(body)), (400, "AuthorizationQueryParametersError"))
        self.assertEqual(self.emu.send("GET", self.presigned("GET", "strict-expiry", "k",
                                                             expires=604800))[0], 200)

    # 3. Expiring STS credentials ---------------------------------------------------------

    def test_assume_role_profile_credentials_expire(self):
        iam = self.emu.client("iam")
        iam.create_role(RoleName="strict-publisher", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
        self.bucket("strict-sts", "us-east-1").put_object(Bucket="strict-sts", Key="k", Body=b"v")
        before = self.emu.stats()
        with tempfile.NamedTemporaryFile("w", suffix=".config", delete=False) as f:
            f.write(f"""[profile base]
aws_access_key_id = testing
aws_secret_access_key = testing
[profile role]
role_arn = arn:aws:iam::{ACCOUNT}:role/strict-publisher
source_profile = base
duration_seconds = 900
region = us-east-1
endpoint_url = {self.emu.endpoint}
""")
        saved = {k: os.environ.pop(k, None) for k in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_ENDPOINT_URL")}
        os.environ["AWS_CONFIG_FILE"], os.environ["AWS_SHARED_CREDENTIALS_FILE"] = f.name, os.devnull
        try:
            session = boto3.Session(profile_name="role")
            refreshable = session.get_credentials()
            frozen = refreshable.get_frozen_credentials()
        finally:
            os.unlink(f.name)
            for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
                os.environ.pop(k, None)
            os.environ.update({k: v for k, v in saved.items() if v is not None})
        self.assertTrue(frozen.access_key.startswith("ASIA"), frozen.access_key)
        # AssumeRole went through the proxy, classified by its credential scope.
        self.assertGreaterEqual(self.delta(before, "other sts:AssumeRole"), 1)
        lifetime = (refreshable._expiry_time - datetime.datetime.now(datetime.timezone.utc))
        self.assertTrue(850 < lifetime.total_seconds() <= 900, lifetime)

        creds = dict(key=frozen.access_key, secret=frozen.secret_key, token=frozen.token)
        s3 = self.emu.client("s3", **creds)
        ec2 = self.emu.client("ec2", **creds)
        sts = self.emu.client("sts", **creds)
        self.assertEqual(s3.get_object(Bucket="strict-sts", Key="k")["Body"].read(), b"v")
        ec2.describe_regions()
        get = self.presigned("GET", "strict-sts", "k", **creds)
        self.assertEqual(self.emu.send("GET", get)[0], 200)

        self.emu.control({"clock_offset_seconds": 901})
        r = self.assertError("ExpiredToken", s3.get_object, Bucket="strict-sts", Key="k")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(r["Error"]["Message"], "The provided token has expired.")
        self.assertError("ExpiredToken", s3.put_object, Bucket="strict-sts", Key="k2", Body=b"x")
        r = self.assertError("RequestExpired", ec2.describe_regions)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        r = self.assertError("ExpiredToken", sts.get_caller_identity)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 403)
        status, _, body = self.emu.send("GET", get)
        self.assertEqual((status, code_of(body)), (400, "ExpiredToken"))
        # The static credentials still work.
        self.assertEqual(self.emu.client("s3").get_object(Bucket="strict-sts", Key="k")[
            "Body"].read(), b"v")

    def test_assume_role_duration_limits(self):
        iam = self.emu.client("iam")
        iam.create_role(RoleName="strict-short", AssumeRolePolicyDocument="{}")
        sts = self.emu.client("sts", validate=False)  # botocore itself refuses < 900
        arn = f"arn:aws:iam::{ACCOUNT}:role/strict-short"
        r = self.assertError("ValidationError", sts.assume_role, RoleArn=arn,
                             RoleSessionName="session", DurationSeconds=60)
        self.assertIn("greater than or equal to 900", r["Error"]["Message"])
        r = self.assertError("ValidationError", sts.assume_role, RoleArn=arn,
                             RoleSessionName="session", DurationSeconds=7200)
        self.assertIn("MaxSessionDuration", r["Error"]["Message"])
        r = self.assertError("AccessDenied", sts.assume_role, RoleSessionName="session",
                             RoleArn=f"arn:aws:iam::{ACCOUNT}:role/strict-no-such-role")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 403)
        c = sts.assume_role(RoleArn=arn, RoleSessionName="session", DurationSeconds=900)["Credentials"]
        left = c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
        self.assertTrue(850 < left.total_seconds() <= 900, left)

    # 4. Fault injection ------------------------------------------------------------------

    def describe_regions(self, region="us-east-1", n=1):
        """n DescribeRegions calls; the error code of each (None: it worked)."""
        ec2 = self.emu.client("ec2", region)
        out = []
        for _ in range(n):
            try:
                ec2.describe_regions()
                out.append(None)
            except botocore.exceptions.ClientError as e:
                out.append((e.response["ResponseMetadata"]["HTTPStatusCode"],
                            e.response["Error"]["Code"]))
        return out

    def test_fault_nth(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"id": "nth", "operation": "ec2:DescribeRegions",
                                      "client": "other", "nth": [2, 3], "error": "InternalError"}]})
        self.assertEqual(self.describe_regions(n=4),
                         [None, (500, "InternalError"), (500, "InternalError"), None])
        self.assertEqual(self.delta(before, "injected other ec2:DescribeRegions InternalError"), 2)
        self.assertEqual(self.delta(before, "other ec2:DescribeRegions"), 4)

    def test_fault_every_with_times_and_throttled_count(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"id": "every", "operation": "ec2:DescribeRegions",
                                      "client": "*", "every": 2, "times": 2,
                                      "error": "RequestLimitExceeded"}]})
        got = self.describe_regions(n=7)
        t = (503, "RequestLimitExceeded")
        self.assertEqual(got, [None, t, None, t, None, None, None])
        self.assertEqual(self.delta(before, "throttled"), 2)
        self.assertEqual(
            self.delta(before, "injected other ec2:DescribeRegions RequestLimitExceeded"), 2)

    def test_fault_fraction_is_deterministic(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"id": "fraction", "operation": "s3:ListBuckets",
                                      "client": "other", "fraction": 0.5, "seed": 7,
                                      "error": "SlowDown"}]})
        s3 = self.emu.client("s3")
        got = []
        for _ in range(20):
            try:
                s3.list_buckets()
                got.append(False)
            except botocore.exceptions.ClientError as e:
                self.assertEqual((e.response["ResponseMetadata"]["HTTPStatusCode"],
                                  e.response["Error"]["Code"]), (503, "SlowDown"))
                got.append(True)
        rng = random.Random(7)
        self.assertEqual(got, [rng.random() < 0.5 for _ in range(20)])
        self.assertEqual(self.delta(before, "injected other s3:ListBuckets SlowDown"), sum(got))

    def test_fault_region_filter_status_and_message(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"id": "region", "operation": "ec2:Describe*",
                                      "client": "other", "region": "eu-west-2",
                                      "error": "Unavailable", "message": "try later"}]})
        self.assertEqual(self.describe_regions("us-east-1"), [None])
        ec2 = self.emu.client("ec2", "eu-west-2")
        r = self.assertError("Unavailable", ec2.describe_regions)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertEqual(r["Error"]["Message"], "try later")
        self.assertEqual(self.delta(before, "injected other ec2:DescribeRegions Unavailable"), 1)
        # A fault is answered by the proxy: the request never reaches moto.
        self.emu.control({"faults": [{"id": "notforwarded", "operation": "s3:CreateBucket",
                                      "client": "other", "error": "InternalError"}]})
        s3 = self.emu.client("s3")
        self.assertError("InternalError", s3.create_bucket, Bucket="strict-never-made")
        self.emu.control({})
        self.assertError("404", s3.head_bucket, Bucket="strict-never-made")

    def test_fault_drop_closes_the_connection(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"id": "drop", "operation": "s3:GetObject",
                                      "client": "*", "nth": [1], "drop": True}]})
        self.bucket("strict-drop", "us-east-1").put_object(Bucket="strict-drop", Key="k", Body=b"v")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.emu.send("GET", self.presigned("GET", "strict-drop", "k"))
        self.assertEqual(self.emu.send("GET", self.presigned("GET", "strict-drop", "k"))[0], 200)
        self.assertEqual(self.delta(before, "injected other s3:GetObject drop"), 1)

    def test_throttle_every_from_control_for_amipub(self):
        before = self.emu.stats()
        self.emu.control({"throttle_every": 2})
        form = b"Action=DescribeRegions&Version=2016-11-15"
        headers = {"User-Agent": "aws-sdk-rust/1.3 os/linux lang/rust/1.80",
                   "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        got = [self.emu.signed("POST", "/", "ca-central-1", "ec2", form, headers)[0]
               for _ in range(4)]
        self.assertEqual(got, [200, 503, 200, 503])
        self.assertEqual(self.delta(before, "amipub ec2:DescribeRegions"), 4)
        self.assertEqual(self.delta(before, "throttled"), 2)
        self.assertEqual(
            self.delta(before, "injected amipub ec2:DescribeRegions RequestLimitExceeded"), 2)

    # 5. EC2 rate limits ------------------------------------------------------------------

    def test_ec2_rate_limit_after_the_burst(self):
        before = self.emu.stats()
        ec2 = self.emu.client("ec2", "ap-southeast-2")
        got = []
        for _ in range(8):  # RunInstances: a bucket of 5, refilled at 2 per second
            try:
                ec2.run_instances(ImageId="ami-a3017899", MinCount=1, MaxCount=1, DryRun=True)
            except botocore.exceptions.ClientError as e:
                got.append(e.response["Error"]["Code"])
        self.assertEqual(got[:5], ["DryRunOperation"] * 5)
        self.assertIn("RequestLimitExceeded", got[5:])
        throttled = got.count("RequestLimitExceeded")
        self.assertEqual(self.delta(before, "rate-limited other ec2:RunInstances"), throttled)
        self.assertEqual(self.delta(before, "throttled"), throttled)
        # Per action and per Region: other actions and Regions are not affected.
        ec2.describe_regions()
        self.assertError("DryRunOperation", self.emu.client("ec2", "ap-northeast-1").run_instances,
                         ImageId="ami-eeb66aee", MinCount=1, MaxCount=1, DryRun=True)
        time.sleep(0.6)  # refilled: one more token
        self.assertError("DryRunOperation", ec2.run_instances, ImageId="ami-a3017899",
                         MinCount=1, MaxCount=1, DryRun=True)

    def test_an_accounts_own_rate_limits_replace_the_defaults(self):
        self.emu.control({"rate_limits": {"RunInstances": [1, 0.5]}})
        try:
            ec2 = self.emu.client("ec2", "sa-east-1")
            self.assertError("DryRunOperation", ec2.run_instances, ImageId="ami-a3017899",
                             MinCount=1, MaxCount=1, DryRun=True)
            # A bucket of one: the second at once is refused, though the default allows five.
            self.assertError("RequestLimitExceeded", ec2.run_instances, ImageId="ami-a3017899",
                             MinCount=1, MaxCount=1, DryRun=True)
        finally:
            self.emu.control({})

    # 6. Bucket policies ------------------------------------------------------------------

    def test_bucket_policy_deny_refuses_writes_until_it_lapses(self):
        s3 = self.bucket("strict-policy", "us-east-1")
        until = (datetime.datetime.now(datetime.timezone.utc)
                 + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        put = self.presigned("PUT", "strict-policy", "run1/build1/log")
        s3.put_bucket_policy(Bucket="strict-policy", Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Sealed", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::strict-policy/run1/build1/*",
                 "Condition": {"DateLessThan": {"aws:CurrentTime": until}}},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:Delete*",
                 "Resource": ["arn:aws:s3:::strict-policy/keep/*"]},
            ]}))
        r = self.assertError("AccessDenied", s3.put_object, Bucket="strict-policy",
                             Key="run1/build1/log", Body=b"x")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertIn("explicit deny", r["Error"]["Message"])
        status, _, body = self.emu.send("PUT", put, b"late upload")
        self.assertEqual((status, code_of(body)), (403, "AccessDenied"))
        # Other prefixes, and reads, are not denied.
        s3.put_object(Bucket="strict-policy", Key="run1/build2/log", Body=b"x")
        s3.put_object(Bucket="strict-policy", Key="keep/a", Body=b"a")
        s3.put_object(Bucket="strict-policy", Key="gone/b", Body=b"b")
        self.assertError("NoSuchKey", s3.get_object, Bucket="strict-policy", Key="run1/build1/log")
        # Deletes: DeleteObject refused, DeleteObjects refuses the denied keys one by one.
        self.assertError("AccessDenied", s3.delete_object, Bucket="strict-policy", Key="keep/a")
        out = s3.delete_objects(Bucket="strict-policy", Delete={"Objects": [
            {"Key": "keep/a"}, {"Key": "gone/b"}]})
        self.assertEqual([d["Key"] for d in out.get("Deleted", [])], ["gone/b"])
        self.assertEqual([(e["Key"], e["Code"]) for e in out["Errors"]], [("keep/a", "AccessDenied")])
        self.assertEqual(s3.get_object(Bucket="strict-policy", Key="keep/a")["Body"].read(), b"a")
        # After the DateLessThan, the Deny lapses.
        self.emu.control({"clock_offset_seconds": 601})
        status, _, body = self.emu.send("PUT", put, b"now allowed")
        self.assertEqual(status, 200, body)
        s3.put_object(Bucket="strict-policy", Key="run1/build1/log", Body=b"x")

    # 7. Conditional writes ---------------------------------------------------------------

    def test_conditional_writes(self):
        s3 = self.bucket("strict-cond", "us-east-1")
        etag = s3.put_object(Bucket="strict-cond", Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
        r = self.assertError("PreconditionFailed", s3.put_object, Bucket="strict-cond", Key="k",
                             Body=b"2", IfNoneMatch="*")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 412)
        self.assertError("PreconditionFailed", s3.put_object, Bucket="strict-cond", Key="k",
                         Body=b"2", IfMatch='"0123"')
        etag2 = s3.put_object(Bucket="strict-cond", Key="k", Body=b"2", IfMatch=etag)["ETag"]
        self.assertError("NoSuchKey", s3.put_object, Bucket="strict-cond", Key="missing",
                         Body=b"x", IfMatch=etag)
        r = self.assertError("NotImplemented", s3.put_object, Bucket="strict-cond", Key="k",
                             Body=b"3", IfNoneMatch=etag2)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 501)
        self.assertError("PreconditionFailed", s3.delete_object, Bucket="strict-cond", Key="k",
                         IfMatch=etag)
        s3.delete_object(Bucket="strict-cond", Key="k", IfMatch=etag2)
        s3.put_object(Bucket="strict-cond", Key="k", Body=b"4")
        s3.delete_object(Bucket="strict-cond", Key="k", IfMatch="*")
        self.assertError("NoSuchKey", s3.get_object, Bucket="strict-cond", Key="k")
        self.assertError("NoSuchKey", s3.delete_object, Bucket="strict-cond", Key="k",
                         IfMatch="*")


    # 8. JSON-protocol services (SSM, EventBridge, SQS) -------------------------------------

    AMIPUB_UA = "aws-sdk-rust/1.3 os/linux lang/rust/1.80"

    def json_request(self, target, payload, region="us-east-1", service="ssm"):
        """A header-signed JSON-protocol request as amipub sends it: (status, headers, body)."""
        headers = {"User-Agent": self.AMIPUB_UA, "X-Amz-Target": target,
                   "Content-Type": "application/x-amz-json-1.1"}
        return self.emu.signed("POST", "/", region, service, json.dumps(payload).encode(),
                               headers)

    def test_json_protocol_requests_are_counted_by_target_and_forwarded(self):
        before = self.emu.stats()
        ssm = self.emu.client("ssm", "eu-central-1")
        ssm.put_parameter(Name="/strict/json/p", Value="v1", Type="String")
        self.assertEqual(ssm.get_parameter(Name="/strict/json/p")["Parameter"]["Value"], "v1")
        events = self.emu.client("events", "eu-central-1")
        put = events.put_events(Entries=[{"Source": "amipub.test", "DetailType": "t",
                                          "Detail": "{}"}])
        self.assertEqual(put["FailedEntryCount"], 0)
        sqs = self.emu.client("sqs", "eu-central-1")
        url = sqs.create_queue(QueueName="strict-json")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["hello"])
        for key in ("other ssm:PutParameter", "other ssm:GetParameter", "other events:PutEvents",
                    "other sqs:CreateQueue", "other sqs:SendMessage", "other sqs:ReceiveMessage"):
            self.assertEqual(self.delta(before, key), 1, key)
        after = self.emu.stats()
        self.assertEqual([k for k in after if "s3:" in k and after[k] != before.get(k)], [])

    def test_json_protocol_requests_escape_ec2_throttling(self):
        """amipub's SSM requests: counted as "amipub ssm:...", never answered by throttle_every
        or by EC2's token buckets (a mutating EC2 action's holds 50)."""
        before = self.emu.stats()
        self.emu.control({"throttle_every": 1})
        got = [self.json_request("AmazonSSM.PutParameter",
                                 {"Name": f"/strict/burst/{i}", "Value": "v", "Type": "String"},
                                 region="ca-central-1")[0] for i in range(55)]
        self.assertEqual(got, [200] * 55)
        self.assertEqual(self.delta(before, "amipub ssm:PutParameter"), 55)
        self.assertEqual(self.delta(before, "throttled"), 0)

    def test_fault_on_ssm_put_parameter_by_region_is_a_json_error(self):
        before = self.emu.stats()
        self.emu.control({"faults": [{"operation": "ssm:PutParameter", "region": "eu-west-1",
                                      "error": "InternalServerError", "status": 500}]})

        def amipub_ssm(region):  # boto3, seen by the proxy as amipub (the rule's default client)
            return boto3.client(
                "ssm", region_name=region, endpoint_url=self.emu.endpoint,
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(retries=NO_RETRY, user_agent=self.AMIPUB_UA))

        r = self.assertError("InternalServerError", amipub_ssm("eu-west-1").put_parameter,
                             Name="/strict/fault/p", Value="v", Type="String")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 500)
        amipub_ssm("us-east-1").put_parameter(Name="/strict/fault/p", Value="v", Type="String")
        self.assertEqual(self.delta(before, "injected amipub ssm:PutParameter InternalServerError"),
                         1)
        # The error as the JSON protocol writes it.
        status, headers, body = self.json_request(
            "AmazonSSM.PutParameter", {"Name": "/strict/fault/q", "Value": "v", "Type": "String"},
            region="eu-west-1")
        self.assertEqual(status, 500)
        self.assertEqual(headers["content-type"], "application/x-amz-json-1.1")
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(json.loads(body), {"__type": "InternalServerError",
                                            "message": "InternalServerError"})
        # Answered by the proxy: nothing was written in eu-west-1.
        self.emu.control({})
        self.assertError("ParameterNotFound", self.emu.client("ssm", "eu-west-1").get_parameter,
                         Name="/strict/fault/p")

    def test_fault_on_events_and_sqs(self):
        before = self.emu.stats()
        self.emu.control({"faults": [
            {"operation": "events:PutEvents", "client": "other", "error": "ThrottlingException",
             "message": "Rate exceeded"},
            {"operation": "sqs:SendMessage", "client": "other", "nth": [1],
             "error": "InternalError"}]})
        events = self.emu.client("events", "eu-north-1")
        r = self.assertError("ThrottlingException", events.put_events,
                             Entries=[{"Source": "amipub.test", "DetailType": "t", "Detail": "{}"}])
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertEqual(r["Error"]["Message"], "Rate exceeded")
        sqs = self.emu.client("sqs", "eu-north-1")
        url = sqs.create_queue(QueueName="strict-fault")["QueueUrl"]
        r = self.assertError("InternalError", sqs.send_message, QueueUrl=url, MessageBody="m")
        self.assertEqual(r["ResponseMetadata"]["HTTPHeaders"]["content-type"],
                         "application/x-amz-json-1.0")
        sqs.send_message(QueueUrl=url, MessageBody="m")
        self.assertEqual(self.delta(before, "injected other events:PutEvents ThrottlingException"),
                         1)
        self.assertEqual(self.delta(before, "injected other sqs:SendMessage InternalError"), 1)

    def test_sqs_query_protocol_is_sqs_not_ec2_or_s3(self):
        """SQS's older protocol: a form POST, Action=..., to the queue's URL."""
        url = self.emu.client("sqs", "eu-west-3").create_queue(QueueName="strict-query")[
            "QueueUrl"]
        path = urllib.parse.urlsplit(url).path
        form = b"Action=SendMessage&MessageBody=hello&Version=2012-11-05"
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        before = self.emu.stats()
        status, _, body = self.emu.signed("POST", path, "eu-west-3", "sqs", form, headers)
        self.assertEqual(status, 200, body)
        self.assertIn(b"<SendMessageResponse", body)
        self.assertEqual(self.delta(before, "other sqs:SendMessage"), 1)
        self.emu.control({"faults": [{"operation": "sqs:SendMessage", "client": "*",
                                      "region": "eu-west-3", "error": "InternalError"}]})
        status, headers, body = self.emu.signed("POST", path, "eu-west-3", "sqs", form, headers)
        self.assertEqual(status, 500)
        self.assertEqual(code_of(body), "InternalError")
        self.assertIn(b'<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">', body)


if __name__ == "__main__":
    unittest.main()
