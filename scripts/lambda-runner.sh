#!/bin/sh
# The cargo runner of the functions under `cargo lambda watch` (scripts/serve.sh and scripts/test.sh set
# CARGO_TARGET_<host triple>_RUNNER to this file): points the function's Runtime API client at
# scripts/runtime_api_proxy.py, listening at $E2EE_RUNTIME_API_PROXY (HOST:PORT), instead of straight at
# cargo-lambda, then runs the function. See docs/upstream/cargo-lambda-500.md for why.
#
# cargo-lambda sets AWS_LAMBDA_RUNTIME_API=http://HOST:PORT/.rt/<function> after the user's environment, so it
# cannot be overridden with --env-var; the runner is the last step before the binary starts. The path gets a
# /p<pid> prefix naming this process (exec keeps the pid), which gives it its own upstream connection.
if [ -n "${E2EE_RUNTIME_API_PROXY:-}" ] && [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  rest="${AWS_LAMBDA_RUNTIME_API#*://}" # HOST:PORT/.rt/<function>
  case "$rest" in
    */*) path="/${rest#*/}" ;;
    *) path="" ;;
  esac
  AWS_LAMBDA_RUNTIME_API="http://${E2EE_RUNTIME_API_PROXY}/p$$${path}"
  export AWS_LAMBDA_RUNTIME_API
fi
exec "$@"
