#!/usr/bin/env bash
# Fill docker/wheels with every wheel the image needs (focusqc itself included), for builds
# with no index: air-gapped lab networks, or builders that cannot reach PyPI.
# Usage: docker/wheelhouse.sh [cpu|gpu]   (run it with the image's Python version, 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
runtime="${1:-cpu}"
python3 -m pip wheel --wheel-dir docker/wheels ".[${runtime},dashboard]" "setuptools>=77" wheel
echo "docker/wheels: $(ls docker/wheels | wc -l) wheels"
