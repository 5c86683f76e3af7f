"""``pykatib server`` refuses at create an experiment whose nasConfig the ENAS suggester would refuse (it would
otherwise be stored and break the controller when it starts the search), and accepts Katib's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from e2e_support import KATIB_EXAMPLES
from server_support import GROUP_VERSION, Server, running_server

ENAS_CPU = KATIB_EXAMPLES / "nas" / "enas-cpu.yaml"
EXPERIMENTS = f"/apis/{GROUP_VERSION}/namespaces/kubeflow/experiments"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("nas") / "home") as started:
        yield started


def _post(server: Server, doc: dict[str, Any], **params: str) -> httpx.Response:
    with server.client() as http:
        return http.post(EXPERIMENTS, json=doc, params=params)


def test_a_bad_enas_nas_config_is_refused_at_create(server: Server) -> None:
    doc = yaml.safe_load(ENAS_CPU.read_text())
    del doc["spec"]["nasConfig"]["graphConfig"]["inputSizes"]
    response = _post(server, doc)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["reason"] == "Invalid", body
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.nasConfig.graphConfig.inputSizes",
            "message": "Missing InputSizes in GraphConfig",
        }
    ], body
    with server.client() as http:
        assert http.get(f"{EXPERIMENTS}/enas-cpu").status_code == 404
        assert http.get(EXPERIMENTS).json()["items"] == []
    assert not (server.workdir / "experiments" / "kubeflow").exists()


def test_katibs_enas_example_passes_the_create_checks(server: Server) -> None:
    response = _post(server, yaml.safe_load(ENAS_CPU.read_text()), dryRun="All")
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["nasConfig"]["graphConfig"]["inputSizes"] == [32, 32, 3]
    with server.client() as http:
        assert http.get(EXPERIMENTS).json()["items"] == []  # a dry run stores nothing
