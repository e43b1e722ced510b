# Shared by provision-certificate.sh and provision-secret.sh (sourced; set PROG first).

die() {
  local code=$1
  shift
  echo "$PROG: $*" >&2
  exit "$code"
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
