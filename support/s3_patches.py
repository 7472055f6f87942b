"""Patches of moto's S3 (in the emulator's process only) where moto 5.2.5 is kinder than S3.

The emulator must be at least as strict as AWS wherever amipub depends on it. Each patch fills
a named gap of moto and reproduces documented S3 behaviour (its docstring cites the AWS page);
`apply_all()` applies them all, before moto's server starts:

- patch_create_bucket_tags: moto's CreateBucket reads only the LocationConstraint of its
  CreateBucketConfiguration body and silently drops its Tags; S3 tags a general purpose bucket
  at creation (GetBucketTagging returns them) and refuses invalid tags (InvalidTag, BadRequest)
  or a body that does not fit the schema (MalformedXML) without creating the bucket.
- patch_list_buckets_region: moto's ListBuckets omits each bucket's BucketRegion, which S3
  returns and which clients use to address a bucket through its own region.
- patch_new_bucket_defaults: moto creates a bucket with no public access block, no ownership
  controls and no default encryption; S3 has, since 2023, created every new bucket with Block
  Public Access on, Object Ownership BucketOwnerEnforced (unless CreateBucket's
  x-amz-object-ownership header names another) and SSE-S3 (AES256) default encryption.

Internals of moto 5.2.5 relied on: S3Response (one instance per request, made by its
*_dispatch class methods), its `body` (raw bytes), `backend` and the two methods
`_bucket_response_put(request, bucket_name, querystring)` and `_get_location_constraint()`
(called only on CreateBucket's path, before the bucket is created), the backend's `buckets`
dict and `put_bucket_tagging(name, {key: value})`, and moto.s3.exceptions' S3ClientError,
MalformedXML, DuplicateTagKeys and NoSystemTags (serialised by S3Response.bucket_response).
For the new buckets' defaults: S3Backend.create_bucket (moto's one way of making a general
purpose bucket, which returns the new FakeBucket and raises BucketAlreadyExists before creating
anything for a name already taken), FakeBucket's `public_access_block` (a PublicAccessBlock,
whose constructor takes the four settings in PutPublicAccessBlock's order), `ownership_rule`
(the ObjectOwnership string) and `encryption` (PutBucketEncryption's parsed body, with a
"Rule"), and S3Response._bucket_response_put setting `ownership_rule` from the
x-amz-object-ownership header after create_bucket has returned.
"""

import threading
import unicodedata
import xml.etree.ElementTree as ET

# S3's limits on a general purpose bucket's tags (see patch_create_bucket_tags).
MAX_BUCKET_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
# Besides letters (\p{L}), separators (\p{Z}) and numbers (\p{N}).
TAG_PUNCTUATION = set("_.:/=+-@")

# What S3 gives every new bucket (see patch_new_bucket_defaults).
DEFAULT_OBJECT_OWNERSHIP = "BucketOwnerEnforced"
DEFAULT_SSE_ALGORITHM = "AES256"

# Serialises CreateBucket's "create, then tag" across moto's request threads, so that a
# concurrent CreateBucket of the same name cannot be mistaken for the one that created it.
_create_lock = threading.Lock()


def apply_all():
    """Every patch of this module."""
    patch_create_bucket_tags()
    patch_list_buckets_region()
    patch_new_bucket_defaults()


def patch_list_buckets_region():
    """ListBuckets names each bucket's region, as S3 does.

    Gap: moto 5.2.5's ListBuckets answers Name and CreationDate only. S3's ListBuckets
    response gives every bucket's `BucketRegion` (ListBuckets API reference, "Bucket" data
    type: "BucketRegion - the AWS Region the bucket is in"), which is how a client finds which
    region's endpoint to address a bucket through; with the strict proxy, asking a bucket
    through another region's endpoint fails, so a client must know.
    """
    from moto.s3.responses import S3Response
    from moto.core.responses import ActionResult

    def all_buckets(self):
        self.data["Action"] = "ListAllMyBuckets"
        self._authenticate_and_authorize_s3_action()
        found = self.backend.list_buckets(
            prefix=self._get_param("prefix"),
            bucket_region=self._get_param("bucket-region"),
            max_buckets=self._get_param("max-buckets"),
        )
        buckets = [
            {
                "Name": b.name,
                "CreationDate": b.creation_date_ISO8601,
                "BucketRegion": b.region_name,
            }
            for b in found
        ]
        self.data["Action"] = "ListBuckets"
        return self.serialized(
            ActionResult(
                {
                    "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},
                    "Buckets": buckets,
                }
            )
        )

    S3Response.all_buckets = all_buckets


