#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Compile and run the C block that follows "<!-- snippet: NAME -->" in a Markdown page, so
# that the page's program cannot drift from the headers.
# Usage: docs_snippet.sh <cc> <page.md> <snippet name> <include dir> <work dir>
set -eu
cc=$1 page=$2 name=$3 inc=$4 work=$5
src=$work/snippet-$name.c
awk -v m="<!-- snippet: $name -->" '
	$0 == m { armed = 1; next }
	armed && /^```c$/ { on = 1; next }
	on && /^```$/ { exit }
	on { print }' "$page" >"$src"
[ -s "$src" ] || { echo "docs_snippet: no snippet '$name' in $page"; exit 1; }
"$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" -o "$work/snippet-$name" "$src" -pthread
"$work/snippet-$name"
