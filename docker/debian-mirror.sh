#!/usr/bin/env bash
# Prints the Debian archive this machine's apt is configured with for SUITE (default: this
# release's codename): the first deb source listing that suite, deb822 files first. Nothing else
# is assumed about the network: the image and the compose plugin come from the host's own mirror.
set -euo pipefail
suite="${1:-}"
if [ -z "$suite" ]; then . /etc/os-release; suite="${VERSION_CODENAME:-}"; fi
shopt -s nullglob
sources=(/etc/apt/sources.list.d/*.sources)
lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
mirror=""
if [ ${#sources[@]} -gt 0 ]; then
  mirror="$(awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)  { split($i, u, /[ \t]+/); uri = u[2] }
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (deb && ok && uri != "") { print uri; exit } }' "${sources[@]}")"
fi
if [ -z "$mirror" ]; then
  for f in "${lists[@]}"; do
    [ -f "$f" ] || continue
    mirror="$(awk -v suite="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                                      if ($(i+1) == suite) { print $i; exit } }' "$f")"
    [ -z "$mirror" ] || break
  done
fi
# For another release than the host's (the compose plugin), the host's main archive serves it too.
if [ -z "$mirror" ]; then
  . /etc/os-release
  [ "$suite" = "${VERSION_CODENAME:-}" ] || mirror="$(bash "$0" "${VERSION_CODENAME:-}" 2>/dev/null || true)"
fi
[ -n "$mirror" ] || { echo "no apt source for '$suite' in this machine's apt configuration" >&2; exit 1; }
echo "$mirror"
