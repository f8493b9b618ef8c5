# syntax=docker/dockerfile:1
# The router: the single public entry (8000); it also serves the console under /console/.
# Build from the repository root:  docker build -f deploy/docker/router.Dockerfile -t backendify/router .

# ---- console: the TypeScript app built by Vite into console/dist ----
FROM node:22-bookworm-slim AS console
WORKDIR /src/console
# The browser tests' Chromium is not needed to build.
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY console/ ./
RUN npm run build

# ---- build: the release binary, with the workspace's Cargo.lock (--locked) ----
FROM rust:1-bookworm AS build
WORKDIR /src
# Every workspace member is copied: cargo reads all of their manifests even for one package.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY model model
COPY control-plane control-plane
COPY data-plane data-plane
COPY router router
COPY cli cli
COPY tests tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p router --bin router \
    && install -D -m 0755 target/release/router /out/router

# ---- runtime: Debian slim, CA certificates only, non-root ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 backendify \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin backendify
COPY --from=build /out/router /usr/local/bin/router
COPY --from=console /src/console/dist /usr/share/backendify/console
# Listen on every interface inside the container (the binary's default is loopback) and serve
# the console built above.
ENV ROUTER_ADDR=0.0.0.0:8000 \
    CONSOLE_DIR=/usr/share/backendify/console \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/router"]
