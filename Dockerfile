# syntax=docker/dockerfile:1
# One image for every hookline service; the command picks which one runs
# (`hookline edge`, `hookline consume`, …). See docker-compose.yml.

# ---- build -----------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# sqlx's query macros must not look for a live database inside the build;
# with this set they use committed .sqlx data (if any) or fail clearly.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

COPY . .

# Cache mounts keep the registry and target/ between builds (BuildKit), so a
# code change does not recompile every dependency. target/ lives only in the
# cache, hence the copy out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release -p hookline --locked \
 && install -m 0755 target/release/hookline /usr/local/bin/hookline

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: webhook targets are HTTPS. Nothing else: TLS is rustls and
# Postgres/NATS clients are pure Rust.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid, so volume permissions are predictable.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent hookline

COPY --from=builder /usr/local/bin/hookline /usr/local/bin/hookline

# hookline reads an optional hookline.toml from its working directory:
# mount one at /app/hookline.toml to configure more than env allows.
WORKDIR /app
USER 10001:10001

# edge, webhook-out admin, ingest, ops (/healthz /readyz /metrics).
EXPOSE 8080 8081 8082 9090

ENTRYPOINT ["hookline"]
# Every service in one process, as locally; compose runs one per container.
CMD ["all"]
