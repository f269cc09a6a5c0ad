#!/usr/bin/env bash
# The local stack (make dev): hack/stack, a Go program built on
# internal/testenv, starts and stops it; its package comment lists the
# components, the commands (up, down, clean, status, stop NAME, restart
# NAME) and the DEV_* variables. This builds it into bin/ and runs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && go build -o bin/stack ./hack/stack)
exec "$root/bin/stack" "$@"
