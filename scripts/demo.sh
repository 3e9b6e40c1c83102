#!/usr/bin/env bash
# berth's main job, end to end and offline: make a busybox image from Debian's
# busybox-static, import it as Docker Hub's busybox is made (a shell as its command, the usual
# PATH), and run containers from it. Uses the default socket (/run/berth/berth.sock), so berth
# starts berthd itself when none is running.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
socket=/run/berth/berth.sock
message="hello from a berth container"
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The berth on PATH (setup.sh links it) or, failing that, the one just built here.
if command -v berth >/dev/null 2>&1; then
  berth_bin=$(command -v berth)
elif [ -x "$repo/dist/berth.cjs" ]; then
  berth_bin=$repo/dist/berth.cjs
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
# Docker Hub's busybox runs a shell when given no command, with the usual PATH: so does this
# one, so that the tutorial's `berth run -it --rm busybox` opens a shell.
changes=(--change 'CMD ["sh"]' --change "ENV PATH=$DEFAULT_PATH")
# An import stamps the image with the time it was made, so importing again on a second run
# would leave the first image behind untagged; keep the one already there when it is this
# demo's (an older one, without the shell as its command, is replaced).
# This is the first berth command, so it is the one that may start berthd: show what it
# says about that, but not its "No such image".
if "$berth_bin" image inspect --format '{{.Id}} {{json .Config.Cmd}}' busybox:latest \
  >"$work/id" 2>"$work/err" && grep -q ' \["sh"\]$' "$work/id"; then
  cat "$work/err"
  echo "busybox:latest is already imported ($(cut -c1-19 "$work/id")); keeping it."
else
  grep -vi 'no such image' "$work/err" || true
  berth import "${changes[@]}" "$work/busybox.tar" busybox:latest
fi

echo
# Into a file rather than $(...), so that nothing the run leaves behind can hold a pipe open.
berth run --rm busybox echo "$message" >"$work/out"
cat "$work/out"
out=$(cat "$work/out")

echo
# No command: the image's own, a shell, here reading its commands from stdin.
echo 'echo "a shell in a container: $(uname -s) $(id -un), PATH=$PATH"' >"$work/script"
berth run -i --rm busybox <"$work/script"

echo
berth images
echo
berth ps -a

echo
if [ "$out" = "$message" ]; then
  echo "OK: the container printed \"$message\"."
  echo
  echo "Now a shell of your own in a container (exit, or Ctrl+p Ctrl+q to leave it running):"
  echo "  berth run -it --rm busybox"
else
  echo "demo.sh: expected \"$message\" from the container, got \"$out\"" >&2
  exit 1
fi
