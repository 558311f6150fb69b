#!/bin/busybox sh
# init of the libvirt test guest (see libvirt-lab.sh): virtio net/blk/balloon up, then a little
# disk and network I/O every 5 s so the disk.device.* and network.* counters move.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# Modules in rounds: their dependencies move between kernel point releases (6.1.192's
# virtio needs virtio_ring), so whatever failed for a missing symbol is tried again.
for round in 1 2 3 4; do
  for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_balloon virtio_blk failover net_failover virtio_net; do
    [ -e /lib/modules/$m.ko ] && [ ! -e /sys/module/$m ] && insmod /lib/modules/$m.ko 2>/dev/null
  done
done
ip link set lo up; ip link set eth0 up
echo "CEILO-GUEST-UP"
i=0
while true; do
  dd if=/dev/vda of=/dev/null bs=4096 count=8 skip=$((i % 512)) iflag=direct 2>/dev/null
  dd if=/dev/zero of=/dev/vda bs=4096 count=2 seek=$((i % 512)) oflag=direct 2>/dev/null
  # one DHCP discover out of eth0 (the tap has no peer): the outgoing counters move
  udhcpc -i eth0 -n -q -t 1 -T 1 -s /bin/true >/dev/null 2>&1
  i=$((i + 1))
  sleep 5
done
