#!/usr/bin/env bash
# Makes a tiny root filesystem from Debian's busybox-static, as a directory or (when the
# argument ends in .tar) as a tar archive. Needs no network, so tests, the demo and the
# benchmarks can make a real image offline.
#
# The output is deterministic: fixed mtimes, owners and modes and sorted tar entries, so
# importing it twice on one machine gives the same image ID.
#
#   scripts/make-busybox-rootfs.sh /tmp/busybox.tar   # a tar for `docker import`
#   scripts/make-busybox-rootfs.sh /tmp/rootfs        # a directory (e.g. a runc bundle)
set -euo pipefail

usage() {
  echo "usage: $0 DIR|FILE.tar" >&2
  exit 2
}
[ $# -eq 1 ] || usage
out=$1
[ -n "$out" ] || usage

busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
  echo "$0: $busybox not found; install Debian's busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi

# 2024-01-01T00:00:00Z: any fixed time will do, as long as it never changes.
epoch=1704067200

# The applets most tests and examples reach for. Each must exist in this busybox.
applets=(
  '[' '[[' ash awk base64 basename cat chmod chown cmp cp cut date dd df diff dirname du
  echo env expr false find free grep gunzip gzip head hexdump hostname id ip kill ln ls
  md5sum mkdir mkfifo mknod mktemp more mount mv nc nproc od printf ps pwd readlink
  realpath rm rmdir sed seq sh sha256sum sleep sort stat stty sync tail tar tee test
  timeout top touch tr true tty umount uname uniq uptime usleep vi wc wget which whoami
  xargs yes zcat
)

available=$("$busybox" --list)
for a in "${applets[@]}"; do
  if ! grep -qxF -- "$a" <<<"$available"; then
    echo "$0: $busybox has no '$a' applet" >&2
    exit 1
  fi
done

# Build into a staging dir next to the output, so a failure never leaves a half-made result.
if [[ "$out" == *.tar ]]; then
  stage=$(mktemp -d "${TMPDIR:-/tmp}/busybox-rootfs.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  root=$stage/rootfs
else
  if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "$0: $out exists and is not empty" >&2
    exit 1
  fi
  root=$out
fi

umask 022
mkdir -p "$root"/{bin,etc,root,proc,sys,dev,tmp}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for a in "${applets[@]}"; do
  ln -s busybox "$root/bin/$a"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nogroup:x:65534:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"

# Fixed times on everything (symlinks included) so a directory copy is as stable as the tar.
find "$root" -exec touch -h -d "@$epoch" {} +

if [[ "$out" == *.tar ]]; then
  mkdir -p "$(dirname "$out")"
  # Entries as `bin/sh`, not `./bin/sh`, as in images from a registry; sorted by byte value.
  (cd "$root" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort) |
    tar -C "$root" --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
      --format=gnu --no-recursion -cf "$out.tmp" --files-from=-
  mv -f "$out.tmp" "$out"
fi
echo "$out"
