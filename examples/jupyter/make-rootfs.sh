#!/usr/bin/env bash
# Makes the notebook image's root filesystem without a builder or a registry: a debootstrap
# Debian (bookworm, minbase) with Debian's jupyter-notebook package, as a tar that
# `berth import` (or `docker import`) takes. The Dockerfile beside this script is the same image
# for machines with `berth build` and a registry that has debian:bookworm.
#
#   examples/jupyter/make-rootfs.sh OUT.tar   (root; the Debian mirror apt uses; OUT kept if there)
set -euo pipefail

out=${1:?usage: make-rootfs.sh OUT.tar}
if [ -s "$out" ]; then
  echo "$out is there already" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "make-rootfs.sh: must run as root (debootstrap)" >&2
  exit 1
fi

# The Debian mirror this machine's apt already uses (deb822 .sources or one-line lists).
mirror=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources |
  awk '{print $2}' | grep -v -- '-security' | head -1 || true)
[ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
  awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' |
  grep -v -- '-security' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

# The root is made under /tmp, not beside OUT: tools that walk the tree (linters) never see it.
root=$(mktemp -d /tmp/jupyter-rootfs.XXXXXX)
cleanup() {
  # debootstrap mounts /proc and /sys in the root while it works: never delete through them.
  findmnt -rn -o TARGET | grep -F "$root/" | sort -r | xargs -r -n1 umount -l || true
  rm -rf --one-file-system "$root" "$out.tmp"
}
trap cleanup EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
# apt inside the new root resolves jupyter-notebook's dependencies the way the Dockerfile's
# `apt-get install --no-install-recommends` does (debootstrap's own --include resolver fails
# to configure python3-zmq).
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
export DEBIAN_FRONTEND=noninteractive
chroot "$root" apt-get -o Acquire::Retries=3 update >&2
chroot "$root" apt-get -o Acquire::Retries=3 install -y --no-install-recommends jupyter-notebook >&2
umount "$root/proc"
: >"$root/etc/resolv.conf"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# Sorted, numeric owners: a stable tar.
(cd "$root" && find . -mindepth 1 -path ./proc -prune -o -path ./sys -prune -o -print |
  sed 's|^\./||' | LC_ALL=C sort) |
  tar -C "$root" --numeric-owner --no-recursion -cf "$out.tmp" --files-from=-
mv -f "$out.tmp" "$out"
