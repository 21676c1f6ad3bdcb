#!/usr/bin/env bash
# Prints a deploy/.env with fresh random secrets for deploy/compose.yaml:
#   (umask 077 && deploy/compose-env.sh > deploy/.env)
set -euo pipefail
secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
cat <<ENV
MYSQL_PASSWORD=$(secret)
MYSQL_ROOT_PASSWORD=$(secret)
KEYCLOAK_ADMIN_PASSWORD=$(secret)
SECURELINK_INVITATIONS_CLIENT_SECRET=$(secret)
INVITATIONS_TOKEN_SEALING_KEY=$(head -c 32 /dev/urandom | base64)
ENV
