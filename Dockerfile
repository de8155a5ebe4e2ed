# Nova's image: the built JavaScript (`npm run build`, dist/) on a slim Node 20 with only the
# production dependencies, run as a non-root user. One image for every mode: `npm start`'s single
# process by default (CMD), or one service of the distributed topology with
# `node dist/server/cli.js serve <service>` (docker-compose.yml). docs/operations.md, "Container".
#
# test/container/image.test.ts runs this file's CMD (parsed from here) on a fresh data dir in CI,
# outside Docker: /health, /_matrix/client/versions, and exit 0 on SIGTERM.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the one install script the runtime would want is mediasoup's, which downloads
# or compiles its worker; package.json denies it too ("allowScripts"): the default SFU is werift,
# and MEDIASOUP_WORKER_BIN names a worker you provide. sharp, argon2 and uWebSockets.js ship
# prebuilt binaries as packages and need no script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY server ./server
COPY sync ./sync
COPY crypto ./crypto
COPY calls ./calls
COPY companion-services ./companion-services
COPY migrations ./migrations
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NOVA_HOST=0.0.0.0 \
    NOVA_PORT=8008 \
    NOVA_DATA_DIR=/var/lib/nova
WORKDIR /app
# The image's own non-root user (uid 1000 in the node images); the data dir is its volume.
RUN mkdir -p /var/lib/nova && chown node:node /var/lib/nova
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
VOLUME ["/var/lib/nova"]
# 8008 the Client-Server API; 8010 and 8011 media's and notifications' listeners and 50051 and
# 50054 identity's and media's gRPC when the container runs one service (docs/distributed.md).
EXPOSE 8008 8010 8011 50051 50054
# Slim images have no curl: node asks /health on the client port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.NOVA_PORT||8008)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server drains and closes its databases on SIGTERM (what `docker stop` sends).
STOPSIGNAL SIGTERM
# As `npm start`, without tsx: a larger young generation (README, "Configuration").
CMD ["node", "--max-semi-space-size=64", "dist/server/main.js"]

# `--target media`: the same with ffmpeg, which the media service's video pipeline runs
# (docs/media.md); docker-compose.yml builds it for the media container.
FROM runtime AS media
USER root
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg \
  && rm -rf /var/lib/apt/lists/*
USER node

# The default target (the last stage): the runtime image as above, without ffmpeg.
FROM runtime
