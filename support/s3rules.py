"""S3 as strict as AWS where moto is kinder, for the proxy in front of it. Test support only.
Reads moto's in-process S3 state (internals of the pinned moto version: s3_backends, Bucket's
region_name, policy, keys).

Gaps of moto filled here:

- Regions: moto serves every bucket from any Region's endpoint. S3 does not: a request for an
  existing bucket signed for (so sent to the regional endpoint of) another Region gets
  301 PermanentRedirect with the x-amz-bucket-region header, an XML body naming the Bucket and
  Endpoint, and no body for HEAD ("Request redirection and the REST API",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingRouting.html; error code list in
  "Billing for Amazon S3 error responses",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorCodeBilling.html; HeadBucket,
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html). 301, not 400
  AuthorizationHeaderMalformed: that one is the legacy global endpoint's answer
  (s3.amazonaws.com), and the Rust SDK always addresses s3.<region>.amazonaws.com. Exempt:
  ListBuckets (global), CreateBucket (moto already answers IllegalLocationConstraintException
  as S3 does when the constraint and the endpoint's Region disagree) and GetBucketLocation,
  which S3 answers from any Region (API_GetBucketLocation).
- Bucket policies: moto 5.2.5 enforces them only for object requests and wrongly: any
  statement with a Condition counts as a deny whatever its effect and whether it holds, and the
  answer is a bare 403 without S3's XML. `replace_moto_policy_check` turns moto's check off;
  `denied` evaluates the policy's Deny statements for object requests (PutObject and the other
  writes authorized as s3:PutObject, GetObject/HeadObject, DeleteObject, each key of
  DeleteObjects, ListObjects); an explicit deny is 403 AccessDenied ("Troubleshoot access denied (403 Forbidden) errors in
  Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html).
  Allow statements are not evaluated: the emulator allows everything by default. Principals are
  not evaluated either: a Deny applies to every principal (stricter, never kinder). Supported:
  Action/NotAction and Resource/NotResource with * and ? wildcards, and the date condition
  operators on aws:CurrentTime (the emulator's clock, see clock_offset_seconds);
  Bool aws:SecureTransport holds "true" (the emulator stands in for HTTPS endpoints). Any other
  condition is taken to hold, so such a Deny applies (stricter, never kinder).
- Conditional writes: moto 5.2.5 honours If-None-Match: * and If-Match: ETAG on PutObject
  (412 PreconditionFailed; If-Match on a missing key: 404 NoSuchKey) and If-Match: ETAG on
  DeleteObject, as S3 does ("How to perform conditional deletes",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html). Filled:
  If-None-Match with anything but * on PutObject, which S3 refuses with 501 NotImplemented
  (API_PutObject: "Expects the '*' (asterisk) character") and moto ignores; If-Match: * on
  DeleteObject, which S3 treats as "delete if it exists" while moto compares "*" as an ETag.
"""

import datetime
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET

BUCKET_OPS = {
    "GET": [("location", "GetBucketLocation"), ("policy", "GetBucketPolicy"),
            ("tagging", "GetBucketTagging"), ("encryption", "GetBucketEncryption"),
            ("publicAccessBlock", "GetPublicAccessBlock"),
            ("ownershipControls", "GetBucketOwnershipControls"),
            ("versioning", "GetBucketVersioning"), ("acl", "GetBucketAcl"),
            ("lifecycle", "GetBucketLifecycleConfiguration"), ("cors", "GetBucketCors"),
            ("policyStatus", "GetBucketPolicyStatus"), ("versions", "ListObjectVersions"),
            ("uploads", "ListMultipartUploads"), ("list-type", "ListObjectsV2")],
    "PUT": [("policy", "PutBucketPolicy"), ("tagging", "PutBucketTagging"),
            ("encryption", "PutBucketEncryption"), ("publicAccessBlock", "PutPublicAccessBlock"),
            ("ownershipControls", "PutBucketOwnershipControls"),
            ("versioning", "PutBucketVersioning"), ("acl", "PutBucketAcl"),
            ("lifecycle", "PutBucketLifecycleConfiguration"), ("cors", "PutBucketCors")],
    "DELETE": [("policy", "DeleteBucketPolicy"), ("tagging", "DeleteBucketTagging"),
               ("encryption", "DeleteBucketEncryption"),
               ("publicAccessBlock", "DeletePublicAccessBlock"),
               ("ownershipControls", "DeleteBucketOwnershipControls"),
               ("lifecycle", "DeleteBucketLifecycle"), ("cors", "DeleteBucketCors")],
}
BUCKET_DEFAULT = {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket",
                  "HEAD": "HeadBucket"}
