#!/usr/bin/env bash
# `docker compose` (Compose v2, a docker CLI plugin) on a Debian machine, as root.
# Debian 12 packages only Compose v1 (/usr/bin/docker-compose, a Python program that the docker
# CLI does not know as `docker compose`); Debian 13 packages v2 as the plugin. So:
#   1. `docker compose` works already: nothing to do;
#   2. this release's docker-compose package is v2: apt-get install it;
#   3. otherwise take the plugin from the next Debian release's docker-compose package, fetched by
#      apt (signature checked against the host's Debian archive keyring) through a private apt
#      configuration -- the host's sources and installed packages are left as they are -- and put
#      it where the docker CLI looks for plugins: /usr/local/lib/docker/cli-plugins/docker-compose.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
next_suite="${DTF_COMPOSE_SUITE:-trixie}"
plugin_dir=/usr/local/lib/docker/cli-plugins

if docker compose version >/dev/null 2>&1; then
  docker compose version
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-compose: 'docker compose' is missing; install Compose v2 (Debian 13: apt-get install docker-compose)," >&2
  echo "  or run 'make image' as root on Debian to have it arranged" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
candidate="$(apt-cache policy docker-compose 2>/dev/null | awk '/Candidate:/ { print $2 }')"
case "$candidate" in
  2.*|[3-9].*|[1-9][0-9].*)
    echo "install-compose: apt-get install docker-compose ($candidate)" >&2
    apt-get install -y -qq --no-install-recommends docker-compose >/dev/null ;;
  *)
    echo "install-compose: this release has docker-compose ${candidate:-none} (v1); taking the v2 plugin from Debian $next_suite" >&2
    mirror="$(bash "$here/debian-mirror.sh" "$next_suite")"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -r "$keyring" ] || { echo "install-compose: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }
    work="$(mktemp -d "${TMPDIR:-/tmp}/dtf-compose.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$work/get"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$mirror" "$next_suite" "$keyring" > "$work/sources/next.sources"
    apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work/get" && apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
    deb="$(ls "$work"/get/docker-compose_*.deb)"
    dpkg-deb -x "$deb" "$work/x"
    install -d "$plugin_dir"
    install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$plugin_dir/docker-compose"
    echo "install-compose: installed $(basename "$deb") as $plugin_dir/docker-compose" >&2 ;;
esac
docker compose version
