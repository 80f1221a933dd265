//! The 3-node cluster of `deploy/nats/cluster/`, owned by one test at a time
//! (its ports are fixed), started from those very files.

use crate::nats_server::{START_LIMIT, nats_server_bin, wait_healthy};
use crate::wait_for;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Client ports of the cluster nodes (from `deploy/nats/cluster/n*.conf`).
pub const CLUSTER_CLIENT_PORTS: [u16; 3] = [14222, 14223, 14224];
/// Route ports.
pub const CLUSTER_ROUTE_PORTS: [u16; 3] = [16222, 16223, 16224];
/// Monitoring ports.
pub const CLUSTER_MONITOR_PORTS: [u16; 3] = [18222, 18223, 18224];

/// The cluster's node config files in this repository.
pub fn cluster_conf(node: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/nats/cluster")
        .join(format!("n{}.conf", node + 1))
}

/// Serialises users of the cluster's fixed ports: within this process (a
/// mutex) and across processes (an exclusive lock on a file in the temp dir).
static CLUSTER_MUTEX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The 3-node cluster of `deploy/nats/cluster/`, started from those very
/// files with a fresh temp dir as working directory (their `store_dir`s are
/// relative to it). Only one can exist at a time on a machine: its ports are
/// fixed.
pub struct NatsCluster {
    dir: tempfile::TempDir,
    nodes: [Option<Child>; 3],
    _file_lock: File,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

impl NatsCluster {
    /// Takes the cluster lock, checks every fixed port is free (a clear
    /// panic if not), starts the three nodes and waits until the meta group
    /// has a leader that every node agrees on.
    pub async fn start() -> Self {
        let mut cluster = Self::launch().await;
        for node in 0..3 {
            cluster.wait_node_healthy(node).await;
        }
        cluster.wait_meta_leader().await;
        cluster
    }

