#!/usr/bin/env bash
# The image's base without a registry: a minimal Debian root made by debootstrap from this
# machine's own apt sources, imported into the engine as a local image (default dtf-base:<codename>).
# Kept between runs: it is rebuilt only when this recipe, the suite or the mirror changes.
#   docker/build-base.sh [IMAGE]        prints the image name on its last line
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# Debian suite and mirror: the host's own (its configured apt sources), unless given.
. /etc/os-release
suite="${DTF_BASE_SUITE:-${VERSION_CODENAME:-}}"
[ -n "$suite" ] || { echo "build-base: cannot tell the Debian suite; set DTF_BASE_SUITE" >&2; exit 1; }
mirror="${DTF_BASE_MIRROR:-$(bash "$here/debian-mirror.sh" "$suite")}"
[ -n "$mirror" ] || { echo "build-base: no apt source for '$suite' on this machine; set DTF_BASE_MIRROR" >&2; exit 1; }

packages="python3,python3-venv,tini"
image="${1:-dtf-base:$suite}"
recipe="$( { cat "$0"; echo "$suite $mirror $packages"; } | sha256sum | cut -c1-16)"

if [ "$(docker image inspect --format '{{ index .Config.Labels "dtf.base.recipe" }}' "$image" 2>/dev/null || true)" = "$recipe" ]; then
  echo "build-base: $image is up to date (recipe $recipe)" >&2
  echo "$image"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-base: installing debootstrap" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  else
    echo "build-base: debootstrap is missing (apt-get install debootstrap, as root)" >&2
    exit 1
  fi
fi
[ "$(id -u)" -eq 0 ] || { echo "build-base: debootstrap needs root" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/dtf-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
start=$(date +%s)
echo "build-base: debootstrap $suite from the host's apt source, with $packages" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# Slim it: no package caches or lists, no docs, man pages or foreign locales; no network setup.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL dtf.base.recipe=$recipe dtf.base.suite=$suite" \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "build-base: $image built in $(( $(date +%s) - start ))s" >&2
echo "$image"
