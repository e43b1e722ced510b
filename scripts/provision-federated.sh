#!/usr/bin/env bash
# Secretless (credentialType federated): registers on the Graph app a federated identity credential that trusts the
# function app's user-assigned managed identity, so the function signs in as the app with that identity's token —
# no secret, no certificate, nothing in Key Vault. Use it when the app registration is not declared in the Bicep
# (createGraphApp false, e.g. outside the global Azure cloud, where Microsoft Graph Bicep is not available).
# Idempotent: a credential already holding these values is left alone; one of the same name (or the same issuer and
# subject) with other values is updated; otherwise one is created.
#
# Values, per "Configure an application to trust a managed identity"
# (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity):
# issuer https://<Entra host of the cloud>/<tenant ID>/v2.0 (Azure China: https://login.partner.microsoftonline.cn/...,
# https://docs.azure.cn/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity),
# subject = the identity's principal (object) ID, case-sensitive; audience api://AzureADTokenExchange,
# api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina; name 3-120 letters, digits, - and _, starting
# with a letter or digit; description up to 600 characters; at most 20 federated identity credentials per app.
# Commands: az ad app federated-credential list / create / update
# (https://learn.microsoft.com/cli/azure/ad/app/federated-credential).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/provision-federated.sh --app-id <appId> --principal-id <objectId> [options]

Makes the Entra ID app registration trust the function app's user-assigned managed identity: a federated
identity credential (az ad app federated-credential create, or update when one of the same name differs).

Required (or from the environment, e.g. `eval "$(azd env get-values)"`):
  --app-id <appId>           application (client) ID of the app              [GRAPH_CLIENT_ID]
  --principal-id <id>        principal (object) ID of the user-assigned      [AZURE_MANAGED_IDENTITY_PRINCIPAL_ID]
                             identity (az identity show -n <name> -g <group> --query principalId -o tsv)

Options:
  --name <name>              name of the credential on the app (default entra-users-export)
  --issuer <url>             issuer of the identity's tokens                 [GRAPH_FEDERATED_ISSUER]
                             (default: https://<Entra host of the az cloud>/<tenant of az account show>/v2.0)
  --audience <value>         token-exchange audience                         [GRAPH_FEDERATED_AUDIENCE]
                             (default by az cloud: api://AzureADTokenExchange, ...USGov, ...China)
  --description <text>       description of the credential (up to 600 characters)
  -h, --help                 this help

Then set GRAPH_FEDERATED_IDENTITY_CLIENT_ID to the identity's client ID (the Bicep does, credentialType=federated).
Needs: az, logged in to the tenant of the app and the identity (they must be the same tenant), and owner of the
app, or Application Administrator, Cloud Application Administrator or Application Developer.
EOF
}

PROG=provision-federated
# shellcheck source=lib/keyvault-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/keyvault-credential.sh"

APP_ID="${GRAPH_CLIENT_ID:-}"
PRINCIPAL_ID="${AZURE_MANAGED_IDENTITY_PRINCIPAL_ID:-}"
NAME=entra-users-export
ISSUER="${GRAPH_FEDERATED_ISSUER:-}"
AUDIENCE="${GRAPH_FEDERATED_AUDIENCE:-}"
DESCRIPTION="entra-users-export: the function app's user-assigned managed identity signs in as this app (no secret, no certificate)."
# "A maximum of 20 federated identity credentials can be added to an application" (article above).
MAX_CREDENTIALS=20

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --app-id) APP_ID="${2:?--app-id needs a value}"; shift 2 ;;
    --principal-id) PRINCIPAL_ID="${2:?--principal-id needs a value}"; shift 2 ;;
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --issuer) ISSUER="${2:?--issuer needs a value}"; shift 2 ;;
    --audience) AUDIENCE="${2:?--audience needs a value}"; shift 2 ;;
    --description) DESCRIPTION="${2:?--description needs a value}"; shift 2 ;;
    *) usage >&2; die 2 "unknown argument: $1" ;;
  esac
done

GUID='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
[ -n "$APP_ID" ] || die 2 "--app-id (or GRAPH_CLIENT_ID) is required"
[ -n "$PRINCIPAL_ID" ] || die 2 "--principal-id (or AZURE_MANAGED_IDENTITY_PRINCIPAL_ID) is required: the identity's principal (object) ID"
[[ "$PRINCIPAL_ID" =~ $GUID ]] || die 2 "--principal-id must be the identity's principal (object) ID as Entra writes it, a lowercase GUID (the subject is compared case-sensitively): az identity show -n <name> -g <group> --query principalId -o tsv; got '$PRINCIPAL_ID'"
[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$ ]] || die 2 "--name must be 3-120 letters, digits, - or _, starting with a letter or digit"
[ "${#DESCRIPTION}" -le 600 ] || die 2 "--description must be at most 600 characters"
[[ "$DESCRIPTION" != *[\"\\]* ]] || die 2 "--description must not contain double quotes or backslashes"

require_az

# The cloud's issuer host and audience, when not given (e.g. by the Bicep outputs through azd).
if [ -z "$ISSUER" ] || [ -z "$AUDIENCE" ]; then
  cloud=$(az cloud show --query name -o tsv | tr -d '\r')
  case "$cloud" in
    AzureCloud) host=https://login.microsoftonline.com; audience=api://AzureADTokenExchange ;;
    AzureUSGovernment) host=https://login.microsoftonline.us; audience=api://AzureADTokenExchangeUSGov ;;
    AzureChinaCloud) host=https://login.partner.microsoftonline.cn; audience=api://AzureADTokenExchangeChina ;;
    *) die 2 "az is set to cloud '$cloud', whose issuer and audience this script does not know: give --issuer and --audience" ;;
  esac
  if [ -z "$ISSUER" ]; then
    tenant=$(az account show --query tenantId -o tsv | tr -d '\r')
    [[ "$tenant" =~ $GUID ]] || die 4 "cannot read the tenant ID (az account show --query tenantId): got '$tenant'"
    ISSUER="$host/$tenant/v2.0"
  fi
  [ -n "$AUDIENCE" ] || AUDIENCE=$audience
