# Build a release binary, then ship it in a slim image with CA certificates (Graph is TLS).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin entra-sync

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/entra-sync --create-home entra-sync
COPY --from=build /src/target/release/entra-sync /usr/local/bin/entra-sync
USER entra-sync
WORKDIR /var/lib/entra-sync
ENV ENTRA_SYNC_CONFIG=/etc/entra-sync/entra-sync.toml
ENTRYPOINT ["entra-sync"]
CMD ["check"]
