#!/usr/bin/env bash
# make image: dtf:latest with no registry.
#   1. `docker compose` (v2) is arranged when missing (docker/install-compose.sh);
#   2. the base: a debootstrapped Debian root imported as dtf-base:<codename>, kept between runs
#      (docker/build-base.sh), unless DTF_BASE_IMAGE names another (e.g. python:3.11-slim);
#   3. the dependencies as wheels built on the host for the base's Python, into docker/wheels/,
#      kept while pyproject.toml and the extra packages stay the same;
#   4. docker build, with the wheels installed --no-index: nothing is fetched inside the build.
# Settings: DTF_IMAGE (dtf:latest), DTF_BASE_IMAGE, DTF_EXTRA_PIP ("pytest>=8"), DTF_WHEEL_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${DTF_IMAGE:-dtf:latest}"
extra="${DTF_EXTRA_PIP:-pytest>=8}"
wheels=docker/wheels
t0=$(date +%s)

bash docker/install-compose.sh >/dev/null || echo "build-image: carrying on without 'docker compose'" >&2

base="${DTF_BASE_IMAGE:-}"
[ -n "$base" ] || base="$(bash docker/build-base.sh | tail -n 1)"

# Wheels must match the image's Python (cpXY ABI): find a host interpreter of the same version.
image_py="$(docker run --rm --network none --entrypoint python3 "$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
wheel_py=""
for candidate in "${DTF_WHEEL_PYTHON:-}" python3 "python$image_py"; do
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
  if [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$image_py" ]; then
    wheel_py="$candidate"; break
  fi
done
[ -n "$wheel_py" ] || { echo "build-image: the image has Python $image_py and no python$image_py is on this machine to build its wheels (set DTF_WHEEL_PYTHON)" >&2; exit 1; }

key="$( { cat pyproject.toml; echo "$extra"; echo "$image_py"; "$wheel_py" -c 'import sysconfig; print(sysconfig.get_platform())'; } | sha256sum | cut -c1-16)"
if [ "$(cat "$wheels/.key" 2>/dev/null || true)" != "$key" ] || ! ls "$wheels"/*.whl >/dev/null 2>&1; then
  echo "build-image: building wheels with $wheel_py (Python $image_py)" >&2
  env_dir=build/wheel-env
  [ -x "$env_dir/bin/pip" ] || "$wheel_py" -m venv "$env_dir"
  "$env_dir/bin/python" -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['coordinator']))" > build/requirements.txt
  find "$wheels" -name '*.whl' -delete
  rm -f "$wheels/.key"
  # shellcheck disable=SC2086  # extra is a list of requirements
  "$env_dir/bin/pip" wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" \
      -r build/requirements.txt $extra "setuptools>=68" wheel
  echo "$key" > "$wheels/.key"
else
  echo "build-image: wheels are up to date" >&2
fi

build_env=()
docker buildx version >/dev/null 2>&1 || build_env=(env DOCKER_BUILDKIT=0)  # the classic builder, without its notice
mkdir -p build
previous="$(docker image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)"
if ! "${build_env[@]}" docker build --build-arg BASE_IMAGE="$base" --build-arg EXTRA_PIP="$extra" \
    -f Dockerfile.coordinator -t "$tag" . > build/image.log 2>&1; then
  tail -n 40 build/image.log >&2
  echo "build-image: docker build failed (whole log: build/image.log)" >&2
  exit 1
fi
# The image this build replaced would stay behind untagged: remove it (unless a container uses it).
current="$(docker image inspect --format '{{ .Id }}' "$tag")"
[ -z "$previous" ] || [ "$previous" = "$current" ] || docker rmi "$previous" >/dev/null 2>&1 || true
size="$(docker image inspect --format '{{ .Size }}' "$tag")"
echo "build-image: $tag from $base in $(( $(date +%s) - t0 ))s, $(( size / 1000000 )) MB" >&2
