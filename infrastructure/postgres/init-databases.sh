#!/bin/bash
# Create the MLflow and Airflow databases, each owned by its own login role, with the
# passwords read from Docker secrets. The official postgres image runs this once, when
# it initialises an empty data volume (/docker-entrypoint-initdb.d). It is idempotent:
# run it again to add a missing database or to set the roles' passwords from the
# current secret files, e.g.
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-brain-databases.sh
# Variables: POSTGRES_USER, POSTGRES_DB (the superuser and its database, as the image
# sets them); MLFLOW_DB_PASSWORD_FILE, AIRFLOW_DB_PASSWORD_FILE (required); the role
# and database names MLFLOW_DB_USER, MLFLOW_DB_NAME, AIRFLOW_DB_USER, AIRFLOW_DB_NAME
# (default mlflow, mlflow, airflow, airflow).
set -euo pipefail

read_password() {
    local file=$1
    if [[ ! -s "$file" ]]; then
        echo "init-databases: the password file $file is missing or empty" >&2
        return 1
    fi
    local value
    value=$(<"$file")
    printf '%s' "$value"
}

# Passwords reach psql through its environment (\getenv), never its command line.
BRAIN_MLFLOW_PASSWORD=$(read_password "${MLFLOW_DB_PASSWORD_FILE:?set MLFLOW_DB_PASSWORD_FILE}")
BRAIN_AIRFLOW_PASSWORD=$(read_password "${AIRFLOW_DB_PASSWORD_FILE:?set AIRFLOW_DB_PASSWORD_FILE}")
export BRAIN_MLFLOW_PASSWORD BRAIN_AIRFLOW_PASSWORD

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set=mlflow_user="${MLFLOW_DB_USER:-mlflow}" --set=mlflow_db="${MLFLOW_DB_NAME:-mlflow}" \
    --set=airflow_user="${AIRFLOW_DB_USER:-airflow}" \
    --set=airflow_db="${AIRFLOW_DB_NAME:-airflow}" <<'SQL'
\getenv mlflow_password BRAIN_MLFLOW_PASSWORD
\getenv airflow_password BRAIN_AIRFLOW_PASSWORD

-- A role per application, created once; its password is (re)set from the secret.
SELECT format('CREATE ROLE %I LOGIN', :'mlflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'mlflow_user') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'airflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'airflow_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'mlflow_user', :'mlflow_password') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'airflow_user', :'airflow_password') \gexec

-- A database per application, owned by its role (PostgreSQL 15+ lets the owner create
-- tables in the public schema; nobody else can connect).
SELECT format('CREATE DATABASE %I OWNER %I', :'mlflow_db', :'mlflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'mlflow_db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'airflow_db', :'airflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'airflow_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'mlflow_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'airflow_db') \gexec
SQL
echo "init-databases: roles and databases for MLflow and Airflow are ready"
