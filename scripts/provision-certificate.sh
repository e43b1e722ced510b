#!/usr/bin/env bash
# Creates the Graph app's certificate in Key Vault (exportable RSA 2048, self-signed) and registers its
# public part on the app registration, so the function can sign in to Microsoft Graph with it.
# Idempotent: an existing, enabled certificate valid for more than --renew-within-days is reused, and a
# public key already registered on the app is not added again. The private key never leaves Key Vault
# except to the function (through the secret of the same name).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/provision-certificate.sh --vault <name> --app-id <appId> [options]

Creates (or reuses) an exportable certificate in Azure Key Vault and registers its public key on the
Entra ID app registration (az ad app credential reset --append --cert).

Required (or from the environment, e.g. `eval "$(azd env get-values)"`):
  --vault <name>             Key Vault name                      [AZURE_KEY_VAULT_NAME]
  --app-id <appId>           application (client) ID of the app  [GRAPH_CLIENT_ID]

Options:
  --name <name>              certificate name in the vault       [GRAPH_CREDENTIAL_NAME, default graph-export-cert]
  --subject <dn>             subject, e.g. CN=entra-users-export (default CN=entra-users-export)
  --validity-months <n>      validity of a new certificate, 1-120 (default 12)
  --format pem|pkcs12        content type of the key+chain secret: application/x-pem-file (default)
                             or application/x-pkcs12
  --renew-within-days <n>    create a new version when the current one expires within n days (default 30)
  --no-register              only create the certificate; do not touch the app registration
  --wait-for-access <sec>    retry while Key Vault answers 403 (role assignments propagating), default 300
  -h, --help                 this help

Needs: az (logged in: az login), the Key Vault Certificates Officer role on the vault (deployerPrincipalId
of the Bicep grants it), and owner or Application Administrator rights on the app registration.
EOF
}

PROG=provision-certificate
# shellcheck source=lib/keyvault-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/keyvault-credential.sh"

# SHA-1 thumbprint (uppercase hex) of the first certificate in a PEM file: the SHA-1 of its DER bytes. Empty
# if no tool for it is there.
sha1_thumbprint_of_pem() {
  local der="$work/thumbprint.der" sum
  awk '/-----BEGIN CERTIFICATE-----/{f=1;next} /-----END CERTIFICATE-----/{exit} f' "$1" | tr -d '\r\n' | base64 -d >"$der" 2>/dev/null || true
  if [ -s "$der" ] && sum=$({ sha1sum "$der" 2>/dev/null || shasum -a 1 "$der" 2>/dev/null; } | cut -c1-40) && [[ "$sum" =~ ^[0-9a-fA-F]{40}$ ]]; then
    printf '%s' "$sum" | tr '[:lower:]' '[:upper:]'
  elif command -v openssl >/dev/null 2>&1; then
    openssl x509 -in "$1" -noout -fingerprint -sha1 2>/dev/null | sed 's/.*=//; s/://g' | tr '[:lower:]' '[:upper:]'
  fi
}

# A key credential's customKeyIdentifier, as `az ad app credential list -o tsv` prints it, as an uppercase hex
# SHA-1 thumbprint (empty if it is neither form below). az prints Graph's JSON value as is (azure-cli
# role/custom.py _list_credentials). When a certificate is added without one, as `az ad app credential reset
# --cert` does, Graph sets it to the certificate's thumbprint (keyCredential resource: "defaults to the
# thumbprint of the certificate", https://learn.microsoft.com/graph/api/resources/keycredential; azure-cli
# _reset_credential), returned as 40 hex characters (e.g. "F9D4365AFC13FC27446AD529035997B32991AE85", the
# recorded Graph v1.0 response in azure-cli role/tests/latest/recordings/test_create_for_rbac_create_cert.yaml,
# the SHA-1 of the certificate sent). Tools that set it themselves commonly send base64 of the 20 thumbprint
# bytes (28 characters). Windows' az ends lines with CR.
key_identifier_hex() {
  local v
  v=$(printf '%s' "$1" | tr -d '\r[:space:]')
  if [[ "$v" =~ ^[0-9A-Fa-f]{40}$ ]]; then
    printf '%s' "$v" | tr '[:lower:]' '[:upper:]'
  elif [[ "$v" =~ ^[A-Za-z0-9+/]{27}=$ ]]; then
    printf '%s' "$v" | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n' | tr '[:lower:]' '[:upper:]'
  fi
}

NAME="${GRAPH_CREDENTIAL_NAME:-graph-export-cert}"
SUBJECT="CN=entra-users-export"
MONTHS=12
FORMAT=pem
REGISTER=1

while [ $# -gt 0 ]; do
  if common_option "$@"; then shift 2; continue; fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --subject) SUBJECT="${2:?--subject needs a value}"; shift 2 ;;
    --validity-months) MONTHS="${2:?--validity-months needs a value}"; shift 2 ;;
    --format) FORMAT="${2:?--format needs a value}"; shift 2 ;;
    --no-register) REGISTER=0; shift ;;
    *) usage >&2; die 2 "unknown argument: $1" ;;
  esac
done

[ -n "$VAULT" ] || die 2 "--vault (or AZURE_KEY_VAULT_NAME) is required"
[ "$REGISTER" = 0 ] || [ -n "$APP_ID" ] || die 2 "--app-id (or GRAPH_CLIENT_ID) is required (or --no-register)"
[[ "$NAME" =~ ^[0-9A-Za-z-]{1,127}$ ]] || die 2 "--name must be 1-127 letters, digits and hyphens (a Key Vault object name)"
[[ "$SUBJECT" =~ ^CN=[^\"\\]+$ ]] || die 2 "--subject must look like CN=<name> (no quotes or backslashes)"
[[ "$MONTHS" =~ ^[0-9]+$ ]] && [ "$MONTHS" -ge 1 ] && [ "$MONTHS" -le 120 ] || die 2 "--validity-months must be 1-120"
[[ "$RENEW_DAYS" =~ ^[0-9]+$ ]] || die 2 "--renew-within-days must be a number of days"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || die 2 "--wait-for-access must be a number of seconds"
case "$FORMAT" in
  pem) CONTENT_TYPE=application/x-pem-file ;;
  pkcs12 | pfx) CONTENT_TYPE=application/x-pkcs12 ;;
  *) die 2 "--format must be pem or pkcs12" ;;
