# Multi-stage build of the chat-history binary (used by compose.yaml).
#
# Dependencies are compiled in a layer of their own (cargo-chef): `recipe.json` lists only
# what Cargo.toml and Cargo.lock say, so that layer is rebuilt when dependencies change,
# not on every source change.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p chat-history
COPY . .
RUN cargo build --release --locked -p chat-history

FROM debian:bookworm-slim
# The default DATABASE_URL (sqlite://data/chat-history.db) resolves to /app/data, which the
# unprivileged user (uid 10001) owns.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home /app chat \
    && mkdir -p /app/data && chown 10001:10001 /app/data
WORKDIR /app
COPY --from=build /src/target/release/chat-history /usr/local/bin/chat-history
# Reachable through `docker run -p 8080:8080` (the binary's own default is loopback).
ENV LISTEN_ADDR=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
# `chat-history healthcheck` asks /readyz of the server at LISTEN_ADDR (the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["chat-history", "healthcheck"]
ENTRYPOINT ["chat-history"]
CMD ["serve"]
