#!/usr/bin/env bash
# berth's main job, end to end and offline: make a busybox image from Debian's
# busybox-static, import it, and run a container from it. Uses the default socket
# (/run/berth/berth.sock), so berth starts berthd itself when none is running.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
socket=/run/berth/berth.sock
message="hello from a berth container"

# The berth on PATH (setup.sh links it) or, failing that, the one just built here.
if command -v berth >/dev/null 2>&1; then
  berth_bin=$(command -v berth)
elif [ -x "$repo/dist/berth.mjs" ]; then
  berth_bin=$repo/dist/berth.mjs
else
  echo "demo.sh: berth is not built; run: npm run build (or, as root, ./scripts/setup.sh)" >&2
  exit 1
fi
# The default socket, not one from the environment.
unset BERTH_HOST

# Echo each command to the script's stdout (fd 3), even when its own output is redirected.
exec 3>&1
berth() {
  local line='$ berth' a
  for a in "$@"; do
    case "$a" in *' '*) line+=" \"$a\"" ;; *) line+=" $a" ;; esac
  done
  printf '%s\n' "$line" >&3
  "$berth_bin" "$@"
}

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

if curl -sf --max-time 2 --unix-socket "$socket" http://berth/_ping >/dev/null 2>&1; then
  echo "berthd is already answering on $socket; berth will use it."
else
  echo "No berthd is answering on $socket: berth starts berthd itself on first use (below)."
fi

echo
echo "Making a busybox root filesystem (from Debian's busybox-static)..."
"$repo/scripts/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
ls -l "$work/busybox.tar"

echo
# An import stamps the image with the time it was made, so importing again on a second run
# would leave the first image behind untagged; keep the one already there.
# This is the first berth command, so it is the one that may start berthd: show what it
# says about that, but not its "No such image".
if "$berth_bin" image inspect --format '{{.Id}}' busybox:latest >"$work/id" 2>"$work/err"; then
  cat "$work/err"
  echo "busybox:latest is already imported ($(cut -c1-19 "$work/id")); keeping it."
else
  grep -vi 'no such image' "$work/err" || true
  berth import "$work/busybox.tar" busybox:latest
fi

echo
# Into a file rather than $(...), so that nothing the run leaves behind can hold a pipe open.
berth run --rm busybox echo "$message" >"$work/out"
cat "$work/out"
out=$(cat "$work/out")

echo
berth images
echo
berth ps -a

echo
if [ "$out" = "$message" ]; then
  echo "OK: the container printed \"$message\"."
else
  echo "demo.sh: expected \"$message\" from the container, got \"$out\"" >&2
  exit 1
fi
