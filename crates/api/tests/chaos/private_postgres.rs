//! A PostgreSQL cluster of a test's own, in a temporary directory on a free loopback
//! port, that the test may stop and start as a fault without disturbing the shared
//! server other tests use.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the cluster runs as
//! the `postgres` OS user (`runuser -u postgres --`), owning its directory.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// A private cluster; stopped and removed when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("PG_BIN_DIR").unwrap_or_else(|_| BIN_DIR.to_owned());
    Path::new(&dir).join(name)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program args...`, as the `postgres` user when we are root.
fn as_cluster_owner(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).args(args);
        cmd
    } else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); is PostgreSQL 15 installed?"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl PrivatePostgres {
    /// initdb into a new temporary directory and start the cluster.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chaos-pg-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            run(
                {
                    let mut cmd = Command::new("chown");
                    cmd.args(["-R", "postgres:postgres"]).arg(dir.path());
                    cmd
                },
                "chown",
            );
        }
        let data = dir.path().join("data");
        run(
            as_cluster_owner(
                &bin("initdb"),
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
            ),
            "initdb",
        );
        let mut cluster = Self {
            dir,
            port: 0,
            running: false,
        };
        cluster.start_server();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// Starts the (stopped) cluster, on a new free port the first time and on the same
    /// port afterwards, and waits until it accepts connections.
    pub fn start_server(&mut self) {
        assert!(!self.running, "already running");
        // A free port can be taken by someone else before PostgreSQL binds it: retry the
        // first start on another one.
        let attempts = if self.port == 0 { 3 } else { 1 };
        for attempt in 1..=attempts {
            if self.port == 0 || attempt > 1 {
                self.port = free_port();
            }
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60 \
                 -c shared_buffers=16MB",
                self.port,
                self.dir.path().display()
            );
            let log = self.dir.path().join("postgres.log");
            let status = as_cluster_owner(
                &bin("pg_ctl"),
                &[
                    "-D",
                    &self.data(),
                    "-l",
                    &log.to_string_lossy(),
                    "-o",
                    &options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            )
            .output()
            .expect("pg_ctl runs");
            if status.status.success() {
                self.running = true;
                return;
            }
            if attempt == attempts {
                panic!(
                    "pg_ctl start failed: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    /// Stops the cluster: `fast` (clients are disconnected, a clean shutdown) or
    /// `immediate` (like a crash; recovery from the WAL at the next start).
    pub fn stop(&mut self, mode: &str) {
        run(
            as_cluster_owner(
                &bin("pg_ctl"),
                &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"],
            ),
            "pg_ctl stop",
        );
        self.running = false;
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = as_cluster_owner(
                &bin("pg_ctl"),
                &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
            )
            .output();
        }
    }
}