# The permission each object operation is authorized as.
POLICY_ACTIONS = {
    "PutObject": "s3:PutObject", "CopyObject": "s3:PutObject", "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject", "DeleteObject": "s3:DeleteObject",
    "PutObjectTagging": "s3:PutObjectTagging", "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectAcl": "s3:PutObjectAcl", "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
}


def split_path(raw_path):
    """(bucket, key) of a path-style request; either may be ''."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def operation(method, raw_path, query, headers):
    """S3's name of the operation of a path-style request, e.g. "PutObject"."""
    bucket, key = split_path(raw_path)
    names = {k for k, _ in query}
    if not bucket:
        return "ListBuckets" if method == "GET" else "Unknown"
    if not key:
        if method == "POST" and "delete" in names:
            return "DeleteObjects"
        for sub, op in BUCKET_OPS.get(method, []):
            if sub in names:
                return op
        return BUCKET_DEFAULT.get(method, "Unknown")
    copy = "x-amz-copy-source" in {h.lower() for h in headers.keys()}
    if method == "PUT":
        if "partNumber" in names and "uploadId" in names:
            return "UploadPartCopy" if copy else "UploadPart"
        for sub, op in (("tagging", "PutObjectTagging"), ("acl", "PutObjectAcl")):
            if sub in names:
                return op
        return "CopyObject" if copy else "PutObject"
    if method == "GET":
        for sub, op in (("tagging", "GetObjectTagging"), ("acl", "GetObjectAcl"),
                        ("uploadId", "ListParts"), ("attributes", "GetObjectAttributes")):
            if sub in names:
                return op
        return "GetObject"
    if method == "DELETE":
        if "uploadId" in names:
            return "AbortMultipartUpload"
        return "DeleteObjectTagging" if "tagging" in names else "DeleteObject"
    if method == "POST":
        if "uploads" in names:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if "uploadId" in names else "Unknown"
    return "HeadObject" if method == "HEAD" else "Unknown"


def backend():
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def find_bucket(name):
    return backend().buckets.get(name) if name else None


def wrong_region(op, bucket_name, region):
    """The bucket's Region when a request signed for `region` must be redirected there."""
    if op in ("ListBuckets", "CreateBucket", "GetBucketLocation") or not region:
        return None
    bucket = find_bucket(bucket_name)
    if bucket is None or bucket.region_name == region:
        return None
    return bucket.region_name


def redirect_error(bucket_name, bucket_region):
    """(status, code, message, extra, headers) of S3's answer to the wrong regional endpoint."""
    return (301, "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified "
            "endpoint. Please send all future requests to this endpoint.",
            {"Endpoint": f"s3.{bucket_region}.amazonaws.com", "Bucket": bucket_name},
            {"x-amz-bucket-region": bucket_region})


# Bucket policies ---------------------------------------------------------------------------

