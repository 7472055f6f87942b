#!/bin/bash
# Provisions a ComboAMI image. amipub's bootstrap runs this as root on the build instance with
# COMBOAMI_VERSION, COMBOAMI_BRANCH, EC2_AMI_TOOLS_VERSION, EC2_API_TOOLS_VERSION and
# AMIPUB_BUILD_NAME (also PACKER_BUILD_NAME) in its environment. It never runs on the machine
# that runs amipub.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive

# Packages installed before cloud-init finishes are overwritten by its own apt run.
while [ ! -f /var/lib/cloud/instance/boot-finished ]; do sleep 2; done

apt-get update
apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade
apt-get -y install git python-pip unzip ruby curl openjdk-7-jre-headless

# HVM images boot through grub on the whole disk; PV images use pv-grub's menu.lst.
case "$AMIPUB_BUILD_NAME" in
  *-hvm)
    apt-get -y install grub-pc
    sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0"/' /etc/default/grub
    update-grub
    ;;
esac

git clone --branch "$COMBOAMI_BRANCH" https://github.com/riptano/ComboAMI.git /home/ubuntu/datastax_ami
echo "$COMBOAMI_VERSION" > /home/ubuntu/datastax_ami/VERSION
chown -R ubuntu:ubuntu /home/ubuntu/datastax_ami
cp /home/ubuntu/datastax_ami/ds-init /etc/init.d/ds-init
chmod 755 /etc/init.d/ds-init
update-rc.d ds-init defaults 95 10

# The bundle tools live under /tmp so they are excluded from the image.
cd /tmp
curl -fsSLO "https://s3.amazonaws.com/ec2-downloads/ec2-ami-tools-${EC2_AMI_TOOLS_VERSION}.zip"
unzip -q "ec2-ami-tools-${EC2_AMI_TOOLS_VERSION}.zip"
ln -sf "/tmp/ec2-ami-tools-${EC2_AMI_TOOLS_VERSION}/bin/"* /usr/local/bin/ || true

# Nothing personal or host-specific goes into a public image.
rm -f /etc/ssh/ssh_host_*
rm -f /root/.bash_history /home/ubuntu/.bash_history
apt-get clean
