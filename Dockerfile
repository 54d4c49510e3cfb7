# entra-sync in a container: a release binary built in the Rust image, shipped in a slim Debian
# with CA certificates (Graph and the identity platform are TLS) and run as a non-root user.
# `.ci/dockerfile-steps` runs this file's build command and checks its start-up lines outside
# Docker, so keep one `RUN cargo build …` line in the build stage.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin entra-sync

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 entra-sync \
    && useradd --system --uid 10001 --gid entra-sync --home-dir /var/lib/entra-sync \
        --no-create-home --shell /usr/sbin/nologin entra-sync \
    && install -d -o entra-sync -g entra-sync -m 0750 /etc/entra-sync /var/lib/entra-sync
COPY --from=build /src/target/release/entra-sync /usr/local/bin/entra-sync

# The configuration (entra-sync.toml, and any secret or certificate files it names) and the data
# (a SQLite database, when [database].url is a relative sqlite:// path).
VOLUME ["/etc/entra-sync", "/var/lib/entra-sync"]
WORKDIR /var/lib/entra-sync
ENV ENTRA_SYNC_CONFIG=/etc/entra-sync/entra-sync.toml
# [admin].listen must be 0.0.0.0:8080 here; `entra-sync health` asks the loopback address then.
EXPOSE 8080
USER entra-sync

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["entra-sync", "health"]
ENTRYPOINT ["entra-sync"]
CMD ["run"]
