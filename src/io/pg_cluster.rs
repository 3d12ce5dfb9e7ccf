//! A throwaway PostgreSQL cluster for tests and benches: `initdb` in a temporary
//! directory, a server listening on a Unix socket there only (no TCP port to race for),
//! durability off, stopped and removed on drop. Uses the Debian `postgresql` package's
//! binaries; as root the server runs as the `postgres` user (it refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum PgClusterError {
    #[error("no PostgreSQL server binaries under /usr/lib/postgresql (apt install postgresql)")]
    NotInstalled,
    #[error("{step}: {detail}")]
    Failed { step: &'static str, detail: String },
}

pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    /// Run the binaries as this user (root cannot run a server).
    user: Option<String>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The newest installed server's `bin` directory.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl PgCluster {
    pub fn start() -> Result<PgCluster, PgClusterError> {
        let bin = bin_dir().ok_or(PgClusterError::NotInstalled)?;
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("voxline-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| failed("mkdir", e))?;
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let user = root.then(|| "postgres".to_string());
        if root {
            let chown = Command::new("chown").arg("postgres:").arg(&dir).status().map_err(|e| failed("chown", e))?;
            if !chown.success() {
                return Err(failed("chown", "chown to postgres failed"));
            }
        }
        let cluster = PgCluster { dir, bin, user };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"],
        )?;
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            path(&cluster.dir)
        );
        let log = cluster.dir.join("server.log");
        cluster.run("pg_ctl", &["-D", path(&data), "-w", "-l", path(&log), "-o", &options, "start"])?;
        Ok(cluster)
    }

    /// Creates database `name` and returns its URL.
    pub fn database(&self, name: &str) -> Result<String, PgClusterError> {
        self.run("createdb", &["-h", path(&self.dir), "-U", "postgres", name])?;
        Ok(self.url(name))
    }

    /// The URL of database `name` over the cluster's socket.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@localhost/{name}?host={}", self.dir.display())
    }

    fn run(&self, program: &'static str, args: &[&str]) -> Result<(), PgClusterError> {
        let exe = self.bin.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out =
            command.args(args).current_dir(&self.dir).stdin(Stdio::null()).output().map_err(|e| failed(program, e))?;
        if !out.status.success() {
            let detail = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            return Err(PgClusterError::Failed { step: program, detail });
        }
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", &["-D", path(&data), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn failed(step: &'static str, e: impl std::fmt::Display) -> PgClusterError {
    PgClusterError::Failed { step, detail: e.to_string() }
}
