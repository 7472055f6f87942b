//! What instance-store builds do differently: stage the signing material for the instance (and
//! remove it as soon as the instance is done with it), tell the bootstrap how to bundle and
//! upload, and register the uploaded bundle as an AMI.

use aws_sdk_ec2::types::{ArchitectureValues, ResourceType, VirtualizationType};
use secrecy::ExposeSecret;

use super::bootstrap::{self, BundleInput};
use super::build::Made;
use super::staging::{self, Access};
use super::{Engine, url_lifetime};
use crate::aws::errors;
use crate::config::Virtualization;
use crate::matrix::Build;

/// The signing objects under a build's prefix: account ID, certificate, key.
const SIGNING_OBJECTS: [&str; 3] = ["signing/account", "signing/cert.pem", "signing/key.pem"];

/// HVM images of Ubuntu 14.04 and later have a GPT disk that an instance-store AMI cannot
/// boot from; the bundle tool must write it as MBR.
pub fn partition_mbr(b: &Build) -> bool {
    b.virtualization == Virtualization::Hvm && b.release.parse::<u32>().is_ok_and(|r| r >= 1404)
}

impl Engine {
    /// Uploads the signing material under the build's prefix for the instance to fetch.
    pub(super) async fn stage_signing(&self, b: &Build, made: &mut Made) -> Result<(), String> {
        let signing = self.opts.signing.as_ref().ok_or(
            "instance-store builds need signing material, and none was loaded (this is a bug)",
        )?;
        let c = self.clients.region(&b.region);
        let bodies = [
            signing.account_id.expose_secret().as_bytes().to_vec(),
            signing.certificate.expose_secret().to_vec(),
            signing.private_key.expose_secret().to_vec(),
        ];
        for (name, body) in SIGNING_OBJECTS.iter().zip(bodies) {
            let key = format!("{}/{name}", made.prefix);
            // Recorded before the upload: a failed or interrupted upload may still have landed.
            made.secrets.push(key.clone());
            staging::put(c, &b.bucket, &key, body).await?;
        }
        Ok(())
    }

    /// The bootstrap's bundle phase for `b`: presigned URLs to fetch and delete the signing
    /// material, and the profile's commands.
    pub(super) async fn bundle_input<'a>(
        &'a self,
        b: &'a Build,
        made: &'a Made,
    ) -> Result<BundleInput<'a>, String> {
        let c = self.clients.region(&b.region);
        let ttl = url_lifetime(&self.opts.timeouts);
        let mut get: [String; 3] = Default::default();
        let mut delete: [String; 3] = Default::default();
        for (i, name) in SIGNING_OBJECTS.iter().enumerate() {
            let key = format!("{}/{name}", made.prefix);
            get[i] = staging::presign(c, &b.bucket, &key, Access::Get, ttl).await?;
            delete[i] = staging::presign(c, &b.bucket, &key, Access::Delete, ttl).await?;
        }
        Ok(BundleInput {
            signing_urls: get,
            signing_delete_urls: delete,
            bucket: &b.bucket,
            prefix: &made.prefix,
            region: &b.region,
            partition_mbr: partition_mbr(b),
            arch: b.architecture.as_str(),
            command: self.opts.bundle.command(),
            upload: self.opts.bundle.upload(),
        })
    }

    /// Deletes the build's signing objects, if any are left (the instance deletes them itself
    /// once fetched; this covers an instance that never got that far).
    pub(super) async fn forget_secrets(&self, b: &Build, made: &mut Made) -> Result<(), String> {
        if made.secrets.is_empty() {
            return Ok(());
        }
        let c = self.clients.region(&b.region);
        staging::delete_keys(c, &b.bucket, &made.secrets).await?;
        made.secrets.clear();
        Ok(())
    }

    /// Registers the uploaded bundle as an AMI (recorded in `made`), after checking its manifest
    /// is where the instance said.
    pub(super) async fn register_bundle(&self, b: &Build, made: &mut Made) -> Result<(), String> {
        let c = self.clients.region(&b.region);
        let expected = format!("{}/{}.manifest.xml", made.prefix, bootstrap::BUNDLE_NAME);
        let manifest = made
            .manifest
            .as_deref()
            .ok_or("the instance reported no bundle manifest")?;
        if manifest != expected {
            return Err(format!(
                "the instance reported the manifest at {manifest}, expected {expected}"
            ));
        }
        if !staging::exists(c, &b.bucket, manifest).await? {
            return Err(format!(
                "the bundle manifest s3://{}/{manifest} does not exist; see the build log",
                b.bucket
            ));
        }
        let virt = match b.virtualization {
            Virtualization::Paravirtual => VirtualizationType::Paravirtual,
            Virtualization::Hvm => VirtualizationType::Hvm,
        };
        let call = super::settings::register_with(c.ec2.register_image(), &self.opts.ami);
        let registered = call
            .image_location(format!("{}/{manifest}", b.bucket))
            .name(&b.ami_name)
            .description(&b.description)
            .architecture(ArchitectureValues::from(b.architecture.as_str()))
            .virtualization_type(virt.as_str())
            // Tagged in the call that registers it: a run killed right after still leaves an
            // AMI that cleanup and the next run recognise as amipub's.
            .tag_specifications(super::image::spec(ResourceType::Image, &self.build_tags(b)))
            .send()
            .await;
        let id = match registered {
            Ok(resp) => resp
                .image_id()
                .ok_or("RegisterImage returned no image ID")?
                .to_string(),
            Err(e) if errors::code(&e) == Some("InvalidAMIName.Duplicate") => {
                self.own_duplicate(b).await?
            }
            Err(e) => return Err(format!("RegisterImage: {}", errors::describe(&e))),
        };
        made.image = Some(id);
        self.ledger.record(&b.name, made);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(release: &str, virt: Virtualization) -> Build {
        Build {
            name: "b".into(),
            region: "us-east-1".into(),
            release: release.into(),
            virtualization: virt,
            architecture: crate::config::Architecture::X86_64,
            source_ami: "ami-12345678".into(),
            ami_name: "n".into(),
            description: "d".into(),
            backing: crate::config::Backing::InstanceStore,
            instance_type: "m3.medium".into(),
            bucket: "b".into(),
            env: Default::default(),
            tags: Default::default(),
            copy_of: None,
        }
    }

    #[test]
    fn mbr_only_for_hvm_from_1404() {
        assert!(partition_mbr(&build("1404", Virtualization::Hvm)));
        assert!(partition_mbr(&build("1604", Virtualization::Hvm)));
        assert!(!partition_mbr(&build("1204", Virtualization::Hvm)));
        assert!(!partition_mbr(&build("1404", Virtualization::Paravirtual)));
    }
}
