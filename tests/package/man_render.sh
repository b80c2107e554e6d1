#!/usr/bin/env bash
# man_render.sh PAGE... - each man page renders with `man -l` and neither
# man nor groff warns (a warning is a macro or escape the page got wrong).
set -uo pipefail
fail=0
for page in "$@"; do
	tmp=$(mktemp)
	sed 's/@VERSION@/test/' "$page" >"$tmp"
	warnings=$(MANWIDTH=80 man --warnings -l "$tmp" 2>&1 >/dev/null)
	lines=$(MANWIDTH=80 man -l "$tmp" 2>/dev/null | wc -l)
	rm -f "$tmp"
	if [[ -n $warnings || $lines -lt 20 ]]; then
		echo "FAIL $page: $lines lines rendered; warnings: ${warnings:-none}"
		fail=1
	else
		echo "PASS $page: $lines lines, no warnings"
	fi
done
exit $fail
