#!/usr/bin/env bash
# One command builds streamer's image for an architecture, from the repository's one Dockerfile:
#
#   deploy/build-image.sh amd64    -> streamer:amd64   x86-64 box, CPU
#   deploy/build-image.sh arm64    -> streamer:arm64   any 64-bit ARM box, CPU (built on x86 under qemu)
#   deploy/build-image.sh jetson   -> streamer:jetson-jp6.2 on the Jetson itself: L4T JetPack base,
#                                     onnxruntime-gpu (CUDA + TensorRT) from NVIDIA's Jetson index
#
# Options:
#   --tag NAME         image name instead of streamer:<variant>
#   --extras LIST      pip extras, e.g. "roboflow" for `kind: roboflow` models
#   --jetpack 6.2      jetson only: the JetPack release, 6.2 (default), 6.1 or 6.0 (docs/deployment.md)
#   --base-only        get the base image and stop (CI keeps it between runs)
#
# The base: kept when Docker already has it, pulled when a registry answers, and otherwise made
# here (amd64, arm64) from Debian bookworm with debootstrap, python3, pip and venv, imported and
# tagged with the registry's name, so the same Dockerfile builds unchanged. An arm64 base on an
# x86 machine needs qemu-user-static with binfmt_misc (the kernel then runs aarch64 programs
# inside the container). The jetson base comes only from NVIDIA's registry (nvcr.io).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
die() { echo "build-image: $*" >&2; exit 1; }

VARIANT="" TAG="" EXTRAS="" JETPACK=6.2 BASE_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        amd64|arm64|jetson) VARIANT=$1 ;;
        --tag) TAG=${2:?--tag needs a name}; shift ;;
        --extras) EXTRAS=${2:?--extras needs a list}; shift ;;
        --jetpack) JETPACK=${2:?--jetpack needs a JetPack release, e.g. 6.2}; shift ;;
        --base-only) BASE_ONLY=1 ;;
        -h|--help) usage ;;
        *) echo "build-image: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[ -n "$VARIANT" ] || usage

# The Dockerfile's default base is the amd64 one; the others are named here.
DEFAULT_BASE=$(sed -n 's/^ARG BASE=//p' Dockerfile)
BUILD_ARGS=()
case "$VARIANT" in
    amd64)
        ARCH=amd64 BASE=$DEFAULT_BASE ;;
    arm64)
        # Docker Hub's per-architecture name of the same python:3.11-slim-bookworm image.
        ARCH=arm64 BASE=arm64v8/${DEFAULT_BASE}
        # onnxruntime 1.32's aarch64 wheel crashes (SIGSEGV) at import under Debian bookworm's
        # qemu 7.2, which is how this image is built and tested on x86 (CI); 1.23.2 imports there
        # and on real arm64 boxes. Lift the pin (--build-arg ORT_PACKAGE=onnxruntime) where the image
        # is only built and tested on arm64 hardware or under a newer qemu.
        BUILD_ARGS+=(--build-arg "ORT_PACKAGE=onnxruntime==1.23.2") ;;
    jetson)
        ARCH=arm64
        # NVIDIA's L4T JetPack base per JetPack release (Ubuntu 22.04, Python 3.10) and the
        # CUDA build of onnxruntime-gpu for it on NVIDIA's Jetson AI Lab pip index.
        case "$JETPACK" in
            # L4T 36.4.x: CUDA 12.6, cuDNN 9.3, TensorRT 10.3.
            6.2|6.1) L4T=r36.4.0 CUDA=cu126 ;;
            # L4T 36.3.0: CUDA 12.2, cuDNN 8.9, TensorRT 8.6.
            6.0) L4T=r36.3.0 CUDA=cu122 ;;
            # L4T r35 ships Python 3.8, below streamer's 3.10.
            5|5.*) die "JetPack $JETPACK (L4T r35, Python 3.8) is below streamer's Python 3.10: use JetPack 6" ;;
            *) die "--jetpack $JETPACK: expected 6.2, 6.1 or 6.0" ;;
        esac
        BASE=nvcr.io/nvidia/l4t-jetpack:$L4T
        BUILD_ARGS+=(--build-arg "ORT_PACKAGE=onnxruntime-gpu"
                     --build-arg "PIP_EXTRA_INDEX_URL=https://pypi.jetson-ai-lab.io/jp6/$CUDA")
        VARIANT=jetson-jp$JETPACK ;;
