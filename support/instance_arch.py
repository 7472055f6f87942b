"""RunInstances checks the instance type against the AMI, patched into moto's EC2 in the
emulator's process only.

The emulator must be at least as strict as AWS wherever amipub depends on it. amipub builds
x86_64 and arm64 images, each from an instance of its own architecture's instance type
(profiles: instance_type: {x86_64: m5.large, arm64: m6g.large}); a profile that pairs them
wrongly must fail in the tests as it fails on AWS. `apply()` applies the patch below, after
ec2_patches.apply_all and image_settings.apply (it wraps their RunInstances handler, so its
refusal comes first and nothing of theirs runs for a refused request).

Gaps of moto 5.2.5 filled (both checked against moto 5.2.5 itself: it launched an m5.large
from an arm64 AMI and an instance of type "xyz.huge"):

1. Architecture mismatch. moto launches any instance type from any AMI (the instance simply
   takes the AMI's architecture). EC2 refuses, HTTP 400 InvalidParameterValue, when the AMI's
   architecture is not one the instance type supports (DescribeInstanceTypes,
   ProcessorInfo.SupportedArchitectures: i386 | x86_64 | arm64 | x86_64_mac | arm64_mac), with
   the message real EC2 returns (quoted in aws/aws-parallelcluster#3795,
   aws/eks-anywhere-build-tooling#2158, skypilot-org/skypilot#6315): "The architecture 'x86_64'
   of the specified instance type does not match the architecture 'arm64' of the specified AMI.
   Specify an instance type and an AMI that have matching architectures, and try again. You can
   use 'describe-instance-types' or 'describe-images' to discover the architecture of the
   instance type or AMI." A type of several architectures is named by them all, comma-separated
   ('x86_64,i386' in gardener/gardener-extension-provider-aws#694; here in moto's order,
   'i386,x86_64'). The instance type's architectures are those of moto's own data
   (moto/ec2/resources/instance_types.json: m6g.* arm64, m5.* and m3.medium x86_64, m1.small
   i386 and x86_64). The instance type and the AMI are the request's, else its launch
   template's; without either, the type is m1.small (API reference, RunInstances,
   InstanceType: "Default: m1.small"), as moto's default.
2. Unknown instance type. moto accepts any InstanceType (it checks them only when
   MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION is set, and then answers
   InvalidInstanceType.NotFound, which is not EC2's error). EC2 refuses an instance type that
   does not exist: HTTP 400 InvalidParameterValue "Invalid value 'xyz' for InstanceType." (the
   message real EC2 returns, getmoto/moto#1695). "Exists" is moto's list of instance types.

Either refusal comes before anything is created (no reservation, instance, volume, tag), and
before DryRun is answered. Not checked (left to moto): an AMI moto does not know (moto launches
it as x86_64; MOTO_ENABLE_AMI_VALIDATION is not set), and an AMI without an architecture (moto
and ec2_patches leave it unset when RegisterImage names none). Not reproduced: EC2's refusal of
a type that exists but is not offered in the Region or Availability Zone (Unsupported).

Internals of moto 5.2.5 relied on: the response class InstanceResponse (run_instances,
self._get_param, self.ec2_backend), the backend's `amis` dict and _get_template_from_args
(a LaunchTemplateVersion with .image_id and .instance_type), Ami.architecture,
moto.ec2.models.instance_types.INSTANCE_TYPES ({type: DescribeInstanceTypes' InstanceTypeInfo})
and EC2ClientError.
"""

DEFAULT_INSTANCE_TYPE = "m1.small"  # RunInstances without InstanceType (API reference; moto's)


def _error(code, message):
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def supported_architectures(instance_type):
    """The architectures `instance_type` supports, in moto's order; None for a type moto does
    not know."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type)
    if info is None:
        return None
    return list((info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or [])


def launch_parameters(response):
    """(image ID, instance type) of a RunInstances request: its own, else its launch
    template's; the type defaults to m1.small."""
    image_id = response._get_param("ImageId")
    instance_type = response._get_param("InstanceType")
    template = response._get_param("LaunchTemplate", {}) or {}
    if template and (not image_id or not instance_type):
        version = response.ec2_backend._get_template_from_args(template)
        image_id = image_id or version.image_id
        instance_type = instance_type or version.instance_type
    return image_id or None, instance_type or DEFAULT_INSTANCE_TYPE


def check(response):
    """Refuses a RunInstances request whose instance type is unknown or does not match its
    AMI's architecture (InvalidParameterValue); returns otherwise."""
    image_id, instance_type = launch_parameters(response)
    arches = supported_architectures(instance_type)
    if arches is None:
        raise _error("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.")
    ami = response.ec2_backend.amis.get(image_id) if image_id else None
    arch = getattr(ami, "architecture", None)
    if ami is None or not arch or arch in arches:
        return
    raise _error(
        "InvalidParameterValue",
        f"The architecture '{','.join(arches)}' of the specified instance type does not match "
        f"the architecture '{arch}' of the specified AMI. Specify an instance type and an AMI "
        "that have matching architectures, and try again. You can use 'describe-instance-types' "
        "or 'describe-images' to discover the architecture of the instance type or AMI.",
    )


def apply():
    """RunInstances refuses an unknown instance type and one whose architectures do not include
    the AMI's (see the module docstring)."""
    from moto.ec2.responses.instances import InstanceResponse

    original_run = InstanceResponse.run_instances

    def run_instances(self):
        check(self)
        return original_run(self)

    InstanceResponse.run_instances = run_instances
