"""Canonical's Ubuntu images and their public SSM parameters, per Region. Test support only.

The emulator must be at least as strict as AWS wherever amipub depends on it. `amipub sources
update` reads, in each Region, Canonical's public parameter of a release, architecture and
volume type, then describes that AMI in the same Region; where the parameter does not exist it
falls back to DescribeImages (Owners 099720109477, a name filter) and takes the newest image by
CreationDate. moto 5.2.5 has none of this, and this module fills each gap:

- No Canonical images. moto's own catalogue (ec2/resources/amis.json, latest_amis/<region>) is
  Amazon's, and the emulator sets MOTO_AMIS_PATH (the upstream images of regions.yaml), which
  also turns moto's per-Region catalogues off; whatever MOTO_AMIS_PATH names moto loads into
  EVERY Region, while on EC2 an AMI is a regional resource whose ID exists in one Region only
  (user guide, "Copy an Amazon EC2 AMI": to use an AMI in another Region you copy it, and the
  copy gets a new ID there; DescribeImages of another Region's ID answers
  InvalidAMIID.NotFound). Here each Region the emulator serves gets its own images, with IDs of
  its own: patch_images wraps moto's AmiBackend._load_amis (run when moto creates an account's
  EC2 backend of a Region, lazily, and again after a reset) and adds that Region's catalogue
  (images(region)) only there; other Regions have none. For each release 22.04 (jammy) and
  24.04 (noble), architecture amd64 (EC2 x86_64) and arm64, and volume type Canonical publishes
  (24.04: ebs-gp3; 22.04: ebs-gp2 and ebs-gp3) there is a current image (serial 20261101) and
  an older one (20260901), named as Canonical names them (Ubuntu on AWS documentation, "Find
  Ubuntu images on AWS", e.g.
  ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101; gp2 images under
  ubuntu/images/hvm-ssd/), owned by 099720109477 with no owner alias (DescribeImages
  ImageOwnerAlias is only "amazon" or "aws-marketplace", API reference "Image"), public,
  available, hvm, EBS root /dev/sda1 of that volume type (8 GiB, deleted on termination), ENA,
  BootMode uefi-preferred (x86_64) or uefi (arm64), CreationDate on the serial's day and
  DeprecationTime two years later (user guide, "Deprecate an Amazon EC2 AMI": public AMIs get a
  default deprecation date two years after their creation date). The AMI ID is "ami-" and 17
  hex digits of a SHA-256 of (Region, release, architecture, volume, serial): deterministic,
  different in each Region. moto's Ami takes architecture, boot mode and creation date as
  constructor arguments; EnaSupport, DeprecationTime, PlatformDetails, UsageOperation and
  Hypervisor are attributes its serializer reads; the root volume's type and size are
  hard-coded by moto (standard, 15 GiB), so patch_images wraps Ami.block_device_mappings for
  these images only.
- No Canonical parameters, and no way to write them: moto refuses PutParameter under /aws/
  (AccessDeniedException "No access to reserved parameter name", as Parameter Store does) and
  ships only some /aws/service trees of its own (global-infrastructure, Amazon Linux and ECS
  AMIs, loaded lazily on the first read under their prefix). patch_parameters wraps moto's
  ParameterDict (one per account and Region, made with its SSM backend) and seeds, in each
  Region the emulator serves, the current image of each (release, arch, volume) as Canonical
  publishes it in Parameter Store ("Find Ubuntu images on AWS": /aws/service/canonical/ubuntu/
  server/<release>/stable/current/<arch>/hvm/<volume>/ami-id, in every Region): Type String,
  DataType aws:ec2:image, Tier Standard, version 2 (version 1, in GetParameterHistory, named
  the older image), LastModifiedDate the image's creation date, ARN with no account
  (arn:aws:ssm:<region>::parameter/aws/..., as Parameter Store shows public parameters).
  moto's lazy loaders add other names of the same dict, so both coexist. A name that does not
  exist still answers ParameterNotFound (moto's own, HTTP 400); the codename paths
  (.../server/noble/...) and serial paths (.../stable/20261101/...) AWS also has are not
  seeded: reading them answers ParameterNotFound, stricter than AWS.
- moto's DeleteParameter deletes any name, /aws/ ones included (moto's own parameters and the
  seeded ones). Parameter Store refuses names with the reserved prefix: AccessDeniedException
  "No access to reserved parameter name: <name>." (HTTP 400; seen from real Parameter Store for
  DeleteParameter, awslabs/aws-deployment-framework#119). patch_parameters reproduces it for a
  name whose first segment starts with "aws" (case-insensitive); DeleteParameters leaves such
  names undeleted, listed under InvalidParameters (AWS does not document this case).

Control (<work>/control.json, read at each request):
  "canonical_parameters_missing": ["eu-west-1", ...]  in these Regions none of Canonical's
      parameters exist: GetParameter answers ParameterNotFound, GetParameters lists them under
      InvalidParameters, GetParametersByPath, DescribeParameters and GetParameterHistory do not
      know them; the images stay in EC2 (as in a Region where Canonical publishes no parameter
      yet), so a client's DescribeImages fallback is exercised.

Internals of moto 5.2.5 relied on: moto.ec2.models.amis.AmiBackend._load_amis (called from
AmiBackend.__init__ after BaseBackend set region_name and account_id), the Ami constructor
(ami_id, name, description, owner_id, owner_alias, public, virtualization_type, architecture,
state, creation_date as a naive UTC datetime, root_device_type, root_device_name, region_name
as the zone of the snapshot's scratch volume, snapshot_description, boot_mode), the
`block_device_mappings` property, and the serializer reading Image members from snake_case
attributes; moto.ssm.models.ParameterDict (a defaultdict name -> list of Parameter versions,
the last one current; account_id, region_name; __contains__, __getitem__, iteration,
get_keys_beginning_with) and Parameter(account_id, name, value, parameter_type, description,
allowed_pattern, keyid, last_modified_date, version, data_type, tier=);
SimpleSystemManagerBackend.delete_parameter / delete_parameters and
moto.ssm.exceptions.AccessDeniedException.
"""

