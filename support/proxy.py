"""The strict proxy in front of moto: every client (amipub, the tests, the simulated instances)
goes through it. It counts requests, injects faults, and makes the emulator at least as strict
as AWS where moto is kinder. Test support only. It runs in moto's process, so it reads moto's
state directly (buckets, bucket policies, STS credentials). Each gap, where it is filled:

- moto counts nothing: GET /_amipub/stats (below).
- moto never fails: faults injected per operation from control.json (faults.py FaultRules), and
  --throttle-every / "throttle_every": every Nth EC2 request of amipub answered
  RequestLimitExceeded.
- moto never throttles: EC2's per-Region, per-action token buckets (faults.py RateLimiter;
  numbers from "Request throttling for the Amazon EC2 API",
  https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html), for every client,
  answered 503 RequestLimitExceeded. On by default; --no-rate-limits (benchmarks only) turns
  them off.
- moto serves any bucket from any Region: 301 PermanentRedirect (s3rules.py).
- moto never checks presigned URLs: signature, method, key and expiry checked (sigv4.py).
- moto never expires STS credentials: a request whose session token belongs to expired
  credentials is refused: S3 400 ExpiredToken "The provided token has expired." (S3 error
  codes, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html); EC2 400
  RequestExpired "Request has expired." ("Error codes for the Amazon EC2 API", which says it
  also occurs when temporary credentials have expired,
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html); STS/IAM 403
  ExpiredToken "The security token included in the request is expired" (the query APIs' code
  for it; Common Errors, https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html,
  lists it as ExpiredTokenException, 403).
- moto's AssumeRole accepts any DurationSeconds: AWS wants 900..43200 and at most the role's
  MaxSessionDuration, else 400 ValidationError (API_AssumeRole,
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). moto also assumes
  roles that do not exist; in the emulator's own account such a request is refused 403
  AccessDenied, as STS refuses a role it cannot assume (roles of other accounts: unknown here,
  left to moto).
- moto's bucket policy enforcement is partial and wrong: replaced, Deny statements evaluated
  for object requests (s3rules.py).
- Conditional writes: the two cases moto gets wrong (s3rules.py).
- moto serves every Region, the account's opt-in Regions too: a request signed (its credential
  scope) for a Region the emulated account has not enabled (optin.py: moto's not-opted-in
  Regions and control.json "regions_not_opted_in", less "regions_opted_in") is refused before
  anything else, as AWS answers in a Region the account has not enabled, whose IAM resources
  are not there ("When you enable a Region, AWS performs actions to prepare your account in
  that Region, such as distributing your IAM resources to the Region ... You cannot use the
  Region until this process is complete", Account Management API reference, EnableRegion,
  https://docs.aws.amazon.com/accounts/latest/reference/API_EnableRegion.html): EC2 401
  AuthFailure "AWS was not able to validate the provided access credentials" (AuthFailure: "The
  provided credentials could not be validated", "Error codes for the Amazon EC2 API"; code,
  status and message as EC2 answers in a disabled opt-in Region: segmentio/aws-okta#225,
  turbot/steampipe-plugin-aws#75, redhat-cop/agnosticd#3762); JSON protocol (SSM, EventBridge,
  SQS) 400 UnrecognizedClientException "The security token included in the request is invalid"
  (as SSM answers in a disabled opt-in Region, awslabs/landing-zone-accelerator-on-aws#269;
  aws/chalice#1445); STS, IAM and SQS's query protocol 403 InvalidClientTokenId "The security
  token included in the request is invalid." (STS in a disabled Region,
  hashicorp/terraform-provider-aws#12940; Common Errors: "The X.509 certificate or AWS access key
  ID provided does not exist in our records", 403); S3 403 InvalidAccessKeyId "The AWS Access Key
  Id you provided does not exist in our records." (S3 error codes, ErrorResponses.html: the
  access key is not in S3's records, as the account's keys are not in a Region it has not
  enabled; S3 documents no code for the case, so this is our choice). Counted "refused".

Only presigned S3 requests (query authentication) have their signature verified; header-signed
requests are not (their credential scope is read, their session token checked for expiry).

The service of a request is its SigV4 credential scope's (Authorization header or
X-Amz-Credential): EC2, STS and IAM all use form POSTs. Unsigned form POSTs count as EC2.

JSON-protocol services (SSM, EventBridge, SQS's current protocol): a POST with an X-Amz-Target
header ("AmazonSSM.PutParameter", "AWSEvents.PutEvents", "AmazonSQS.ReceiveMessage") is
operation "<service>:<Action>" ("ssm:PutParameter", "events:PutEvents", "sqs:ReceiveMessage"),
the service from the target's prefix (AmazonSSM ssm, AWSEvents events, AmazonSQS sqs; another
prefix: the credential scope's service). Before, every such request was taken for S3
("s3:Unknown"): no rule could target it and an injected error was S3 XML, which a JSON client
cannot parse. They are counted, can be faulted (by operation, client and the scope's Region)
and have expired STS credentials refused (403 ExpiredTokenException, as Common Errors lists
it), and are otherwise forwarded unchanged: no S3 checks, no EC2 rate limits or
throttle_every. Their errors are written as the JSON protocol writes them: body
{"__type": "<Code>", "message": "<message>"}, Content-Type application/x-amz-json-1.1
(1.0 for SQS), header x-amzn-RequestId (faults.error_body). SQS's older query protocol (a form
POST, Action=..., to the queue's URL, scope service sqs) is "sqs:<Action>" too, not EC2, with
the query APIs' XML errors.

control.json (<work>/control.json, re-read when it changes), the keys the proxy reads:
  "faults": [rule, ...]  each rule:
     {"operation": "ec2:CreateImage" | "s3:PutObject" | "sts:AssumeRole" |
                   "ssm:PutParameter" | "events:PutEvents" | "sqs:SendMessage" | glob ("ec2:*"),
      "region": "us-east-1" (optional, glob; the signing Region),
      "client": "amipub" (default) | "instance" | "other" | "*",
      one of "nth": [1, 3] (1-based count of matching requests) | "every": N |
             "fraction": 0.25 (with "seed": 0, deterministic); none: every match,
      "times": cap on injections (optional),
      "error": "InternalError" (code), "status": HTTP status (default 503 for throttling
      codes and Unavailable/ServiceUnavailable, 500 for InternalError/InternalFailure, else
      400), "message": optional,
      "drop": true: close the connection without any response (the request is not forwarded),
      "lose_response": true: forward the request (it takes effect) and close the connection
      without its response, as a connection breaking on the way back}
     The first rule that fires answers; every matching rule counts the request. A request
     answered with a fault is not forwarded to moto. S3 operations are S3's names (PutObject,
     GetObject, HeadObject, DeleteObject, DeleteObjects, ListObjectsV2, CreateBucket,
     HeadBucket, GetBucketLocation, PutBucketPolicy, GetBucketPolicy, PutBucketEncryption,
     PutPublicAccessBlock, PutBucketOwnershipControls, PutBucketTagging, DeleteBucket, ...).
  "throttle_every": N  overrides --throttle-every.
  "rate_limits": {"RunInstances": [capacity, refill per second], ...}  an account whose EC2
     request buckets AWS set apart from the defaults (AWS may lower or raise an account's).
  "clock_offset_seconds": S  shifts the emulator's "now" for expiry checks (presigned URLs,
     STS credentials, aws:CurrentTime in bucket policies), e.g. 3600 to be an hour later.
  "regions_not_opted_in": [Region, ...], "regions_opted_in": [Region, ...]  the account's
     opt-in Regions (optin.py); requests signed for a not-opted-in Region are refused (above),
     and EC2's DescribeRegions reports them so (ec2_patches.patch_describe_regions).

Stats (GET /_amipub/stats): "<client> <op>" as classify() makes it, as before (e.g.
"amipub ec2:RunInstances", "instance s3:GET object", "amipub ssm:PutParameter"); plus
"injected <client> <operation> <code>" (code "drop" for dropped connections), "rate-limited
<client> <operation>", "refused <client> <operation> <code>" (the strictness checks above),
and "throttled": the total of RequestLimitExceeded answers (injected, --throttle-every and rate
limits; always present).

Expiring STS credentials in a test: an AWS config file (AWS_CONFIG_FILE) such as
    [profile base]
    aws_access_key_id = testing
    aws_secret_access_key = testing
    [profile role]
    role_arn = arn:aws:iam::123456789012:role/amipub-publisher
    source_profile = base
    duration_seconds = 900
    region = us-east-1
    endpoint_url = http://127.0.0.1:PORT
makes boto3 call sts:AssumeRole through the proxy (role_arn + source_profile: the AWS SDKs'
assume-role profile; the role must exist, created through IAM first) and get credentials
expiring in 900 s, AWS's minimum: shorter is refused as AWS does, so a test does not wait for
them; it writes {"clock_offset_seconds": 901} to control.json and the next request with them
is refused (support/tests/test_proxy_strict.py test_assume_role_profile_credentials_expire).
"""

