# tracegate: one process in front of an existing Postgres.
#
#   docker build -t tracegate .
#   docker run --rm -p 6432:6432 -p 8080:8080 \
#     -v "$PWD/tracegate.yaml:/etc/tracegate/tracegate.yaml:ro" \
#     -v "$PWD/policy.yaml:/etc/tracegate/policy.yaml:ro" \
#     -v "$PWD/tls:/etc/tracegate/tls:ro" \
#     -v "$PWD/upstream-password:/run/secrets/tracegate-upstream-password:ro" \
#     -v tracegate-data:/var/lib/tracegate \
#     -e TRACEGATE_MASK_KEY \
#     tracegate
#
# The configuration is a mounted file (examples/tracegate.yaml); its ${ENV} references,
# and the policy's, are filled from the container's environment. See README.md "Docker".

ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only. better-sqlite3 is a native module: npm fetches a prebuilt
# binary where one exists and compiles it otherwise, hence the toolchain (this stage is
# discarded). Optional dependencies are left out: they are embedded-postgres's platform
# binaries (for `tracegate demo`, not for `serve`) and pg's Cloudflare socket shim.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

# The TypeScript build, with the dev dependencies (tsc).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY protocol ./protocol
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    TRACEGATE_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
WORKDIR /app
# A fixed, unprivileged uid so orchestrators can enforce runAsNonRoot and volume owners match.
RUN groupadd --system --gid 10001 tracegate \
 && useradd --system --uid 10001 --gid tracegate --home-dir /var/lib/tracegate --shell /usr/sbin/nologin tracegate \
 && mkdir -p /etc/tracegate /var/lib/tracegate \
 && chown tracegate:tracegate /var/lib/tracegate
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The admin web page's static files, which tsc does not copy; read from src/admin/page/.
COPY src/admin/page ./src/admin/page
COPY package.json ./
COPY bin ./bin
COPY policies ./policies
USER tracegate:tracegate
# The SQLite audit store belongs on a volume: it is the tamper-evident record.
VOLUME ["/var/lib/tracegate"]
EXPOSE 6432 8080
# /healthz on the admin listener (admin.listen in the config). Slim images have no curl;
# Node's fetch does the job. Point TRACEGATE_HEALTHCHECK_URL elsewhere if admin moves.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.TRACEGATE_HEALTHCHECK_URL).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/tracegate.js"]
CMD ["serve", "--config", "/etc/tracegate/tracegate.yaml"]
