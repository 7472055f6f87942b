"""Faults and throttling for the strict proxy: moto never fails and never throttles. Test
support only.

- `Control`: <work>/control.json, re-read only when it changes (cached by mtime and size), so
  that every request can consult it.
- `FaultRules`: faults injected per operation, as control.json's "faults" describes them (see
  proxy.py's docstring for the rule format). Fills moto's gap that no AWS call ever fails.
- `RateLimiter`: EC2's request throttling. moto never throttles; EC2 throttles each account
  per Region per API action with token buckets ("Request throttling for the Amazon EC2 API",
  https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html) and answers
  RequestLimitExceeded. The numbers below are that page's tables: request token buckets by
  category (non-mutating Describe*/List*/Search*/Get*: 100 tokens, refill 20/s; the unfiltered
  and unpaginated ones: 50, 10/s; mutating and resource-intensive: 50, 5/s), the uncategorized
  actions' own buckets, and the resource token buckets of RunInstances, StartInstances (1000
  instances, refill 2/s), TerminateInstances and StopInstances (1000, 20/s). "Limits are applied
  to individual API actions, not API action categories": one bucket per Region per action.
- `error_body`: each service's error form: S3's, EC2's and the query APIs' (STS, IAM, SQS)
  XML, and the JSON protocol's {"__type", "message"} (SSM, EventBridge, SQS's JSON protocol).
"""

import fnmatch
import json
import os
import random
import threading
import time
import uuid

THROTTLING_CODES = {"RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown",
                    "RequestThrottled", "TooManyRequestsException"}
DEFAULT_MESSAGES = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "InternalError": "We encountered an internal error. Please try again.",
    "InternalFailure": "The request processing has failed because of an unknown error.",
    "Unavailable": "The server is overloaded and can't handle the request.",
    "ServiceUnavailable": "Please reduce your request rate.",
    "SlowDown": "Please reduce your request rate.",
    "Throttling": "Rate exceeded",
}


def default_status(code):
    if code in THROTTLING_CODES or code in ("Unavailable", "ServiceUnavailable"):
        return 503
    if code in ("InternalError", "InternalFailure"):
        return 500
    return 400


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The JSON protocol's version (Content-Type application/x-amz-json-<v>) of each JSON service
# the emulator is asked for: SQS is awsJson1_0, SSM and EventBridge awsJson1_1 (their service
# models' "jsonVersion").
JSON_VERSIONS = {"sqs": "1.0", "ssm": "1.1", "events": "1.1"}
QUERY_NAMESPACES = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
                    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


def error_body(service, code, message, extra=None, protocol=None):
    """(body, content type, request id) of an error as `service` writes it. `protocol`: "json"
    for a request of the JSON protocol (X-Amz-Target; SSM and EventBridge always are, SQS is
    when its client uses it), else the service's usual one. A JSON client parses only a JSON
    error, whose "__type" names the error (Smithy's AWS JSON 1.0/1.1 protocols, "Operation
    error serialization"); the proxy sends the x-amzn-RequestId header with it."""
    rid = uuid.uuid4().hex[:16].upper() if service == "s3" else str(uuid.uuid4())
    if protocol == "json" or (protocol is None and service in ("ssm", "events")):
        body = json.dumps({"__type": code, "message": str(message)})
        return body.encode(), f"application/x-amz-json-{JSON_VERSIONS.get(service, '1.1')}", rid
    if service == "s3":
        more = "".join(f"<{k}>{_esc(v)}</{k}>" for k, v in (extra or {}).items())
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{_esc(message)}</Message>{more}<RequestId>{rid}</RequestId>"
                f"<HostId>{rid}</HostId></Error>")
        return body.encode(), "application/xml", rid
    if service in QUERY_NAMESPACES:
        body = (f'<ErrorResponse xmlns="{QUERY_NAMESPACES[service]}"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{_esc(message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>")
        return body.encode(), "text/xml", rid
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}'
            f"</Code><Message>{_esc(message)}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>")
    return body.encode(), "text/xml;charset=UTF-8", rid


