#!/usr/bin/env bash
# Serves the chat page (clients/web/page) locally next to the API of scripts/serve.sh:
#   page  http://127.0.0.1:${E2EE_WEB_PORT:-8080}/
#   API   http://127.0.0.1:${E2EE_CORS_PORT:-8081} -> ${E2EE_API:-http://127.0.0.1:9000}, with CORS as the SAM
#         template configures API Gateway (allowed origins: E2EE_CORS_ORIGINS, default CorsAllowedOrigins' default)
# Builds the page first (npm ci when clients/web/node_modules is missing). Keys stay in the browser's IndexedDB.
set -euo pipefail
cd "$(dirname "$0")/../clients/web"
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run --silent build:page
exec node scripts/serve.mjs
