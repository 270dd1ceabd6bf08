"""parse_disclosure never raises anything but InvalidInput, whatever it is given."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import InvalidInput
from assay.register.disclosure import Disclosure, canonical_json, parse_disclosure
from assay.register.impact import assess_impact
from assay.register.screening import screen

from .helpers import EXAMPLES, example_names

# ASSAY_TEST_FUZZ_EXAMPLES raises the number of examples for a longer local run (1,500 passes in about a minute).
FUZZ = settings(
    max_examples=int(os.environ.get("ASSAY_TEST_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def outcome_of(data: Any) -> Disclosure | None:
    """Parse; a success must also screen and assess without error, a failure must be InvalidInput."""
    try:
        d = parse_disclosure(data)
    except InvalidInput as exc:
        assert exc.problems and all(p.path and p.message for p in exc.problems)
        exc.as_dict()  # the API serialises it
        return None
    screen(d)
    assess_impact(d)
    assert parse_disclosure(canonical_json(d)) == d
    return d


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    outcome_of(data)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(data: str) -> None:
    outcome_of(data)


@FUZZ
@given(json_values)
def test_arbitrary_json_like_values_as_mapping_json_and_yaml(value: Any) -> None:
    if isinstance(value, dict):
        outcome_of(value)
    outcome_of(json.dumps(value))
    outcome_of(yaml.safe_dump(value))


_DOCUMENTS = {
    name: json.loads(canonical_json(parse_disclosure((EXAMPLES / f"{name}.yaml").read_bytes())))
    for name in example_names()
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(st.sampled_from(sorted(_DOCUMENTS)), st.data())
def test_mutated_examples(name: str, data: st.DataObject) -> None:
    document = copy.deepcopy(_DOCUMENTS[name])
    paths = [p for p in _paths(document) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(["replace", "delete"]))
            if action == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    outcome_of(document)
    outcome_of(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.sampled_from(sorted(_DOCUMENTS)), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
def test_corrupted_example_bytes(name: str, at: int, junk: bytes) -> None:
    raw = (EXAMPLES / f"{name}.yaml").read_bytes()
    at = at % len(raw)
    outcome_of(raw[:at] + junk + raw[at + len(junk) :])
