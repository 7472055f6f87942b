"""AMI settings (boot mode, ENA, NitroTPM, IMDSv2, root volume) and deregistration protection,
patched into moto's EC2 in the emulator's process only.

The emulator must be at least as strict as AWS wherever amipub depends on it. amipub's profiles
set imds_support, boot_mode, ena_support, tpm_support, the root volume's type and size, and
deregistration_protection; `verify` reads them back from DescribeImages. `apply(control)`
applies every patch below, after ec2_patches.apply_all (it wraps some of the same handlers).
Sources: the EC2 API reference (the botocore model of the pinned boto3 carries its text) and the
EC2 user guide pages named below. Where AWS documents a behaviour but not its error, the code
and message are our choice, and say so.

Gaps of moto 5.2.5 filled:

1. Settings of new images. moto's RegisterImage ignores BootMode, TpmSupport, ImdsSupport and
   EnaSupport; every moto image reports BootMode "uefi" (a constructor default) and none reports
   ImdsSupport, TpmSupport or EnaSupport. EC2 (API reference, RegisterImage and "Image"):
   - BootMode: legacy-bios | uefi | uefi-preferred; "The AMI boot mode parameter is optional.
     For AMIs with no boot mode parameter, the instances launched from these AMIs use the
     default boot mode value of the instance type" (user guide, "Instance launch behavior with
     Amazon EC2 boot modes", ami-boot.html), so an image registered without one reports none.
   - TpmSupport: only v2.0 (TpmSupportValues). "NitroTPM requires that an instance runs in UEFI
     boot mode, which requires that the AMI must be configured for UEFI boot mode" (user guide,
     NitroTPM prerequisites), the documented register-image example pairs --tpm-support v2.0
     with --boot-mode uefi, and "You can't use register-image to create an AMI that supports
     both NitroTPM and UEFI Preferred" (user guide, "Set the boot mode of an Amazon EC2 AMI",
     set-ami-boot-mode.html): TpmSupport without BootMode uefi is refused,
     InvalidParameterCombination (code and message ours).
   - ImdsSupport: only v2.0 (ImdsSupportValues).
   - EnaSupport: "This option is supported only for HVM AMIs. Specifying this option with a PV
     AMI can make instances launched from the AMI unreachable" (RegisterImage; VirtualizationType
     "Default: paravirtual"). EC2 documents the harm, not a refusal; the emulator refuses
     EnaSupport=true on a paravirtual image (InvalidParameterCombination): stricter than AWS,
     by choice, since such an AMI is unusable.
   - Architecture arm64 with BootMode legacy-bios: "Graviton instance types: UEFI" (ami-boot.html)
     and arm64 AMIs run on Graviton only, so such an AMI cannot boot. EC2 does not document a
     refusal; refused here (InvalidParameterCombination), by choice.
   - Bad values of the enums: InvalidParameterValue (message ours). An S3-manifest
     (instance-store) image accepts the same settings: EC2 documents no restriction.
   DescribeImages then reports bootMode, tpmSupport, imdsSupport, enaSupport as set (absent when
   not set), and DescribeImageAttribute serves bootMode, tpmSupport, imdsSupport (moto's handler
   fails on tpmSupport and imdsSupport: it reads attributes its Ami does not have) and
   deregistrationProtection (moto refuses it); an unset value is an empty AttributeValue, as
   EC2 answers ("ImdsSupport": {}, awslabs/amazon-eks-ami#1422).

2. ModifyImageAttribute ImdsSupport. moto ignores it (and answers success). EC2 (API reference,
   ModifyImageAttribute): Attribute "Valid values: description | imdsSupport | launchPermission";
   ImdsSupport "Set to v2.0 ... After you set the value to v2.0, you can't undo it": the only
   value accepted is v2.0 (others: InvalidParameterValue), so it cannot be reverted; "You can
   specify only one attribute at a time" (ImdsSupport with LaunchPermission or Description:
   InvalidParameterCombination, code ours). Only the owner modifies an AMI (ec2_patches
   _own_image's errors). A pending image is refused first (ec2_patches.patch_image_states).
   Another Attribute name is refused (InvalidParameterValue) instead of moto's silent success.

3. CreateImage. moto ignores BlockDeviceMappings and BootModeOverride and gives every image a
   15 GiB "standard" root whatever the instance's. EC2:
   - CreateImage has no ImdsSupport, BootMode nor TpmSupport parameter (API reference; only
     BootModeOverride). "By default, an AMI inherits the boot mode of the EC2 instance used to
     create the AMI" (set-ami-boot-mode.html), and the instance's boot mode parameter is its
     AMI's. BootModeOverride: "The only supported override value is uefi, and the current
     instance boot mode must be uefi" (otherwise InvalidParameterCombination, code ours; a bad
     value: InvalidParameterValue). The current instance boot mode is derived as EC2's table
     does (launch-instance-boot-mode.html): uefi -> uefi; uefi-preferred -> uefi on an instance
     type supporting UEFI, else legacy-bios; none -> uefi on arm64, else legacy-bios. Which
     types support UEFI ("all instances built on the AWS Nitro System", with exceptions) is
     approximated by XEN_FAMILIES, our list of the non-Nitro families.
   - ENA support, NitroTPM and IMDSv2 are copied from the instance's AMI too. For ImdsSupport
     EC2 documents nothing, but does so (a CreateImage AMI of an AL2023 instance keeps v2.0:
     hashicorp/packer-plugin-amazon#472, closed as not a bug; NixOS/amis#71). For TpmSupport
     and EnaSupport the copy is our choice (not documented either way; an instance launched
     with NitroTPM keeps it, and ENA is "enabled for the AMI and any instances that you launch
     from the AMI").
   - The root volume: the new AMI's root mapping is the instance's root volume (its size, type,
     IOPS, DeleteOnTermination), and its snapshot is that size. BlockDeviceMappings with
     CreateImage: "You can't change the volume size using the VolumeSize parameter. If you want
     a different volume size, you must first change the volume size of the source instance",
     "The only option that can be changed for existing mappings or snapshots is
     DeleteOnTermination" (API reference, CreateImage). A mapping of a device of the instance
     whose VolumeSize, VolumeType, Iops, Throughput, SnapshotId, Encrypted or KmsKeyId differs
     from the instance's volume, or that is NoDevice, is refused, InvalidBlockDeviceMapping
     (EC2's code for bad mappings; message ours); equal values and DeleteOnTermination are
     accepted, the latter applied. Mappings of other devices (new volumes) are accepted but not
     modelled (moto's image has one snapshot).
   - RootDeviceType: "Creates an Amazon EBS-backed AMI" (API reference, CreateImage): "ebs";
     moto reports "standard", not a DeviceType value.
   So the root volume's type and size of an EBS AMI are chosen when the build instance is
   launched (RunInstances BlockDeviceMappings), not at CreateImage: see 4.

4. RunInstances root volume. moto gives every instance an 8 GiB gp2 root at /dev/sda1 whatever
   its AMI, drops the root entirely when other BlockDeviceMappings are given, needs VolumeSize
   or SnapshotId in every mapping, and fails on io1/io2 (it never passes Iops on). EC2 (user
   guide, "Block device mappings"; API reference, "EbsBlockDevice"): the root volume is created
   from the AMI's root mapping (device name, snapshot, size, type, DeleteOnTermination); a
   mapping of the root device overrides its size and type. Checked, for every Ebs mapping:
   - VolumeType one of standard | io1 | io2 | gp2 | sc1 | st1 | gp3 (InvalidParameterValue,
     message ours);
   - sizes, "gp2: 1 - 16,384 GiB, gp3: 1 - 65,536 GiB, io1: 4 - 16,384 GiB, io2: 4 - 65,536 GiB,
     st1 and sc1: 125 - 16,384 GiB, standard: 1 - 1024 GiB" (InvalidParameterValue, message
     ours);
   - "You can specify a volume size that is equal to or larger than the snapshot size":
     InvalidBlockDeviceMapping, "Volume of size 8GB is smaller than snapshot 'snap-...', expect
     size >= 15GB" (as real EC2 words it, e.g. in the Terraform issues quoted by many READMEs);
   - Iops: "This parameter is required for io1 and io2 volumes" (InvalidParameterCombination,
     message ours), and only gp3, io1, io2 take it;
   - st1 and sc1 as the root volume: "Throughput Optimized HDD (st1) and Cold HDD (sc1) volumes
     can't be used as boot volumes" (EBS user guide, "Amazon EBS volume types"); refused,
     InvalidBlockDeviceMapping (code and message ours).
   An AMI's root mapping is read from Ami.block_device_mappings as DescribeImages reports it
   (canonical.py's images: 8 GiB gp2/gp3), and its root snapshot's size is that mapping's
   VolumeSize (moto's scratch snapshots are 15 GiB whatever the image says). The instance keeps
   its AMI's boot mode, ENA, NitroTPM and IMDSv2 settings for CreateImage.

5. CopyImage copies BootMode, TpmSupport, ImdsSupport, EnaSupport, RootDeviceType and the root
   mapping, of which moto copies none (EC2's copy is the same AMI in another Region: "We don't
   copy launch permissions, user-defined tags, or Amazon S3 bucket permissions", user guide,
   CopyingAMIs). Deregistration protection is not copied: undocumented, our choice (the copy is
   a new AMI, "disabled").

6. Deregistration protection. moto has neither EnableImageDeregistrationProtection nor
   DisableImageDeregistrationProtection and deregisters any image. EC2 (API reference, both
   actions; user guide, "Protect an Amazon EC2 AMI from deregistration",
   ami-deregistration-protection.html): "When deregistration protection is enabled, the AMI
   can't be deregistered"; WithCooldown "If true, enforces deregistration protection for 24
   hours after deregistration protection is disabled"; Disable: "If you chose to include a
   24-hour cooldown period ... you won't immediately be able to deregister the AMI". Only the
   owner (ec2_patches._own_image's errors). DescribeImages' deregistrationProtection (String)
   is "disabled", "enabled-without-cooldown" or "enabled-with-cooldown" (the values EC2 returns:
   AWS CLI example output of enable-image-deregistration-protection, Terraform's acceptance
   tests), and "disabled-until <UTC time>" during a cooldown: the time's format
   (YYYY-MM-DDTHH:MM:SS.000Z, as DeprecationTime) is our choice. The actions answer Return, a
   String: Enable the new state ("enabled-without-cooldown" as in the CLI example), Disable
   "disabled" or, during a cooldown, the same "disabled-until ..." (our choice). Enabling again
   replaces the state and ends a cooldown; disabling an image not protected changes nothing.
   DeregisterImage while protected or cooling down: EC2 documents the refusal but neither code
   nor message; OperationNotPermitted (EC2's code for "The specified operation is not
   allowed"), with our messages naming the AMI and, in a cooldown, when it ends.
   control.json "deregistration_cooldown_seconds" (default 86400), read when protection is
   disabled, shortens the cooldown for tests.

Not reproduced: RegisterImage from an EBS snapshot's BlockDeviceMappings (amipub registers
bundles only; moto's image keeps its own 15 GiB root) and moto's fake EBS root mapping on
instance-store images (ec2_patches keeps it); launching a uefi AMI on a type without UEFI (the
source AMIs amipub launches set no boot mode); DescribeImages filters on these settings.

Internals of moto 5.2.5 relied on: Ami.__init__'s keywords (instance, source_ami, boot_mode),
Ami.root_device_type, Ami.root_device_name,
Ami.block_device_mappings (a property), Ami.ebs_snapshot and its .volume (whose size is the
snapshot's VolumeSize), Instance.__init__(ec2_backend, image_id, ...), Instance.setup_defaults,
Instance.add_block_device, Instance.block_device_mapping (device -> BlockDeviceType with
volume_id, delete_on_termination), Instance.root_device_name, instance_type, architecture,
_placement.zone, the backend's amis, get_instance, get_volume, get_snapshot, create_volume,
attach_volume, deleted_amis, the response classes AmisResponse and InstanceResponse
(self.params, _get_param, ec2_backend), and the serializer reading Image members from the
snake_case attributes of Ami (boot_mode, tpm_support, imds_support, ena_support,
deregistration_protection).
"""

