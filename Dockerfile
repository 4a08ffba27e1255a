# Multi-stage build of the chat-history binary (used by compose.yaml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p chat-history

FROM debian:bookworm-slim
# The default DATABASE_URL (sqlite://data/chat-history.db) resolves to /app/data, which the
# unprivileged user owns.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app chat \
    && mkdir -p /app/data && chown chat:chat /app/data
WORKDIR /app
COPY --from=build /src/target/release/chat-history /usr/local/bin/chat-history
# Reachable through `docker run -p 8080:8080` (the binary's own default is loopback).
ENV LISTEN_ADDR=0.0.0.0:8080
USER chat
EXPOSE 8080
# `chat-history healthcheck` asks /readyz of the server at LISTEN_ADDR (the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["chat-history", "healthcheck"]
ENTRYPOINT ["chat-history"]
CMD ["serve"]
