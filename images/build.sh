#!/usr/bin/env bash
# Builds the project image from the unchanged Dockerfile on the local Debian base
# (images/python-base.sh), for machines with a Docker engine but no registry to pull the
# official python image from. Read by tests/support/images.py (the image and pod-runner tests)
# and .ci/run (which starts it early, beside the virtualenv installs); usable by hand.
#
# The legacy builder (DOCKER_BUILDKIT=0): BuildKit would fetch the Dockerfile's `# syntax=`
# frontend from a registry. `--network host`: the engine runs without a bridge, and pip in the
# builder stage reaches the package index as the host does (the base carries its CA bundle).
# Docker's layer cache makes a rebuild with unchanged inputs take about a second.
# Usage: images/build.sh [TAG]   (default todo-api:local); prints the tag on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-todo-api:local}
DOCKER=${DOCKER:-docker}
base=$(DOCKER="$DOCKER" bash images/python-base.sh)
printf 'build: %s on %s\n' "$TAG" "$base" >&2
# No REVISION build argument: its label comes before the big layers, so a new value per commit
# would rebuild them all.
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --network host --build-arg "PYTHON_IMAGE=$base" \
    --tag "$TAG" . >/dev/null
echo "$TAG"
