# syntax=docker/dockerfile:1
# The control plane: admin REST API (8001) and the internal gRPC ConfigService (8002).
# Build from the repository root:  docker build -f deploy/docker/control-plane.Dockerfile -t backendify/control-plane .

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
    cargo build --release --locked -p control-plane --bin control-plane \
    && install -D -m 0755 target/release/control-plane /out/control-plane

# ---- runtime: Debian slim, CA certificates only, non-root ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 backendify \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin backendify
COPY --from=build /out/control-plane /usr/local/bin/control-plane
# Listen on every interface inside the container (the binary's defaults are loopback).
ENV CONTROL_HTTP_ADDR=0.0.0.0:8001 \
    CONTROL_GRPC_ADDR=0.0.0.0:8002 \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 8001 8002
ENTRYPOINT ["/usr/local/bin/control-plane"]
