"""deploy/kubernetes/: the YAML parses (python3-yaml) and holds what
docs/deploy.md relies on — ports, gRPC probes, the drain timing, selectors,
the HPA's target and metric — checked against this build's `rmedia serve`
(its flags, its /metrics, a token-less health check).  No cluster is run
here: nothing is applied to a Kubernetes API server."""
import os
import subprocess
import sys
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import rmgrpc as r  # noqa: E402

K8S = os.path.join(r.ROOT, "deploy", "kubernetes")


def load(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def deployment():
    (d,) = load("deployment.yaml")
    assert d["apiVersion"] == "apps/v1" and d["kind"] == "Deployment"
    return d


def container(d):
    (c,) = d["spec"]["template"]["spec"]["containers"]
    return c


def flags(c):
    out = {}
    for a in c["args"][1:]:
        k, _, v = a.partition("=")
        out[k] = v
    return out


def port_named(c, name):
    (p,) = [p for p in c["ports"] if p["name"] == name]
    return p["containerPort"]


def test_deployment_ports_probes_and_labels():
    d = deployment()
    c = container(d)
    f = flags(c)
    assert c["args"][0] == "serve"
    grpc_port = port_named(c, "grpc")
    assert f["--listen"] == "0.0.0.0:%d" % grpc_port  # not loopback: the kubelet probes the pod IP
    assert f["--metrics-listen"] == "0.0.0.0:%d" % port_named(c, "metrics")
    ann = d["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == str(port_named(c, "metrics")) and ann["prometheus.io/path"] == "/metrics"
    for probe in ("readinessProbe", "livenessProbe"):
        g = c[probe]["grpc"]
        assert g["port"] == grpc_port and g.get("service", "") == ""  # the server's overall health
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_grace_period_covers_prestop_and_drain():
    d = deployment()
    c = container(d)
    sleep = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = float(flags(c)["--drain-timeout"])
    assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= sleep + drain + 1


def test_every_flag_is_one_rmedia_serve_takes():
    help_text = subprocess.run([r.RMEDIA, "serve", "--help"], capture_output=True, text=True).stdout
    for k in flags(container(deployment())):
        assert k in help_text, k


def test_services_select_the_pods():
    d = deployment()
    labels = d["spec"]["template"]["metadata"]["labels"]
    names = {p["name"] for p in container(d)["ports"]}
    svcs = load("service.yaml")
    assert {s["metadata"]["name"] for s in svcs} == {"remotemedia", "remotemedia-headless"}
    for s in svcs:
        assert s["kind"] == "Service"
        assert s["spec"]["selector"].items() <= labels.items()
        for p in s["spec"]["ports"]:
            assert p["targetPort"] in names and p["appProtocol"] == "grpc"
    (headless,) = [s for s in svcs if s["metadata"]["name"] == "remotemedia-headless"]
    assert headless["spec"]["clusterIP"] == "None"


def test_hpa_targets_the_deployment_on_a_metric_the_server_exports(tmp_path):
    (h,) = load("hpa.yaml")
    assert h["apiVersion"] == "autoscaling/v2" and h["kind"] == "HorizontalPodAutoscaler"
    d = deployment()
    ref = h["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"], ref["apiVersion"]) == ("Deployment", d["metadata"]["name"], d["apiVersion"])
    (m,) = h["spec"]["metrics"]
    name = m["pods"]["metric"]["name"]
    assert m["type"] == "Pods" and float(m["pods"]["target"]["averageValue"]) > 0
    assert h["spec"]["minReplicas"] >= 1 and h["spec"]["maxReplicas"] >= h["spec"]["minReplicas"]
    # a real server: the metric is a gauge on /metrics, and the health check
    # the probes use needs no token even when the server requires one
    tokens = tmp_path / "tokens"
    tokens.write_text("secret\n")
    s = r.Server(args=["--auth-token-file", str(tokens)], token="secret", metrics=True)
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.metrics_port(), timeout=30).read().decode()
        assert "# TYPE %s gauge" % name in text, text[:2000]
        assert any(line.startswith(name + " ") for line in text.splitlines())
        h = subprocess.run([r.RMEDIA, "remote", "health", "--server", s.address], capture_output=True, text=True,
                           env=dict(os.environ, REMOTEMEDIA_TOKEN=""))
        assert h.returncode == 0 and "SERVING" in h.stdout, h.stderr
    finally:
        s.close()
