//! The compose stack of `deploy/` on this machine's Docker engine: images
//! built from the binary under test (`deploy/build-images.sh --binary`),
//! one project per test with its own name and free host ports, its
//! containers by service, faults (`docker stop`, `kill`, network
//! disconnect), and `down -v` on drop. Uses `docker-compose` when it is
//! installed, else `docker compose`. Blocking: call it from async tests
//! through [`crate::wait::blocking`].

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::process::magnetar_bin;
use crate::raft::free_port;

/// Image tags the tests build, apart from the `:local` ones users build.
pub const TEST_IMAGE: &str = "magnetar:test";
pub const TEST_ETCD_IMAGE: &str = "magnetar-etcd:test";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

/// Runs `program args`, failing with its output unless it exits 0.
fn run(program: &str, args: &[&str], envs: &[(String, String)]) -> Result<String> {
    let output: Output = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("run {program} {}", args.join(" ")))?;
    ensure!(
        output.status.success(),
        "{program} {} failed ({}):\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `docker ARGS`, its stdout.
pub fn docker(args: &[&str]) -> Result<String> {
    run("docker", args, &[])
}

/// Builds [`TEST_IMAGE`] and [`TEST_ETCD_IMAGE`] from the `magnetar`
/// binary the tests run.
pub fn build_images() -> Result<()> {
    let binary = magnetar_bin();
    let binary = binary.to_string_lossy();
    let out = run(
        "bash",
        &["deploy/build-images.sh", "--binary", &binary],
        &[
            ("MAGNETAR_IMAGE".into(), TEST_IMAGE.into()),
            ("MAGNETAR_ETCD_IMAGE".into(), TEST_ETCD_IMAGE.into()),
        ],
    )?;
    tracing::info!(images = %out, "images built");
    Ok(())
}

/// The `secure` profile's files in `dir`, made by
/// `deploy/make-secure-files.sh` with the binary under test.
pub fn make_secure_files(dir: &std::path::Path) -> Result<()> {
    let binary = magnetar_bin();
    let out = run(
        "bash",
        &[
            "deploy/make-secure-files.sh",
            "--binary",
            &binary.to_string_lossy(),
            &dir.to_string_lossy(),
        ],
        &[],
    )?;
    tracing::info!(%out, "secure files made");
    Ok(())
}

/// The size of an image in bytes.
pub fn image_size(image: &str) -> Result<u64> {
    docker(&["image", "inspect", "--format", "{{.Size}}", image])?
        .parse()
        .with_context(|| format!("size of {image}"))
}

/// One compose project of `deploy/docker-compose.yml`. Taken down, with
/// its volumes, on drop.
pub struct ComposeStack {
    project: String,
    tool: Vec<String>,
    env: Vec<(String, String)>,
    ports: HostPorts,
}

/// Host ports the proxies publish: the first cluster's and `east`'s.
struct HostPorts {
    pulsar: u16,
    http: u16,
    east_pulsar: u16,
    east_http: u16,
    secure_pulsar_tls: u16,
    secure_https: u16,
}

impl ComposeStack {
    /// A project named `magnetar-<name>-<pid>` on free host ports; nothing
    /// runs until [`ComposeStack::up`].
    pub fn new(name: &str) -> Result<ComposeStack> {
        let tool = if Command::new("docker-compose")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            vec!["docker-compose".to_string()]
        } else {
            vec!["docker".to_string(), "compose".to_string()]
        };
        let ports = HostPorts {
            pulsar: free_port()?,
            http: free_port()?,
            east_pulsar: free_port()?,
            east_http: free_port()?,
            secure_pulsar_tls: free_port()?,
            secure_https: free_port()?,
        };
        let env = [
            ("MAGNETAR_IMAGE", TEST_IMAGE.to_string()),
            ("MAGNETAR_ETCD_IMAGE", TEST_ETCD_IMAGE.to_string()),
            ("MAGNETAR_HOST_PULSAR_PORT", ports.pulsar.to_string()),
            ("MAGNETAR_HOST_HTTP_PORT", ports.http.to_string()),
            (
                "MAGNETAR_EAST_HOST_PULSAR_PORT",
                ports.east_pulsar.to_string(),
            ),
            ("MAGNETAR_EAST_HOST_HTTP_PORT", ports.east_http.to_string()),
            (
                "MAGNETAR_SECURE_HOST_PULSAR_TLS_PORT",
                ports.secure_pulsar_tls.to_string(),
            ),
            (
                "MAGNETAR_SECURE_HOST_HTTPS_PORT",
                ports.secure_https.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(ComposeStack {
            project: format!("magnetar-{name}-{}", std::process::id()),
            tool,
            env,
            ports,
        })
    }

    /// Sets an environment variable the compose file reads.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_string(), value.to_string()));
    }

    /// `compose -p PROJECT -f deploy/docker-compose.yml ARGS`.
    pub fn compose(&self, args: &[&str]) -> Result<String> {
        let mut full: Vec<&str> = self.tool[1..].iter().map(String::as_str).collect();
        full.extend(["-p", &self.project, "-f", "deploy/docker-compose.yml"]);
        full.extend(args);
        run(&self.tool[0], &full, &self.env)
    }

    /// `up -d --scale broker=N`: returns once every container is healthy
    /// (the compose file's `depends_on` conditions order the start).
    pub fn up(&self, brokers: usize, limit: Duration) -> Result<()> {
        let scale = format!("broker={brokers}");
        self.compose(&["up", "-d", "--no-recreate", "--scale", &scale])?;
        self.wait_healthy(limit)
    }

    /// Waits until every container of the project reports healthy.
    pub fn wait_healthy(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let states = self.health_states()?;
            if !states.is_empty() && states.iter().all(|(_, s)| s == "healthy") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("not healthy after {limit:?}: {states:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `(container name, health)` of every running container of the project.
    pub fn health_states(&self) -> Result<Vec<(String, String)>> {
        let ids = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ])?;
        let mut states = Vec::new();
        for id in ids.lines() {
            let line = docker(&[
                "inspect",
                "--format",
                "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
                id,
            ])?;
            if let Some((name, state)) = line.split_once(' ') {
                states.push((name.trim_start_matches('/').to_string(), state.to_string()));
            }
        }
        Ok(states)
    }

    /// Ids of the running containers of `service`, oldest first.
    pub fn containers(&self, service: &str) -> Result<Vec<String>> {
        let out = docker(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])?;
        let mut ids: Vec<String> = out.lines().map(str::to_string).collect();
        // `docker ps` lists the newest first.
        ids.reverse();
        Ok(ids)
    }

    /// The container whose host name (its short id, what a broker
    /// advertises) is `host`.
    pub fn container_of_host(&self, service: &str, host: &str) -> Result<String> {
        self.containers(service)?
            .into_iter()
            .find(|id| id.starts_with(host))
            .with_context(|| format!("no {service} container with host name {host}"))
    }

    /// The container's address on the project network.
    pub fn ip_of(&self, container: &str) -> Result<String> {
        let ip = docker(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        ])?;
        ip.split_whitespace()
            .next()
            .map(str::to_string)
            .with_context(|| format!("{container} has no address"))
    }

    /// The project's default network.
    pub fn network(&self) -> String {
        format!("{}_default", self.project.replace('.', ""))
    }

    /// `pulsar://127.0.0.1:PORT` of the proxy, from the host.
    pub fn pulsar_url(&self) -> String {
        format!("pulsar://127.0.0.1:{}", self.ports.pulsar)
    }

    /// `127.0.0.1:PORT` of the proxy's HTTP port, from the host.
    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.ports.http)
    }

    /// `up -d` with the `geo` profile: the second cluster, `east`, beside
    /// the first; returns once every container is healthy.
    pub fn up_geo(&self, limit: Duration) -> Result<()> {
        self.compose(&["--profile", "geo", "up", "-d", "--no-recreate"])?;
        self.wait_healthy(limit)
    }

    /// `pulsar://127.0.0.1:PORT` of the `east` cluster's proxy.
    pub fn east_pulsar_url(&self) -> String {
        format!("pulsar://127.0.0.1:{}", self.ports.east_pulsar)
    }

    /// `127.0.0.1:PORT` of the `east` cluster's proxy's HTTP port.
    pub fn east_http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.ports.east_http)
    }

    /// `up -d` of the `secure` profile's broker (and so its etcd and
    /// bookies), with the files `deploy/make-secure-files.sh` wrote into
    /// `files`; returns once every container is healthy.
    pub fn up_secure(&mut self, files: &std::path::Path, limit: Duration) -> Result<()> {
        self.set_env("MAGNETAR_SECURE_DIR", &files.to_string_lossy());
        self.compose(&[
            "--profile",
            "secure",
            "up",
            "-d",
            "--no-recreate",
            "secure-broker",
        ])?;
        self.wait_healthy(limit)
    }

    /// `pulsar+ssl://localhost:PORT` of the secure broker (its certificate
    /// names `localhost`).
    pub fn secure_pulsar_url(&self) -> String {
        format!("pulsar+ssl://localhost:{}", self.ports.secure_pulsar_tls)
    }

    /// `https://localhost:PORT` of the secure broker's admin API.
    pub fn secure_https_url(&self) -> String {
        format!("https://localhost:{}", self.ports.secure_https)
    }

    /// The last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "40"])
            .unwrap_or_else(|e| format!("(no logs: {e:#})"))
    }

    /// The project's named volumes.
    pub fn volumes(&self) -> Result<Vec<String>> {
        let out = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// `down -v`: containers, network and volumes, of every cluster.
    pub fn down(&self) -> Result<()> {
        let args = [
            "--profile",
            "geo",
            "--profile",
            "secure",
            "down",
            "-v",
            "--remove-orphans",
            "--timeout",
            "10",
        ];
        self.compose(&args).map(|_| ())
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("compose down of {} failed: {e:#}", self.project);
        }
    }
}