    /// Like [`Self::start`] without waiting for anything: the nodes are
    /// still finding each other when it returns, as in a fresh deployment.
    pub async fn launch() -> Self {
        let guard = CLUSTER_MUTEX.lock().await;
        let lock_path = std::env::temp_dir().join("hookline-nats-cluster-test.lock");
        let file_lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .expect("cluster lock file");
        let file_lock = tokio::task::spawn_blocking(move || {
            file_lock.lock().expect("lock the cluster lock file");
            file_lock
        })
        .await
        .expect("lock task");
        let busy: Vec<u16> = CLUSTER_CLIENT_PORTS
            .iter()
            .chain(&CLUSTER_ROUTE_PORTS)
            .chain(&CLUSTER_MONITOR_PORTS)
            .copied()
            .filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_err())
            .collect();
        assert!(
            busy.is_empty(),
            "the 3-node NATS cluster test needs 127.0.0.1 ports {busy:?}, which are in use: \
             another cluster (deploy/nats/cluster) or a leftover nats-server from a crashed \
             test is running; stop it and run again"
        );
        let mut cluster = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            nodes: [None, None, None],
            _file_lock: file_lock,
            _guard: guard,
        };
        for node in 0..3 {
            cluster.spawn(node);
        }
        cluster
    }

    /// Comma-separated URLs of all three nodes (a client's seed list).
    pub fn urls(&self) -> String {
        (0..3).map(|n| self.url(n)).collect::<Vec<_>>().join(",")
    }

    /// `nats://127.0.0.1:1422x` of one node (0, 1, 2 = n1, n2, n3).
    pub fn url(&self, node: usize) -> String {
        format!("nats://127.0.0.1:{}", CLUSTER_CLIENT_PORTS[node])
    }

    fn log_path(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("n{}.log", node + 1))
    }

    /// Every node's log.
    pub fn logs(&self) -> String {
        (0..3)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn spawn(&mut self, node: usize) {
        assert!(self.nodes[node].is_none(), "node n{} runs", node + 1);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(node))
            .expect("log file");
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(cluster_conf(node))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("nats-server starts (is it installed?)");
        self.nodes[node] = Some(child);
    }

    async fn wait_node_healthy(&mut self, node: usize) {
        let log = self.log_path(node);
        let child = self.nodes[node].as_mut().expect("node started");
        wait_healthy(child, CLUSTER_MONITOR_PORTS[node], &log).await;
    }

    /// `kill -9` of one node.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again (same config, same store dir), waits until
    /// it is healthy and the meta group has a leader again.
    pub async fn restart(&mut self, node: usize) {
        self.spawn(node);
        self.wait_node_healthy(node).await;
        self.wait_meta_leader().await;
    }

    /// `/jsz` of one node.
    pub async fn jsz(&self, node: usize, query: &str) -> Option<serde_json::Value> {
        let url = format!(
            "http://127.0.0.1:{}/jsz{query}",
            CLUSTER_MONITOR_PORTS[node]
        );
        reqwest::get(url).await.ok()?.json().await.ok()
    }

    /// Waits until every running node reports the same meta leader, and the
    /// meta group counts all three peers.
    pub async fn wait_meta_leader(&self) -> String {
        let running: Vec<usize> = (0..3).filter(|n| self.nodes[*n].is_some()).collect();
        wait_for("the meta leader of the NATS cluster", START_LIMIT, || {
            let running = running.clone();
            async move {
                let mut leaders = Vec::new();
                for n in running {
                    let jsz = self.jsz(n, "").await?;
                    let meta = jsz.get("meta_cluster")?;
                    if meta.get("cluster_size")?.as_u64()? != 3 {
                        return None;
                    }
                    leaders.push(meta.get("leader")?.as_str()?.to_string());
                }
                let first = leaders.first()?.clone();
                (!first.is_empty() && leaders.iter().all(|l| *l == first)).then_some(first)
            }
        })
        .await
    }

    /// Every stream (name → its `cluster` block) as one node sees it.
    async fn stream_views(&self, node: usize) -> Option<BTreeMap<String, serde_json::Value>> {
        let jsz = self.jsz(node, "?accounts=true&streams=true").await?;
        let mut out = BTreeMap::new();
        for account in jsz.get("account_details")?.as_array()? {
            let Some(streams) = account.get("stream_detail").and_then(|s| s.as_array()) else {
                continue;
            };
            for s in streams {
                let name = s.get("name")?.as_str()?.to_string();
                out.insert(name, s.get("cluster").cloned().unwrap_or_default());
            }
        }
        Some(out)
    }

    /// Waits until every stream of `prefix` (and its `KV_` buckets) has a
    /// leader among the running nodes and, in the leader's own view (a
    /// follower's view of its peers is stale), two current, online replicas.
    pub async fn wait_stream_leaders(&self, prefix: &str) {
        let running: Vec<usize> = (0..3).filter(|n| self.nodes[*n].is_some()).collect();
        let kv = format!("KV_{prefix}");
        wait_for(
            "every stream of the prefix to have a leader and current replicas",
            START_LIMIT,
            || {
                let (running, kv) = (running.clone(), kv.clone());
                async move {
                    let mut views = BTreeMap::new();
                    for n in &running {
                        views.insert(*n, self.stream_views(*n).await?);
                    }
                    let names: BTreeSet<&String> = views
                        .values()
                        .flat_map(|v| v.keys())
                        .filter(|n| n.starts_with(prefix) || n.starts_with(&kv))
                        .collect();
                    for name in &names {
                        let leader = views
                            .values()
                            .filter_map(|v| v.get(*name)?.get("leader")?.as_str())
                            .find(|l| !l.is_empty())?;
                        let node = node_index(leader)?;
                        let own = views.get(&node)?.get(*name)?;
                        if own.get("leader")?.as_str()? != leader {
                            return None;
                        }
                        let replicas = own.get("replicas")?.as_array()?;
                        let healthy = replicas.len() == 2
                            && replicas.iter().all(|r| {
                                r.get("current").and_then(|c| c.as_bool()) == Some(true)
                                    && r.get("offline").and_then(|o| o.as_bool()) != Some(true)
                            });
                        if !healthy {
                            return None;
                        }
                    }
                    (!names.is_empty()).then_some(())
                }
            },
        )
        .await
    }

    /// Which node (0, 1, 2) leads the named stream, as `node` sees it.
    pub async fn stream_leader(&self, node: usize, stream: &str) -> Option<usize> {
        let views = self.stream_views(node).await?;
        node_index(views.get(stream)?.get("leader")?.as_str()?)
    }
}

/// `n1` → 0, `n2` → 1, `n3` → 2 (the `server_name`s of the config files).
fn node_index(server_name: &str) -> Option<usize> {
    let i = server_name.strip_prefix('n')?.parse::<usize>().ok()?;
    (1..=3).contains(&i).then(|| i - 1)
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..3 {
            self.kill(node);
        }
    }
}
