#!/bin/sh
# One-shot job before Airflow's components start (compose's airflow-init): migrate the
# metadata database, then create the admin user from a Docker secret. Both steps are
# idempotent, so the job runs on every `docker compose up`.
#   AIRFLOW_ADMIN_USERNAME, AIRFLOW_ADMIN_EMAIL   the admin account
#   AIRFLOW_ADMIN_PASSWORD_FILE                   a file holding its password
set -eu
: "${AIRFLOW_ADMIN_USERNAME:?set AIRFLOW_ADMIN_USERNAME}"
: "${AIRFLOW_ADMIN_EMAIL:?set AIRFLOW_ADMIN_EMAIL}"
: "${AIRFLOW_ADMIN_PASSWORD_FILE:?set AIRFLOW_ADMIN_PASSWORD_FILE}"

echo "airflow-init: migrating the metadata database"
airflow db migrate

if ! python -c 'import airflow.providers.fab' 2>/dev/null; then
    echo "airflow-init: apache-airflow-providers-fab is not installed, so there is no" \
         "user database to create the admin in (add it to brain_dags' dependencies)" >&2
    exit 1
fi
if [ ! -s "$AIRFLOW_ADMIN_PASSWORD_FILE" ]; then
    echo "airflow-init: $AIRFLOW_ADMIN_PASSWORD_FILE is missing or empty" >&2
    exit 1
fi
echo "airflow-init: creating the admin user $AIRFLOW_ADMIN_USERNAME (kept if it exists)"
# FAB's CLI takes the password as an argument; this short-lived job is the only process
# that sees it, and it is never printed.
airflow users create --role Admin --username "$AIRFLOW_ADMIN_USERNAME" \
    --email "$AIRFLOW_ADMIN_EMAIL" --firstname Admin --lastname BRAIN \
    --password "$(cat "$AIRFLOW_ADMIN_PASSWORD_FILE")"
echo "airflow-init: done"
