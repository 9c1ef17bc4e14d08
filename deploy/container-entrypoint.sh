#!/bin/sh
# The container's entry point (deploy/Containerfile): creates the node on its first start from environment
# variables, then runs 'branchsync "$@"' (by default 'branchsync run') in its place, so signals reach it.
#
#   BRANCHSYNC_ROLE        hub or branch (required on the first start)
#   BRANCHSYNC_SITE        this node's site id, e.g. hq or bj01 (required on the first start)
#   BRANCHSYNC_BRANCHES    hub: the branches to enrol, e.g. "bj01 sh01"; each one's secret is written to
#                          $BRANCHSYNC_ENROLMENT/SITE.secret (mode 0600). Checked at every start: a branch not
#                          enrolled yet (a 'site add' that failed, a container killed halfway) is enrolled then, and
#                          one already enrolled is left alone (its secret is not changed)
#   BRANCHSYNC_HUB         branch: the hub's HOST:PORT
#   BRANCHSYNC_ENROLMENT   where secrets are written (hub) or read (branch); default /var/lib/branchsync-enrolment
#
# A branch waits up to a minute for its secret file, so a hub and its branches can start together (deploy/compose.yaml
# shares the folder between them in a volume). In production, carry the secret file from the hub to the branch out
# of band instead, mount it read-only, and delete it once the branch has been initialised.
set -eu
data="${BRANCHSYNC_DATA:-/var/lib/branchsync}"
enrolment="${BRANCHSYNC_ENROLMENT:-/var/lib/branchsync-enrolment}"
export BRANCHSYNC_DATA="$data"

# Whether the hub has enrolled site $1 ('site list --json' prints one object per site, e.g. {"site":"bj01",...}).
enrolled() {
    branchsync site list --json | grep -F -q "\"site\":\"$1\""
}

if [ ! -e "$data/branchsync.sqlite" ]; then
    : "${BRANCHSYNC_ROLE:?set BRANCHSYNC_ROLE to hub or branch for the first start}"
    : "${BRANCHSYNC_SITE:?set BRANCHSYNC_SITE to this node's site id for the first start}"
    case "$BRANCHSYNC_ROLE" in
    hub)
        branchsync init --site "$BRANCHSYNC_SITE" --role hub
        ;;
    branch)
        : "${BRANCHSYNC_HUB:?set BRANCHSYNC_HUB to the hub's HOST:PORT for a branch's first start}"
        secret="$enrolment/$BRANCHSYNC_SITE.secret"
        waited=0
        while [ ! -s "$secret" ]; do
            if [ "$waited" -ge 60 ]; then
                echo "branchsync-entrypoint: no secret at $secret after 60 s; enrol $BRANCHSYNC_SITE at the hub" \
                    "('branchsync site add $BRANCHSYNC_SITE --secret-file FILE') and put FILE there" >&2
                exit 1
            fi
            sleep 1
            waited=$((waited + 1))
        done
        branchsync init --site "$BRANCHSYNC_SITE" --role branch --hub "$BRANCHSYNC_HUB" --secret-file "$secret"
        ;;
    *)
        echo "branchsync-entrypoint: BRANCHSYNC_ROLE must be hub or branch, got '$BRANCHSYNC_ROLE'" >&2
        exit 2
        ;;
    esac
fi

# At every start, not only the first: enrolment is per branch, so a restart finishes what a failed or killed one
# left undone. 'site add' writes the secret to FILE.new, enrols, then moves it to FILE: a branch not enrolled has no
# secret in use (a leftover FILE.new is replaced); an enrolled branch whose FILE is missing was interrupted after the
# enrolment, and its secret is in FILE.new (or, if that is gone too, it is given a new one).
if [ "${BRANCHSYNC_ROLE:-}" = hub ]; then
    for branch in ${BRANCHSYNC_BRANCHES:-}; do
        file="$enrolment/$branch.secret"
        if ! enrolled "$branch"; then
            branchsync site add "$branch" --secret-file "$file"
        elif [ ! -e "$file" ]; then
            if [ -e "$file.new" ]; then
                mv "$file.new" "$file"
            else
                branchsync site rotate-secret "$branch" --secret-file "$file"
            fi
        fi
    done
fi
exec branchsync "$@"
