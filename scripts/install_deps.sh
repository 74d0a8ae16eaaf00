#!/usr/bin/env bash
# Installs Nereid's build, test and benchmark dependencies from Debian 12 (apt).
# Skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libboost-dev rapidjson-dev libsimdjson-dev libcli11-dev zlib1g-dev libssl-dev
  libonnx-dev libonnx-testdata libdnnl-dev ocl-icd-opencl-dev
  libtorch-dev python3-torch python3-torchvision
  libgtest-dev libgmock-dev
  python3-numpy python3-requests python3-onnx python3-sklearn python3-grpcio
  curl wrk nginx-light
  libbenchmark-dev
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
