# Multi-stage build of the chat-history binary (used by compose.yaml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p chat-history

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app chat
WORKDIR /app
COPY --from=build /src/target/release/chat-history /usr/local/bin/chat-history
USER chat
EXPOSE 8080
ENTRYPOINT ["chat-history"]
CMD ["serve"]
