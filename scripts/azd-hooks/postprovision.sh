#!/bin/sh
# azd postprovision hook (azure.yaml): provisions the Graph credential in the Key Vault the deployment
# created (or was given), from the azd environment (the Bicep outputs): GRAPH_CREDENTIAL_TYPE,
# GRAPH_CREDENTIAL_NAME, AZURE_KEY_VAULT_NAME, GRAPH_CLIENT_ID. Idempotent: runs on every `azd provision`.
# Skip it with `azd env set SKIP_CREDENTIAL_PROVISIONING true` (e.g. when someone else manages the
# credential, or you lack rights on the app registration).
set -eu

here="$(cd "$(dirname "$0")" && pwd)"

if [ "${SKIP_CREDENTIAL_PROVISIONING:-false}" = "true" ]; then
  echo "SKIP_CREDENTIAL_PROVISIONING=true: not provisioning the Graph credential."
  exit 0
fi
if [ -z "${AZURE_KEY_VAULT_NAME:-}" ]; then
  echo "postprovision: AZURE_KEY_VAULT_NAME is not in the azd environment (did the provisioning succeed?)" >&2
  exit 1
fi
if [ -z "${GRAPH_CLIENT_ID:-}" ]; then
  cat <<EOF
postprovision: GRAPH_CLIENT_ID is empty, so there is no app registration to give a credential to.
  Create one (docs/deploy.md, step 2), then:  azd env set GRAPH_CLIENT_ID <appId> && azd provision
  or let the Bicep create it (needs Graph admin rights):  azd env set CREATE_GRAPH_APP true && azd provision
EOF
  exit 0
fi

case "${GRAPH_CREDENTIAL_TYPE:-certificate}" in
  certificate)
    exec bash "$here/../provision-certificate.sh" --vault "$AZURE_KEY_VAULT_NAME" --app-id "$GRAPH_CLIENT_ID" \
      --name "${GRAPH_CREDENTIAL_NAME:-graph-export-cert}" --wait-for-access 600
    ;;
  secret)
    exec bash "$here/../provision-secret.sh" --vault "$AZURE_KEY_VAULT_NAME" --app-id "$GRAPH_CLIENT_ID" \
      --name "${GRAPH_CREDENTIAL_NAME:-graph-export-secret}" --wait-for-access 600
    ;;
  *)
    echo "postprovision: GRAPH_CREDENTIAL_TYPE must be certificate or secret, is '${GRAPH_CREDENTIAL_TYPE}'" >&2
    exit 2
    ;;
esac