esac
TAG=${TAG:-streamer:$VARIANT}

host_arch() {
    case "$(uname -m)" in x86_64) echo amd64 ;; aarch64|arm64) echo arm64 ;; *) uname -m ;; esac
}

# Foreign-architecture programs (the base's and every RUN step's) run through binfmt_misc.
ensure_emulation() {
    [ "$ARCH" != "$(host_arch)" ] || return 0
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    if [ ! -e "$entry" ]; then
        if ! command -v update-binfmts >/dev/null 2>&1 || [ ! -x /usr/bin/qemu-aarch64-static ]; then
            command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
                || die "$ARCH on $(host_arch) needs qemu-user-static and binfmt-support (Debian packages)"
            DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
                qemu-user-static binfmt-support >/dev/null
        fi
        [ -e /proc/sys/fs/binfmt_misc/register ] \
            || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        update-binfmts --enable qemu-aarch64
    fi
    # 'F' (fix binary): the kernel keeps the interpreter open, so it works inside containers.
    grep -q '^flags:.*F' "$entry" || die "$entry lacks the F flag: containers cannot find qemu"
}

# The registry's base image made from Debian instead (no registry answers here).
make_base() {
    command -v debootstrap >/dev/null 2>&1 \
        || die "no registry answers for $BASE, and making it needs debootstrap (Debian package)"
    [ "$(id -u)" = 0 ] || die "making the base $BASE without a registry needs root (debootstrap, chroot)"
    # The first Debian mirror apt names (deb822 sources or the classic list).
    local mirror rootfs started
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
        mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d /tmp/streamer-base.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    started=$(date +%s)
    # A foreign --arch runs debootstrap's second stage under qemu, through binfmt.
    debootstrap --arch="$ARCH" --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    # pip inside `docker build` must trust the same TLS chain as this machine (a proxy's CA).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        mkdir -p "$rootfs/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    fi
    # apt's warnings inside a chroot (no /dev/pts, no _apt sandbox) are noise: shown on failure.
    chroot "$rootfs" /bin/sh -e -c '
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3 python3-pip python3-venv ca-certificates >/dev/null
        update-ca-certificates >/dev/null
        # python:3.11-slim has no PEP 668 marker; the Dockerfile pip-installs into the system.
        rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
        apt-get clean
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*
    ' >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | docker import -c 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "base $BASE: made from Debian bookworm ($ARCH, $mirror) in $(( $(date +%s) - started )) s"
}

docker info >/dev/null 2>&1 || die "no Docker daemon answers (start dockerd)"
ensure_emulation
if docker image inspect "$BASE" >/dev/null 2>&1; then
    echo "base $BASE: present, kept"
elif docker pull -q "$BASE" >/dev/null 2>&1; then
    echo "base $BASE: pulled"
elif [ "$VARIANT" = "${VARIANT#jetson}" ]; then
    make_base
else
    die "no registry answers for $BASE: build the jetson image on the Jetson, with nvcr.io reachable"
fi
[ "$BASE_ONLY" = 0 ] || exit 0

started=$(date +%s)
# The build's steps run under the Docker daemon, not as this script's children, so `nice`
# does not reach them: a low CPU weight does (it matters only when the CPU is contended, e.g.
# by cameras running on the box, or CI's tests beside an emulated arm64 build).
docker build -q -t "$TAG" --cpu-shares 256 --build-arg "BASE=$BASE" \
    ${EXTRAS:+--build-arg "EXTRAS=$EXTRAS"} "${BUILD_ARGS[@]}" . >/dev/null
machine=$(docker run --rm --entrypoint uname "$TAG" -m)
size=$(docker image inspect --format '{{.Size}}' "$TAG")
echo "image $TAG: built in $(( $(date +%s) - started )) s, $(( size / 1000000 )) MB, runs on $machine"
