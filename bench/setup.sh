#!/usr/bin/env bash
# Prepares this Debian machine for the benchmarks (bench/run.ts): installs the peers from
# Debian's packages and makes the images every engine is given, all offline except for apt and
# the Debian mirror debootstrap reads. Run as root from anywhere; safe to run again.
#
#   bench/setup.sh           peers, busybox image, debootstrap Debian image
#   bench/setup.sh --quick   peers and busybox only (what `run.ts --quick` needs)
#
# Images land in bench/.cache/ (ignored by git): busybox.tar (scripts/make-busybox-rootfs.sh)
# and debian.tar (a `debootstrap --variant=minbase bookworm` root filesystem). run.ts imports
# them into the engines it starts for each run (berthd, dockerd, podman with its own root), so
# nothing here touches a system daemon or the system's container storage.
set -euo pipefail

quick=false
for arg in "$@"; do
  case "$arg" in
  --quick) quick=true ;;
  -h | --help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "bench/setup.sh: unknown option: $arg" >&2
    exit 2
    ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: must run as root" >&2
  exit 1
fi

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$bench/.cache
mkdir -p "$cache"

step() { printf '\n==> %s\n' "$*"; }

# dockerd (docker.io) and podman are peers only; runc and conmon are what berth itself runs
# on; debootstrap makes the Debian image. The stock docker CLI is expected at
# /usr/local/bin/docker (docker.io's own CLI works too).
PACKAGES=(docker.io podman runc conmon busybox-static)
$quick || PACKAGES+=(debootstrap)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get -o Acquire::Retries=3 update
  # No recommends: podman's would pull in networking and rootless helpers the runs do not use
  # (they run podman as root with --network none, like dockerd with --bridge=none).
  apt-get -o Acquire::Retries=3 install -y --no-install-recommends "${missing[@]}"
else
  step "Debian packages already installed: ${PACKAGES[*]}"
fi

step "Busybox image"
if [ ! -s "$cache/busybox.tar" ]; then
  "$bench/../scripts/make-busybox-rootfs.sh" "$cache/busybox.tar"
else
  echo "$cache/busybox.tar (cached)"
fi

# The Debian mirror this machine's apt already uses (deb822 .sources or one-line lists).
apt_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources |
    awk '{print $2}' | grep -v -- '-security' | head -1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' |
    grep -v -- '-security' | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

if ! $quick; then
  step "Debian image (debootstrap --variant=minbase bookworm)"
  if [ ! -s "$cache/debian.tar" ]; then
    mirror=$(apt_mirror)
    root=$cache/debian-rootfs
    rm -rf "$root"
    echo "mirror: $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror"
    # Sorted, numeric owners: a stable tar for `docker import`, `podman import` and berth.
    (cd "$root" && find . -mindepth 1 -path ./proc -prune -o -path ./sys -prune -o -print |
      sed 's|^\./||' | LC_ALL=C sort) |
      tar -C "$root" --numeric-owner --no-recursion -cf "$cache/debian.tar.tmp" --files-from=-
    mv -f "$cache/debian.tar.tmp" "$cache/debian.tar"
    rm -rf "$root"
  fi
  ls -l "$cache/debian.tar"
fi

step "Ready: node --import tsx bench/run.ts$($quick && echo ' --quick')"
