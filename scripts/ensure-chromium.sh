#!/usr/bin/env bash
# ensure-chromium.sh: prints the path of a Chromium for the browser tests,
# installing Debian's `chromium` package first when it is missing and we are
# root with apt-get. Otherwise it stops with a message that names the package.
set -euo pipefail
log() { echo "ensure-chromium: $*" >&2; }

find_chromium() {
	local c
	for c in "${CARDVAULT_TEST_CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome; do
		[ -n "$c" ] || continue
		if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
	done
	return 1
}

if path=$(find_chromium); then echo "$path"; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing Debian's chromium package for the browser tests"
	export DEBIAN_FRONTEND=noninteractive
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	apt-get install -y -q --no-install-recommends chromium >"$out" 2>&1 ||
		{ apt-get update -q >"$out" 2>&1 && apt-get install -y -q --no-install-recommends chromium >"$out" 2>&1; } ||
		{ cat "$out" >&2; log "apt-get could not install chromium"; exit 1; }
	if path=$(find_chromium); then echo "$path"; exit 0; fi
fi
log "the browser tests need Chromium: install Debian's 'chromium' package (apt-get install chromium), or set CARDVAULT_TEST_CHROMIUM to a Chromium or Chrome binary"
exit 1
