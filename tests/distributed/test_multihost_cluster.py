"""scripts/fake_cluster.sh: hosts that are hosts (own name, address, storage), joined only to
each other, reachable through its ssh stand-in, and MPICH's Hydra starting ranks on them.

References: the addresses and names the script documents (host I is NAME-hI at 10.77.0.I),
and what Hydra itself reports to each rank (PMI_RANK, MPI_LOCALRANKID).
"""

import subprocess

import pytest
from fake_cluster import SCRIPT, SSH, FakeCluster
from multiprocess_helpers import MPIEXEC, PYTHON


def on_host(cluster: FakeCluster, host: str, shell: str) -> str:
    return cluster.script("exec", host, "sh", "-c", shell).stdout


def test_up_prints_the_node_file_of_distinct_hosts(fake_cluster):
    hosts = fake_cluster.hosts
    assert hosts == [f"{fake_cluster.name}-h{i}" for i in (1, 2, 3)]
    for i, host in enumerate(hosts, start=1):
        out = on_host(fake_cluster, host, "hostname; ip -4 -o addr show dev eth0; ip route; "
                                          "getent hosts " + " ".join(hosts))
        lines = out.splitlines()
        assert lines[0] == host
        assert f"inet 10.77.0.{i}/24" in lines[1]
        # one on-link route: nothing leaves the cluster's subnet
        assert [r.split()[0] for r in lines[2:] if "dev" in r] == ["10.77.0.0/24"]
        assert [line.split() for line in lines[-len(hosts):]] == \
            [[f"10.77.0.{k}", h] for k, h in enumerate(hosts, start=1)]


def test_hosts_talk_to_each_other_over_tcp(fake_cluster):
    """A TCP server on host 3 answers a client on host 1 that knows it only by name."""
    first, _, third = fake_cluster.hosts
    serve = ("import socket; s = socket.create_server(('', 5077)); print('up', flush=True); "
             "c, addr = s.accept(); c.sendall(socket.gethostname().encode() + b' saw ' + "
             "addr[0].encode()); c.close()")
    server = subprocess.Popen(["bash", str(SCRIPT), "exec", third, PYTHON, "-c", serve],
                              env=fake_cluster.env(), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == "up\n"
        ask = (f"import socket; c = socket.create_connection(('{third}', 5077), timeout=10); "
               "print(c.recv(100).decode())")
        reply = on_host(fake_cluster, first, f"{PYTHON} -c \"{ask}\"")
        assert reply.strip() == f"{third} saw 10.77.0.1"
    finally:
        server.wait(timeout=30)


def test_node_local_storage_differs_per_host(fake_cluster):
    for host in fake_cluster.hosts:
        on_host(fake_cluster, host, f"hostname > {fake_cluster.node_local}/whoami")
    for host in fake_cluster.hosts:
        assert (fake_cluster.disk(host) / "whoami").read_text() == f"{host}\n"
        assert on_host(fake_cluster, host, f"cat {fake_cluster.node_local}/whoami") == f"{host}\n"
    assert not (fake_cluster.node_local / "whoami").exists()  # outside the cluster: empty


def test_ssh_stand_in_behaves_like_ssh(fake_cluster):
    """Options skipped, user@ accepted, words joined for the remote shell, a login env."""
    host = fake_cluster.hosts[1]
    env = fake_cluster.env(SECRET_FROM_CALLER="x")
    out = subprocess.run([str(SSH), "-x", "-o", "BatchMode=yes", f"root@{host}", "echo",
                          "$(hostname)", "${SECRET_FROM_CALLER:-unset}", "&&", "exit", "3"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (3, f"{host} unset\n")
    bad = subprocess.run([str(SSH), "nohost-h1", "true"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "unknown host 'nohost-h1'" in bad.stderr


def test_hydra_starts_ranks_on_every_host(fake_cluster, tmp_path):
    nodefile = fake_cluster.job_nodefile(tmp_path, 2)
    shell = 'echo "$PMI_RANK $MPI_LOCALRANKID $(hostname)"'
    result = fake_cluster.run_job([MPIEXEC, "-f", str(nodefile), "-n", "4", "-ppn", "2",
                                   "sh", "-c", shell], nodefile, timeout=120)
    assert result.returncode == 0, result.stderr
    first, second = fake_cluster.hosts[:2]
    assert sorted(result.stdout.splitlines()) == [f"0 0 {first}", f"1 1 {first}",
                                                  f"2 0 {second}", f"3 1 {second}"]


def test_refuses_without_root():
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "bash", str(SCRIPT), "up", "2"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 77
    assert "needs root" in result.stderr
    assert result.stdout == ""


def test_a_failed_up_tears_down_what_it_built(fake_cluster):
    """Host 2's link name is taken, so `up` fails after building host 1: nothing may stay."""
    name = "agptf" + fake_cluster.name[-1]  # a name no session holds: ours plus a suffix
    env = {**fake_cluster.env(), "FAKE_CLUSTER_NAME": name}
    subprocess.run(["ip", "link", "add", f"{name}-h2-v", "type", "bridge"], check=True)
    try:
        result = subprocess.run(["bash", str(SCRIPT), "up", "3"], env=env, capture_output=True,
                                text=True, timeout=60)
    finally:
        subprocess.run(["ip", "link", "del", f"{name}-h2-v"], check=True)
    assert result.returncode == 1
    assert "up failed" in result.stderr and "tearing down" in result.stderr
    assert result.stdout == ""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert name not in netns and name not in links
    again = subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True,
                           timeout=60)
    assert again.returncode == 0  # idempotent


@pytest.mark.parametrize("args, message", [
    (["up", "0"], "expected a host count"),
    (["throttle", "nohost-h1", "50"], "no CPU cgroup for 'nohost-h1'"),
    (["bogus"], "usage"),
])
def test_bad_arguments_get_one_clear_line(fake_cluster, args, message):
    result = fake_cluster.script(*args, check=False)
    assert result.returncode != 0
    assert message.lower() in result.stderr.lower()
