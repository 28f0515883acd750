#!/usr/bin/env bash
# Build the test-VM image if needed, then boot it: what "Livepatch: Create Local
# Test VM" runs in a terminal. Arguments go to start.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ $(id -u) -eq 0 ]]; then "$here/build-image.sh"; else sudo "$here/build-image.sh"; fi
exec "$here/start.sh" "$@"
