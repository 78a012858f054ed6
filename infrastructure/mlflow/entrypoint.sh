#!/bin/sh
# Entry point of BRAIN's MLflow image. Secrets come from files (Docker secrets) and reach
# MLflow through its environment variables, never through the command line, the image
# or the logs:
#   MLFLOW_DB_PASSWORD_FILE     the mlflow database role's password
#   AWS_SHARED_CREDENTIALS_FILE S3 (MinIO) keys, read by boto3 itself
# Commands:
#   server [ARGS...]  the tracking server (default); extra ARGS go to `mlflow server`
#   db-upgrade        migrate the database schema after an MLflow upgrade
#   anything else     run as given (e.g. `mlflow --version`)
set -eu

: "${MLFLOW_DB_HOST:?set MLFLOW_DB_HOST (the PostgreSQL host)}"
: "${MLFLOW_DB_PASSWORD_FILE:?set MLFLOW_DB_PASSWORD_FILE (a file holding the password)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (e.g. s3://mlflow/)}"

if [ ! -r "$MLFLOW_DB_PASSWORD_FILE" ]; then
    echo "mlflow-entrypoint: MLFLOW_DB_PASSWORD_FILE=$MLFLOW_DB_PASSWORD_FILE cannot be read" >&2
    exit 1
fi
# URL-encode the password from stdin so that it is neither mangled in the URL nor shown
# in a process list.
db_password=$(python -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))' < "$MLFLOW_DB_PASSWORD_FILE")
if [ -z "$db_password" ]; then
    echo "mlflow-entrypoint: $MLFLOW_DB_PASSWORD_FILE is empty" >&2
    exit 1
fi
MLFLOW_BACKEND_STORE_URI="postgresql+psycopg://${MLFLOW_DB_USER:-mlflow}:${db_password}@${MLFLOW_DB_HOST}:${MLFLOW_DB_PORT:-5432}/${MLFLOW_DB_NAME:-mlflow}"
export MLFLOW_BACKEND_STORE_URI MLFLOW_ARTIFACTS_DESTINATION
unset db_password

command=${1:-server}
[ $# -gt 0 ] && shift
case "$command" in
    server)
        exec mlflow server --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" \
            --workers "${MLFLOW_WORKERS:-2}" "$@"
        ;;
    db-upgrade)
        # `mlflow db upgrade` takes the URI as an argument: pass it inside Python instead.
        exec python -c 'import os, sys
from mlflow.cli import cli
sys.argv = ["mlflow", "db", "upgrade", os.environ["MLFLOW_BACKEND_STORE_URI"]]
cli()'
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