class Control:
    """control.json, parsed again only when its mtime or size changed. A file caught half
    written does not parse; it is read again on the next request."""

    def __init__(self, path):
        self.path = path
        self.key = None
        self.conf = {}
        self.lock = threading.Lock()

    def read(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        with self.lock:
            if key != self.key:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        conf = json.load(f)
                    if isinstance(conf, dict):
                        self.key, self.conf = key, conf
                except (OSError, ValueError):
                    pass
            return self.conf


class FaultRules:
    """Decides which requests get an injected fault. Each rule keeps its own counts (matching
    requests, injections, random draws), keyed by the rule's content: rewriting control.json
    with the same rule keeps counting, a changed rule starts afresh."""

    def __init__(self):
        self.state = {}
        self.lock = threading.Lock()

    @staticmethod
    def matches(rule, client, operation, region):
        if not fnmatch.fnmatchcase(operation, str(rule.get("operation", "*"))):
            return False
        want = rule.get("client", "amipub")
        if want not in ("*", "any") and want != client:
            return False
        return "region" not in rule or fnmatch.fnmatchcase(region or "", str(rule["region"]))

    def decide(self, rules, client, operation, region):
        """The first rule that fires for this request, or None."""
        fired = None
        with self.lock:
            for rule in rules if isinstance(rules, list) else []:
                if not isinstance(rule, dict) or not self.matches(rule, client, operation, region):
                    continue
                key = json.dumps(rule, sort_keys=True)
                st = self.state.setdefault(
                    key, {"seen": 0, "fired": 0, "rng": random.Random(rule.get("seed", 0))})
                st["seen"] += 1  # every matching rule counts the request, fired or not
                n = st["seen"]
                if "nth" in rule:
                    hit = n in rule["nth"]
                elif "every" in rule:
                    hit = int(rule["every"]) > 0 and n % int(rule["every"]) == 0
                elif "fraction" in rule:
                    hit = st["rng"].random() < float(rule["fraction"])
                else:
                    hit = True
                if hit and "times" in rule and st["fired"] >= int(rule["times"]):
                    hit = False
                if hit and fired is None:
                    st["fired"] += 1
                    fired = rule
        return fired


# EC2 request token buckets (capacity, refill per second) from the page cited above.
NON_MUTATING = (100, 20)
UNFILTERED = (50, 10)
MUTATING = (50, 5)
UNFILTERED_ACTIONS = {"DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
                      "DescribeSecurityGroups", "DescribeSnapshots",
                      "DescribeSpotInstanceRequests", "DescribeVolumes"}
_UNCATEGORIZED = """
AcceptVpcEndpointConnections 10 1  AdvertiseByoipCidr 1 0.1  AssignIpv6Addresses 100 5
AssignPrivateIpAddresses 100 5  AssignPrivateNatGatewayAddress 10 1
AssociateCapacityReservationBillingOwner 1 0.5  AssociateEnclaveCertificateIamRole 10 1
AssociateIamInstanceProfile 100 5  AssociateNatGatewayAddress 10 1
AttachVerifiedAccessTrustProvider 10 2  AuthorizeClientVpnIngress 5 2
CancelDeclarativePoliciesReport 1 1  CopyImage 100 1  CreateClientVpnRoute 5 2
CreateCoipCidr 5 1  CreateCoipPool 5 1  CreateDefaultSubnet 1 1  CreateDefaultVpc 1 1
CreateLaunchTemplateVersion 100 5  CreateNatGateway 10 1  CreateNetworkInterface 100 5
CreateRestoreImageTask 50 0.1  CreateSnapshot 100 5  CreateSnapshots 100 5
CreateSpotDatafeedSubscription 50 3  CreateStoreImageTask 50 0.1
CreateSubnetCidrReservation 5 1  CreateTags 100 10  CreateVerifiedAccessEndpoint 20 4
CreateVerifiedAccessGroup 10 2  CreateVerifiedAccessInstance 10 2
CreateVerifiedAccessTrustProvider 10 2  CreateVolume 100 5  CreateVpcEndpoint 4 0.3
CreateVpcEndpointServiceConfiguration 10 1  DeleteClientVpnRoute 5 2  DeleteCoipCidr 5 1
DeleteCoipPool 5 1  DeleteCoipPoolPermission 5 1  DeleteNatGateway 10 1
DeleteNetworkInterface 100 5  DeleteSnapshot 100 5  DeleteSpotDatafeedSubscription 50 3
DeleteSubnetCidrReservation 5 1  DeleteQueuedReservedInstances 5 5  DeleteTags 100 10
DeleteVerifiedAccessEndpoint 20 4  DeleteVerifiedAccessGroup 10 2
DeleteVerifiedAccessInstance 10 2  DeleteVerifiedAccessTrustProvider 10 2  DeleteVolume 100 5
DeleteVpcEndpoints 4 0.3  DeleteVpcEndpointServiceConfigurations 10 1
DeprovisionByoipCidr 1 0.1  DeregisterImage 100 5  DescribeAggregateIdFormat 10 10
DescribeByoipCidrs 1 0.5  DescribeCapacityBlockExtensionOfferings 10 0.15
DescribeCapacityBlockOfferings 10 0.15  DescribeDeclarativePoliciesReports 5 5
DescribeHostReservations 5 2  DescribeHostReservationOfferings 5 2
DescribeIdentityIdFormat 10 10  DescribeIdFormat 10 10  DescribeInstanceTopology 1 1
DescribeMovingAddresses 1 1  DescribePrincipalIdFormat 10 10
DescribeReservedInstancesOfferings 10 10  DescribeSecurityGroupReferences 20 5
DescribeSpotDatafeedSubscription 100 13  DescribeSpotFleetInstances 100 5
DescribeSpotFleetRequestHistory 100 5  DescribeSpotFleetRequests 50 3
DescribeStaleSecurityGroups 20 5  DescribeStoreImageTasks 50 0.5
DescribeVerifiedAccessInstanceLoggingConfigurations 10 2  DetachVerifiedAccessTrustProvider 10 2
DisableFastLaunch 5 2  DisableImageBlockPublicAccess 1 0.1
DisableSnapshotBlockPublicAccess 1 0.1  DisassociateCapacityReservationBillingOwner 1 0.5
DisassociateEnclaveCertificateIamRole 10 1  DisassociateIamInstanceProfile 100 5
DisassociateNatGatewayAddress 10 1  EnableFastLaunch 5 2  EnableImageBlockPublicAccess 1 0.1
EnableSnapshotBlockPublicAccess 1 0.1  GetAssociatedEnclaveCertificateIamRoles 10 1
GetDeclarativePoliciesReportSummary 5 5  GetHostReservationPurchasePreview 5 2
ModifyImageAttribute 100 5  ModifyInstanceMetadataDefaults 2 2
ModifyInstanceMetadataOptions 100 5  ModifyLaunchTemplate 100 5
ModifyNetworkInterfaceAttribute 100 5  ModifySnapshotAttribute 100 5
ModifyVerifiedAccessEndpoint 20 4  ModifyVerifiedAccessEndpointPolicy 20 4
ModifyVerifiedAccessGroup 10 2  ModifyVerifiedAccessGroupPolicy 20 4
ModifyVerifiedAccessInstance 10 2  ModifyVerifiedAccessInstanceLoggingConfiguration 10 2
ModifyVerifiedAccessTrustProvider 10 2  ModifyVpcEndpoint 4 0.3
ModifyVpcEndpointServiceConfiguration 10 1  MoveAddressToVpc 1 1  ProvisionByoipCidr 1 0.1
PurchaseCapacityBlock 10 0.15  PurchaseCapacityBlockExtension 10 0.15
PurchaseHostReservation 5 2  PurchaseReservedInstancesOffering 5 5
RejectVpcEndpointConnections 10 1  RestoreAddressToClassic 1 1  RevokeClientVpnIngress 5 2
RunInstances 5 2  StartDeclarativePoliciesReport 1 1  StartInstances 5 2
TerminateInstances 100 5  UnassignPrivateIpAddresses 100 5
UnassignPrivateNatGatewayAddress 10 1  WithdrawByoipCidr 1 0.1
"""
_words = _UNCATEGORIZED.split()
UNCATEGORIZED = {_words[i]: (float(_words[i + 1]), float(_words[i + 2]))
                 for i in range(0, len(_words), 3)}
# Resource token buckets: tokens are instances, not requests.
RESOURCE_BUCKETS = {"RunInstances": (1000, 2), "StartInstances": (1000, 2),
                    "TerminateInstances": (1000, 20), "StopInstances": (1000, 20)}


def request_bucket(action, form):
    """(bucket name, capacity, refill/s) of an EC2 request, per the documented categories."""
    if action in UNCATEGORIZED:
        return action, *UNCATEGORIZED[action]
    if action.startswith(("Describe", "List", "Search", "Get")):
        if action in UNFILTERED_ACTIONS and not any(
                k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in form):
            return action + " (unfiltered, unpaginated)", *UNFILTERED
        return action, *NON_MUTATING
    return action, *MUTATING


def resource_count(action, form):
    """How many instances a resource-limited request affects."""
    if action == "RunInstances":
        try:
            return max(1, int(form.get("MaxCount", ["1"])[0]))
        except ValueError:
            return 1
    return max(1, sum(1 for k in form if k.startswith("InstanceId.")))


class RateLimiter:
    """EC2's token buckets, one per (Region, action) and per resource bucket."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.buckets = {}  # key -> [tokens, last refill time]
        self.lock = threading.Lock()

    def _take(self, key, capacity, rate, n, now):
        b = self.buckets.setdefault(key, [capacity, now])
        b[0] = min(capacity, b[0] + (now - b[1]) * rate)
        b[1] = now
        if b[0] < n:
            return False
        b[0] -= n
        return True

    def allow(self, region, action, form, overrides=None):
        """Whether an EC2 request may proceed; takes its tokens when it may. `overrides`
        (control.json's "rate_limits": {action: [capacity, refill per second]}) stands for an
        account whose limits AWS set apart from the defaults."""
        name, capacity, rate = request_bucket(action, form)
        if overrides and action in overrides:
            capacity, rate = (float(v) for v in overrides[action])
        with self.lock:
            now = self.clock()
            if action in RESOURCE_BUCKETS:
                n = resource_count(action, form)
                key = (region, action, "resources")
                b = self.buckets.setdefault(key, [RESOURCE_BUCKETS[action][0], now])
                cap, rrate = RESOURCE_BUCKETS[action]
                b[0] = min(cap, b[0] + (now - b[1]) * rrate)
                b[1] = now
                if b[0] < n:
                    return False
                if not self._take((region, name), capacity, rate, 1, now):
                    return False
                b[0] -= n
                return True
            return self._take((region, name), capacity, rate, 1, now)
