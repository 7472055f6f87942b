"""Patches of moto's EC2 (in the emulator's process only) where moto 5.2.5 is kinder than EC2.

The emulator must be at least as strict as AWS wherever amipub depends on it. Each patch fills
named gaps of moto and reproduces documented EC2 behaviour (its docstring cites the AWS page);
`apply_all(control)` applies them all, before moto's server starts:

- patch_register_image: moto's RegisterImage ignores ImageLocation, VirtualizationType and
  Architecture and never reads the manifest; EC2 refuses a manifest it cannot read
  (InvalidManifest) and reports an S3-manifest AMI as instance-store backed.
- patch_image_states: moto makes every new image `available` at once; on EC2 it is `pending`
  first and may end `failed` with a StateReason, and ModifyImageAttribute on a pending image is
  refused (InvalidAMIID.Unavailable).
- patch_image_creation: moto lets an account own many images of one name in a Region (EC2:
  InvalidAMIName.Duplicate, for CreateImage, RegisterImage and CopyImage); moto's CreateImage
  fails on snapshot TagSpecifications and its RegisterImage and CopyImage drop them (EC2 tags
  the image and its snapshots at creation); moto ignores CopyImage's ClientToken.
- patch_run_instances_token: moto ignores RunInstances' ClientToken, so a retry launches again
  (EC2: the same reservation, or IdempotentParameterMismatch if the parameters differ).
- patch_image_deprecation: moto has no EnableImageDeprecation nor DisableImageDeprecation (EC2:
  the owner sets or clears an AMI's deprecation time, which DescribeImages reports).
- patch_image_public_sharing: moto has no block public access for AMIs (Get/Enable/Disable
  ImageBlockPublicAccess) and no quota of public AMIs; EC2 refuses to make an AMI public when
  the Region blocks it (OperationNotPermitted) or when the account's public AMIs there would
  exceed the quota, 5 by default (ResourceLimitExceeded).
- patch_describe_regions: moto's DescribeRegions ignores AllRegions and Filters; EC2 lists only
  the Regions the account has enabled unless AllRegions, with each one's OptInStatus.

Not patched, because moto 5.2.5 already does as EC2: TagSpecifications of CreateSecurityGroup
(security-group) and RunInstances (instance, volume); DeregisterImage in any image state.

Control (the emulator's <work>/control.json, re-read whenever an image is created):
  "image_pending_seconds": seconds a new image stays pending (CLI --image-pending-seconds),
  "image_pending_seconds_in": {"<region>": seconds}, the same for the images of one region,
  "image_fail": [fnmatch globs]: an image whose name matches ends `failed` instead of available,
  "image_fail_reason": the failed image's StateReason message; its Code is the message's
      "Server.X"/"Client.X" prefix, else Server.InternalError.
Read at each request of the operations they concern:
  "image_block_public_access": {"<region>": "block-new-sharing" | "unblocked"}: the Region's
      block public access for AMIs (Regions not named: what Enable/Disable set, else unblocked),
  "image_block_public_access_managed_by": {"<region>": "declarative-policy"} (default account),
  "public_ami_quota": N, the account's quota of public AMIs in each Region (default 5),
  "regions_not_opted_in": [Region, ...], "regions_opted_in": [Region, ...]: the account's
      opt-in Regions (optin.py), as DescribeRegions reports them; the proxy refuses the
      requests signed for a Region that is not-opted-in.

Internals of moto 5.2.5 relied on: the response classes AmisResponse and InstanceResponse
(their methods, self.params, self._get_param, self.ec2_backend), ActionResult, EC2ClientError,
InvalidTaggableResourceType, the backend's `amis` dict and `account_id`, Ami.ebs_snapshot (the
one snapshot moto makes per image), TaggedEC2Resource.add_tags, and the serializer reading
Image.State from `ami.state`, Image.StateReason from `ami.state_reason` and Snapshot.State from
`snapshot.status`, Image.DeprecationTime from `ami.deprecation_time`; Ami.is_public,
Ami.creation_date (naive UTC), the backend's `deleted_amis`, UnvailableAMIIdError and
MalformedAMIIdError; Ami.owner_id, the backend's `region_name`, the response class
AvailabilityZonesAndRegions and the backend's describe_regions (Region: name, endpoint,
opt_in_status).
"""

import datetime
import fnmatch
import threading
import time

