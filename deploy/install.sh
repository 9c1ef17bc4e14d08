#!/usr/bin/env bash
# Build BranchSync's release binary (the Swift runtime inside: it runs without the toolchain) and install it as a
# service account's tool:
#   deploy/install.sh [PREFIX]      (default PREFIX: /usr/local; run as root)
# - the binary at PREFIX/bin/branchsync (`ldd` lists only libc, libm, libstdc++, libgcc_s, libsqlite3, libssl);
# - a `branchsync` system user and group (no login shell, home /var/lib/branchsync);
# - /var/lib/branchsync (the node's data, 0700) and /var/backups/branchsync (its backups, 0700), owned by it;
# - the systemd units of deploy/systemd in /etc/systemd/system when systemd is present (not enabled: see README).
# To build on one machine and install on another, copy the binary and run this with BRANCHSYNC_BINARY=path.
# Then create the node as that user:
#   runuser -u branchsync -- branchsync --data /var/lib/branchsync init --site bj01 --role branch --hub HOST:PORT
set -euo pipefail
prefix="${1:-/usr/local}"
cd "$(dirname "$0")/.."
if [ -z "${BRANCHSYNC_BINARY:-}" ]; then
    for package in libsqlite3-dev libssl-dev pkg-config; do
        dpkg -s "$package" >/dev/null 2>&1 || { echo "install.sh: missing Debian package $package (apt-get install $package)" >&2; exit 1; }
    done
    swift build -c release --product branchsync
    BRANCHSYNC_BINARY="$(swift build -c release --show-bin-path)/branchsync"
fi
install -d "$prefix/bin"
install -m 0755 "$BRANCHSYNC_BINARY" "$prefix/bin/branchsync"
if ! getent passwd branchsync >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/branchsync --no-create-home --shell /usr/sbin/nologin branchsync
fi
install -d -m 0700 -o branchsync -g branchsync /var/lib/branchsync /var/backups/branchsync
if [ -d /etc/systemd/system ]; then
    for unit in deploy/systemd/*.service deploy/systemd/*.timer; do
        [ -e "$unit" ] || continue
        sed "s|/usr/local/bin/branchsync|$prefix/bin/branchsync|g" "$unit" > "/etc/systemd/system/$(basename "$unit")"
    done
    systemctl daemon-reload 2>/dev/null || true
fi
echo "installed $prefix/bin/branchsync ($("$prefix/bin/branchsync" --version)); data in /var/lib/branchsync"