import http.client
import http.server
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter

import faults
import optin
import s3rules
import sigv4


# X-Amz-Target's prefix -> service, for the JSON-protocol services the emulator is asked for;
# other targets fall back to the credential scope's service.
JSON_TARGETS = {"AmazonSSM": "ssm", "AWSEvents": "events", "AmazonSQS": "sqs"}
QUERY_SERVICES = ("sts", "iam", "sqs")  # form POSTs that are not EC2's


def protocol_of(method, path, headers):
    """The request's protocol: "json" (a POST with X-Amz-Target: SSM, EventBridge, SQS),
    "query" (a form POST with Action=...: EC2, STS, IAM, and SQS's older protocol, which posts
    to the queue's URL rather than to /), or "rest" (S3)."""
    if method != "POST":
        return "rest"
    if headers.get("X-Amz-Target"):
        return "json"
    if "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        scope = sigv4.scope_of(headers, [])
        if urllib.parse.urlsplit(path).path == "/" or (scope and scope.service == "sqs"):
            return "query"
    return "rest"


def json_operation(headers):
    """"<service>:<Action>" of a JSON-protocol request, from X-Amz-Target
    ("AmazonSSM.PutParameter" -> "ssm:PutParameter")."""
    prefix, _, action = headers.get("X-Amz-Target", "").rpartition(".")
    scope = sigv4.scope_of(headers, [])
    service = JSON_TARGETS.get(prefix) or (scope.service if scope else prefix.lower())
    return f"{service or '?'}:{action or '?'}"


