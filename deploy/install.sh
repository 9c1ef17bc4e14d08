#!/usr/bin/env bash
# Build BranchSync's release binary (the Swift runtime inside: it runs without the toolchain) and install it as a
# service account's tool:
#   deploy/install.sh [PREFIX]      (default PREFIX: /usr/local; run as root)
# - the binary at PREFIX/bin/branchsync (`ldd` lists only libc, libm, libstdc++, libgcc_s, libsqlite3, libssl);
# - a `branchsync` system user and group (no login shell, home /var/lib/branchsync);
# - /var/lib/branchsync (the node's data, 0700) and /var/backups/branchsync (its backups, 0700), owned by it;
# - /etc/branchsync/branchsync.conf from deploy/branchsync-branch.conf (BRANCHSYNC_ROLE=hub: deploy/branchsync-hub.conf)
#   when there is none yet (an existing one is never overwritten), and deploy/logrotate/branchsync in /etc/logrotate.d;
# - the systemd units of deploy/systemd in /etc/systemd/system when systemd is present (not enabled: see README):
#   branchsync-hub.service or branchsync-branch.service run the node with that config file, and the backup timers.
# To build on one machine and install on another, copy the binary and run this with BRANCHSYNC_BINARY=path.
# Then create the node as that user:
#   runuser -u branchsync -- branchsync --data /var/lib/branchsync init --site bj01 --role branch --hub HOST:PORT
set -euo pipefail
prefix="${1:-/usr/local}"
role="${BRANCHSYNC_ROLE:-branch}"
case "$role" in hub | branch) ;; *) echo "install.sh: BRANCHSYNC_ROLE must be hub or branch, got '$role'" >&2; exit 2 ;; esac
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
install -d -m 0755 /etc/branchsync
if [ ! -e /etc/branchsync/branchsync.conf ]; then
    install -m 0640 -o root -g branchsync "deploy/branchsync-$role.conf" /etc/branchsync/branchsync.conf
    echo "installed /etc/branchsync/branchsync.conf (the $role example: edit it, then start branchsync-$role.service)"
fi
if [ -d /etc/logrotate.d ]; then
    install -m 0644 deploy/logrotate/branchsync /etc/logrotate.d/branchsync
fi
if [ -d /etc/systemd/system ]; then
    for unit in deploy/systemd/*.service deploy/systemd/*.timer; do
        [ -e "$unit" ] || continue
        sed "s|/usr/local/bin/branchsync|$prefix/bin/branchsync|g" "$unit" > "/etc/systemd/system/$(basename "$unit")"
    done
    systemctl daemon-reload 2>/dev/null || true
fi
echo "installed $prefix/bin/branchsync ($("$prefix/bin/branchsync" --version)); data in /var/lib/branchsync"
