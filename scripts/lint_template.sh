#!/usr/bin/env bash
# Lints the SAM template with cfn-lint and `sam validate --lint` (both work offline, without AWS credentials).
# Any error or warning fails. Installs the tools if they are missing: with pip into a virtualenv outside the
# repository (LINT_VENV, default ~/.cache/e2ee-lint-venv), so a second run reuses it and installs nothing.
#
#   scripts/lint_template.sh [template.yaml]
#
# Environment: LINT_VENV (where to install), LINT_REGION (default us-east-1; sam validate needs one),
#              CFN_LINT_SPEC / SAM_CLI_SPEC (pip requirement strings, default "cfn-lint>=1.58" / "aws-sam-cli>=1.170").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="${1:-$root/template.yaml}"
region="${LINT_REGION:-us-east-1}"
venv="${LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/e2ee-lint-venv}"
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="$region"

[ -f "$template" ] || { echo "lint_template: $template not found" >&2; exit 2; }

# Prefer tools already on PATH; otherwise (or if only one is there) use the virtualenv, installing into it once.
if command -v cfn-lint >/dev/null 2>&1 && command -v sam >/dev/null 2>&1; then
  cfn_lint=cfn-lint
  sam=sam
else
  if [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/sam" ]; then
    echo "lint_template: installing cfn-lint and aws-sam-cli into $venv (once)" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "${CFN_LINT_SPEC:-cfn-lint>=1.58}" "${SAM_CLI_SPEC:-aws-sam-cli>=1.170}"
  fi
  cfn_lint="$venv/bin/cfn-lint"
  sam="$venv/bin/sam"
fi

echo "lint_template: $("$cfn_lint" --version), $("$sam" --version)"
status=0

echo "+ cfn-lint $template"
if "$cfn_lint" -- "$template"; then
  echo "cfn-lint: no errors or warnings"
else
  status=1
fi

echo "+ sam validate --lint --region $region --template-file $template"
if ! (cd "$root" && "$sam" validate --lint --region "$region" --template-file "$template"); then
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "lint_template: FAILED" >&2
else
  echo "lint_template: OK"
fi
exit "$status"
