#!/bin/sh
# Make every secret docker-compose.yml needs, as files in a secrets folder (default
# ./secrets, or $1). Existing files are kept, so running it again only adds what is
# missing; delete a file and re-run to rotate that secret (docs/self-hosting.md says
# what else a rotation needs). Needs openssl, and caddy or docker for the bcrypt hash of
# the MLflow UI password.
#
# The folder is private (0700) and the files inside are 0644: the containers' users
# (postgres, minio, uid 10001, ...) must read the bind-mounted files, while other users
# of the host cannot enter the folder.
set -eu

dir=${1:-secrets}
caddy_image=${CADDY_IMAGE:-caddy:2.10.2-alpine}
mkdir -p "$dir"
chmod 0700 "$dir"
# Never let git pick these files up, whatever the repository's own .gitignore says.
[ -f "$dir/.gitignore" ] || printf '*\n' > "$dir/.gitignore"

hex() { openssl rand -hex "$1"; }

# make NAME COMMAND...: write COMMAND's output to $dir/NAME unless that file has content.
make() {
    name=$1
    shift
    if [ -s "$dir/$name" ]; then
        echo "kept     $dir/$name"
        return
    fi
    # No trailing newline: some readers (MinIO, Airflow's *_CMD) take the file verbatim.
    printf '%s' "$("$@")" > "$dir/.$name.tmp"
    chmod 0644 "$dir/.$name.tmp"
    mv "$dir/.$name.tmp" "$dir/$name"
    echo "created  $dir/$name"
}

fernet_key() {
    # Airflow's Fernet key: 32 random bytes, URL-safe base64.
    openssl rand -base64 32 | tr '+/' '-_'
}

s3_credentials() {
    # The S3 (MinIO) user BRAIN's services share, as an AWS credentials file (boto3 and
    # DVC read it through AWS_SHARED_CREDENTIALS_FILE).
    printf '[default]\naws_access_key_id = brain-services\naws_secret_access_key = %s\n' \
        "$(hex 32)"
}

label_key() {
    # The AES-256 key that encrypts labels (birthdates) at rest: 32 random bytes, base64,
    # one key per line (brain_data.label_keys; `brain data keygen --add` rotates it).
    openssl rand -base64 32
}

bcrypt() {
    # Read a password on stdin, print Caddy's bcrypt hash of it.
    if command -v caddy >/dev/null 2>&1; then
        caddy hash-password
    else
        docker run --rm -i "$caddy_image" caddy hash-password
    fi
}

caddy_basic_auth() {
    # The MLflow UI's basic-auth user; the plain password goes to mlflow_ui_password
    # for the operator to read, Caddy only gets its hash.
    printf '%s\n' "$(hex 16)" > "$dir/mlflow_ui_password"
    chmod 0600 "$dir/mlflow_ui_password"
    printf '%s %s\n' "${MLFLOW_UI_USER:-brain}" "$(bcrypt < "$dir/mlflow_ui_password")"
}

make postgres_password hex 32
make mlflow_db_password hex 32
make airflow_db_password hex 32
make minio_root_password hex 32
make s3_credentials s3_credentials
make airflow_admin_password hex 16
make airflow_fernet_key fernet_key
make airflow_jwt_secret hex 32
make airflow_api_secret_key hex 32
make caddy_basic_auth caddy_basic_auth
make label_key label_key

echo
echo "Secrets are in $dir. Log-in passwords for people:"
echo "  Airflow (user AIRFLOW_ADMIN_USERNAME from .env): $dir/airflow_admin_password"
echo "  MLflow UI (user ${MLFLOW_UI_USER:-brain}):        $dir/mlflow_ui_password"
echo "  MinIO console (user MINIO_ROOT_USER from .env):  $dir/minio_root_password"