def patch_new_bucket_defaults():
    """A new bucket has S3's defaults: public access blocked, ACLs disabled, SSE-S3 encryption.

    Gap: moto 5.2.5 creates a bucket with none of these, so GetPublicAccessBlock answers
    NoSuchPublicAccessBlockConfiguration, GetBucketOwnershipControls
    OwnershipControlsNotFoundError (unless CreateBucket had an x-amz-object-ownership header)
    and GetBucketEncryption ServerSideEncryptionConfigurationNotFoundError. On S3:
    - since April 2023 every new bucket has all four S3 Block Public Access settings on
      (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets) and
      S3 Object Ownership "Bucket owner enforced" (ACLs disabled), whichever API, CLI, SDK
      or CloudFormation template created it (What's New, December 2022, "Amazon S3 will
      automatically enable S3 Block Public Access and disable access control lists for all
      new buckets starting in April 2023",
      https://aws.amazon.com/about-aws/whats-new/2022/12/amazon-s3-automatically-enable-block-public-access-disable-access-control-lists-buckets-april-2023/);
      CreateBucket's x-amz-object-ownership header (ObjectOwnership: BucketOwnerPreferred,
      ObjectWriter or BucketOwnerEnforced) chooses another Object Ownership at creation;
    - since January 5, 2023 every bucket has default encryption with Amazon S3 managed keys
      (SSE-S3): S3 "applies server-side encryption with Amazon S3 managed keys (SSE-S3) as
      the base level of encryption for every bucket" (User Guide, "Using server-side
      encryption with Amazon S3 managed keys", and its Default encryption FAQ,
      https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html), so
      GetBucketEncryption answers one rule, SSEAlgorithm AES256, BucketKeyEnabled false.
    So a new bucket starts with all four settings true, ObjectOwnership BucketOwnerEnforced
    (moto then replaces it with a value the x-amz-object-ownership header names, after
    create_bucket has returned) and that encryption rule. Later PutPublicAccessBlock,
    PutBucketOwnershipControls, PutBucketEncryption and their Delete* change them as moto does
    (moto's DeleteBucketEncryption still leaves no configuration, where S3 resets to SSE-S3).
    This patch leaves an existing bucket alone: moto raises BucketAlreadyExists before
    creating anything, including when one re-creates one's own us-east-1 bucket (200 on S3).
    moto enforces none of these settings (it refuses neither public policies nor ACLs), so
    amipub cannot rely on the emulator to refuse them. What changes beyond the Get* answers:
    moto now encrypts new objects with AES256 by default (PutObject and HeadObject answer
    x-amz-server-side-encryption: AES256, as S3 does), and, because a bucket has default
    encryption, moto accepts a CopyObject of an object onto itself that changes nothing, which
    S3 refuses (InvalidRequest); amipub makes no CopyObject.
    """
    from moto.s3.models import PublicAccessBlock, S3Backend

    original_create = S3Backend.create_bucket

    def create_bucket(self, bucket_name, region_name, *args, **kwargs):
        bucket = original_create(self, bucket_name, region_name, *args, **kwargs)
        bucket.public_access_block = PublicAccessBlock(True, True, True, True)
        bucket.ownership_rule = DEFAULT_OBJECT_OWNERSHIP
        bucket.encryption = {
            "Rule": {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": DEFAULT_SSE_ALGORITHM},
                "BucketKeyEnabled": False,
            }
        }
        return bucket

    S3Backend.create_bucket = create_bucket


def _local(tag):
    """An element's name without its XML namespace."""
    return tag.rsplit("}", 1)[-1]


def _tag_chars_ok(text):
    """S3 Tag's pattern ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$ (Python's re has no \\p{...})."""
    return all(unicodedata.category(c)[0] in "LZN" or c in TAG_PUNCTUATION for c in text)