import datetime
import threading

from ec2_patches import _error, _own_image, _utcnow

DEFAULT_COOLDOWN_SECONDS = 86400  # "enforces deregistration protection for 24 hours"

BOOT_MODES = ("legacy-bios", "uefi", "uefi-preferred")
V2 = "v2.0"
VOLUME_TYPES = ("standard", "io1", "io2", "gp2", "sc1", "st1", "gp3")
# (min, max) GiB per volume type (API reference, EbsBlockDevice.VolumeSize).
VOLUME_SIZES = {
    "gp2": (1, 16384), "gp3": (1, 65536), "io1": (4, 16384), "io2": (4, 65536),
    "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024),
}
IOPS_REQUIRED = ("io1", "io2")
IOPS_SUPPORTED = ("gp3", "io1", "io2")
NOT_BOOT_VOLUMES = ("st1", "sc1")
# Instance families not built on the Nitro System (Xen), which support Legacy BIOS only. Our
# approximation of "All instances built on the AWS Nitro System support both UEFI and Legacy
# BIOS, except ..." (launch-instance-boot-mode.html).
XEN_FAMILIES = frozenset((
    "t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4", "i2", "i3", "d2", "x1",
    "x1e", "p2", "p3", "g2", "g3", "g3s", "h1", "f1", "cc2", "cr1", "hs1", "hi1",
))
# What an image reports when nothing else is known: moto's own root mapping (15 GiB, standard),
# deleted on termination as EC2's images' roots are (moto's instances delete their root too).
DEFAULT_ROOT = {"size": 15, "type": "standard", "iops": None, "delete": True}

