#!/bin/sh
# Print the Docker secret NAME (from $BRAIN_SECRETS_DIR, default /run/secrets) without a
# trailing newline. Airflow runs it through AIRFLOW__<SECTION>__<KEY>_CMD, so secrets
# such as the Fernet key never sit in an environment variable.
set -eu
name=${1:?usage: secret.sh NAME}
file="${BRAIN_SECRETS_DIR:-/run/secrets}/$name"
if [ ! -r "$file" ]; then
    echo "secret.sh: the secret $file cannot be read" >&2
    exit 1
fi
printf '%s' "$(cat "$file")"
