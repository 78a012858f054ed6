#!/bin/sh
# Print Airflow's metadata database URI with the password read from
# $AIRFLOW_DB_PASSWORD_FILE (a Docker secret) and URL-encoded. Used as
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD, so the password is never in the environment.
set -eu
: "${AIRFLOW_DB_HOST:?set AIRFLOW_DB_HOST (the PostgreSQL host)}"
: "${AIRFLOW_DB_PASSWORD_FILE:?set AIRFLOW_DB_PASSWORD_FILE (a file holding the password)}"
password=$(python -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))' < "$AIRFLOW_DB_PASSWORD_FILE")
if [ -z "$password" ]; then
    echo "db-uri.sh: $AIRFLOW_DB_PASSWORD_FILE is empty" >&2
    exit 1
fi
printf 'postgresql+psycopg2://%s:%s@%s:%s/%s' "${AIRFLOW_DB_USER:-airflow}" "$password" \
    "$AIRFLOW_DB_HOST" "${AIRFLOW_DB_PORT:-5432}" "${AIRFLOW_DB_NAME:-airflow}"
