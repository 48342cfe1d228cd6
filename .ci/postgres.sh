#!/usr/bin/env bash
# Source this (`. .ci/postgres.sh`) before the tests: a throwaway PostgreSQL for them.
#
# Installs Debian's postgresql package if no server is installed, initialises a cluster
# in a new temp folder (as the postgres user when run as root; the server refuses root),
# starts it on a free loopback port, creates the test database, and exports
# FEEDBACK_TEST_POSTGRES_URL. FEEDBACK_REQUIRE_POSTGRES=1 makes the PostgreSQL tests fail
# instead of skipping if anything is missing. The server stops when the shell exits.

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    echo "== installing postgresql from Debian's packages"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

eval "$(.venv/bin/python -m tests.pgcluster start)"
export FEEDBACK_REQUIRE_POSTGRES=1
trap '.venv/bin/python -m tests.pgcluster stop "$FEEDBACK_TEST_POSTGRES_DIR"' EXIT
echo "PostgreSQL for the tests: $FEEDBACK_TEST_POSTGRES_URL"
