#!/usr/bin/env bash
# Builds a local Python 3.11 base image from Debian bookworm packages with debootstrap, for
# machines that can reach Debian's archive and the package index but no container registry
# (this project's CI: `docker build` cannot pull python:3.11-slim-bookworm there). The
# Dockerfile takes it as `--build-arg PYTHON_IMAGE=<tag>`; its default base stays the official
# image. Read by tests/support/images.py (the image and pod-runner tests) and by hand.
#
# The base contract (what the Dockerfile's two stages use from their base): `python` and `pip`
# on PATH for Python 3.11, `python -m venv` with pip inside the venv, groupadd/useradd, /bin/sh,
# PATH set in the image config (the Dockerfile extends ${PATH}), and the machine's CA bundle at
# /etc/ssl/certs/ca-certificates.crt, which Debian's pip reads, so pip reaches the package index
# as the host does (through whatever TLS-inspecting proxy the host trusts). No compiler: every
# package of requirements/base.txt is a binary wheel.
#
# Cached: the tag carries a hash of this script and of the CA bundle; an existing image with
# that tag is reused (`--force` rebuilds). Prints the tag on stdout, progress on stderr.
# Usage: images/python-base.sh [--force]   (root; needs docker, debootstrap)
set -euo pipefail

REPOSITORY=${BASE_REPOSITORY:-todo-python-base}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
# minbase (essential + apt) plus what the contract needs; --no-install-recommends is
# debootstrap's default for --include (it resolves Depends only).
PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
DOCKER=${DOCKER:-docker}

log() { printf 'python-base: %s\n' "$*" >&2; }

digest=$(cat "$0" "$CA_BUNDLE" | sha256sum | cut -c1-12)
tag="$REPOSITORY:3.11-$SUITE-$digest"
if [ "${1:-}" != "--force" ] && "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    log "cached: $tag"
    echo "$tag"
    exit 0
fi

root=$(mktemp -d /var/tmp/python-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
# Opt-in: APT_CACHE_DIR=/var/cache/apt/archives reuses (and fills) the host's apt cache. Not
# the default: measured here, it saved nothing (113 s without, 134 s with; dpkg's unpacking and
# configuring is the cost, not the downloads).
APT_CACHE_DIR=${APT_CACHE_DIR:-}
cache=()
[ -n "$APT_CACHE_DIR" ] && [ -d "$APT_CACHE_DIR" ] && cache=(--cache-dir="$APT_CACHE_DIR")
log "debootstrap --variant=minbase $SUITE ($PACKAGES)"
debootstrap --variant=minbase --include="$PACKAGES" "${cache[@]}" "$SUITE" "$root" "$MIRROR" \
    >"$root.log" 2>&1 || { cat "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# The machine's CA bundle (the package's own bundle would not know the host's proxy CA).
install -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
# What an image needs at run time only: no apt lists or package cache, docs or man pages.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log \
    "$root"/debootstrap
log "docker import -> $tag"
tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python"]' \
    - "$tag" >/dev/null
"$DOCKER" run --rm --network none "$tag" python -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11), sys.version' >&2
echo "$tag"