_lock = threading.RLock()
# Settings of the image the current request creates, for Ami.__init__ (same thread).
_pending = threading.local()


def apply(control):
    """Every patch of this module; `control` is the emulator's Control (its .read() -> dict)."""
    patch_image_model()
    patch_instances()
    patch_register_image()
    patch_create_image()
    patch_modify_image_attribute()
    patch_describe_image_attribute()
    patch_deregistration_protection(control)


# helpers -------------------------------------------------------------------------------------


def _truthy(value):
    return value is True or str(value).lower() == "true"


def _invalid(param, value, valid):
    return _error(
        "InvalidParameterValue",
        f"Value ({value}) for parameter {param} is invalid. Valid values: {', '.join(valid)}",
    )


def _combination(message):
    return _error("InvalidParameterCombination", message)


def _bdm(message):
    return _error("InvalidBlockDeviceMapping", message)


def _int(value):
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return value


def _settings_of(ami):
    """The settings an image hands on (to an instance, a copy)."""
    if ami is None:
        return {}
    return {k: getattr(ami, k, None)
            for k in ("boot_mode", "tpm_support", "imds_support", "ena_support")}


def root_of(ami):
    """{size, type, iops, delete} of `ami`'s root mapping, as DescribeImages reports it (other
    modules may wrap Ami.block_device_mappings for their images, e.g. canonical.py's)."""
    for m in ami.block_device_mappings or []:
        ebs = m.get("Ebs")
        if m.get("DeviceName") == ami.root_device_name and isinstance(ebs, dict):
            return {"size": _int(ebs.get("VolumeSize")) or DEFAULT_ROOT["size"],
                    "type": ebs.get("VolumeType") or DEFAULT_ROOT["type"],
                    "iops": _int(ebs.get("Iops")),
                    "delete": bool(ebs.get("DeleteOnTermination"))}
    return dict(DEFAULT_ROOT)


