"""SigV4 for the strict proxy: who signed a request, for which region and service, and whether
a presigned S3 URL's signature, expiry and credentials hold. Test support only.

Gaps of moto filled here (each checked by the proxy, see proxy.py):

- moto never checks a presigned URL (S3 query authentication): any URL with any signature,
  method or expiry is served. `check_presigned` recomputes the signature as S3 does
  ("Authenticating Requests: Using Query Parameters (AWS Signature Version 4)",
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html): canonical
  request from the method, the URI, the canonical query string without X-Amz-Signature, the
  signed headers (host included) and UNSIGNED-PAYLOAD, signed with the secret of the access key;
  X-Amz-Expires must be 1..604800 and X-Amz-Date + X-Amz-Expires not past.
- moto's STS issues credentials with an expiry (AssumeRole's DurationSeconds) that nothing
  enforces. `Credentials.expired_token` finds the STS credentials a session token belongs to,
  read from moto's in-process STS state, and says whether they have expired.

Header-signed requests (the Authorization header) are NOT verified: only their credential
scope is read (region, service) and their session token checked for expiry.

The secrets known to the emulator: the static test credentials (testing, demo, bench, the
instance simulator's IMDS credentials, and any `--credentials KEY:SECRET`), and every access key
moto's STS issued.
"""

import datetime
import hashlib
import hmac
import urllib.parse

MAX_EXPIRES = 604800  # seven days: S3's limit on X-Amz-Expires
STATIC_CREDENTIALS = {
    "testing": "testing",
    "demo": "demo",
    "bench": "bench",
    # What the instance simulator's metadata service hands out (simulator.py make_imds).
    "ASIASIMULATEDINSTANCE": "simulated-instance-secret",
}


class Scope:
    """The credential scope of a signed request: AKID/date/region/service/aws4_request."""

    def __init__(self, access_key, date, region, service):
        self.access_key, self.date, self.region, self.service = access_key, date, region, service


def parse_query(raw_query):
    """[(name, value)] of a raw query string, percent-decoded, blank values kept."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return pairs


def scope_of(headers, query):
    """The request's credential scope (Authorization header, or X-Amz-Credential), or None."""
    cred = None
    auth = headers.get("Authorization", "")
    if auth.startswith("AWS4-HMAC-SHA256") and "Credential=" in auth:
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        cred = dict(query).get("X-Amz-Credential")
    parts = (cred or "").split("/")
    if len(parts) != 5:
        return None
    return Scope(parts[0], parts[1], parts[2], parts[3])


def session_token(headers, query):
    return headers.get("X-Amz-Security-Token") or dict(query).get("X-Amz-Security-Token")


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(dt):
    """A timestamp of moto's naive-UTC datetimes."""
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


class Credentials:
    """The secrets the emulator knows: static ones and those moto's STS issued."""

    def __init__(self, static):
        self.static = dict(STATIC_CREDENTIALS)
        self.static.update(static)

    def assumed_roles(self):
        """Every set of credentials moto's STS issued (AssumeRole and its kin), all accounts."""
        from moto.sts.models import sts_backends

        for account in list(sts_backends.keys()):
            yield from list(sts_backends[account]["aws"].assumed_roles)

    def lookup(self, access_key):
        """(secret, STS role or None) of an access key, or None when unknown."""
        if access_key in self.static:
            return self.static[access_key], None
        for role in self.assumed_roles():
            if role.access_key_id == access_key:
                return role.secret_access_key, role
        return None

    def expired_token(self, token, now):
        """The STS credentials `token` belongs to, when they have expired at `now`."""
        if not token:
            return None
        for role in self.assumed_roles():
            if role.session_token == token:
                return role if _utc(role.expiration) <= now else None
        return None

    def principal_arn(self, access_key):
        """Who signed, as an access-denied message names them."""
        found = self.lookup(access_key) if access_key else None
        if found and found[1] is not None:
            return found[1].arn
        from moto.core.models import DEFAULT_ACCOUNT_ID

        return f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/{access_key or 'anonymous'}"


def _uri_encode(s, safe=""):
    # SigV4's UriEncode: everything but the unreserved characters (and '/' in paths).
    return urllib.parse.quote(s, safe=safe + "-_.~")


def canonical_request(method, raw_path, query, headers, signed_headers):
    path = _uri_encode(urllib.parse.unquote(raw_path), safe="/") or "/"
    q = sorted(
        (_uri_encode(k), _uri_encode(v)) for k, v in query if k != "X-Amz-Signature"
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in q)
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(
        f"{h}:{' '.join(str(lower.get(h, '')).split())}\n" for h in signed_headers
    )
    return "\n".join([method, path, canonical_query, canonical_headers,
                      ";".join(signed_headers), "UNSIGNED-PAYLOAD"])


def signature(secret, scope, amz_date, creq):
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date,
        f"{scope.date}/{scope.region}/{scope.service}/aws4_request",
        hashlib.sha256(creq.encode()).hexdigest(),
    ])
    key = ("AWS4" + secret).encode()
    for part in (scope.date, scope.region, scope.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), string_to_sign


def is_presigned(query):
    return any(k in ("X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential") for k, _ in query)


def check_presigned(method, raw_path, query, headers, creds, now):
    """None when a presigned S3 request holds, else (status, code, message, extra elements)
    as S3 answers it."""
    q = dict(query)
    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                "X-Amz-SignedHeaders", "X-Amz-Expires")
    if any(k not in q for k in required):
        return (400, "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters.", {})
    if q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        return (400, "AuthorizationQueryParametersError",
                'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"', {})
    try:
        expires = int(q["X-Amz-Expires"])
    except ValueError:
        return (400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number", {})
    if expires < 0:
        return (400, "AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", {})
    if expires > MAX_EXPIRES:
        return (400, "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800", {})
    scope = scope_of({}, query)
    try:
        signed_at = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        signed_at = None
    if scope is None or signed_at is None:
        return (400, "AuthorizationQueryParametersError",
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".', {})
    found = creds.lookup(scope.access_key)
    if found is None:
        return (403, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                {"AWSAccessKeyId": scope.access_key})
    secret, role = found
    if role is not None and q.get("X-Amz-Security-Token") != role.session_token:
        return (400, "InvalidToken", "The provided token is malformed or otherwise invalid.", {})
    signed = q["X-Amz-SignedHeaders"].lower().split(";")
    creq = canonical_request(method, raw_path, query, headers, signed)
    expected, sts = signature(secret, scope, q["X-Amz-Date"], creq)
    if not hmac.compare_digest(expected, q["X-Amz-Signature"]):
        return (403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                {"AWSAccessKeyId": scope.access_key, "StringToSign": sts,
                 "SignatureProvided": q["X-Amz-Signature"], "CanonicalRequest": creq})
    if now > signed_at + expires:
        return (403, "AccessDenied", "Request has expired",
                {"X-Amz-Expires": str(expires), "Expires": iso(signed_at + expires),
                 "ServerTime": iso(now)})
    return None