DEFAULT_IMAGE_FAIL_REASON = "Server.InternalError: An internal error has occurred"

# Serialises "check, then create" (names, client tokens) across moto's request threads.
_lock = threading.RLock()


def apply_all(control):
    """Every patch of this module; `control` is the emulator's Control (its .read() -> dict)."""
    patch_register_image()
    patch_image_states(control)
    patch_image_creation()
    patch_run_instances_token()
    patch_image_deprecation()
    patch_image_public_sharing(control)
    patch_describe_regions(control)


def _error(code, message):
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _tag_specs(response, allowed):
    """{resource type: {key: value}} of the request's TagSpecifications, refusing the resource
    types the operation does not tag, as EC2 does ("If you specify other values for
    ResourceType, the request fails"; moto's own error for it: InvalidParameterValue)."""
    from moto.ec2.exceptions import InvalidTaggableResourceType

    out = {}
    for spec in response._get_param("TagSpecifications", []) or []:
        kind = spec.get("ResourceType")
        if kind not in allowed:
            raise InvalidTaggableResourceType(kind)
        for tag in spec.get("Tags") or []:
            out.setdefault(kind, {})[tag["Key"]] = tag.get("Value", "")
    return out


def _tag_new_image(ami, tags):
    ami.add_tags(tags.get("image", {}))
    ami.ebs_snapshot.add_tags(tags.get("snapshot", {}))