def _iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# 1, 3, 5: the image model -------------------------------------------------------------------


def patch_image_model():
    """Ami: no boot mode unless set; settings from the request, the instance or the copied image;
    the root mapping as recorded; deregistration protection as a reported string."""
    from moto.ec2.models.amis import Ami

    original_init = Ami.__init__

    def __init__(self, *args, **kwargs):
        explicit_boot_mode = "boot_mode" in kwargs
        original_init(self, *args, **kwargs)
        if not explicit_boot_mode:
            self.boot_mode = None  # moto's default is "uefi"; EC2's is none (ami-boot.html)
        self.tpm_support = None
        self.imds_support = None
        self.ena_support = None
        self._amipub_protection = None  # None | "with" | "without"
        self._amipub_disabled_until = None
        instance, source = kwargs.get("instance"), kwargs.get("source_ami")
        pending = getattr(_pending, "settings", None) or {}
        root = None
        if instance is not None:  # CreateImage: an EBS-backed AMI (moto says "standard")
            self.__dict__.update(getattr(instance, "_amipub_settings", None) or {})
            root = _instance_root(instance)
            self.root_device_type = "ebs"
        elif source is not None:  # CopyImage
            self.__dict__.update(_settings_of(source))
            root = root_of(source)
            self.root_device_type = source.root_device_type
        for key in ("boot_mode", "tpm_support", "imds_support", "ena_support"):
            if key in pending:
                setattr(self, key, pending[key])
        if root is not None:
            root = dict(root)
            if pending.get("root_delete") is not None:
                root["delete"] = pending["root_delete"]
            self._amipub_root = root
            try:
                self.ebs_snapshot.volume.size = root["size"]  # the snapshot's VolumeSize
            except AttributeError:
                pass

    original_bdm = Ami.block_device_mappings.fget

    def block_device_mappings(self):
        root = self.__dict__.get("_amipub_root")
        if root is None:  # moto's mapping (or another module's), deleted on termination
            mappings = original_bdm(self)
            for m in mappings:
                if m.get("DeviceName") == self.root_device_name and "Ebs" in m:
                    m["Ebs"]["DeleteOnTermination"] = True
            return mappings
        ebs = {"SnapshotId": self.ebs_snapshot.id, "VolumeSize": root["size"],
               "DeleteOnTermination": bool(root["delete"]), "VolumeType": root["type"]}
        if root.get("iops"):
            ebs["Iops"] = root["iops"]
        return [{"DeviceName": self.root_device_name, "Ebs": ebs}]

    def deregistration_protection(self):
        state = self.__dict__.get("_amipub_protection")
        if state == "with":
            return "enabled-with-cooldown"
        if state == "without":
            return "enabled-without-cooldown"
        until = self.__dict__.get("_amipub_disabled_until")
        if until is not None and _utcnow() < until:
            return f"disabled-until {_iso(until)}"
        return "disabled"

    Ami.__init__ = __init__
    Ami.block_device_mappings = property(block_device_mappings)
    Ami.deregistration_protection = property(deregistration_protection)


