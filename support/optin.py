"""Which Regions the emulated account has enabled (opt-in Regions). Test support only.

AWS: "Regions launched before March 20, 2019 are enabled by default ... Opt-in Regions –
Regions launched after March 20, 2019 are disabled by default ... you cannot use these Regions
to create workloads until they are enabled" (AWS Account Management, "Enable or disable AWS
Regions in your account", https://docs.aws.amazon.com/general/latest/gr/rande-manage.html).
EC2's DescribeRegions reports each Region's OptInStatus: opt-in-not-required | opted-in |
not-opted-in (API reference, DescribeRegions and "Region").

moto 5.2.5 already reports its opt-in Regions (ap-east-1, me-south-1, il-central-1, ...) as
not-opted-in, as a new AWS account has them, yet serves them like any other. The emulated
account follows moto's statuses, and the strict proxy then refuses those Regions too, so that
what DescribeRegions says and what a client can use agree. control.json changes it:

  "regions_not_opted_in": ["ap-southeast-2", ...]  these Regions are not-opted-in too (any
      Region, even one AWS enables by default: a test picks Regions amipub's fixtures use);
  "regions_opted_in": ["ap-east-1", ...]  these opt-in Regions are enabled (OptInStatus
      opted-in) and usable; "regions_not_opted_in" wins over it.

Used by ec2_patches.patch_describe_regions (the statuses) and proxy.py (the refusals).
Internals of moto 5.2.5 relied on: RegionsAndZonesBackend.regions (name, opt_in_status).
"""

_moto_statuses = None


def moto_statuses():
    """{Region name: OptInStatus} as moto 5.2.5 reports them."""
    global _moto_statuses
    if _moto_statuses is None:
        from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

        _moto_statuses = {r.name: r.opt_in_status for r in RegionsAndZonesBackend.regions}
    return _moto_statuses


def _names(conf, key):
    value = (conf or {}).get(key) or []
    if isinstance(value, str):
        value = [value]
    return {str(v) for v in value}


def status(region, conf):
    """The OptInStatus of `region` for the emulated account, given control.json `conf`;
    None for a Region moto does not know and control.json does not name."""
    if region in _names(conf, "regions_not_opted_in"):
        return "not-opted-in"
    moto = moto_statuses().get(region)
    if moto == "not-opted-in" and region in _names(conf, "regions_opted_in"):
        return "opted-in"
    return moto


def not_opted_in(region, conf):
    """Whether requests signed for `region` are refused: the account has not enabled it."""
    return bool(region) and status(region, conf) == "not-opted-in"