import datetime
import hashlib
from dataclasses import dataclass

CANONICAL = "099720109477"
CONTROL_KEY = "canonical_parameters_missing"
# (release, codename, volume types Canonical publishes for it)
RELEASES = (("22.04", "jammy", ("ebs-gp2", "ebs-gp3")), ("24.04", "noble", ("ebs-gp3",)))
# (Ubuntu architecture, EC2 architecture, boot mode)
ARCHITECTURES = (("amd64", "x86_64", "uefi-preferred"), ("arm64", "arm64", "uefi"))
NAME_PREFIX = {"ebs-gp2": "ubuntu/images/hvm-ssd/", "ebs-gp3": "ubuntu/images/hvm-ssd-gp3/"}
SERIALS = ("20260901", "20261101")  # oldest first; the last one is current
CURRENT_SERIAL = SERIALS[-1]


@dataclass(frozen=True)
class Image:
    region: str
    release: str
    codename: str
    arch: str  # Ubuntu's: amd64 | arm64
    architecture: str  # EC2's: x86_64 | arm64
    boot_mode: str
    volume: str  # ebs-gp2 | ebs-gp3
    serial: str

    @property
    def ami_id(self):
        key = "|".join((self.region, self.release, self.arch, self.volume, self.serial))
        return "ami-" + hashlib.sha256(key.encode()).hexdigest()[:17]

    @property
    def name(self):
        return (f"{NAME_PREFIX[self.volume]}ubuntu-{self.codename}-{self.release}-{self.arch}"
                f"-server-{self.serial}")

    @property
    def creation_date(self):
        """Naive UTC, on the serial's day, at a time of day derived from the ID."""
        day = datetime.datetime.strptime(self.serial, "%Y%m%d")
        return day + datetime.timedelta(seconds=int(self.ami_id[4:12], 16) % 86400)

    @property
    def description(self):
        return (f"Canonical, Ubuntu, {self.release} LTS, {self.arch} {self.codename} image "
                f"build on {self.creation_date:%Y-%m-%d}")

    @property
    def current(self):
        return self.serial == CURRENT_SERIAL

    @property
    def parameter(self):
        return parameter_name(self.release, self.arch, self.volume)


def parameter_name(release, arch, volume):
    """Canonical's public parameter of the current image of (release, arch, volume)."""
    return (f"/aws/service/canonical/ubuntu/server/{release}/stable/current/{arch}/hvm/"
            f"{volume}/ami-id")


def images(region):
    """The catalogue of one Region: every (release, arch, volume), each serial, oldest first."""
    return [
        Image(region, release, codename, arch, architecture, boot_mode, volume, serial)
        for release, codename, volumes in RELEASES
        for arch, architecture, boot_mode in ARCHITECTURES
        for volume in volumes
        for serial in SERIALS
    ]


_regions = frozenset()  # the Regions the emulator serves, set by apply_all
_control = None


def missing_regions(conf):
    """The Regions control.json's "canonical_parameters_missing" names."""
    value = (conf or {}).get(CONTROL_KEY) or []
    if isinstance(value, str):
        value = [value]
    return {str(v) for v in value}


def apply_all(control, regions):
    """Every patch of this module, for the Regions `regions`; before moto's server starts."""
    global _regions, _control
    _regions = frozenset(regions)
    _control = control
    patch_images()
    patch_parameters()


