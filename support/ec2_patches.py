"""Patches of moto's EC2 (in this process only) where it is kinder than EC2; each names its gap."""

def patch_register_image():
    """RegisterImage as EC2 does it for a bundle: see the module's docstring."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.exceptions import EC2ClientError
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
                raise EC2ClientError(
                    "InvalidManifest", f"The manifest {location} could not be read."
                )
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        if location:
            ami.image_location = location
            ami.root_device_type = "instance-store"
        ami.virtualization_type = self._get_param("VirtualizationType") or ami.virtualization_type
        ami.architecture = self._get_param("Architecture") or ami.architecture
        return result

    AmisResponse.register_image = register_image


