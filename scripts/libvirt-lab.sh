#!/usr/bin/env bash
# The real hypervisor the libvirt pollster tests poll: libvirt + QEMU (TCG, no KVM needed) and a
# tiny guest (Debian's cloud kernel + a busybox initramfs whose init does a little disk and
# network I/O so the counters move). Every step is skipped when already done, so tests call it
# before each run and CI calls it once.
#
#   scripts/libvirt-lab.sh install        libvirt 11 + QEMU 10 (bookworm-backports) + libvirt-dev,
#                                         then virtlogd and libvirtd as daemons (no systemd here)
#   scripts/libvirt-lab.sh guest OUTDIR   OUTDIR/vmlinuz and OUTDIR/initrd.gz (built once)
#   scripts/libvirt-lab.sh ceilometer     the real Ceilometer 27 compute agent to compare with:
#                                         a venv ($CEILOMETER_VENV, /opt/ceilometer-venv) with
#                                         ceilometer==27.0.0, libvirt-python and redis (built once)
#
# Why backports through a private apt configuration: the base image carries qemu-utils from
# bookworm-backports, which conflicts with bookworm's own qemu-system-x86; pinning qemu and
# libvirt to backports resolves it without touching the machine's apt sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

apt_private() {
  local d=/var/cache/ceilo-apt-bpo
  mkdir -p $d/lists/partial $d/archives/partial $d/empty.d
  local uri sec
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  sec=$(awk '/^URIs:/{u=$2} /^Suites:.*security/{print u; exit}' /etc/apt/sources.list.d/debian.sources)
  {
    for s in bookworm bookworm-updates bookworm-backports; do echo "deb $uri $s main"; done
    echo "deb $sec bookworm-security main"
  } >$d/sources.list
  printf 'Package: qemu-* libvirt* seabios libbrlapi0.8 ipxe-qemu\nPin: release n=bookworm-backports\nPin-Priority: 990\n' >$d/preferences
  APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=$d/empty.d"
    -o "Dir::State::lists=$d/lists" -o "Dir::Cache::archives=$d/archives"
    -o "Dir::Etc::preferences=$d/preferences" -o "Dir::Etc::preferencesparts=$d/empty.d")
  # Only called when something is missing, so always fresh lists: cached ones go stale and
  # their packages vanish from the mirror.
  apt-get "${APT_OPTS[@]}" update -qq
}

install() {
  if ! command -v libvirtd >/dev/null || ! command -v qemu-system-x86_64 >/dev/null \
    || ! pkg-config --exists libvirt 2>/dev/null || ! command -v qemu-img >/dev/null; then
    apt_private
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
      libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils libvirt-dev pkg-config >/dev/null
  fi
  pgrep -x virtlogd >/dev/null || /usr/sbin/virtlogd -d
  pgrep -x libvirtd >/dev/null || /usr/sbin/libvirtd -d
  for _ in $(seq 60); do virsh -c qemu:///system version >/dev/null 2>&1 && return 0; sleep 1; done
  echo "libvirtd did not answer on qemu:///system" >&2
  return 1
}

guest() {
  local out=${1:?usage: libvirt-lab.sh guest OUTDIR}
  # Rebuilt when guest-init.sh changes (its checksum is kept beside the image).
  local sum
  sum=$(sha256sum "$here/guest-init.sh" | cut -c1-16)
  [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$(cat "$out/init.sum" 2>/dev/null)" = "$sum" ] && return 0
  apt_private
  mkdir -p "$out"
  local w
  w=$(mktemp -d)
  trap 'rm -rf "$w"' RETURN
  (
    cd "$w"
    kpkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    apt-get "${APT_OPTS[@]}" download -qq "$kpkg" busybox-static
    dpkg-deb -x linux-image-*.deb k
    dpkg-deb -x busybox-static_*.deb b
    mkdir -p r/bin r/lib/modules r/proc r/sys r/dev
    cp b/bin/busybox r/bin/busybox
    for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_balloon \
      virtio_blk failover net_failover virtio_net; do
      f=$(find k/lib/modules -name "$m.ko*" | head -n1)
      [ -n "$f" ] || continue # built into the kernel
      case $f in
        *.xz) xz -dc "$f" >"r/lib/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"r/lib/modules/$m.ko" ;;
        *) cp "$f" "r/lib/modules/$m.ko" ;;
      esac
    done
    cp "$here/guest-init.sh" r/init
    chmod +x r/init
    (cd r && find . | ../b/bin/busybox cpio -o -H newc 2>/dev/null | gzip -9) >initrd.gz
    # Written last and renamed: a half-built guest is never taken for a finished one.
    cp k/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    cp initrd.gz "$out/initrd.gz.tmp" && mv "$out/initrd.gz.tmp" "$out/initrd.gz"
    echo "$sum" >"$out/init.sum"
  )
}

ceilometer() {
  local venv=${CEILOMETER_VENV:-/opt/ceilometer-venv}
  if [ -x "$venv/bin/ceilometer-polling" ] && "$venv/bin/python" -c 'import libvirt, redis' 2>/dev/null; then
    return 0
  fi
  install
  command -v gcc >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-venv python3-dev gcc >/dev/null
  }
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  # redis: tooz's Redis driver, for the coordination side-by-side tests (tests/coordination_*).
  "$venv/bin/pip" install -q ceilometer==27.0.0 libvirt-python redis
}

case ${1:-} in
  install) install ;;
  guest) shift; guest "$@" ;;
  ceilometer) ceilometer ;;
  *) echo "usage: $0 install | guest OUTDIR | ceilometer" >&2; exit 2 ;;
esac