def patch_register_image():
    """RegisterImage as EC2 does it for a bundle.

    Gap: moto's RegisterImage ignores ImageLocation, VirtualizationType and Architecture and
    never checks the manifest. EC2 refuses a manifest it cannot read (InvalidManifest) and
    reports an S3-manifest AMI as instance-store backed; tests check what amipub registered.
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.responses.amis import AmisResponse
    from moto.s3.models import s3_backends

    original = AmisResponse.register_image

    def register_image(self):
        location = self._get_param("ImageLocation")
        if location:
            bucket, _, key = location.partition("/")
            try:
                s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key).value
            except Exception:
                raise _error("InvalidManifest", f"The manifest {location} could not be read.")
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        if location:
            ami.image_location = location
            ami.root_device_type = "instance-store"
        ami.virtualization_type = self._get_param("VirtualizationType") or ami.virtualization_type
        ami.architecture = self._get_param("Architecture") or ami.architecture
        return result

    AmisResponse.register_image = register_image


def patch_image_states(control):
    """New images are `pending` for a while, then `available` or `failed`.

    Gap: moto creates every image (CreateImage, RegisterImage, CopyImage) `available` at once
    and has no failed images. On EC2 a new AMI is `pending` until its snapshots are done, then
    `available`, or `failed` with a StateReason (API reference, "Image": State, StateReason;
    "StateReason" lists codes such as Server.InternalError; failed CreateImage images report
    Server.InternalError, e.g. boto/boto3#1698). amipub waits for the state and reports the
    reason, so both must be reproduced. EC2 documents the StateReason codes but not a failed
    AMI's exact message; DEFAULT_IMAGE_FAIL_REASON is a generic one, and control can set it.

    The state is computed from the elapsed time whenever moto reads `ami.state` (DescribeImages,
    its `state` filter, DescribeImageAttribute...): `state` becomes a property of moto's Ami, so
    no thread and no race. An explicit state change by moto (DisableImage, EnableImage) ends the
    clock. The snapshot CreateImage/CopyImage makes is `pending` while its image is.

    ModifyImageAttribute on a pending image: EC2 refuses it with InvalidAMIID.Unavailable "The
    AMI ID 'ami-...' is currently pending and may not be used for this operation" (HTTP 400;
    reported from real EC2 in app-sre/qontract-reconcile#2222 and
    SUSE-Enceladus/ec2imgutils#45); reproduced. For a failed image, and for
    DescribeImageAttribute in any state, neither the documentation nor reported behaviour says
    EC2 refuses, so moto's behaviour (allowed) is kept. DeregisterImage works in every state, as
    on EC2 (moto's own).
    """
    from moto.ec2.models.amis import Ami
    from moto.ec2.models.elastic_block_store import Snapshot
    from moto.ec2.responses.amis import AmisResponse

    # `state` becomes a data descriptor of moto's Ami: it wins over the instance attribute, and
    # moto's own assignments (Ami.__init__, DisableImage, EnableImage) go through the setter.
    # One request sees one moment: moto serialises an image's StateReason before its State, so
    # reading the clock for each would let a response say `failed` with no reason when the
    # transition falls between the two reads. Every EC2 request freezes "now" for its whole
    # duration, serialisation included.
    frozen = threading.local()

    def now():
        return getattr(frozen, "at", None) or time.monotonic()

    def get_state(ami):
        ready = ami.__dict__.get("_amipub_ready_at")
        if ready is not None:
            return "pending" if now() < ready else ami._amipub_final
        return ami.__dict__.get("_amipub_state", ami.__dict__.get("state"))

    def at_one_moment(method):
        def handler(self, *args, **kwargs):
            outer = getattr(frozen, "at", None)
            if outer is None:
                frozen.at = time.monotonic()
            try:
                return method(self, *args, **kwargs)
            finally:
                if outer is None:
                    frozen.at = None

        return handler

    # The whole request, serialisation included: moto 5 serialises a handler's ActionResult
    # after the handler returns (BaseResponse.call_action), so freezing only the handler let a
    # DescribeImages answer read StateReason while `pending` and State once `failed`.
    from moto.ec2.responses import EC2Response

    EC2Response.call_action = at_one_moment(EC2Response.call_action)
    AmisResponse.describe_images = at_one_moment(AmisResponse.describe_images)

    def set_state(ami, value):
        ami.__dict__["_amipub_state"] = value
        ami.__dict__.pop("_amipub_ready_at", None)

    def state_reason(ami):
        if get_state(ami) != "failed":
            return None
        message = ami.__dict__.get("_amipub_reason") or DEFAULT_IMAGE_FAIL_REASON
        code = message.split(":", 1)[0]
        if not code.startswith(("Server.", "Client.")) or " " in code:
            code = "Server.InternalError"
        return {"Code": code, "Message": message}

    Ami.state = property(get_state, set_state)
    Ami.state_reason = property(state_reason)

    # Likewise Snapshot.status (what DescribeSnapshots reports as State). A failed image's
    # snapshot keeps moto's `completed`: what EC2 does with it is not documented.
    def snapshot_status(snap):
        image = snap.__dict__.get("_amipub_image")
        if image is not None and image.state == "pending":
            return "pending"
        return snap.__dict__.get("_amipub_status", snap.__dict__.get("status"))

    def set_snapshot_status(snap, value):
        snap.__dict__["_amipub_status"] = value

    Snapshot.status = property(snapshot_status, set_snapshot_status)

    original_modify = AmisResponse.modify_image_attribute

    def modify_image_attribute(self):
        ami_id = self._get_param("ImageId")
        ami = self.ec2_backend.amis.get(ami_id)
        if ami is not None and ami.state == "pending":
            raise _error(
                "InvalidAMIID.Unavailable",
                f"The AMI ID '{ami_id}' is currently pending and may not be used for this "
                "operation",
            )
        return original_modify(self)

    AmisResponse.modify_image_attribute = modify_image_attribute

    global _control
    _control = control


_control = None  # the emulator's Control, set by patch_image_states


def _start_clock(ami):
    """Starts a new image's pending time and decides how it ends (see patch_image_states).

    Without patch_image_states (no control) new images stay as moto makes them."""
    if _control is None:
        return
    conf = _control.read()
    ami._amipub_final = "available"
    if any(fnmatch.fnmatchcase(ami.name or "", g) for g in conf.get("image_fail") or []):
        ami._amipub_final = "failed"
        ami._amipub_reason = conf.get("image_fail_reason") or DEFAULT_IMAGE_FAIL_REASON
    ami.ebs_snapshot._amipub_image = ami
    # A region of its own pace (image_pending_seconds_in: {"eu-west-1": 5}): copies into a
    # slow region, as when AWS copies across the world.
    region = getattr(ami.ec2_backend, "region_name", "")
    pending = (conf.get("image_pending_seconds_in") or {}).get(region)
    if pending is None:
        pending = conf.get("image_pending_seconds") or 0
    ami._amipub_ready_at = time.monotonic() + float(pending)


def _check_name(backend, name):
    """InvalidAMIName.Duplicate if the account already owns an image `name` in this Region.

    Deregistered images are gone from moto's `amis`; images of other owners (the public
    upstream images) do not count; pending and failed images do."""
    for ami in list(backend.amis.values()):
        if name and ami.name == name and ami.owner_id == backend.account_id:
            raise _error(
                "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}"
            )


def _mismatch():
    return _error(
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in "
        "previous request(s).",
    )


def _tokens(backend, operation):
    """The client tokens `operation` has seen in one account and Region: token -> (args, result).

    Kept on moto's per-account, per-Region backend, so that a reset of moto forgets them too."""
    if not hasattr(backend, "_amipub_tokens"):
        backend._amipub_tokens = {}
    return backend._amipub_tokens.setdefault(operation, {})


def patch_image_creation():
    """CreateImage, RegisterImage and CopyImage: unique names, tags at creation, CopyImage's
    client token; each new image then starts its pending time (patch_image_states).

    Gap 1, names: moto accepts any number of images of one name per account and Region. EC2
    refuses the request with InvalidAMIName.Duplicate, HTTP 400, "AMI name NAME is already in
    use by AMI ami-..." ("Error codes for the Amazon EC2 API",
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html; the message as
    real EC2 returns it). Only the account's own images count, in the Region of the request,
    which for CopyImage is the destination ("the destination Region is the current Region",
    API reference, CopyImage).

    Gap 2, tags at creation: moto's CreateImage raises NotImplementedError for ResourceType
    snapshot; its RegisterImage and CopyImage drop TagSpecifications. EC2 tags the AMI (image)
    and, for CreateImage and CopyImage, all its new snapshots (snapshot); "If you specify other
    values for ResourceType, the request fails" (API reference, TagSpecifications of CreateImage,
    RegisterImage, CopyImage); refused here with moto's own InvalidParameterValue.

    Gap 3, CopyImage's ClientToken: moto ignores it, so a retried copy makes another image. See
    patch_run_instances_token for EC2's rule; compared here: SourceImageId, SourceRegion, Name.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.amis import AmisResponse

    original_create = AmisResponse.create_image
    original_register = AmisResponse.register_image
    original_copy = AmisResponse.copy_image

    def create_image(self):
        self.error_on_dryrun()
        tags = _tag_specs(self, ("image", "snapshot"))
        # moto's backend raises NotImplementedError on snapshot specs: it gets the image's only.
        self.params["TagSpecifications"] = [
            s for s in self._get_param("TagSpecifications", []) if s.get("ResourceType") == "image"
        ]
        with _lock:
            _check_name(self.ec2_backend, self._get_param("Name"))
            result = original_create(self)
            ami = self.ec2_backend.amis[result.result["ImageId"]]
            _tag_new_image(ami, {"snapshot": tags.get("snapshot", {})})
            _start_clock(ami)
        return result

    def register_image(self):
        self.error_on_dryrun()
        tags = _tag_specs(self, ("image",))
        with _lock:
            _check_name(self.ec2_backend, self._get_param("Name"))
            result = original_register(self)
            ami = self.ec2_backend.amis[result.result["ImageId"]]
            _tag_new_image(ami, tags)
            _start_clock(ami)
        return result

    def copy_image(self):
        self.error_on_dryrun()
        token = self._get_param("ClientToken")
        args = tuple(
            str(self._get_param(p) or "") for p in ("SourceImageId", "SourceRegion", "Name")
        )
        tags = _tag_specs(self, ("image", "snapshot"))
        seen = _tokens(self.ec2_backend, "CopyImage")
        with _lock:
            if token and token in seen:
                if seen[token][0] != args:
                    raise _mismatch()
                return ActionResult({"ImageId": seen[token][1]})
            _check_name(self.ec2_backend, self._get_param("Name"))
            result = original_copy(self)
            ami = self.ec2_backend.amis[result.result["ImageId"]]
            _tag_new_image(ami, tags)
            _start_clock(ami)
            if token:
                seen[token] = (args, ami.id)
        return result

    AmisResponse.create_image = create_image
    AmisResponse.register_image = register_image
    AmisResponse.copy_image = copy_image


def patch_run_instances_token():
    """RunInstances honours its ClientToken.

    Gap: moto ignores ClientToken, so a retried RunInstances launches more instances. EC2
    ("Ensuring idempotency in Amazon EC2 API requests",
    https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html, and its older
    RunInstances-only version, Run_Instance_Idempotency.html): a request repeated with the same
    client token returns the same response (the same reservation and instances; "the only
    information that might vary in the response is the state of the instance", so an instance
    terminated since is still what is returned; the token stays valid for at least 24 hours
    after the instance's termination); the same token with another parameter changed fails
    with IdempotentParameterMismatch (HTTP 400; "Arguments on this idempotent request are
    inconsistent with arguments used in previous request(s).", as real EC2 words it). Tokens
    are per account and Region: the same request in another Region launches there. Compared
    here: ImageId, InstanceType, MinCount, MaxCount.

    Not reproduced: moto's RunInstances response always reports its instances as pending (a
    response transformer of moto's), so a repeated request shows `pending` where EC2 would show
    the current state; DescribeInstances shows the real state.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.instances import InstanceResponse

    original_run = InstanceResponse.run_instances

    def run_instances(self):
        token = self._get_param("ClientToken")
        if not token:
            return original_run(self)
        args = tuple(
            str(self._get_param(p) or "")
            for p in ("ImageId", "InstanceType", "MinCount", "MaxCount")
        )
        seen = _tokens(self.ec2_backend, "RunInstances")
        with _lock:
            if token in seen:
                if seen[token][0] != args:
                    raise _mismatch()
                self.error_on_dryrun()
                return ActionResult(seen[token][1])
            result = original_run(self)
            seen[token] = (args, result.result)  # the Reservation, serialised as it is then
        return result

    InstanceResponse.run_instances = run_instances


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _years_later(moment, years):
    """`moment` `years` calendar years later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def _deprecate_at(response):
    """DeprecateAt as an aware UTC datetime; moto's parser gives a datetime or the raw string."""
    from moto.ec2.exceptions import MissingParameterError

    value = response._get_param("DeprecateAt")
    if value in (None, ""):
        raise MissingParameterError("DeprecateAt")
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    elif not isinstance(value, datetime.datetime):
        from botocore.utils import parse_timestamp

        try:
            value = parse_timestamp(str(value).strip('"'))
        except Exception:
            raise _error(
                "InvalidParameterValue", f"Value ({value}) for parameter DeprecateAt is invalid."
            )
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _to_minute(moment):
    """`moment` rounded to the nearest minute (from 30 seconds on, up)."""
    base = moment.replace(second=0, microsecond=0)
    if moment - base >= datetime.timedelta(seconds=30):
        base += datetime.timedelta(minutes=1)
    return base


def _own_image(backend, ami_id):
    """The caller's image `ami_id`, or EC2's error for an ID it cannot deprecate.

    Unknown in this Region: InvalidAMIID.NotFound, "Invalid ImageId: ami-..." (as real EC2 words
    it for EnableImageDeprecation, hashicorp/packer-plugin-amazon#259); deregistered:
    InvalidAMIID.Unavailable (moto's own error, as for DeregisterImage); another account's
    image: InvalidAMIID.Unavailable too, since only the owner may deprecate an AMI (user guide,
    "Deprecate an AMI"; EC2 does not document the error code, so this is a choice)."""
    from moto.ec2.exceptions import MalformedAMIIdError, UnvailableAMIIdError

    if not (ami_id or "").startswith("ami-"):
        raise MalformedAMIIdError([ami_id or ""])
    ami = backend.amis.get(ami_id)
    if ami is None:
        if ami_id in getattr(backend, "deleted_amis", ()):
            raise UnvailableAMIIdError(ami_id)
        raise _error("InvalidAMIID.NotFound", f"Invalid ImageId: {ami_id}")
    if ami.owner_id != backend.account_id:
        raise UnvailableAMIIdError(ami_id)
    return ami


def _check_deprecate_at(ami, at, now):
    """InvalidParameterValue unless `at` is allowed for `ami` at `now` (see patch_image_deprecation)."""
    if at < now:
        raise _error(
            "InvalidParameterValue",
            f"The deprecation time {at:%Y-%m-%dT%H:%M:%SZ} is in the past. "
            "You can't specify a date in the past.",
        )
    limit, what = _years_later(now, 10), "10 years from now"
    if ami.is_public:
        created = ami.creation_date
        if isinstance(created, datetime.datetime):
            if created.tzinfo is None:
                created = created.replace(tzinfo=datetime.timezone.utc)
            limit, what = _years_later(created, 2), "2 years from the creation date of a public AMI"
    if at > limit:
        raise _error(
            "InvalidParameterValue",
            f"The deprecation time {at:%Y-%m-%dT%H:%M:%SZ} is too far in the future. "
            f"The upper limit is {what}.",
        )


def patch_image_deprecation():
    """EnableImageDeprecation and DisableImageDeprecation, and DeprecationTime in DescribeImages.

    Gap: moto 5.2.5 implements neither action (moto answers that it does not know them), and
    its images never have a deprecation time. amipub's `revoke --deprecate` sets one on each
    AMI of a version, so the emulator reproduces what EC2 does:

    - EnableImageDeprecation(ImageId, DeprecateAt) (API reference, EnableImageDeprecation,
      https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html,
      and the user guide's "Deprecate an Amazon EC2 AMI",
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deprecate.html): only the owner
      deprecates an AMI (errors: _own_image); "You can't specify a date in the past" and "The
      upper limit for DeprecateAt is 10 years from now, except for public AMIs, where the upper
      limit is 2 years from the creation date" (refused with InvalidParameterValue; EC2 does not
      document the code or message, so these are ours); "If you specify a value for seconds,
      Amazon EC2 rounds the seconds to the nearest minute". The limits are checked on the time
      as requested, the rounded one is stored. It answers <return>true</return>.
    - DescribeImages then reports `deprecationTime` ("The date and time to deprecate the AMI,
      in UTC, in the following format: YYYY-MM-DDTHH:MM:SSZ. If you specified a value for
      seconds, Amazon EC2 rounds the seconds to the nearest minute", API reference, "Image";
      sent as e.g. 2026-11-21T15:02:00.000Z, as in the API reference's example). moto's
      serializer reads it from `ami.deprecation_time`, a plain attribute: the pending-image
      clock and the frozen moment of patch_image_states are untouched.
    - DisableImageDeprecation(ImageId) clears it (API reference, DisableImageDeprecation), with
      the same ownership errors, and answers <return>true</return>.

    Not reproduced: a deprecated AMI's reduced visibility to other accounts in DescribeImages
    (amipub describes its own images, which EC2 always lists); CopyImage does not carry the
    deprecation time over (moto's copy does not either). Whether EC2 allows it on a pending
    image is not documented: allowed, as moto would.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.amis import AmisResponse

    def enable_image_deprecation(self):
        self.error_on_dryrun()
        ami = _own_image(self.ec2_backend, self._get_param("ImageId"))
        at = _deprecate_at(self)
        _check_deprecate_at(ami, at, _utcnow())
        ami.deprecation_time = _to_minute(at).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return ActionResult({"Return": True})

    def disable_image_deprecation(self):
        self.error_on_dryrun()
        ami = _own_image(self.ec2_backend, self._get_param("ImageId"))
        ami.deprecation_time = None
        return ActionResult({"Return": True})

    AmisResponse.enable_image_deprecation = enable_image_deprecation
    AmisResponse.disable_image_deprecation = disable_image_deprecation


# Block public access for AMIs, and the public AMI quota -------------------------------------

BLOCKED = "block-new-sharing"
UNBLOCKED = "unblocked"
# "Public AMIs: The maximum number of public AMIs, including public AMIs in the Recycle Bin,
# allowed per Region", default quota 5 (user guide, "AMI quotas in Amazon EC2",
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-quotas.html).
DEFAULT_PUBLIC_AMI_QUOTA = 5


def _region(backend):
    return getattr(backend, "region_name", "")


def _per_region(conf, key, region):
    value = (conf or {}).get(key)
    return value.get(region) if isinstance(value, dict) else None


def image_bpa_state(backend, conf):
    """(state, managed by) of block public access for AMIs in `backend`'s account and Region.

    The state: control.json "image_block_public_access" for the Region when it names it (it
    wins, even over Enable/DisableImageBlockPublicAccess), else what those calls last set (kept
    on moto's per-account, per-Region backend, so a reset of moto forgets it), else unblocked.
    Managed by: "image_block_public_access_managed_by" for the Region, else account."""
    region = _region(backend)
    state = _per_region(conf, "image_block_public_access", region)
    if state is None:
        state = getattr(backend, "_amipub_image_bpa", None) or UNBLOCKED
    managed = _per_region(conf, "image_block_public_access_managed_by", region) or "account"
    return str(state), str(managed)


def _shares_publicly(response):
    """Whether a ModifyImageAttribute request adds launch permission group "all", in either of
    its forms (LaunchPermission.Add.N.Group, or OperationType=add with UserGroup.N), read as
    moto reads them."""
    adds = (response._get_param("LaunchPermission", {}) or {}).get("Add", []) or []
    if any((lp or {}).get("Group") == "all" for lp in adds):
        return True
    if response._get_param("OperationType") == "add":
        return "all" in (response._get_param("UserGroups", []) or [])
    return False


def public_ami_count(backend):
    """The account's public AMIs in the backend's Region: images it owns (any state; moto keeps
    no Recycle Bin) whose launch permissions include group all."""
    return sum(
        1 for ami in list(backend.amis.values())
        if ami.owner_id == backend.account_id and ami.is_public
    )


def patch_image_public_sharing(control):
    """Block public access for AMIs (Get/Enable/DisableImageBlockPublicAccess) and the public
    AMI quota, both enforced by ModifyImageAttribute.

    Gap 1: moto 5.2.5 implements none of GetImageBlockPublicAccessState,
    EnableImageBlockPublicAccess, DisableImageBlockPublicAccess, and makes any AMI public. EC2
    (API reference, API_GetImageBlockPublicAccessState.html, API_EnableImageBlockPublicAccess.html,
    API_DisableImageBlockPublicAccess.html; user guide, "Understand block public access for
    AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-public-access-to-amis.html):
    the setting is per account and Region; Get answers imageBlockPublicAccessState
    (block-new-sharing | unblocked) and managedBy (account | declarative-policy: "The state is
    managed by a declarative policy and can't be modified by the account"); Enable takes
    ImageBlockPublicAccessState (only valid value block-new-sharing) and answers
    block-new-sharing; Disable answers unblocked. "When block public access is enabled, any
    attempt to make an AMI public is automatically blocked. However, if you already have public
    AMIs, they remain publicly available." ModifyImageAttribute adding group all is then refused
    with OperationNotPermitted (HTTP 400), "You can’t publicly share this image because block
    public access for AMIs is enabled for this account. To publicly share the image, you must
    call the DisableImageBlockPublicAccess API." (EC2 documents no code for it; code and message
    as real EC2 returns them, hortonworks/cloudbreak-images#926,
    aws-deepracer-community/deepracer-on-the-spot#106).

    Choices: the state comes from control.json when it names the Region (see image_bpa_state),
    so a test sets it without calls; Enable/Disable still record theirs, seen once control.json
    no longer names the Region. Enable/Disable take effect at once (EC2: "can take up to 10
    minutes", meanwhile Get shows the old state; not reproduced). Under a declarative policy
    they are refused, OperationNotPermitted (EC2 documents that the account can't modify the
    setting, not the error: our choice). Adding group all to an AMI already public changes
    nothing and is not refused (nothing is made public).

    Gap 2: moto has no quota of public AMIs. EC2's "Public AMIs" quota, 5 per Region by default
    (DEFAULT_PUBLIC_AMI_QUOTA), counts the account's public AMIs in the Region; making one more
    public beyond it is refused with ResourceLimitExceeded (HTTP 400), "You have reached your
    quota of 5 for the number of public images allowed in this Region. Deregister unused public
    images or make them private, or request an increase in your public AMIs quota." (EC2's
    error list has ResourceLimitExceeded but not this case; message as real EC2 returns it,
    ava-labs/avalanche-cli#2317, iterative/studio-selfhosted#90,
    cloudfoundry/bosh-linux-stemcell-builder#685). control.json "public_ami_quota": N sets the
    account's quota (every Region). Block public access is checked first.

    The checks follow patch_image_states' (a pending image is refused first); an unknown image
    is left to moto's own errors. Check and change hold the module lock, so concurrent requests
    cannot both take the last place of the quota.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import MissingParameterError
    from moto.ec2.responses.amis import AmisResponse

    original_modify = AmisResponse.modify_image_attribute

    def modify_image_attribute(self):
        backend = self.ec2_backend
        ami = backend.amis.get(self._get_param("ImageId"))
        if ami is None or ami.is_public or not _shares_publicly(self):
            return original_modify(self)
        conf = control.read()
        with _lock:
            if ami.state != "pending":  # else patch_image_states' error, from original_modify
                state, _ = image_bpa_state(backend, conf)
                if state == BLOCKED:
                    raise _error(
                        "OperationNotPermitted",
                        "You can’t publicly share this image because block public access for "
                        "AMIs is enabled for this account. To publicly share the image, you must "
                        "call the DisableImageBlockPublicAccess API.",
                    )
                quota = conf.get("public_ami_quota")
                quota = DEFAULT_PUBLIC_AMI_QUOTA if quota is None else int(quota)
                if ami.owner_id == backend.account_id and public_ami_count(backend) + 1 > quota:
                    raise _error(
                        "ResourceLimitExceeded",
                        f"You have reached your quota of {quota} for the number of public "
                        "images allowed in this Region. Deregister unused public images or make "
                        "them private, or request an increase in your public AMIs quota.",
                    )
            return original_modify(self)

    def _not_by_account(backend, conf):
        _, managed = image_bpa_state(backend, conf)
        if managed != "account":
            raise _error(
                "OperationNotPermitted",
                "Block public access for AMIs is managed by a declarative policy in this Region "
                "and can't be modified by the account.",
            )

    def get_image_block_public_access_state(self):
        self.error_on_dryrun()
        state, managed = image_bpa_state(self.ec2_backend, control.read())
        return ActionResult({"ImageBlockPublicAccessState": state, "ManagedBy": managed})

    def enable_image_block_public_access(self):
        self.error_on_dryrun()
        value = self._get_param("ImageBlockPublicAccessState")
        if not value:
            raise MissingParameterError("ImageBlockPublicAccessState")
        if value != BLOCKED:
            raise _error(
                "InvalidParameterValue",
                f"Value ({value}) for parameter ImageBlockPublicAccessState is invalid. "
                f"Valid values: {BLOCKED}",
            )
        _not_by_account(self.ec2_backend, control.read())
        self.ec2_backend._amipub_image_bpa = BLOCKED
        return ActionResult({"ImageBlockPublicAccessState": BLOCKED})

    def disable_image_block_public_access(self):
        self.error_on_dryrun()
        _not_by_account(self.ec2_backend, control.read())
        self.ec2_backend._amipub_image_bpa = UNBLOCKED
        return ActionResult({"ImageBlockPublicAccessState": UNBLOCKED})

    AmisResponse.modify_image_attribute = modify_image_attribute
    AmisResponse.get_image_block_public_access_state = get_image_block_public_access_state
    AmisResponse.enable_image_block_public_access = enable_image_block_public_access
    AmisResponse.disable_image_block_public_access = disable_image_block_public_access


# Opt-in Regions -----------------------------------------------------------------------------


def _truthy(value):
    return value is True or str(value).lower() == "true"


def patch_describe_regions(control):
    """DescribeRegions with the account's opt-in statuses, AllRegions and Filters.

    Gap: moto 5.2.5 ignores AllRegions and Filters and always lists every Region it knows with
    fixed statuses. EC2 (API reference, DescribeRegions,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html: "Describes
    the Regions that are enabled for your account, or all Regions"): AllRegions "Indicates
    whether to display all Regions, including Regions that are disabled for your account", so
    without it only enabled Regions (opt-in-not-required, opted-in) are listed; RegionNames
    "You can specify any Regions, whether they are enabled and disabled for your account";
    filters endpoint, opt-in-status, region-name (values may use * and ?, filters are ANDed).
    OptInStatus comes from optin.status (control.json "regions_not_opted_in",
    "regions_opted_in"; others keep moto's value).

    Kept from moto: its list of Regions (it also lists the aws-cn and aws-us-gov partitions'),
    RegionNames it does not know are left out, filters other than those three are ignored.
    """
    import optin
    from moto.core.responses import ActionResult
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions

    def describe_regions(self):
        self.error_on_dryrun()
        conf = control.read()
        names = self._get_param("RegionNames", []) or []
        every = _truthy(self._get_param("AllRegions")) or bool(names)
        filters = {}
        for f in self._get_param("Filters", []) or []:
            filters.setdefault(f.get("Name"), []).append([str(v) for v in f.get("Values") or []])
        out = []
        for region in self.ec2_backend.describe_regions(names):
            status = optin.status(region.name, conf) or region.opt_in_status
            if not every and status == "not-opted-in":
                continue
            fields = {"region-name": region.name, "endpoint": region.endpoint,
                      "opt-in-status": status}
            if all(
                any(fnmatch.fnmatchcase(fields[name], v) for v in values)
                for name, lists in filters.items() if name in fields
                for values in lists
            ):
                out.append({"RegionName": region.name, "Endpoint": region.endpoint,
                            "OptInStatus": status})
        return ActionResult({"Regions": out})

    AvailabilityZonesAndRegions.describe_regions = describe_regions