def _utc(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def patch_images():
    """Each Region's Canonical images in moto's EC2 backends of that Region only."""
    from moto.ec2.models.amis import Ami, AmiBackend

    original_load = AmiBackend._load_amis

    def _load_amis(self):
        original_load(self)
        region = getattr(self, "region_name", None)
        if region not in _regions:
            return
        for image in images(region):
            ami = Ami(
                self, image.ami_id, name=image.name, description=image.description,
                owner_id=CANONICAL, owner_alias=None, public=True, virtualization_type="hvm",
                architecture=image.architecture, state="available",
                creation_date=image.creation_date, hypervisor="xen", root_device_type="ebs",
                root_device_name="/dev/sda1", region_name=f"{region}a",
                snapshot_description=f"Canonical, Ubuntu, {image.release} LTS, {image.arch} "
                                     f"{image.codename} image build on "
                                     f"{image.creation_date:%Y-%m-%d}",
                boot_mode=image.boot_mode,
            )
            ami.ena_support = True
            ami.platform_details = "Linux/UNIX"
            ami.usage_operation = "RunInstances"
            ami.deprecation_time = _utc(image.creation_date.replace(
                year=image.creation_date.year + 2))
            ami._amipub_root_volume = image.volume.removeprefix("ebs-")
            self.amis[ami.id] = ami

    AmiBackend._load_amis = _load_amis

    original_bdm = Ami.block_device_mappings.fget

    def block_device_mappings(ami):
        mappings = original_bdm(ami)
        volume = ami.__dict__.get("_amipub_root_volume")
        if volume:
            for m in mappings:
                if m.get("DeviceName") == ami.root_device_name and "Ebs" in m:
                    m["Ebs"].update(VolumeType=volume, VolumeSize=8, DeleteOnTermination=True,
                                    Encrypted=False)
        return mappings

    Ami.block_device_mappings = property(block_device_mappings)


def _seed(pd):
    """Canonical's parameters of `pd`'s Region into moto's ParameterDict `pd`."""
    from moto.ssm.models import Parameter

    names = set()
    if pd.region_name in _regions:
        for image in images(pd.region_name):
            versions = dict.setdefault(pd, image.parameter, [])
            versions.append(Parameter(
                account_id="", name=image.parameter, value=image.ami_id,
                parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                last_modified_date=image.creation_date, version=SERIALS.index(image.serial) + 1,
                data_type="aws:ec2:image", tier="Standard",
            ))
            names.add(image.parameter)
    pd._amipub_canonical = frozenset(names)


def _hidden(pd, name):
    """Whether `name` is one of Canonical's parameters and control hides them in pd's Region."""
    names = pd.__dict__.get("_amipub_canonical")
    if not names or name not in names or _control is None:
        return False
    return pd.region_name in missing_regions(_control.read())


def _reserved(name):
    return str(name or "").lstrip("/").lower().startswith("aws")


def patch_parameters():
    """Canonical's parameters in moto's SSM, hidden per Region by control; /aws/ undeletable."""
    from moto.ssm.exceptions import AccessDeniedException
    from moto.ssm.models import ParameterDict, SimpleSystemManagerBackend

    original_init = ParameterDict.__init__
    original_contains = ParameterDict.__contains__
    original_getitem = ParameterDict.__getitem__

    def __init__(self, account_id, region_name):
        original_init(self, account_id, region_name)
        _seed(self)

    def __contains__(self, key):
        if _hidden(self, key):
            return False
        return original_contains(self, key)

    def __getitem__(self, key):
        if _hidden(self, key):
            return []  # as for a missing name, but nothing is stored
        return original_getitem(self, key)

    def __iter__(self):
        names = self.__dict__.get("_amipub_canonical")
        keys = list(dict.__iter__(self))
        if names and _control is not None and \
                self.region_name in missing_regions(_control.read()):
            keys = [k for k in keys if k not in names]
        return iter(keys)

    ParameterDict.__init__ = __init__
    ParameterDict.__contains__ = __contains__
    ParameterDict.__getitem__ = __getitem__
    ParameterDict.__iter__ = __iter__

    original_delete = SimpleSystemManagerBackend.delete_parameter
    original_delete_many = SimpleSystemManagerBackend.delete_parameters

    def delete_parameter(self, name):
        if _reserved(name):
            raise AccessDeniedException(f"No access to reserved parameter name: {name}.")
        return original_delete(self, name)

    def delete_parameters(self, names):
        return original_delete_many(self, [n for n in names if not _reserved(n)])

    SimpleSystemManagerBackend.delete_parameter = delete_parameter
    SimpleSystemManagerBackend.delete_parameters = delete_parameters
