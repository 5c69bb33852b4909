from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from django.test import override_settings
from openapi_core import OpenAPI

from django_firstpromoter.sandbox import Sandbox
from tests import settings as test_settings

SPECS = Path(__file__).parent / "specs"
V2_URL = "https://api.firstpromoter.com/api/v2/track/sale"
V1_URL = "https://firstpromoter.com/api/v1/track/sale"
# The test settings' FIRSTPROMOTER: what ``firstpromoter()`` changes, from scratch.
BASE: dict[str, Any] = dict(test_settings.FIRSTPROMOTER)


def firstpromoter(**overrides: Any) -> override_settings:
    return override_settings(FIRSTPROMOTER={**BASE, **overrides})


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def api_version(request: pytest.FixtureRequest) -> Iterator[int]:
    with firstpromoter(API_VERSION=request.param):
        yield request.param


@pytest.fixture
def sale_url(api_version: int) -> str:
    return V2_URL if api_version == 2 else V1_URL


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A bare sandbox on a free port; Django's settings are left alone."""
    with Sandbox() as running:
        yield running


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def version(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@pytest.fixture(scope="session")
def specs() -> dict[int, OpenAPI]:
    return {v: OpenAPI.from_file_path(str(SPECS / f"openapi-v{v}-tracking.json")) for v in (1, 2)}


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """An instance of ``schema`` made of the spec's own examples."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(spec["components"]["schemas"][name], spec)
    if schema.get("type") == "object" or "properties" in schema:
        return {k: example(v, spec) for k, v in schema.get("properties", {}).items()}
    if schema.get("type") == "array":
        return [example(schema["items"], spec)]
    return schema.get("example")


def success_body(version: int, call: str = "sale") -> dict[str, Any]:
    """FirstPromoter's documented 200 answer to ``/<call>``, from its spec's examples."""
    spec = json.loads((SPECS / f"openapi-v{version}-tracking.json").read_text())
    response = spec["paths"][f"/{call}"]["post"]["responses"]["200"]
    body: dict[str, Any] = example(response["content"]["application/json"]["schema"], spec)
    return body
