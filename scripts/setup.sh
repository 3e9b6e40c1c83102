#!/usr/bin/env bash
# Sets berth up on a fresh Debian 12 machine, with everything its tests need, and runs its
# main job (scripts/demo.sh). Run as root from anywhere: ./scripts/setup.sh
#
#   --deps-only   only install the Debian packages (used by .ci/run); EXTRA_PACKAGES adds more
#   --npm-only    only install the npm dependencies from package-lock.json (used by .ci/run)
#   --no-demo     do everything except running the demo
#   --test-images only make the images tests cannot make in their time (the Jupyter example's
#                 root filesystem, minutes from the Debian mirror; kept once made)
#
# Safe to run again: every step either converges or is a no-op the second time.
set -euo pipefail

# The host packages berth runs on: runc and conmon run containers, busybox-static makes the
# offline test image, tini and catatonit back `--init`, zstd handles zstd layers; curl checks
# the daemon's socket in the demo; nftables (berth's own table: NAT, isolation, published
# ports) and aardvark-dns (DNS names) make the bridge networks with iproute2; iptables and
# netavark are what berth used before (a host upgrading keeps them; nothing new needs them).
PACKAGES=(runc conmon iptables busybox-static tini catatonit zstd procps ca-certificates curl
  nftables netavark aardvark-dns uidmap passt)
# What `npm test` needs beside them: Debian's dockerd as the oracle the end-to-end tests
# compare with (docker.io), tmux to drive terminals, setcap (libcap2-bin), docker-py
# (python3-docker) for the SDK tests, ip (iproute2) for network namespaces, the reference
# registry server (docker-registry) with htpasswd (apache2-utils) for the registry tests,
# docker-compose for the compose test, and debootstrap for the Jupyter example's image.
TEST_PACKAGES=(docker.io tmux libcap2-bin python3-docker iproute2 docker-registry apache2-utils
  docker-compose debootstrap)

deps_only=false
npm_only=false
demo=true
test_images_only=false
for arg in "$@"; do
  case "$arg" in
  --deps-only) deps_only=true ;;
  --npm-only) npm_only=true ;;
  --no-demo) demo=false ;;
  --test-images) test_images_only=true ;;
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "setup.sh: unknown option: $arg" >&2
    exit 2
    ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }
run() {
  printf '+ %s\n' "$*"
  "$@"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (try: sudo $0 $*)" >&2
  exit 1
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

node_major() {
  command -v node >/dev/null 2>&1 || {
    echo 0
    return
  }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

install_packages() {
  local pkgs=("${PACKAGES[@]}" "${TEST_PACKAGES[@]}")
  local had_docker=false
  dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'ok installed' && had_docker=true
  # shellcheck disable=SC2206 # EXTRA_PACKAGES is a space-separated list by design
  [ -n "${EXTRA_PACKAGES:-}" ] && pkgs+=(${EXTRA_PACKAGES})
  # Node 20 is usually there already (and from NodeSource, whose nodejs must not be mixed
  # with Debian's npm); only fall back to Debian's packages when node is missing or old.
  local need_node=false
  if [ "$(node_major)" -lt 20 ]; then
    need_node=true
    pkgs+=(nodejs npm)
  fi
  step "Installing Debian packages: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  run apt-get -o Acquire::Retries=3 update
  run apt-get -o Acquire::Retries=3 install -y --no-install-recommends "${pkgs[@]}"
  if $need_node && [ "$(node_major)" -lt 20 ]; then
    echo "setup.sh: berth needs Node.js 20 or newer, and this machine's apt sources only" >&2
    echo "offer $(node --version 2>/dev/null || echo none). Install Node 20+ and run setup.sh again." >&2
    exit 1
  fi
  # The tests start Debian's dockerd themselves, in a temp dir of their own; the system
  # service that installing docker.io starts under systemd is not wanted beside berthd.
  if ! $had_docker && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    echo "setup.sh: docker.io is here for its dockerd, which the tests run on their own;" \
      "stopping and disabling the system docker service it started"
    run systemctl disable --now docker.service docker.socket || true
  fi
  echo "node $(node --version), npm $(npm --version), runc $(runc --version | head -1 | awk '{print $3}'), conmon $(conmon --version | head -1 | awk '{print $3}')"
}

# Installs exactly the tree in package-lock.json.
install_npm_deps() {
  step "Installing npm dependencies (npm ci)"
  run npm ci --no-audit --no-fund
}

make_test_images() {
  step "Test images: the Jupyter example's root filesystem"
  run "$repo/examples/jupyter/make-rootfs.sh" "$repo/examples/jupyter/.cache/rootfs.tar"
}

if $npm_only; then
  install_npm_deps
  exit 0
fi
if $test_images_only; then
  mkdir -p "$repo/examples/jupyter/.cache"
  make_test_images
  exit 0
fi
install_packages
if $deps_only; then
  exit 0
fi

install_npm_deps

mkdir -p "$repo/examples/jupyter/.cache"
make_test_images

step "Building dist/ (berth and berthd)"
run npm run build

step "Putting berth and berthd on PATH"
run ln -sfn "$repo/dist/berth.cjs" /usr/local/bin/berth
run ln -sfn "$repo/dist/berthd.mjs" /usr/local/bin/berthd
echo "berth -> $(readlink /usr/local/bin/berth)"
echo "berthd -> $(readlink /usr/local/bin/berthd)"

if $demo; then
  step "Running the main job: scripts/demo.sh"
  run "$repo/scripts/demo.sh"
fi

step "Done"
cat <<EOF
berth is set up. Try:
  berth run -it --rm busybox
  DOCKER_HOST=unix:///run/berth/berth.sock docker ps -a
Its tests: npm test
EOF