fi
# Entra blocks the exchange when the issuer has leading or trailing whitespace (article above).
[[ "$ISSUER" =~ ^https://[^[:space:]/]+/[0-9a-f-]{36}/v2\.0$ ]] || die 2 "--issuer must be https://<Entra host>/<tenant ID>/v2.0 (no trailing slash, no whitespace); got '$ISSUER'"
[[ "$AUDIENCE" =~ ^api://AzureADTokenExchange(USGov|China)?$ ]] || die 2 "--audience must be api://AzureADTokenExchange, api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina; got '$AUDIENCE'"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Every credential on the app, one per line: name, issuer, subject, audiences (tab-separated).
if ! az ad app federated-credential list --id "$APP_ID" --query "[].[name, issuer, subject, join(' ', audiences)]" -o tsv >"$work/list" 2>"$work/list.err"; then
  cat "$work/list.err" >&2
  die 4 "cannot list the federated identity credentials of app $APP_ID: check the app (client) ID, that az is logged in to its tenant, and that you own the app or hold Application Administrator"
fi
tr -d '\r' <"$work/list" >"$work/credentials"

same_name='' same_trust='' count=0
while IFS=$'\t' read -r name issuer subject audiences || [ -n "$name" ]; do
  [ -n "$name" ] || continue
  count=$((count + 1))
  if [ "$name" = "$NAME" ]; then same_name="$issuer"$'\t'"$subject"$'\t'"$audiences"; fi
  if [ "$issuer" = "$ISSUER" ] && [ "$subject" = "$PRINCIPAL_ID" ] && [ -z "$same_trust" ]; then same_trust="$name"$'\t'"$audiences"; fi
done <"$work/credentials"

cat >"$work/credential.json" <<EOF
{
  "name": "$NAME",
  "issuer": "$ISSUER",
  "subject": "$PRINCIPAL_ID",
  "description": "$DESCRIPTION",
  "audiences": ["$AUDIENCE"]
}
EOF

wanted="$ISSUER"$'\t'"$PRINCIPAL_ID"$'\t'"$AUDIENCE"
if [ "$same_name" = "$wanted" ]; then
  echo "App $APP_ID already trusts the identity: federated identity credential $NAME holds these values."
elif [ -n "$same_name" ]; then
  echo "Federated identity credential $NAME on app $APP_ID holds other values: updating it ..."
  az ad app federated-credential update --id "$APP_ID" --federated-credential-id "$NAME" --parameters "$work/credential.json" -o none
elif [ -n "$same_trust" ] && [ "${same_trust#*$'\t'}" = "$AUDIENCE" ]; then
  echo "App $APP_ID already trusts the identity: federated identity credential ${same_trust%%$'\t'*} holds these values."
elif [ -n "$same_trust" ]; then
  # issuer + subject must be unique on the app: correct the audience of the credential that holds them.
  other=${same_trust%%$'\t'*}
  echo "Federated identity credential $other on app $APP_ID has this issuer and subject but another audience: updating it ..."
  sed "s/\"name\": \"$NAME\"/\"name\": \"$other\"/" "$work/credential.json" >"$work/other.json"
  az ad app federated-credential update --id "$APP_ID" --federated-credential-id "$other" --parameters "$work/other.json" -o none
elif [ "$count" -ge "$MAX_CREDENTIALS" ]; then
  die 4 "app $APP_ID already has $count federated identity credentials, the maximum is $MAX_CREDENTIALS: delete one you no longer need (az ad app federated-credential delete --id $APP_ID --federated-credential-id <name>) and run this again"
else
  echo "Adding federated identity credential $NAME to app $APP_ID (its other credentials are kept) ..."
  az ad app federated-credential create --id "$APP_ID" --parameters "$work/credential.json" -o none
fi

cat <<EOF
Done.
  App:          $APP_ID
  Trusts:       issuer $ISSUER
                subject $PRINCIPAL_ID (the identity's principal ID)
                audience $AUDIENCE
  App setting:  GRAPH_FEDERATED_IDENTITY_CLIENT_ID=<the identity's client ID>   (Bicep: credentialType=federated)
EOF
