# Everyday commands. `just --list` shows them.

set dotenv-load := false

# Run the service on the embedded SQLite default (http://127.0.0.1:8080).
run:
    cargo run --release

# Print a development token for a user (the server must use the same data/ directory).
token user="alice":
    cargo run --release -- dev-token {{user}}

# Run every test (needs the local PostgreSQL; see README).
test:
    cargo nextest run --workspace

# A real Better Auth against the chat-history binary (needs Node.js and the local PostgreSQL),
# and the Vercel AI SDK saving and reading back its own UIMessages (docs/guides/ai-sdk.md).
interop:
    npm ci --prefix interop/better-auth
    npm ci --prefix interop/ai-sdk
    cargo build --bin chat-history
    CHAT_HISTORY_BIN="${CARGO_TARGET_DIR:-target}/debug/chat-history" npm test --prefix interop/better-auth
    CHAT_HISTORY_BIN="${CARGO_TARGET_DIR:-target}/debug/chat-history" npm test --prefix interop/ai-sdk

# The fault tests alone: kill -9, PostgreSQL restarts, a slow database, SIGTERM (see docs/security.md).
chaos:
    cargo nextest run -p chat-history --test chaos --no-capture

# schemathesis against /openapi.json of the binary on both backends (installs it with pip).
fuzz-api:
    cargo build --bin chat-history
    CHAT_HISTORY_BIN="${CARGO_TARGET_DIR:-target}/debug/chat-history" bash tests/schemathesis/run.sh

# What CI runs.
ci:
    bash .ci/run

# Start PostgreSQL for `DATABASE_URL=postgres://...` runs (a local cluster, or compose).
db-up:
    pg_isready -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start || docker compose up -d postgres

# Apply migrations to DATABASE_URL and exit.
migrate:
    cargo run --release -- migrate

# Run the benchmark kit (see bench/README.md).
bench:
    bash bench/run.sh

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings
