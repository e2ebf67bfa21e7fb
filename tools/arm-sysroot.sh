#!/usr/bin/env bash
# Builds the Arm sysroots the cross builds link against: Debian's arm64 (and armhf) packages of
# crumb's dependencies, fetched with `apt-get download` and unpacked with `dpkg -x`. The -dev
# packages of two architectures cannot be installed side by side, so they never go into the
# system; glibc, libstdc++ and libgcc come from the cross toolchain (/usr/<triple>), not from here.
# Also installs the host packages the cross builds need (cross compilers, qemu-user) when missing.
# Idempotent: a sysroot is rebuilt only when the set of .deb files it came from changes.
#
# usage: tools/arm-sysroot.sh [DIR] [ARCH...]     DIR default: build-sysroot; ARCH: arm64 armhf
#   -> DIR/arm64, DIR/armhf (usr/include, usr/lib/<triple>), each with a packages.txt listing
#      what it holds; DIR/debs/ keeps the downloaded .deb files.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-sysroot}
shift || true
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(arm64 armhf)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
# Other apt users (a parallel install) hold the lock for a while: wait instead of failing.
apt_get() { $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# One stale or half-synced index of the archive (it happens to a mirror mid-sync) must not stop
# us: what we need is checked package by package below.
apt_update() { apt_get update -qq || echo "arm-sysroot: apt-get update reported errors; going on with the indexes it has"; }

# ------------------------------------------------------------------ host packages
host_pkgs=(qemu-user)
for a in "${archs[@]}"; do
  case $a in
    arm64) host_pkgs+=(crossbuild-essential-arm64) ;;
    armhf) host_pkgs+=(crossbuild-essential-armhf) ;;
    *) echo "arm-sysroot: unknown architecture '$a'; use arm64 or armhf." >&2; exit 2 ;;
  esac
done
missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
updated=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "arm-sysroot: installing host packages: ${missing[*]}"
  apt_update
  updated=1
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------ target packages
# Required: the build fails without them. Optional: XNNPACK (CRUMB_USE_XNNPACK), Google Benchmark
# (CRUMB_BUILD_BENCHMARKS) and gmock; a sysroot without them is still usable with those off.
# libflatbuffers-dev's dependency flatbuffers-compiler-dev is left out on purpose: it only
# declares the target's flatc, and the build runs the host's flatc (its output does not depend on
# the architecture).
required=(libcpuinfo-dev libcpuinfo0 libpthreadpool-dev libpthreadpool0
          libflatbuffers-dev libflatbuffers2 libgtest-dev)
optional=(libxnnpack-dev libxnnpack0 libbenchmark-dev libbenchmark1debian libgmock-dev)

for a in "${archs[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$a" && [ "$a" != "$(dpkg --print-architecture)" ]; then
    echo "arm-sysroot: adding the $a architecture to apt"
    $sudo dpkg --add-architecture "$a"
    updated=0
  fi
done

# Prints "PKG:ARCH=FILE" for each package apt knows (its candidate's .deb file name), in one
# apt-cache call: apt-cache takes seconds per call with several architectures' lists.
deb_names() {
  local a=$1
  shift
  apt-cache show --no-all-versions "${@/%/:$a}" 2>/dev/null |
    awk -v a="$a" '/^Package: /{p=$2} /^Filename: /{n=split($2, f, "/"); print p ":" a "=" f[n]}' || true
}

mkdir -p "$dir/debs"
for a in "${archs[@]}"; do
  # Resolve every package to its .deb; refresh the indexes once if one is unknown (new
  # architecture, or lists older than the archive).
  debs=() skipped=()
  for pass in 1 2; do
    mapfile -t debs < <(deb_names "$a" "${required[@]}" "${optional[@]}")
    skipped=() unknown=0
    for p in "${required[@]}" "${optional[@]}"; do
      printf '%s\n' "${debs[@]}" | grep -q "^$p:$a=" || { skipped+=("$p"); unknown=1; }
    done
    [ $unknown -eq 1 ] && [ $updated -eq 0 ] && [ $pass -eq 1 ] || break
    echo "arm-sysroot: refreshing apt's package lists for $a"
    apt_update
    updated=1
  done
  for p in "${skipped[@]}"; do
    for r in "${required[@]}"; do
      if [ "$p" = "$r" ]; then
        echo "arm-sysroot: apt has no $p:$a, which the $a build needs." >&2
        exit 1
      fi
    done
  done

  # Download what is not here yet (apt-get download writes into the current directory).
  need=()
  for d in "${debs[@]}"; do
    [ -s "$dir/debs/${d#*=}" ] || need+=("${d%%=*}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "arm-sysroot: downloading ${need[*]}"
    # apt's sandbox user must be able to write there; the folder is ours, so let it.
    chmod 777 "$dir/debs"
    if ! (cd "$dir/debs" && apt_get download -qq "${need[@]}"); then
      [ $updated -eq 1 ] && exit 1
      apt_update
      updated=1
      (cd "$dir/debs" && apt_get download -qq "${need[@]}")
    fi
  fi

  # Unpack into a fresh tree when the set of .deb files changed, then swap it in whole, so that
  # an interrupted run or a newer package never leaves a mixed sysroot behind.
  root=$dir/$a
  list=$(printf '%s\n' "${debs[@]#*=}" | sort)
  if [ -f "$root/packages.txt" ] && [ "$(sed -n 's/^deb: //p' "$root/packages.txt")" = "$list" ]; then
    echo "arm-sysroot: $root is up to date"
    continue
  fi
  rm -rf "$root.new"
  mkdir -p "$root.new"
  for f in $list; do
    dpkg -x "$dir/debs/$f" "$root.new"
  done
  {
    echo "# Debian $a packages unpacked here by tools/arm-sysroot.sh"
    printf 'deb: %s\n' $list
    for p in "${skipped[@]}"; do echo "not available: $p:$a"; done
  } > "$root.new/packages.txt"
  rm -rf "$root"
  mv "$root.new" "$root"
  echo "arm-sysroot: $root ready (${#debs[@]} packages${skipped:+; not available: ${skipped[*]}})"
done
