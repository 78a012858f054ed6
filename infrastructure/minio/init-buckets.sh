#!/bin/sh
# One-shot job (compose's minio-init, image minio/mc): create BRAIN's buckets and the
# S3 user the services share, limited to those buckets. Idempotent: it runs on every
# `docker compose up`, and re-running it after changing the s3_credentials secret
# rotates the service key.
#   MINIO_URL                    e.g. http://minio:9000
#   MINIO_ROOT_USER              the MinIO admin's name
#   MINIO_ROOT_PASSWORD_FILE     a file holding the admin's password
#   S3_CREDENTIALS_FILE          the services' AWS-style credentials file
#                                ([default] aws_access_key_id / aws_secret_access_key)
#   BRAIN_POLICY_FILE            the IAM policy of the services (brain-services-policy.json)
# Only POSIX sh, cat and mc: the mc image has almost nothing else.
set -eu
: "${MINIO_URL:?set MINIO_URL}"
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER}"
: "${MINIO_ROOT_PASSWORD_FILE:?set MINIO_ROOT_PASSWORD_FILE}"
: "${S3_CREDENTIALS_FILE:?set S3_CREDENTIALS_FILE}"
: "${BRAIN_POLICY_FILE:?set BRAIN_POLICY_FILE}"
BUCKETS="mlflow dvc-raw dvc-features"

trim() {
    value=$1
    value=${value#"${value%%[! ]*}"}
    printf '%s' "${value%"${value##*[! ]}"}"
}

root_password=
IFS= read -r root_password < "$MINIO_ROOT_PASSWORD_FILE" || [ -n "$root_password" ]
access_key=
secret_key=
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
        *aws_access_key_id*=*) access_key=$(trim "${line#*=}") ;;
        *aws_secret_access_key*=*) secret_key=$(trim "${line#*=}") ;;
    esac
done < "$S3_CREDENTIALS_FILE"
if [ -z "$root_password" ] || [ -z "$access_key" ] || [ -z "$secret_key" ]; then
    echo "minio-init: an empty secret (minio_root_password or s3_credentials)" >&2
    exit 1
fi

# mc reads the alias from MC_HOST_<alias>: the password stays out of the command line.
# (Secrets made by infrastructure/make-secrets.sh are hex, hence URL-safe.)
scheme=${MINIO_URL%%://*}
MC_HOST_brain="${scheme}://${MINIO_ROOT_USER}:${root_password}@${MINIO_URL#*://}"
export MC_HOST_brain

mc ready brain
for bucket in $BUCKETS; do
    mc mb --ignore-existing "brain/$bucket"
done
mc admin policy create brain brain-services "$BRAIN_POLICY_FILE"
mc admin user add brain "$access_key" "$secret_key"
if ! mc admin policy attach brain brain-services --user "$access_key" >/tmp/attach.log 2>&1; then
    case $(cat /tmp/attach.log) in
        *"already in effect"*) ;;
        *) cat /tmp/attach.log >&2; exit 1 ;;
    esac
fi
echo "minio-init: buckets ($BUCKETS) and the services' user $access_key are ready"
