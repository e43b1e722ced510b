# Shared by provision-certificate.sh and provision-secret.sh (sourced; set PROG first).

die() {
  local code=$1
  shift
  echo "$PROG: $*" >&2
  exit "$code"
}

# The options both scripts take, with their defaults (NAME's is each script's own): VAULT and APP_ID from the
# environment (e.g. `eval "$(azd env get-values)"`).
VAULT="${AZURE_KEY_VAULT_NAME:-}"
APP_ID="${GRAPH_CLIENT_ID:-}"
RENEW_DAYS=30
WAIT_SECONDS=300

# Sets VAULT, APP_ID, NAME, RENEW_DAYS or WAIT_SECONDS from "$1" "$2" (the caller shifts both); returns 1 for
# any other argument.
common_option() {
  case "$1" in
    --vault) VAULT="${2:?--vault needs a value}" ;;
    --app-id) APP_ID="${2:?--app-id needs a value}" ;;
    --name) NAME="${2:?--name needs a value}" ;;
    --renew-within-days) RENEW_DAYS="${2:?--renew-within-days needs a value}" ;;
    --wait-for-access) WAIT_SECONDS="${2:?--wait-for-access needs a value}" ;;
    *) return 1 ;;
  esac
}

require_az() {
  command -v az >/dev/null 2>&1 || die 3 "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  az account show -o none 2>/dev/null || die 3 "not logged in to Azure: run az login"
}

# Seconds since the epoch of an ISO 8601 date (GNU date, or BSD date on macOS).
epoch_of() {
  local d="${1%%.*}"
  d="${d%Z}"
  d="${d%+00:00}"
  date -u -d "${d/T/ } UTC" +%s 2>/dev/null || date -u -j -f '%Y-%m-%dT%H:%M:%S' "$d" +%s 2>/dev/null || echo 0
}

# Key Vault data-plane access can take minutes to appear after the role assignment: retry 403s for up to
# $WAIT_SECONDS. $1: certificate|secret (what to list), $2: the role that allows it. Uses $VAULT and $work.
wait_for_access() {
  local kind=$1 role=$2 start now err="$work/access.err"
  start=$(date +%s)
  while ! az keyvault "$kind" list --vault-name "$VAULT" --maxresults 1 -o none 2>"$err"; do
    now=$(date +%s)
    if grep -qiE 'Forbidden|not authorized|ForbiddenByRbac' "$err" && [ $((now - start)) -lt "$WAIT_SECONDS" ]; then
      echo "Waiting for Key Vault access on $VAULT (role assignments can take a few minutes to apply) ..." >&2
      sleep 15
      continue
    fi
    cat "$err" >&2
    die 4 "cannot list ${kind}s in $VAULT: you need $role on it (deploy with deployerPrincipalId=<your object id>), and its network access must allow you"
  done
}

# Is there a usable $1 (certificate|secret) named $NAME in $VAULT: enabled, and valid for more than
# $RENEW_DAYS days? Returns 0 if so, 1 if there is none, 2 if it is disabled, has no expiry or expires
# within $RENEW_DAYS days; sets CREDENTIAL_DAYS_LEFT (empty when there is no expiry). Other errors: die 4.
# Only the attributes are asked for (never a secret's value). `-o tsv` prints a top-level list one item
# per line, so every whitespace-separated field of the whole output is read, not just the first line.
existing_credential() {
  local kind=$1 enabled='' expires=''
  CREDENTIAL_DAYS_LEFT=
  if ! az keyvault "$kind" show --vault-name "$VAULT" -n "$NAME" --query "[attributes.enabled, attributes.expires]" -o tsv >"$work/show" 2>"$work/show.err"; then
    grep -qiE 'NotFound|not found' "$work/show.err" && return 1
    cat "$work/show.err" >&2
    die 4 "cannot read $kind $NAME in $VAULT"
  fi
  read -r -d '' enabled expires _ < <(tr -d '\r' <"$work/show") || true
  enabled=$(printf '%s' "$enabled" | tr '[:upper:]' '[:lower:]')
  if [ -n "$expires" ] && [ "$expires" != "None" ]; then
    CREDENTIAL_DAYS_LEFT=$(( ($(epoch_of "$expires") - $(date +%s)) / 86400 ))
  fi
  [ "$enabled" = "true" ] && [ -n "$CREDENTIAL_DAYS_LEFT" ] && [ "$CREDENTIAL_DAYS_LEFT" -gt "$RENEW_DAYS" ] && return 0
  return 2
}