def parse_create_bucket_tags(body):
    """The Tags of a CreateBucketConfiguration body as [(key, value)], in the request's order;
    None when the body has no Tags element. Raises S3's errors for an invalid body or tag."""
    from moto.s3.exceptions import DuplicateTagKeys, MalformedXML, NoSystemTags, S3ClientError

    if not body or not body.strip():
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML()
    if _local(root.tag) != "CreateBucketConfiguration":
        raise MalformedXML()
    containers = [child for child in root if _local(child.tag) == "Tags"]
    if not containers:
        return None
    if len(containers) > 1:
        raise MalformedXML()
    tags, seen = [], set()
    for tag in containers[0]:
        if _local(tag.tag) != "Tag":
            raise MalformedXML()
        fields = {}
        for field in tag:
            name = _local(field.tag)
            if name not in ("Key", "Value") or name in fields or len(field):
                raise MalformedXML()
            fields[name] = field.text or ""
        # Both members of S3's Tag are required by its schema.
        if set(fields) != {"Key", "Value"}:
            raise MalformedXML()
        key, value = fields["Key"], fields["Value"]
        if not 1 <= len(key) <= MAX_KEY_CHARS or not _tag_chars_ok(key):
            raise S3ClientError("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE_CHARS or not _tag_chars_ok(value):
            raise S3ClientError("InvalidTag", "The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise NoSystemTags()
        if key in seen:
            raise DuplicateTagKeys()
        seen.add(key)
        tags.append((key, value))
    if len(tags) > MAX_BUCKET_TAGS:
        raise S3ClientError(
            "BadRequest", f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}"
        )
    return tags


def patch_create_bucket_tags():
    """CreateBucket tags a general purpose bucket with its CreateBucketConfiguration's Tags.

    Gap: moto 5.2.5's CreateBucket reads only CreateBucketConfiguration/LocationConstraint
    (S3Response._get_location_constraint) and silently ignores Tags, so GetBucketTagging then
    answers NoSuchTagSet. On S3 (API reference, "CreateBucket", request body, and the
    "CreateBucketConfiguration" data type: Tags, "An array of tags that you can apply to the
    bucket that you're creating"; User Guide, "Creating general purpose buckets with tags") the
    body is

        <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <LocationConstraint>eu-west-1</LocationConstraint>        (optional)
          <Tags><Tag><Key>k</Key><Value>v</Value></Tag>...</Tags>   (optional)
        </CreateBucketConfiguration>

    and the bucket is created with those tags. amipub creates its staging buckets this way
    (Tags only in us-east-1, which refuses to be named as a LocationConstraint; Tags and
    LocationConstraint elsewhere) and relies on the tags being there.

    The tags are validated as S3 validates bucket tags, before the bucket is created (a refused
    request creates nothing):
    - a body that is not well-formed XML, whose root is not CreateBucketConfiguration, or whose
      Tags hold anything but Tag elements of exactly one Key and one Value (both required in
      the "Tag" data type): MalformedXML, "The XML you provided was not well-formed or did not
      validate against our published schema" (moto's own error; "Error responses" list);
    - a key of 0 or more than 128 characters or a value of more than 256, or either outside
      the documented pattern ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$ ("S3Tag" data type; User Guide,
      "Using cost allocation S3 bucket tags"): InvalidTag, "The TagKey you have provided is
      invalid" / "The TagValue you have provided is invalid" ("PutBucketTagging": "InvalidTag -
      The tag provided was not a valid tag"; the messages are S3's as reported in
      versity/versitygw#1232 and hashicorp/terraform#12122);
    - a key with the reserved aws: prefix ("Adding a tag to a bucket": "If you attempted to add
      a tag key that starts with the AWS reserved prefix aws:, change the tag key"): InvalidTag,
      "System tags cannot be added/updated by requester" (moto's NoSystemTags);
    - a key given twice: InvalidTag, "Cannot provide multiple Tags with the same key" (moto's
      DuplicateTagKeys; versity/versitygw#1214);
    - more than 50 tags (a bucket holds at most 50; "TagResource": "up to 50 AWS resource tags
      for each S3 resource"): BadRequest, "Bucket tag count cannot be greater than 50" (S3's
      message as versitygw's tests against S3 expect it). Checked after the tags themselves,
      as S3 does (scality/cloudserver#4451).
    The LocationConstraint is left to moto, whose checks stay as they were (none in a body
    with only a LocationConstraint changes). An empty <Tags/> sets no tags: S3 documents no
    error for it. When CreateBucket succeeds without creating anything (moto, like S3,
    answers 200 to re-creating one's own us-east-1 bucket) the existing bucket's tags are left
    alone: S3 documents no retagging there, so amipub must not depend on one.
    """
    from moto.s3.responses import S3Response

    original_put = S3Response._bucket_response_put
    original_location = S3Response._get_location_constraint

    def _get_location_constraint(self):
        # Called on CreateBucket's path only, before the bucket is created: validate the whole
        # body here and keep its tags on this request's S3Response for _bucket_response_put.
        self._amipub_create_tags = parse_create_bucket_tags(self.body)
        return original_location(self)

    def _bucket_response_put(self, request, bucket_name, querystring):
        self._amipub_create_tags = None
        with _create_lock:
            existed = bucket_name in self.backend.buckets
            result = original_put(self, request, bucket_name, querystring)
            tags = self._amipub_create_tags
            if tags and not existed and bucket_name in self.backend.buckets:
                self.backend.put_bucket_tagging(bucket_name, dict(tags))
        return result

    S3Response._get_location_constraint = _get_location_constraint
    S3Response._bucket_response_put = _bucket_response_put
