# Makes sure PostgreSQL's server programs are on this machine for the PostgreSQL tests.
# The tests start and stop their own throwaway server; this only installs the package when it is missing.
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing PostgreSQL from Debian's packages for the PostgreSQL tests ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 && exit 0
    echo "Could not install PostgreSQL." >&2
    exit 1
fi
echo "PostgreSQL is not installed: the PostgreSQL tests will be skipped (install the postgresql package)." >&2