def _pattern(p, case):
    """A compiled IAM wildcard pattern (* and ?)."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p)
    return re.compile(rx + r"\Z", 0 if case else re.IGNORECASE)


def _listed(value):
    return value if isinstance(value, list) else [value]


def _any_match(patterns, value, case):
    return any(_pattern(str(p), case).match(value) for p in _listed(patterns))


def _parse_time(s):
    s = str(s).replace("Z", "+00:00")
    try:
        t = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


DATE_OPS = {
    "DateLessThan": lambda now, t: now < t, "DateLessThanEquals": lambda now, t: now <= t,
    "DateGreaterThan": lambda now, t: now > t,
    "DateGreaterThanEquals": lambda now, t: now >= t,
    "DateEquals": lambda now, t: now == t, "DateNotEquals": lambda now, t: now != t,
}


def _conditions_hold(conditions, now):
    for op, tests in (conditions or {}).items():
        for key, values in (tests or {}).items():
            if op in DATE_OPS and key.lower() == "aws:currenttime":
                times = [_parse_time(v) for v in _listed(values)]
                if not any(t is not None and DATE_OPS[op](now, t) for t in times):
                    return False
            elif op == "Bool" and key.lower() == "aws:securetransport":
                if "true" not in [str(v).lower() for v in _listed(values)]:
                    return False
            # Any other condition: taken to hold (a Deny applies; never kinder than S3).
    return True


def policy_denies(policy_text, action, resource, now):
    """Whether the bucket policy explicitly denies `action` on `resource` at `now`."""
    if not policy_text:
        return False
    try:
        policy = json.loads(policy_text)
    except (TypeError, ValueError):
        return False
    for st in _listed(policy.get("Statement", [])):
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        if "Action" in st and not _any_match(st["Action"], action, case=False):
            continue
        if "NotAction" in st and _any_match(st["NotAction"], action, case=False):
            continue
        if "Resource" in st and not _any_match(st["Resource"], resource, case=True):
            continue
        if "NotResource" in st and _any_match(st["NotResource"], resource, case=True):
            continue
        if _conditions_hold(st.get("Condition"), now):
            return True
    return False


def bucket_policy(bucket_name):
    bucket = find_bucket(bucket_name)
    policy = getattr(bucket, "policy", None) if bucket is not None else None
    return policy.decode() if isinstance(policy, bytes) else policy


def denied(op, bucket_name, key, now):
    """(action, resource ARN) when the bucket's policy denies this object request."""
    action = POLICY_ACTIONS.get(op)
    policy = bucket_policy(bucket_name) if action else None
    if not policy:
        return None
    # Object operations act on bucket/key; ListBucket (no key) on the bucket itself.
    resource = f"arn:aws:s3:::{bucket_name}" + (f"/{key}" if key else "")
    return (action, resource) if policy_denies(policy, action, resource, now) else None


def filter_delete_objects(bucket_name, body, now):
    """DeleteObjects with a policy that denies some keys, as S3 answers it: the denied keys get
    an AccessDenied <Error> each in the result, the others are deleted. Returns (new body, or
    None when nothing is left to delete, [denied keys]); no denied keys: (body, [])."""
    policy = bucket_policy(bucket_name)
    if not policy:
        return body, []
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body, []
    ns = root.tag[1: root.tag.index("}")] if root.tag.startswith("{") else ""
    q = f"{{{ns}}}" if ns else ""
    refused = []
    for obj in list(root.findall(f"{q}Object")):
        key = obj.findtext(f"{q}Key") or ""
        if policy_denies(policy, "s3:DeleteObject", f"arn:aws:s3:::{bucket_name}/{key}", now):
            refused.append(key)
            root.remove(obj)
    if not refused:
        return body, []
    if not root.findall(f"{q}Object"):
        return None, refused
    ET.register_namespace("", ns)  # keep S3's default namespace, no ns0: prefixes
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), refused


def add_delete_errors(response_body, refused):
    """Adds an AccessDenied <Error> per refused key to a DeleteObjects result."""
    errors = "".join(
        f"<Error><Key>{_esc(k)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message>"
        "</Error>" for k in refused)
    text = response_body.decode("utf-8", "replace")
    if "</DeleteResult>" in text:
        return text.replace("</DeleteResult>", errors + "</DeleteResult>").encode()
    return response_body


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def replace_moto_policy_check():
    """moto's own bucket policy check (FakeBucket.get_permission, consulted for object requests
    and each key of DeleteObjects) always answers "no opinion": the proxy evaluates bucket
    policies instead (see the module docstring), so that a Deny with a DateLessThan lapses as
    it does in S3, and a denial is S3's AccessDenied XML."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL


def object_exists(bucket_name, key):
    try:
        return backend().get_object(bucket_name, key) is not None
    except Exception:
        return False
