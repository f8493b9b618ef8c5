# syntax=docker/dockerfile:1
# A data-plane worker: the data API of every project, on one HTTP port (8101).
# Build from the repository root:  docker build -f deploy/docker/data-plane.Dockerfile -t backendify/data-plane .

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
    cargo build --release --locked -p data-plane --bin data-plane \
    && install -D -m 0755 target/release/data-plane /out/data-plane

# ---- runtime: Debian slim, CA certificates only, non-root ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 backendify \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin backendify \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/backendify/files
COPY --from=build /out/data-plane /usr/local/bin/data-plane
# Listen on every interface inside the container (the binary's default is loopback). Files of
# the local backend go to /var/lib/backendify/files: mount a volume there, shared by every worker
# of the cell, or use FILES_BACKEND=s3. Each worker still needs its own WORKER_ID and a
# WORKER_ADVERTISE_ADDR the router can reach.
ENV WORKER_ADDR=0.0.0.0:8101 \
    FILES_DIR=/var/lib/backendify/files \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 8101
ENTRYPOINT ["/usr/local/bin/data-plane"]
