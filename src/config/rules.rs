//! The rules values must follow, as pure functions returning what is wrong.

/// AWS regions amipub knows. A region launched after this list was written is rejected as
/// unknown until it is added here (see CHANGELOG).
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `name` is a known AWS region.
pub fn is_known_region(name: &str) -> bool {
    KNOWN_REGIONS.contains(&name)
}

/// `ami-` followed by 8 or 17 lowercase hex digits.
pub fn check_ami_id(id: &str) -> Result<(), String> {
    let ok = id.strip_prefix("ami-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{id}\" is not an AMI ID: expected \"ami-\" and 8 or 17 lowercase hex digits"
        ))
    }
}

/// EC2's rules for an AMI name: 3 to 128 characters of letters, digits and ( ) [ ] space
/// . / - ' @ _
pub fn check_ami_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(3..=128).contains(&len) {
        return Err(format!("is {len} characters long; EC2 allows 3 to 128"));
    }
    let bad: String = name
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(*c)))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "contains {bad:?}; EC2 allows only letters, digits, spaces and ( ) [ ] . / - ' @ _"
        ))
    }
}

/// S3's rules for a bucket name, narrowed as the legacy kit did: 3 to 63 lowercase letters,
/// digits and hyphens, starting and ending with a letter or digit.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Err(format!("is {len} characters long; S3 allows 3 to 63"));
    }
    if name.contains('.') {
        return Err(
            "contains a dot: dotted bucket names break HTTPS certificate checks \
                    (the name becomes part of the host name)"
                .into(),
        );
    }
    if name.contains('_') {
        return Err(
            "contains an underscore: the bundle upload tool rejects such buckets \
                    as not \"S3 v2 safe\""
                .into(),
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "contains {c:?}; only lowercase letters, digits and hyphens are allowed"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit".into());
    }
    if name.starts_with("xn--") || name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        return Err("uses a prefix or suffix S3 reserves (xn--, -s3alias, --ol-s3)".into());
    }
    Ok(())
}

/// A 12-digit AWS account ID.
pub fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "\"{id}\" is not an AWS account ID: expected exactly 12 digits"
        ))
    }
}

/// An IAM instance profile name (1 to 128 of letters, digits and `+=,.@_-`).
pub fn check_instance_profile(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "iam_instance_profile \"{name}\" is not an instance profile name: 1 to 128 letters, digits and +=,.@_- (the name, not the ARN)"
        ))
    }
}

/// An environment variable name the bootstrap can export.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "\"{name}\" is not a shell variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if name.starts_with("AMIPUB_") || name == "PACKER_BUILD_NAME" {
        return Err(format!("\"{name}\" is set by amipub itself"));
    }
    Ok(())
}

/// A tag key amipub may set: EC2 reserves `aws:` and amipub reserves `amipub:`.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key \"{key}\" must be 1 to 128 characters"));
    }
    if key.to_ascii_lowercase().starts_with("aws:") || key.starts_with("amipub:") {
        return Err(format!(
            "tag key \"{key}\" uses a reserved prefix (aws: is AWS's, amipub: is amipub's)"
        ));
    }
    Ok(())
}

/// An EC2 instance type such as `m3.medium`.
pub fn check_instance_type(t: &str) -> Result<(), String> {
    let ok = t.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{t}\" is not an EC2 instance type (family.size, e.g. m3.medium)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_ids() {
        assert!(check_ami_id("ami-2aa0ba42").is_ok());
        assert!(check_ami_id("ami-0123456789abcdef0").is_ok());
        assert!(check_ami_id("ami-2AA0BA42").is_err());
        assert!(check_ami_id("ami-2aa0ba4").is_err());
        assert!(check_ami_id("ami-2aa0ba42z").is_err());
        assert!(check_ami_id("ami-0123456789abcdef").is_err());
        assert!(check_ami_id("aki-2aa0ba42").is_err());
        assert!(check_ami_id("").is_err());
    }

    #[test]
    fn ami_names() {
        assert!(check_ami_name("DataStax Auto-Clustering AMI 2.6.2-1404-pv").is_ok());
        assert!(check_ami_name("a(b)[c]/d'e@f_g").is_ok());
        assert!(check_ami_name("ab").unwrap_err().contains("2 characters"));
        assert!(check_ami_name(&"a".repeat(129)).is_err());
        assert!(check_ami_name(&"a".repeat(128)).is_ok());
        assert!(
            check_ami_name("name: with colon")
                .unwrap_err()
                .contains(':')
        );
        assert!(check_ami_name("é-name").is_err());
    }

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("comboami-2-6-2-us-east-1").is_ok());
        assert!(
            check_bucket_name("comboami-2.6.2")
                .unwrap_err()
                .contains("dot")
        );
        assert!(
            check_bucket_name("combo_ami")
                .unwrap_err()
                .contains("underscore")
        );
        assert!(
            check_bucket_name("ComboAMI")
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(check_bucket_name("ab").is_err());
        assert!(check_bucket_name(&"a".repeat(64)).is_err());
        assert!(check_bucket_name("-abc").is_err());
        assert!(check_bucket_name("abc-").is_err());
        assert!(check_bucket_name("xn--abc").is_err());
    }

    #[test]
    fn account_ids() {
        assert!(check_account_id("012345678901").is_ok());
        assert!(check_account_id("12345678901").is_err());
        assert!(check_account_id("01234567890a").is_err());
    }

    #[test]
    fn env_names() {
        assert!(check_env_name("COMBOAMI_VERSION").is_ok());
        assert!(check_env_name("_X1").is_ok());
        assert!(check_env_name("1X").is_err());
        assert!(check_env_name("A-B").is_err());
        assert!(check_env_name("AMIPUB_BUILD_NAME").is_err());
        assert!(check_env_name("PACKER_BUILD_NAME").is_err());
    }

    #[test]
    fn tag_keys_and_instance_types() {
        assert!(check_tag_key("Project").is_ok());
        assert!(check_tag_key("aws:foo").is_err());
        assert!(check_tag_key("amipub:run-id").is_err());
        assert!(check_instance_type("m3.medium").is_ok());
        assert!(check_instance_type("m3").is_err());
        assert!(check_instance_type("M3.medium").is_err());
    }

    #[test]
    fn regions() {
        assert!(is_known_region("us-east-1"));
        assert!(is_known_region("cn-north-1"));
        assert!(!is_known_region("us-east-9"));
    }
}