def _instance_root(instance):
    """{size, type, iops, delete} of the instance's root volume, or None."""
    bdt = instance.block_device_mapping.get(instance.root_device_name)
    if bdt is None:
        return None
    try:
        volume = instance.ec2_backend.get_volume(bdt.volume_id)
    except Exception:
        return None
    iops = getattr(volume, "iops", None) if volume.volume_type in IOPS_SUPPORTED else None
    return {"size": volume.size, "type": volume.volume_type, "iops": iops,
            "delete": bool(bdt.delete_on_termination)}


# 4: instances ---------------------------------------------------------------------------------


def patch_instances():
    """RunInstances: the root volume from the AMI, checked mappings, Iops passed on; each
    instance keeps its AMI's settings."""
    from moto.ec2.models.instances import Instance
    from moto.ec2.responses.instances import InstanceResponse

    original_init = Instance.__init__

    def __init__(self, ec2_backend, image_id, *args, **kwargs):
        original_init(self, ec2_backend, image_id, *args, **kwargs)
        self._amipub_settings = _settings_of(ec2_backend.amis.get(image_id))

    original_setup = Instance.setup_defaults

    def setup_defaults(self):
        ami = self.ec2_backend.amis.get(self.image_id)
        if ami is None:
            return original_setup(self)
        root = root_of(ami)
        kwargs = dict(size=root["size"], zone_name=self._placement.zone,
                      volume_type=root["type"], iops=root.get("iops"))
        try:
            volume = self.ec2_backend.create_volume(snapshot_id=ami.ebs_snapshot.id, **kwargs)
        except Exception:  # the AMI's snapshot is gone: a volume of its size
            volume = self.ec2_backend.create_volume(**kwargs)
        self.ec2_backend.attach_volume(volume.id, self.id, self.root_device_name,
                                       bool(root["delete"]))

    def add_block_device(self, size, device_path, snapshot_id, encrypted,
                         delete_on_termination, kms_key_id, volume_type):
        extra = (getattr(_pending, "launch", None) or {}).get(device_path) or {}
        volume = self.ec2_backend.create_volume(
            size=size, zone_name=self._placement.zone, snapshot_id=snapshot_id,
            encrypted=encrypted, kms_key_id=kms_key_id, volume_type=volume_type,
            iops=extra.get("iops"), throughput=extra.get("throughput"),
        )
        self.ec2_backend.attach_volume(volume.id, self.id, device_path, delete_on_termination)

    original_run = InstanceResponse.run_instances

    def run_instances(self):
        mappings = self._get_param("BlockDeviceMappings", []) or []
        ami = self.ec2_backend.amis.get(self._get_param("ImageId") or "")
        if not mappings or ami is None:
            return original_run(self)
        _pending.launch = _launch_mappings(self, mappings, ami)
        try:
            return original_run(self)
        finally:
            _pending.launch = None

    Instance.__init__ = __init__
    Instance.setup_defaults = setup_defaults
    Instance.add_block_device = add_block_device
    InstanceResponse.run_instances = run_instances


def _snapshot_size(backend, snapshot_id):
    try:
        return backend.get_snapshot(snapshot_id).volume_size
    except Exception:
        return None


def check_ebs(ebs, device, snapshot_size, root):
    """Refuses an Ebs mapping EC2 refuses (see 4); `snapshot_size(id)`: a snapshot's GiB;
    `root`: the mapping is the root volume's."""
    kind = ebs.get("VolumeType")
    size = _int(ebs.get("VolumeSize"))
    iops = _int(ebs.get("Iops"))
    if kind is not None and kind not in VOLUME_TYPES:
        raise _invalid("volumeType", kind, VOLUME_TYPES)
    kind = kind or "gp2"
    if root and kind in NOT_BOOT_VOLUMES:
        raise _bdm(f"The volume type {kind} of {device} can't be used as a boot volume: "
                   "st1 and sc1 volumes can't be root volumes.")
    if size is not None:
        low, high = VOLUME_SIZES[kind]
        if not isinstance(size, int) or not low <= size <= high:
            raise _error(
                "InvalidParameterValue",
                f"Volume size {size} of {device} is out of range for volume type {kind}: "
                f"{low} - {high} GiB.",
            )
    if kind in IOPS_REQUIRED and not iops:
        raise _combination(f"The parameter iops must be specified for {kind} volumes "
                           f"({device}).")
    if iops and kind not in IOPS_SUPPORTED:
        raise _combination(f"The parameter iops is not supported for {kind} volumes "
                           f"({device}).")
    snapshot = ebs.get("SnapshotId")
    if snapshot and size is not None:
        need = snapshot_size(snapshot)
        if need is not None and size < need:
            raise _bdm(f"Volume of size {size}GB is smaller than snapshot '{snapshot}', "
                       f"expect size >= {need}GB")


