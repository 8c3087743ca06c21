#!/bin/sh
# Builds Jaeger v2 and our collector distribution (./otelcol) into $BACKENDS_BIN with the
# versions pinned in go.mod, once: a stamp of the inputs skips the build while they are
# unchanged, and Go's module and build caches make a rebuild after a change incremental.
# No Go toolchain: says so and succeeds (the end-to-end tests then skip), except under CI=true.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${BACKENDS_BIN:-$(dirname "$here")/.backends/bin}
go=${GO:-go}
if ! command -v "$go" >/dev/null 2>&1; then
	if [ "${CI:-}" = "true" ]; then
		echo "backends: no Go toolchain ('$go' not found) and CI=true: cannot build Jaeger and the collector" >&2
		exit 1
	fi
	echo "backends: no Go toolchain ('$go' not found): the Jaeger and collector end-to-end tests will be skipped"
	exit 0
fi
stamp=$({ "$go" version; cat "$here/build.sh" "$here/go.mod" "$here/go.sum" "$here"/otelcol/*.go; } | cksum)
if [ -x "$bin/jaeger" ] && [ -x "$bin/otelcol" ] && [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "backends: jaeger and otelcol are up to date in $bin"
	exit 0
fi
mkdir -p "$bin"
start=$(date +%s)
cd "$here"
"$go" build -trimpath -buildvcs=false -ldflags="-s -w" -o "$bin/" github.com/jaegertracing/jaeger/cmd/jaeger ./otelcol
echo "$stamp" >"$bin/.stamp"
echo "backends: built jaeger and otelcol into $bin in $(($(date +%s) - start)) s"