esac

require_az

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

wait_for_access certificate "Key Vault Certificates Officer"

# Is there a usable certificate already?
create=1
found=0
existing_credential certificate || found=$?
case "$found" in
  0)
    create=0
    echo "Certificate $NAME in $VAULT exists and is valid for $CREDENTIAL_DAYS_LEFT more days: reusing it."
    ;;
  2) echo "Certificate $NAME in $VAULT is disabled or expires in ${CREDENTIAL_DAYS_LEFT:-0} days: creating a new version." ;;
esac

if [ "$create" = 1 ]; then
  cat >"$work/policy.json" <<EOF
{
  "issuerParameters": { "name": "Self" },
  "keyProperties": { "exportable": true, "keyType": "RSA", "keySize": 2048, "reuseKey": false },
  "secretProperties": { "contentType": "$CONTENT_TYPE" },
  "x509CertificateProperties": {
    "subject": "$SUBJECT",
    "validityInMonths": $MONTHS,
    "keyUsage": ["digitalSignature", "keyEncipherment"],
    "ekus": ["1.3.6.1.5.5.7.3.2"]
  },
  "lifetimeActions": [
    { "trigger": { "daysBeforeExpiry": 30 }, "action": { "actionType": "EmailContacts" } }
  ]
}
EOF
  echo "Creating certificate $NAME ($SUBJECT, RSA 2048, exportable, $CONTENT_TYPE, $MONTHS months) in $VAULT ..."
  az keyvault certificate create --vault-name "$VAULT" -n "$NAME" -p "@$work/policy.json" -o none
  # Self-signed issuance completes within seconds; wait until the certificate is there. No pending
  # operation (NotFound) means it has completed; any other error is not.
  status=inProgress
  for _ in $(seq 1 30); do
    if ! status=$(az keyvault certificate pending show --vault-name "$VAULT" -n "$NAME" --query status -o tsv 2>"$work/pending.err"); then
      grep -qiE 'NotFound|not found' "$work/pending.err" || {
        cat "$work/pending.err" >&2
        die 4 "cannot read the creation of certificate $NAME in $VAULT (az keyvault certificate pending show --vault-name $VAULT -n $NAME)"
      }
      status=completed
    fi
    [ "$status" = "completed" ] && break
    [ "$status" = "inProgress" ] || die 4 "certificate creation ended with status '$status' (az keyvault certificate pending show --vault-name $VAULT -n $NAME)"
    sleep 2
  done
  [ "$status" = "completed" ] || die 4 "certificate $NAME in $VAULT is still being created after 60 s (az keyvault certificate pending show --vault-name $VAULT -n $NAME); run this script again when it has completed"
fi

# x509ThumbprintHex: the SHA-1 thumbprint as uppercase hex, added by az to Key Vault's base64 x509Thumbprint
# (azure-cli-core commands/transform.py _add_x509_hex, util.py b64_to_hex).
thumbprint=$(az keyvault certificate show --vault-name "$VAULT" -n "$NAME" --query x509ThumbprintHex -o tsv 2>/dev/null | tr -d '\r' || true)
expires=$(az keyvault certificate show --vault-name "$VAULT" -n "$NAME" --query attributes.expires -o tsv | tr -d '\r')

if [ "$REGISTER" = 1 ]; then
  # The public certificate only (no private key): PEM.
  az keyvault certificate download --vault-name "$VAULT" -n "$NAME" -f "$work/public.pem" -e PEM
  # Compare on the thumbprint of the very certificate that would be registered, computed here.
  pem_thumbprint=$(sha1_thumbprint_of_pem "$work/public.pem")
  [ -n "$pem_thumbprint" ] && thumbprint=$pem_thumbprint
  [ -n "$thumbprint" ] || die 4 "cannot compute the SHA-1 thumbprint of certificate $NAME (needs base64 and sha1sum/shasum, or openssl); not registering it blindly, which would add it again on every run"
  thumbprint=$(printf '%s' "$thumbprint" | tr '[:lower:]' '[:upper:]')
  az ad app credential list --id "$APP_ID" --cert --query "[].customKeyIdentifier" -o tsv >"$work/registered"
  already=0
  while IFS= read -r identifier || [ -n "$identifier" ]; do
    if [ "$(key_identifier_hex "$identifier")" = "$thumbprint" ]; then already=1; break; fi
  done <"$work/registered"
  if [ "$already" = 1 ]; then
    echo "The certificate (SHA-1 $thumbprint) is already registered on app $APP_ID."
  else
    echo "Registering the certificate's public key on app $APP_ID (existing credentials are kept) ..."
    az ad app credential reset --id "$APP_ID" --cert "@$work/public.pem" --append -o none
  fi
fi

cat <<EOF
Done.
  Key Vault:    $VAULT
  Certificate:  $NAME (SHA-1 ${thumbprint:-unknown}, expires $expires)
  App setting:  GRAPH_CLIENT_CERTIFICATE_NAME=$NAME   (Bicep: credentialType=certificate, credentialName=$NAME)
Renew before it expires: run this script again (a new version is created within --renew-within-days $RENEW_DAYS).
EOF