def _root_snapshot_size(backend, snapshot_id, ami):
    """The size of the snapshot `snapshot_id`; for `ami`'s own root snapshot, the size its root
    mapping reports (moto's scratch snapshots are 15 GiB whatever the image says)."""
    if snapshot_id == ami.ebs_snapshot.id:
        return root_of(ami)["size"]
    return _snapshot_size(backend, snapshot_id)


def _launch_mappings(response, mappings, ami):
    """Checks RunInstances' mappings and completes the root one from the AMI (in
    response.params, which moto then parses); {device: {iops, throughput}} for moto's volumes."""
    root = root_of(ami)
    sizes = lambda snapshot: _root_snapshot_size(response.ec2_backend, snapshot, ami)  # noqa
    out, extra, has_root = [], {}, False
    for m in mappings:
        m = dict(m)
        device = m.get("DeviceName")
        if "Ebs" in m and m.get("NoDevice") is None:
            ebs = dict(m.get("Ebs") or {})
            if device == ami.root_device_name:
                has_root = True
                ebs.setdefault("SnapshotId", ami.ebs_snapshot.id)
                if ebs.get("VolumeType") is None:
                    ebs["VolumeType"] = root["type"]
                if ebs.get("VolumeSize") is None:
                    ebs["VolumeSize"] = sizes(ebs["SnapshotId"])
                    if ebs["VolumeSize"] is None:
                        ebs["VolumeSize"] = root["size"]
                if ebs.get("Iops") is None and ebs["VolumeType"] == root["type"]:
                    if root.get("iops"):
                        ebs["Iops"] = root["iops"]
                if ebs.get("DeleteOnTermination") is None:
                    ebs["DeleteOnTermination"] = bool(root["delete"])
            check_ebs(ebs, device, sizes, device == ami.root_device_name)
            m["Ebs"] = ebs
            extra[device] = {"iops": _int(ebs.get("Iops")),
                             "throughput": _int(ebs.get("Throughput"))}
        elif device == ami.root_device_name:
            has_root = True
        out.append(m)
    if not has_root:  # EC2 always creates the root volume from the AMI
        out.insert(0, {"DeviceName": ami.root_device_name, "Ebs": {
            "SnapshotId": ami.ebs_snapshot.id, "VolumeSize": root["size"],
            "VolumeType": root["type"], "DeleteOnTermination": bool(root["delete"]),
            **({"Iops": root["iops"]} if root.get("iops") else {}),
        }})
        extra[ami.root_device_name] = {"iops": root.get("iops"), "throughput": None}
    response.params["BlockDeviceMappings"] = out
    return extra


# 1: RegisterImage ------------------------------------------------------------------------------


def register_settings(response):
    """The checked settings of a RegisterImage request (see 1)."""
    out = {}
    boot = response._get_param("BootMode")
    if boot not in (None, ""):
        if boot not in BOOT_MODES:
            raise _invalid("BootMode", boot, BOOT_MODES)
        out["boot_mode"] = boot
    for param, key in (("TpmSupport", "tpm_support"), ("ImdsSupport", "imds_support")):
        value = response._get_param(param)
        if value not in (None, ""):
            if value != V2:
                raise _invalid(param, value, (V2,))
            out[key] = value
    if out.get("tpm_support") and out.get("boot_mode") != "uefi":
        raise _combination(
            "TpmSupport v2.0 requires BootMode uefi: NitroTPM requires the AMI to be "
            f"configured for UEFI boot mode (BootMode: {out.get('boot_mode') or 'not set'})."
        )
    ena = response._get_param("EnaSupport")
    if ena not in (None, ""):
        out["ena_support"] = _truthy(ena)
        virt = response._get_param("VirtualizationType") or "paravirtual"
        if out["ena_support"] and virt == "paravirtual":
            raise _combination("EnaSupport is supported only for HVM AMIs "
                               "(VirtualizationType hvm); this AMI is paravirtual.")
    arch = response._get_param("Architecture")
    if arch == "arm64" and out.get("boot_mode") == "legacy-bios":
        raise _combination("BootMode legacy-bios is not supported for arm64 AMIs: Graviton "
                           "instance types boot with UEFI only.")
    return out


