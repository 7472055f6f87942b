//! A publishing profile (`configs/<name>.yaml`): what to build and how to publish it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{AmiSettings, Architecture, PerArch, Virtualization};

/// How the AMI's root volume is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backing {
    /// CreateImage from a stopped build instance.
    Ebs,
    /// The instance bundles itself into S3 and the bundle is registered.
    InstanceStore,
}

impl Backing {
    /// The name used in profiles and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backing::Ebs => "ebs",
            Backing::InstanceStore => "instance-store",
        }
    }
}

/// A profile as written in YAML, before templates are rendered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The image version baked into the AMI (`2.6.2`).
    pub version: String,
    /// The git ref checked out into the image (`2.6`).
    pub branch: String,
    /// Template of the AMI name.
    pub ami_name: String,
    /// Template of the AMI description.
    pub description: String,
    /// `ebs` or `instance-store`.
    pub backing: Backing,
    /// EC2 instance type of the build instances: one, or one per architecture
    /// (`{ x86_64: m5.large, arm64: m6g.large }`).
    pub instance_type: PerArch,
    /// Template of the per-region staging bucket name.
    pub bucket: String,
    /// The provisioning script and its environment.
    pub provision: Provision,
    /// Who may launch the published AMIs.
    #[serde(default)]
    pub launch_permissions: LaunchPermissions,
    /// Extra tags for every resource amipub creates (values are templates).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// OS releases to build, as keyed in regions.yaml (`"1404"`).
    pub releases: Vec<String>,
    /// Virtualization types to build.
    pub virtualizations: Vec<Virtualization>,
    /// CPU architectures to build (default x86_64 only).
    #[serde(default = "Profile::default_architectures")]
    pub architectures: Vec<Architecture>,
    /// Settings every AMI gets at creation (README, "AMI settings").
    #[serde(default)]
    pub ami: AmiSettings,
    /// Regions to build in; empty means every enabled region of regions.yaml.
    #[serde(default)]
    pub regions: Vec<String>,
    /// How long each phase of a build may take.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Instance profile of the build instances; required for instance-store builds, whose only
    /// right to upload the bundle it is.
    #[serde(default)]
    pub iam_instance_profile: Option<String>,
    /// Bundle and upload commands of instance-store builds (defaults in [`Bundle`]).
    #[serde(default)]
    pub bundle: Bundle,
    /// Where published versions are recorded and channels kept (README, "Registry").
    #[serde(default)]
    pub registry: Option<RegistrySettings>,
    /// Build in every region, or once in `home_region` and copy (README, "Copy mode").
    #[serde(default)]
    pub strategy: Strategy,
    /// Where copy mode builds.
    #[serde(default)]
    pub home_region: Option<String>,
    /// How copy mode copies.
    #[serde(default)]
    pub copies: CopySettings,
    /// The account's quota of public AMIs per region, when AWS raised it above its default.
    #[serde(default)]
    pub public_ami_quota: Option<usize>,
    /// Where `amipub sources update` finds the newest upstream images (default: Canonical's).
    #[serde(default)]
    pub sources: SourceSettings,
}

/// The profile's `sources:` section: where the upstream images are published.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// SSM parameters holding the current image's ID, tried in order (public parameters of
    /// the region's own SSM). Placeholders: `{release}` (dotted, `24.04`), `{arch}` (Debian's
    /// name, `amd64`/`arm64`), `{virtualization}` (`hvm`/`paravirtual`).
    #[serde(default = "SourceSettings::default_parameters")]
    pub parameters: Vec<String>,
    /// Where no parameter exists: the images' owner account...
    #[serde(default = "SourceSettings::default_owner")]
    pub owner: String,
    /// ...and a DescribeImages name pattern (`*` wildcards, same placeholders); the newest by
    /// creation date of the right architecture and virtualization type wins.
    #[serde(default = "SourceSettings::default_name_pattern")]
    pub name_pattern: String,
}

impl SourceSettings {
    /// Canonical's parameters for Ubuntu Server, gp3 volumes first, then gp2.
    pub const CANONICAL_PARAMETERS: [&str; 2] = [
        "/aws/service/canonical/ubuntu/server/{release}/stable/current/{arch}/hvm/ebs-gp3/ami-id",
        "/aws/service/canonical/ubuntu/server/{release}/stable/current/{arch}/hvm/ebs-gp2/ami-id",
    ];
    /// Canonical's account.
    pub const CANONICAL_OWNER: &str = "099720109477";
    /// Canonical's image names (`ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-...`).
    pub const CANONICAL_NAME_PATTERN: &str = "ubuntu/images/*/ubuntu-*-{release}-{arch}-server-*";

    fn default_parameters() -> Vec<String> {
        Self::CANONICAL_PARAMETERS.map(String::from).to_vec()
    }
    fn default_owner() -> String {
        Self::CANONICAL_OWNER.into()
    }
    fn default_name_pattern() -> String {
        Self::CANONICAL_NAME_PATTERN.into()
    }
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            parameters: Self::default_parameters(),
            owner: Self::default_owner(),
            name_pattern: Self::default_name_pattern(),
        }
    }
}

impl Profile {
    fn default_architectures() -> Vec<Architecture> {
        vec![Architecture::X86_64]
    }
}

/// How the AMIs of the selected regions are made.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A build instance in every region (the legacy kit's way).
    #[default]
    PerRegion,
    /// One build per release and virtualization type in the home region, copied to the rest.
    Copy,
}