def classify(method, path, headers, body):
    """(client, operation) of one request, for the counts."""
    ua = headers.get("User-Agent", "")
    if "aws-sdk-rust" in ua:
        client = "amipub"
    elif ua.startswith("curl"):
        client = "instance"
    else:
        client = "other"
    protocol = protocol_of(method, path, headers)
    if protocol == "json":
        return client, json_operation(headers)
    if protocol == "query":
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        scope = sigv4.scope_of(headers, [])
        service = scope.service if scope and scope.service in QUERY_SERVICES else "ec2"
        return client, f"{service}:" + form.get("Action", ["?"])[0]
    parsed = urllib.parse.urlsplit(path)
    parts = [p for p in parsed.path.split("/") if p]
    kind = "object" if len(parts) > 1 else ("bucket" if parts else "service")
    q = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    auth = {"AWSAccessKeyId", "Signature", "Expires", "x-id"}
    sub = sorted(k for k in q if not k.startswith("X-Amz-") and k not in auth)
    return client, f"s3:{method} {kind}" + (f"?{sub[0]}" if sub else "")


def make_proxy(moto_host, moto_port, throttle_every, control_path=None, credentials=None,
               rate_limits=True):
    """The proxy's request handler class. `credentials`: {access key: secret} besides the
    default test ones; `control_path`: control.json."""
    counts = Counter()  # (client, op) as classify() makes it
    extra = Counter()  # "injected ...", "refused ...", "rate-limited ...", "throttled"
    lock = threading.Lock()
    state = {"ec2_from_amipub": 0}
    local = threading.local()
    control = faults.Control(control_path) if control_path else None
    rules = faults.FaultRules()
    limiter = faults.RateLimiter() if rate_limits else None
    creds = sigv4.Credentials(credentials or {})
    s3rules.replace_moto_policy_check()  # the proxy evaluates bucket policies instead

    def count(key, n=1):
        with lock:
            (counts if isinstance(key, tuple) else extra)[key] += n

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            body = self.read_body()
            if self.path == "/_amipub/stats":
                with lock:
                    data = {f"{c} {op}": n for (c, op), n in sorted(counts.items())}
                    data.update(sorted(extra.items()))
                    data.setdefault("throttled", 0)
                self.reply(200, json.dumps(data).encode(), "application/json")
                return
            client, legacy_op = classify(self.command, self.path, self.headers, body)
            count((client, legacy_op))
            self.client = client
            parsed = urllib.parse.urlsplit(self.path)
            query = sigv4.parse_query(parsed.query)
            scope = sigv4.scope_of(self.headers, query)
            region = scope.region if scope else None
            form = {}
            self.protocol = protocol_of(self.command, self.path, self.headers)
            if self.protocol == "query":
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if self.protocol in ("query", "json"):
                self.service, _, action = legacy_op.partition(":")
                self.operation = legacy_op
            else:
                self.service = "s3"
                action = s3rules.operation(self.command, self.path, query, self.headers)
                self.operation = "s3:" + action
            conf = control.read() if control else {}

            if optin.not_opted_in(region, conf):
                self.refuse_region_not_enabled(scope)
                return
            if self.inject(conf, region):
                return
            if limiter and self.service == "ec2" and not limiter.allow(
                    region or "?", action, form, conf.get("rate_limits")):
                count(f"rate-limited {client} {self.operation}")
                count("throttled")
                self.error(503, "RequestLimitExceeded", "Request limit exceeded.")
                return
            now = time.time() + float(conf.get("clock_offset_seconds", 0) or 0)
            if self.refuse_expired(query, now):
                return
            if self.service == "s3" and self.check_s3(action, query, region, body, now):
                return
            if self.operation == "sts:AssumeRole" and self.check_assume_role(form):
                return
            self.forward(body)

        # Faults ---------------------------------------------------------------------------

        def inject(self, conf, region):
            """Answers with an injected fault when a rule (or throttle_every) says so."""
            rule = rules.decide(conf.get("faults"), self.client, self.operation, region)
            every = conf.get("throttle_every", throttle_every)
            if rule is None and self.client == "amipub" and self.service == "ec2" and every:
                with lock:
                    state["ec2_from_amipub"] += 1
                    if state["ec2_from_amipub"] % int(every) == 0:
                        rule = {"error": "RequestLimitExceeded"}
            if rule is None:
                return False
            if rule.get("drop"):
                count(f"injected {self.client} {self.operation} drop")
                self.hang_up()
                return True
            if rule.get("lose_response"):
                # The request reaches moto and takes effect; only its answer is lost, as when
                # a connection breaks on the way back. The client cannot tell it from "drop".
                count(f"injected {self.client} {self.operation} lose_response")
                self.lose_response = True
                return False
            code = str(rule.get("error", "InternalError"))
            count(f"injected {self.client} {self.operation} {code}")
            if code == "RequestLimitExceeded":
                count("throttled")
            message = rule.get("message") or faults.DEFAULT_MESSAGES.get(code, code)
            self.error(int(rule.get("status") or faults.default_status(code)), code, message)
            return True

        # Strictness -----------------------------------------------------------------------

        def refuse(self, status, code, message, extra=None, headers=None):
            count(f"refused {self.client} {self.operation} {code}")
            self.error(status, code, message, extra, headers)
            return True

        def refuse_region_not_enabled(self, scope):
            """A request signed for a Region the account has not enabled (see docstring)."""
            if self.service == "s3":
                return self.refuse(403, "InvalidAccessKeyId",
                                   "The AWS Access Key Id you provided does not exist in our "
                                   "records.", {"AWSAccessKeyId": scope.access_key})
            if self.protocol == "json":
                return self.refuse(400, "UnrecognizedClientException",
                                   "The security token included in the request is invalid")
            if self.service == "ec2":
                return self.refuse(401, "AuthFailure",
                                   "AWS was not able to validate the provided access credentials")
            return self.refuse(403, "InvalidClientTokenId",
                               "The security token included in the request is invalid.")

        def refuse_expired(self, query, now):
            """Requests with the session token of expired STS credentials (see docstring)."""
            role = creds.expired_token(sigv4.session_token(self.headers, query), now)
            if role is None:
                return False
            if self.service == "s3":
                return self.refuse(400, "ExpiredToken", "The provided token has expired.",
                                   {"Token-0": role.session_token})
            if self.service == "ec2":
                return self.refuse(400, "RequestExpired", "Request has expired.")
            if self.protocol == "json":
                return self.refuse(403, "ExpiredTokenException",
                                   "The security token included in the request is expired")
            return self.refuse(403, "ExpiredToken",
                               "The security token included in the request is expired")

        def check_s3(self, action, query, region, body, now):
            """S3's checks moto lacks; True when the request was answered here."""
            bucket, key = s3rules.split_path(self.path)
            if sigv4.is_presigned(query):
                err = sigv4.check_presigned(self.command, urllib.parse.urlsplit(self.path).path,
                                            query, self.headers, creds, now)
                if err:
                    return self.refuse(*err)
            home = s3rules.wrong_region(action, bucket, region)
            if home:
                return self.refuse(*s3rules.redirect_error(bucket, home))
            denied = s3rules.denied(action, bucket, key, now)
            if denied:
                scope = sigv4.scope_of(self.headers, query)
                who = creds.principal_arn(scope.access_key if scope else None)
                return self.refuse(
                    403, "AccessDenied",
                    f"User: {who} is not authorized to perform: {denied[0]} on resource: "
                    f'"{denied[1]}" with an explicit deny in a resource-based policy')
            if action == "DeleteObjects":
                new_body, refused = s3rules.filter_delete_objects(bucket, body, now)
                if refused:
                    count(f"refused {self.client} {self.operation} AccessDenied", len(refused))
                    self.forward(new_body, add_errors=refused)
                    return True
            if action == "PutObject":
                inm = self.headers.get("If-None-Match")
                if inm is not None and inm.strip() != "*":
                    return self.refuse(501, "NotImplemented",
                                       "A header you provided implies functionality that is "
                                       "not implemented", {"Header": "If-None-Match"})
            if action == "DeleteObject" and (self.headers.get("If-Match") or "").strip() == "*":
                if s3rules.object_exists(bucket, key):
                    del self.headers["If-Match"]  # "*": delete it as long as it exists
            return False

        def check_assume_role(self, form):
            """AssumeRole's checks moto lacks: DurationSeconds limits, the role exists."""
            try:
                duration = int(form.get("DurationSeconds", ["3600"])[0])
            except ValueError:
                return False
            prefix = "1 validation error detected: Value '%d' at 'durationSeconds' failed to " \
                     "satisfy constraint: Member must have value " % duration
            if duration < 900:
                return self.refuse(400, "ValidationError", prefix + "greater than or equal to 900")
            if duration > 43200:
                return self.refuse(400, "ValidationError", prefix + "less than or equal to 43200")
            from moto.core.models import DEFAULT_ACCOUNT_ID  # the emulator's own account

            arn = form.get("RoleArn", [""])[0]
            role = find_role(arn)
            if role is None and arn.split(":")[4:5] == [DEFAULT_ACCOUNT_ID]:
                scope = sigv4.scope_of(self.headers, [])
                who = creds.principal_arn(scope.access_key if scope else None)
                return self.refuse(403, "AccessDenied", f"User: {who} is not authorized to "
                                   f"perform: sts:AssumeRole on resource: {arn}")
            if role is not None and duration > int(role.max_session_duration or 3600):
                return self.refuse(400, "ValidationError", "The requested DurationSeconds "
                                   "exceeds the MaxSessionDuration set for this role.")
            return False

        # Answers ----------------------------------------------------------------------------

        def error(self, status, code, message, extra=None, headers=None):
            data, ctype, rid = faults.error_body(self.service, code, message, extra,
                                                 getattr(self, "protocol", None))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("x-amz-request-id" if self.service == "s3" else "x-amzn-RequestId",
                             rid)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.command == "HEAD":  # S3 answers HEAD without a body
                data = b""
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def reply(self, status, data, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def hang_up(self):
            """Closes the client's connection without an answer."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def forward(self, body, add_errors=None):
            hop = ("transfer-encoding", "connection", "content-length", "expect")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
            if add_errors is not None:  # a rewritten body: its checksums no longer hold
                headers = {k: v for k, v in headers.items()
                           if k.lower() != "content-md5" and not k.lower().startswith(
                               ("x-amz-checksum-", "x-amz-sdk-checksum"))}
            if body is None:
                # DeleteObjects whose every key was refused: nothing for moto to do.
                data = s3rules.add_delete_errors(
                    b'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns='
                    b'"http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>', add_errors)
                self.reply(200, data, "application/xml")
                return
            headers["Content-Length"] = str(len(body))
            # A kept-alive connection to moto may have been closed meanwhile: retry once on
            # a fresh one. A fresh connection that fails is the client's failure too: the
            # exception closes the client's connection without an answer.
            for attempt in range(2):
                c = getattr(local, "conn", None)
                fresh = c is None
                if fresh:
                    c = local.conn = http.client.HTTPConnection(moto_host, moto_port, timeout=120)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    resp = c.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    local.conn = None
                    c.close()
                    if fresh or attempt:
                        raise
            if getattr(self, "lose_response", False):
                self.lose_response = False
                self.hang_up()
                return
            if add_errors:
                data = s3rules.add_delete_errors(data, add_errors)
            self.send_response(resp.status)
            length = None
            for k, v in resp.getheaders():
                lk = k.lower()
                if lk == "content-length":
                    length = v
                elif lk not in ("transfer-encoding", "connection"):
                    self.send_header(k, v)
            # HEAD answers carry the object's length, not the (empty) body's.
            self.send_header("Content-Length",
                             length if self.command == "HEAD" and length else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def find_role(arn):
    """moto's IAM role of an ARN, or None."""
    try:
        from moto.iam.models import iam_backends

        account = arn.split(":")[4]
        for role in list(iam_backends[account]["aws"].roles.values()):
            if role.arn == arn:
                return role
    except Exception:
        return None
    return None
