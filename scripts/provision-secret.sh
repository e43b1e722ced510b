#!/usr/bin/env bash
# Creates a client secret on the Graph app registration and stores it in Key Vault, without ever printing
# it: the password goes from `az ad app credential reset` to a private temporary file (umask 077), then to
# `az keyvault secret set --file`, and the file is shredded. Idempotent: a stored secret that is enabled and
# valid for more than --renew-within-days is kept (use --rotate to force a new one).
# A certificate (scripts/provision-certificate.sh) is the recommended credential; use this when you must.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/provision-secret.sh --vault <name> --app-id <appId> [options]

Adds a client secret to the Entra ID app registration (az ad app credential reset --append) and stores
it in Azure Key Vault (az keyvault secret set --file), never echoing it.

Required (or from the environment, e.g. `eval "$(azd env get-values)"`):
  --vault <name>             Key Vault name                      [AZURE_KEY_VAULT_NAME]
  --app-id <appId>           application (client) ID of the app  [GRAPH_CLIENT_ID]

Options:
  --name <name>              secret name in the vault            [GRAPH_CREDENTIAL_NAME, default graph-export-secret]
  --display-name <text>      description of the app credential (default entra-users-export <date>)
  --years <n>                validity of the new client secret, 1-2 years (default 1)
  --renew-within-days <n>    replace a stored secret expiring within n days (default 30)
  --rotate                   create and store a new secret even if the stored one is still valid
  --wait-for-access <sec>    retry while Key Vault answers 403 (role assignments propagating), default 300
  -h, --help                 this help

Needs: az (logged in), the Key Vault Secrets Officer role on the vault (deployerPrincipalId of the Bicep
grants it), and owner or Application Administrator rights on the app registration. Old client secrets
stay valid until they expire; remove them with az ad app credential delete --id <appId> --key-id <keyId>.
EOF
}

PROG=provision-secret
# shellcheck source=lib/keyvault-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/keyvault-credential.sh"

NAME="${GRAPH_CREDENTIAL_NAME:-graph-export-secret}"
DISPLAY_NAME="entra-users-export $(date -u +%Y-%m-%d)"
YEARS=1
ROTATE=0

while [ $# -gt 0 ]; do
  if common_option "$@"; then shift 2; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --display-name) DISPLAY_NAME="${2:?--display-name needs a value}"; shift 2 ;;
    --years) YEARS="${2:?--years needs a value}"; shift 2 ;;
    --rotate) ROTATE=1; shift ;;
    *) usage >&2; die 2 "unknown argument: $1" ;;
  esac
done

[ -n "$VAULT" ] || die 2 "--vault (or AZURE_KEY_VAULT_NAME) is required"
[ -n "$APP_ID" ] || die 2 "--app-id (or GRAPH_CLIENT_ID) is required"
[[ "$NAME" =~ ^[0-9A-Za-z-]{1,127}$ ]] || die 2 "--name must be 1-127 letters, digits and hyphens (a Key Vault object name)"
[[ "$YEARS" =~ ^[12]$ ]] || die 2 "--years must be 1 or 2 (Entra ID recommends short-lived secrets)"
[[ "$RENEW_DAYS" =~ ^[0-9]+$ ]] || die 2 "--renew-within-days must be a number of days"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || die 2 "--wait-for-access must be a number of seconds"

require_az

umask 077
work="$(mktemp -d)"
cleanup() {
  # The files may hold the password: overwrite, then remove.
  find "$work" -type f -exec sh -c 'shred -u "$1" 2>/dev/null || rm -f "$1"' _ {} \; 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

in_years() {
  date -u -d "+$1 years" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+"$1"y +%Y-%m-%dT%H:%M:%SZ
}

wait_for_access secret "Key Vault Secrets Officer"

if [ "$ROTATE" = 0 ]; then
  # Only the attributes are read (the value is never written out).
  found=0
  existing_credential secret || found=$?
  case "$found" in
    0)
      echo "Secret $NAME in $VAULT is valid for $CREDENTIAL_DAYS_LEFT more days: keeping it (--rotate to replace it)."
      echo "  App setting:  GRAPH_CLIENT_SECRET_NAME=$NAME   (Bicep: credentialType=secret, credentialName=$NAME)"
      exit 0
      ;;
    2) echo "Secret $NAME in $VAULT is disabled, has no expiry or expires soon: replacing it." ;;
  esac
fi

expires=$(in_years "$YEARS")
echo "Adding a client secret ('$DISPLAY_NAME', $YEARS year(s)) to app $APP_ID (existing credentials are kept) ..."
# stdout (the password only) goes to the private file; az's warnings go to stderr.
az ad app credential reset --id "$APP_ID" --append --display-name "$DISPLAY_NAME" --years "$YEARS" --query password -o tsv >"$work/raw"
tr -d '\r\n' <"$work/raw" >"$work/value"
[ -s "$work/value" ] || die 4 "az ad app credential reset returned no password"

echo "Storing it as secret $NAME in $VAULT (expires $expires) ..."
az keyvault secret set --vault-name "$VAULT" -n "$NAME" --file "$work/value" --encoding utf-8 \
  --content-type "text/plain" --expires "$expires" --tags "graph-app-id=$APP_ID" -o none

cat <<EOF
Done.
  Key Vault:    $VAULT
  Secret:       $NAME (expires $expires; the value was not displayed)
  App setting:  GRAPH_CLIENT_SECRET_NAME=$NAME   (Bicep: credentialType=secret, credentialName=$NAME)
Rotate before it expires: run this script again (a new secret is created within --renew-within-days $RENEW_DAYS).
EOF