impl Strategy {
    /// As profiles and the plan write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::PerRegion => "per-region",
            Strategy::Copy => "copy",
        }
    }
}

/// The profile's `copies:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySettings {
    /// At most this many copies in progress into one region (AWS allows more; copies beyond
    /// its limit fail).
    #[serde(default = "CopySettings::default_max")]
    pub max_per_region: usize,
    /// The KMS key that encrypts EBS copies, per destination region (none: as the source).
    #[serde(default)]
    pub kms_keys: BTreeMap<String, String>,
}

impl CopySettings {
    fn default_max() -> usize {
        5
    }
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            max_per_region: Self::default_max(),
            kms_keys: BTreeMap::new(),
        }
    }
}

/// The profile's `registry:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// The S3 bucket holding the registry documents.
    pub bucket: String,
    /// The bucket's region, where events go too.
    pub region: String,
    /// The artifact's name.
    pub artifact: String,
    /// The channels versions may be promoted to.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSettings>,
    /// The SSM parameter each build's AMI is published under, per region (a template of
    /// `{artifact}`, `{channel}`, `{release}`, `{release_dotted}`, `{virt}`, `{virtualization}`).
    #[serde(default = "RegistrySettings::default_parameter")]
    pub ssm_parameter: String,
    /// The EventBridge bus events go to (default: the region's default bus).
    #[serde(default)]
    pub event_bus: Option<String>,
    /// Metadata recorded with every version (e.g. `project: comboami`).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl RegistrySettings {
    /// `/{artifact}/{channel}/{release}/{virt}/ami-id`, as Canonical and Amazon Linux name theirs.
    pub const DEFAULT_PARAMETER: &str = "/{artifact}/{channel}/{release}/{virt}/ami-id";

    fn default_parameter() -> String {
        Self::DEFAULT_PARAMETER.to_string()
    }
}

/// A channel of the registry.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Only versions whose AMIs are all public may be promoted to it.
    pub public: bool,
}

/// The commands an instance-store build instance runs after provisioning, as bash text. They
/// read what they need from variables the bootstrap sets (README, "Instance-store builds"), so
/// that no signing material or credential is ever written into user data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Bundles the root volume into `$AMIPUB_BUNDLE_DIR` (default [`Bundle::DEFAULT_COMMAND`]).
    pub command: Option<String>,
    /// Uploads the bundle to `$AMIPUB_BUCKET/$AMIPUB_PREFIX` (default [`Bundle::DEFAULT_UPLOAD`]).
    pub upload: Option<String>,
}

impl Bundle {
    /// The legacy kit's bundle command; `$AMIPUB_PARTITION_FLAGS` is `--partition mbr` for HVM
    /// images of 14.04 and later, and `$AMIPUB_EXCLUDE` keeps the signing material (and the
    /// bootstrap's work directory) out of the image.
    pub const DEFAULT_COMMAND: &str = "ec2-bundle-vol -k \"$AMIPUB_SIGNING_KEY\" -u \"$AMIPUB_ACCOUNT_ID\" \
-c \"$AMIPUB_SIGNING_CERT\" -r \"$AMIPUB_ARCH\" -e \"$AMIPUB_EXCLUDE\" -d \"$AMIPUB_BUNDLE_DIR\" \
-p \"$AMIPUB_BUNDLE_NAME\" --batch --no-filter $AMIPUB_PARTITION_FLAGS";
    /// The legacy kit's upload command, with the instance profile's temporary credentials.
    pub const DEFAULT_UPLOAD: &str = "ec2-upload-bundle -b \"$AMIPUB_BUCKET/$AMIPUB_PREFIX\" \
-m \"$AMIPUB_BUNDLE_DIR/$AMIPUB_BUNDLE_NAME.manifest.xml\" -a \"$AWS_ACCESS_KEY_ID\" \
-s \"$AWS_SECRET_ACCESS_KEY\" -t \"$AWS_SESSION_TOKEN\" -d \"$AMIPUB_BUNDLE_DIR\" \
--batch --region \"$AMIPUB_REGION\" --retry";

    /// The bundle command to run.
    pub fn command(&self) -> &str {
        self.command.as_deref().unwrap_or(Self::DEFAULT_COMMAND)
    }

    /// The upload command to run.
    pub fn upload(&self) -> &str {
        self.upload.as_deref().unwrap_or(Self::DEFAULT_UPLOAD)
    }
}

/// The provisioning script run on the build instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    /// Path of the script, relative to the profile file.
    pub script: String,
    /// Environment for the script (values are templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Launch permissions applied to every published AMI.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchPermissions {
    /// Groups; `all` makes the AMI public.
    #[serde(default)]
    pub groups: Vec<String>,
    /// 12-digit AWS account IDs, as written (an unquoted one is refused: other YAML readers
    /// would read a number and lose its leading zeros).
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// Time limits of a build's phases.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// From launch until the bootstrap reports its exit status (for instance-store builds, after
    /// bundling and uploading).
    #[serde(default = "Timeouts::default_provision", with = "humantime_serde")]
    pub provision: Duration,
    /// From CreateImage/RegisterImage until the AMI is available.
    #[serde(default = "Timeouts::default_image", with = "humantime_serde")]
    pub image: Duration,
}

impl Timeouts {
    fn default_provision() -> Duration {
        Duration::from_secs(60 * 60)
    }
    fn default_image() -> Duration {
        Duration::from_secs(45 * 60)
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            provision: Self::default_provision(),
            image: Self::default_image(),
        }
    }
}