def patch_register_image():
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.register_image

    def register_image(self):
        _pending.settings = register_settings(self)
        try:
            return original(self)
        finally:
            _pending.settings = None

    AmisResponse.register_image = register_image


# 3: CreateImage --------------------------------------------------------------------------------


def current_boot_mode(instance):
    """The boot mode the instance runs in (EC2's table, launch-instance-boot-mode.html)."""
    mode = (getattr(instance, "_amipub_settings", None) or {}).get("boot_mode")
    family = str(getattr(instance, "instance_type", "") or "").split(".")[0]
    uefi_capable = family not in XEN_FAMILIES
    if mode == "uefi":
        return "uefi"
    if mode == "uefi-preferred":
        return "uefi" if uefi_capable else "legacy-bios"
    if mode == "legacy-bios":
        return "legacy-bios"
    return "uefi" if getattr(instance, "architecture", "") == "arm64" else "legacy-bios"


def create_settings(response):
    """Checks CreateImage's BootModeOverride and BlockDeviceMappings against the instance;
    what they change of the new image."""
    out = {}
    override = response._get_param("BootModeOverride")
    mappings = response._get_param("BlockDeviceMappings", []) or []
    if override in (None, "") and not mappings:
        return out
    instance = response.ec2_backend.get_instance(response._get_param("InstanceId"))
    if override not in (None, ""):
        if override != "uefi":
            raise _invalid("BootModeOverride", override, ("uefi",))
        current = current_boot_mode(instance)
        if current != "uefi":
            raise _combination(
                "BootModeOverride can be specified only if the current boot mode of the "
                f"instance {instance.id} is uefi; it is {current}."
            )
        out["boot_mode"] = "uefi"
    for m in mappings:
        device = m.get("DeviceName")
        bdt = instance.block_device_mapping.get(device)
        if bdt is None:
            continue  # a new volume: accepted, not modelled
        if m.get("NoDevice") is not None:
            raise _bdm(f"The device {device} of instance {instance.id} can't be excluded: "
                       "only DeleteOnTermination can be changed for existing mappings.")
        ebs = m.get("Ebs") or {}
        try:
            volume = response.ec2_backend.get_volume(bdt.volume_id)
        except Exception:
            continue
        have = {"VolumeSize": volume.size, "VolumeType": volume.volume_type,
                "Iops": getattr(volume, "iops", None),
                "Throughput": getattr(volume, "throughput", None),
                "SnapshotId": getattr(volume, "snapshot_id", None),
                "Encrypted": bool(getattr(volume, "encrypted", False)),
                "KmsKeyId": getattr(volume, "kms_key_id", None)}
        for key, current in have.items():
            want = ebs.get(key)
            if want is None:
                continue
            if key in ("VolumeSize", "Iops", "Throughput"):
                want = _int(want)
            if key == "Encrypted":
                want = _truthy(want)
            if want != current:
                what = "volume size" if key == "VolumeSize" else key
                raise _bdm(
                    f"You can't change the {what} of {device} with CreateImage ({want}; the "
                    f"instance's volume has {current}). Only DeleteOnTermination can be "
                    "changed for existing mappings; change the instance's volume first."
                )
        if device == instance.root_device_name and ebs.get("DeleteOnTermination") is not None:
            out["root_delete"] = _truthy(ebs["DeleteOnTermination"])
    return out


def patch_create_image():
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.create_image

    def create_image(self):
        _pending.settings = create_settings(self)
        try:
            return original(self)
        finally:
            _pending.settings = None

    AmisResponse.create_image = create_image


# 2: ModifyImageAttribute ---------------------------------------------------------------------


MODIFIABLE = ("description", "imdsSupport", "launchPermission")


