#!/usr/bin/env bash
# Build BranchSync in release mode and install the `branchsync` binary.
#   deploy/install.sh [PREFIX]      (default PREFIX: /usr/local)
# Then create a node:  branchsync --data /var/lib/branchsync init --site bj01 --role branch --hub HOST:PORT
set -euo pipefail
prefix="${1:-/usr/local}"
cd "$(dirname "$0")/.."
for package in libsqlite3-dev libssl-dev pkg-config; do
    dpkg -s "$package" >/dev/null 2>&1 || { echo "install.sh: missing Debian package $package (apt-get install $package)" >&2; exit 1; }
done
swift build -c release --product branchsync
install -d "$prefix/bin"
install -m 0755 "$(swift build -c release --show-bin-path)/branchsync" "$prefix/bin/branchsync"
echo "installed $prefix/bin/branchsync ($("$prefix/bin/branchsync" --version))"
