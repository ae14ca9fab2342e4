"""deploy/kubernetes/vncd.yaml: one desktop per Deployment, its probes and its metrics
annotation on paths that a running vncd answers on its one port, and the pod's user the
image's."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.interop.vncd_process import vncd_launcher
from tests.requirements import unavailable

from .test_container import of

try:
    import yaml
except ImportError:  # the test extra installs it
    unavailable("PyYAML is not installed (the test extra brings it)")

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "vncd.yaml"
DOCUMENTS = {document["kind"]: document for document in yaml.safe_load_all(MANIFEST.read_text())}
DEPLOYMENT = DOCUMENTS["Deployment"]
POD = DEPLOYMENT["spec"]["template"]
(CONTAINER,) = POD["spec"]["containers"]


def test_one_desktop_per_deployment():
    assert DEPLOYMENT["spec"]["replicas"] == 1
    assert DEPLOYMENT["spec"]["strategy"]["type"] == "Recreate"
    selector = DEPLOYMENT["spec"]["selector"]["matchLabels"]
    assert POD["metadata"]["labels"].items() >= selector.items()
    assert DOCUMENTS["Service"]["spec"]["selector"] == selector


def test_the_service_and_probes_use_the_one_port():
    (port,) = CONTAINER["ports"]
    assert (port["name"], port["containerPort"]) == ("vnc", 5900)
    (service_port,) = DOCUMENTS["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert CONTAINER[probe]["httpGet"]["port"] == port["name"]
    annotations = POD["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])


def test_the_pod_runs_as_the_images_user():
    (user,) = of("USER")
    uid, gid = (int(part) for part in user.arguments[0].split(":"))
    security = POD["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    (password,) = CONTAINER["env"]
    assert password["name"] == "VNCD_PASSWORD"  # read by deploy/docker/vncd-entrypoint
    assert "secretKeyRef" in password["valueFrom"]


@pytest.fixture(scope="module")
def vncd_port(tmp_path_factory: pytest.TempPathFactory):
    with vncd_launcher(tmp_path_factory.mktemp("vncd")) as start:
        yield start('[source]\nkind = "demo"\n').port


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(CONTAINER["livenessProbe"]["httpGet"]["path"], id="liveness"),
        pytest.param(CONTAINER["readinessProbe"]["httpGet"]["path"], id="readiness"),
        pytest.param(POD["metadata"]["annotations"]["prometheus.io/path"], id="metrics"),
    ],
)
def test_vncd_answers_the_path(vncd_port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{vncd_port}{path}", timeout=10) as response:
        assert response.status == 200