def patch_modify_image_attribute():
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.modify_image_attribute

    def modify_image_attribute(self):
        attribute = self._get_param("Attribute")
        if attribute not in (None, "") and attribute not in MODIFIABLE:
            raise _invalid("Attribute", attribute, MODIFIABLE)
        imds = self._get_param("ImdsSupport")
        value = imds.get("Value") if isinstance(imds, dict) else imds
        if attribute == "imdsSupport" and value in (None, ""):
            value = self._get_param("Value")
        if value in (None, "") and attribute != "imdsSupport":
            return original(self)
        if value != V2:
            raise _invalid("ImdsSupport", value, (V2,))
        others = [p for p in ("LaunchPermission", "Description", "OperationType", "UserIds",
                              "UserGroups") if self._get_param(p)]
        if others or attribute not in (None, "", "imdsSupport"):
            raise _combination("You can specify only one attribute at a time: ImdsSupport with "
                               + ", ".join(others or [attribute]) + ".")
        ami = _own_image(self.ec2_backend, self._get_param("ImageId"))
        original(self)  # moto's no-op, with the pending image's refusal of patch_image_states
        with _lock:
            ami.imds_support = V2
        from moto.core.responses import EmptyResult

        return EmptyResult()

    AmisResponse.modify_image_attribute = modify_image_attribute


# 1, 6: DescribeImageAttribute --------------------------------------------------------------


SERVED_ATTRIBUTES = {
    "bootMode": ("BootMode", "boot_mode"),
    "tpmSupport": ("TpmSupport", "tpm_support"),
    "imdsSupport": ("ImdsSupport", "imds_support"),
    "deregistrationProtection": ("DeregistrationProtection", "deregistration_protection"),
}


def _visible_image(backend, ami_id):
    """The image `ami_id` as moto's own errors would find it (any owner)."""
    from moto.ec2.exceptions import InvalidAMIIdError, MalformedAMIIdError, UnvailableAMIIdError

    if not (ami_id or "").startswith("ami-"):
        raise MalformedAMIIdError([ami_id or ""])
    ami = backend.amis.get(ami_id)
    if ami is None:
        if ami_id in getattr(backend, "deleted_amis", ()):
            raise UnvailableAMIIdError(ami_id)
        raise InvalidAMIIdError(ami_id)
    return ami


def patch_describe_image_attribute():
    from moto.core.responses import ActionResult
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.describe_image_attribute

    def describe_image_attribute(self):
        attribute = self._get_param("Attribute")
        if attribute not in SERVED_ATTRIBUTES:
            return original(self)
        self.error_on_dryrun()
        ami_id = self._get_param("ImageId")
        ami = _visible_image(self.ec2_backend, ami_id)
        key, attr = SERVED_ATTRIBUTES[attribute]
        value = getattr(ami, attr, None)
        return ActionResult({"ImageId": ami_id,
                             key: {"Value": value} if value is not None else {}})

    AmisResponse.describe_image_attribute = describe_image_attribute


# 6: deregistration protection ------------------------------------------------------------------


def cooldown_seconds(conf):
    value = (conf or {}).get("deregistration_cooldown_seconds")
    return DEFAULT_COOLDOWN_SECONDS if value is None else float(value)


def patch_deregistration_protection(control):
    from moto.core.responses import ActionResult
    from moto.ec2.responses.amis import AmisResponse

    def enable_image_deregistration_protection(self):
        self.error_on_dryrun()
        ami = _own_image(self.ec2_backend, self._get_param("ImageId"))
        with _lock:
            ami._amipub_protection = "with" if _truthy(self._get_param("WithCooldown")) \
                else "without"
            ami._amipub_disabled_until = None
            state = ami.deregistration_protection
        return ActionResult({"Return": state})

    def disable_image_deregistration_protection(self):
        self.error_on_dryrun()
        ami = _own_image(self.ec2_backend, self._get_param("ImageId"))
        with _lock:
            if ami._amipub_protection == "with":
                ami._amipub_disabled_until = _utcnow() + datetime.timedelta(
                    seconds=cooldown_seconds(control.read()))
            ami._amipub_protection = None
            state = ami.deregistration_protection
        return ActionResult({"Return": state})

    original_deregister = AmisResponse.deregister_image

    def deregister_image(self):
        ami_id = self._get_param("ImageId")
        ami = self.ec2_backend.amis.get(ami_id or "")
        if ami is not None:
            with _lock:
                state = ami.deregistration_protection
                if state.startswith("enabled"):
                    raise _error(
                        "OperationNotPermitted",
                        f"The AMI {ami_id} can't be deregistered because deregistration "
                        f"protection is enabled ({state}). Disable deregistration protection "
                        "first.",
                    )
                if state.startswith("disabled-until"):
                    until = state.split(" ", 1)[1]
                    raise _error(
                        "OperationNotPermitted",
                        f"The AMI {ami_id} can't be deregistered until {until}: deregistration "
                        "protection was enabled with a 24-hour cooldown, which started when it "
                        "was disabled.",
                    )
        return original_deregister(self)

    AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection
    AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection
    AmisResponse.deregister_image = deregister_image
