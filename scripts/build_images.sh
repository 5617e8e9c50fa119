#!/usr/bin/env bash
# Build every service image from the repo root. Needs a Docker engine (the client alone is not enough).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "make images: no Docker engine is reachable here; build on a machine with Docker (or in CI):" >&2
  for s in services/*/Dockerfile; do echo "  docker build -f $s -t omnihub/$(basename "$(dirname "$s")") ." >&2; done
  exit 1
fi
for s in services/*/Dockerfile; do
  name=$(basename "$(dirname "$s")")
  docker build -f "$s" -t "omnihub/$name:${TAG:-latest}" .
done
