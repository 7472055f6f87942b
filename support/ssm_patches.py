"""Patches of moto's SSM (in the emulator's process only) where moto 5.2.5 is kinder than SSM.

The emulator must be at least as strict as AWS wherever amipub depends on it. Each patch fills
a named gap of moto and reproduces documented Parameter Store behaviour (its docstring cites the
AWS page); `apply_all()` applies them all, before moto's server starts:

- patch_ec2_image_parameters: moto's PutParameter accepts any value for DataType
  aws:ec2:image (moto/ssm/models.py says the AMI existence check is unsupported and creates the
  parameter); Parameter Store creates or updates such a parameter only if its value is an AMI
  ID of an image available in the account, in the parameter's own Region. Here a PutParameter
  that names no such image is refused, 400 ValidationException, and nothing is written.

Internals of moto 5.2.5 relied on: SimpleSystemManagerBackend.put_parameter(name, description,
value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type, tier=, policies=)
(what the PutParameter response handler calls), the backend's `account_id` and `region_name`,
moto.ssm.exceptions.ValidationException (serialised as the JSON error
{"__type": "ValidationException", "message": ...}), and moto.ec2.models.ec2_backends
[account][region].amis (every image that account can see in that Region: its own, shared ones
and the preloaded public images; deregistered ones are removed from it).
"""

import re

EC2_IMAGE = "aws:ec2:image"
# An AMI ID: "ami-" and 8 (older images) or 17 lowercase hexadecimal digits.
AMI_ID = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")


def apply_all():
    """Every patch of this module."""
    patch_ec2_image_parameters()


def image_exists(account_id, region, value):
    """Whether `value` is the AMI ID of an image `account_id` can see in `region`."""
    from moto.ec2.models import ec2_backends

    if not AMI_ID.fullmatch(value or ""):
        return False
    return value in ec2_backends[account_id][region].amis


def patch_ec2_image_parameters():
    """PutParameter with DataType aws:ec2:image names an existing AMI of the same Region.

    Gap: moto 5.2.5 accepts DataType aws:ec2:image (it checks only that the data type is text
    or aws:ec2:image) and stores any value: a name, another Region's AMI, an AMI that was
    never registered. Parameter Store (API reference, "PutParameter", DataType: "When you
    create a String parameter and specify aws:ec2:image, Amazon Web Services Systems Manager
    validates the parameter value is in the required format, such as ami-12345abcdeEXAMPLE,
    and that the specified AMI is available in your Amazon Web Services account"; User Guide,
    "Using native parameter support in Parameter Store for Amazon Machine Image IDs") validates
    the value ASYNCHRONOUSLY: PutParameter answers 200, then "If you submit an invalid AMI
    value, ... the asynchronous validation will fail and the parameter will not be created or
    updated". An AMI ID belongs to one Region, and a parameter lives in the Region it was put
    in, so the image must be that Region's.

    Here the check is made synchronously, before moto writes anything: a value that is not an
    AMI ID (ami- followed by 8 or 17 hex digits) of an image that exists in moto's EC2 backend
    of the same account and Region is refused, HTTP 400 ValidationException "Parameter value
    <v> failed the aws:ec2:image data type validation: no such image in <region>", and neither
    a new parameter nor a new version is written (an overwrite keeps the previous value). That
    is at least as strict as AWS: what AWS would silently drop fails loudly, and a client
    cannot rely on an invalid put doing anything. It applies to every PutParameter naming
    DataType aws:ec2:image, overwrites included; moto's own validations come after it.
    A pending image counts as existing (ec2_patches makes new images pending for a while).
    """
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.put_parameter

    def put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid,
                      overwrite, tags, data_type, *args, **kwargs):
        if data_type == EC2_IMAGE and not image_exists(self.account_id, self.region_name, value):
            raise ValidationException(
                f"Parameter value {value} failed the {EC2_IMAGE} data type validation: "
                f"no such image in {self.region_name}")
        return original(self, name, description, value, parameter_type, allowed_pattern,
                        keyid, overwrite, tags, data_type, *args, **kwargs)

    SimpleSystemManagerBackend.put_parameter = put_parameter
