"""The disclosure format: parsing YAML and JSON, precise errors for each wrong field, schema, hashing."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from assay.errors import InvalidInput
from assay.register.disclosure import (
    canonical_json,
    disclosure_json_schema,
    parse_disclosure,
    training_data_headline,
)

from .helpers import EXAMPLES, example, example_names, make, minimal


def problems_of(data: object, **kw: object) -> dict[str, tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        parse_disclosure(data, **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.problems, "every InvalidInput lists its problems"
    return {p.path: (p.message, p.fix) for p in err.problems}


def test_minimal_disclosure_parses_with_defaults() -> None:
    d = parse_disclosure(minimal())
    assert d.system.name == "Example"
    assert d.capabilities == [] and d.models == [] and d.training_data is None
    assert d.system.profiling is False


def test_yaml_and_json_forms_of_an_example_are_the_same_disclosure() -> None:
    raw = (EXAMPLES / "acme-imagegen.yaml").read_bytes()
    from_yaml = parse_disclosure(raw)
    as_json = json.dumps(from_yaml.model_dump(mode="json"), ensure_ascii=False)
    from_json = parse_disclosure(as_json.encode("utf-8"))
    assert from_json == from_yaml
    assert canonical_json(from_json) == canonical_json(from_yaml)


def test_canonical_json_ignores_key_order_and_default_fields() -> None:
    a = make(capabilities=["synthetic_text"])
    b = json.loads(json.dumps(a))
    b["system"] = dict(reversed(list(b["system"].items())))
    b["system"]["profiling"] = False  # equal to the default
    b["models"] = []
    assert canonical_json(parse_disclosure(a)) == canonical_json(parse_disclosure(b))
    text = canonical_json(parse_disclosure(a))
    assert b" " not in text.split(b'"')[0] and json.loads(text)["capabilities"] == ["synthetic_text"]
    c = make(capabilities=["synthetic_text"], profiling=True)
    assert canonical_json(parse_disclosure(c)) != text


def test_all_wrong_fields_are_reported_at_once_with_paths_and_fixes() -> None:
    data = make(capabilities=["emotion_recog"])
    data["provider"]["legal_nam"] = data["provider"].pop("legal_name")
    data["system"]["version"] = 1.1
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "cnn",
            "licence": "Apache2",
            "intended_use": "x",
            "limitations": "y",
        }
    ]
    found = problems_of(data)
    assert set(found) >= {
        "provider.legal_name",
        "provider.legal_nam",
        "system.version",
        "capabilities[0]",
        "models[0].licence",
    }
    assert "did you mean 'legal_name'" in found["provider.legal_nam"][1]
    assert "did you mean 'emotion_recognition'" in found["capabilities[0]"][1]
    assert "synthetic_image" in found["capabilities[0]"][1]  # the allowed values are listed
    assert "Apache-2.0" in found["models[0].licence"][1]
    assert "quotes" in found["system.version"][1]
    assert found["provider.legal_name"][0] == "this field is required"


def test_error_message_names_the_source_and_counts_problems() -> None:
    data = minimal()
    del data["system"]["summary"]
    with pytest.raises(InvalidInput) as info:
        parse_disclosure(data, source="acme.yaml")
    assert info.value.message == "acme.yaml: 1 field is wrong"
    assert info.value.hint.startswith("system.summary:")
    assert info.value.as_dict()["problems"][0]["path"] == "system.summary"


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["system"].update(status="live"), "system.status", "in_use"),
        (
            lambda d: d["system"].update(deployment_contexts=["workplace", "workplace"]),
            "system.deployment_contexts",
            "listed twice",
        ),
        (lambda d: d["system"].update(purposes=[]), "system.purposes", "at least 1"),
        (lambda d: d["system"].update(countries=["XX"]), "system.countries[0]", "ISO 3166"),
        (lambda d: d["provider"].update(jurisdiction="Germany"), "provider.jurisdiction", "ISO 3166"),
        (lambda d: d["provider"]["contact"].update(email="not-an-address"), "provider.contact.email", "address"),
        (lambda d: d["provider"].update(contact={"phone": "+353 1"}), "provider.contact.email", "email or a url"),
        (lambda d: d["system"].update(summary="x" * 351), "system.summary", "350"),
        (lambda d: d["system"].update(name="bad\x07name"), "system.name", "control"),
        (lambda d: d["system"].update(start_date="yesterday"), "system.start_date", "YYYY-MM-DD"),
        (lambda d: d["system"].update(start_date="2026-02-01", end_date="2026-01-01"), "system.end_date", "before"),
        (lambda d: d["system"].update(status="withdrawn"), "system.end_date", "end date"),
        (lambda d: d["system"].update(public_url="ftp://x.example"), "system.public_url", "https://"),
        (lambda d: d["system"].update(human_oversight="yes"), "system.human_oversight", "set of fields"),
        (lambda d: d.update(capabilities="synthetic_image"), "capabilities", "list"),
        (lambda d: d.update(capabilities=["synthetic_image"]), "capabilities[0]", "output_modalities"),
        (lambda d: d.update(schema_version="2"), "schema_version", "'1'"),
        (lambda d: d.update(impact_answers={"fallbak": "yes"}), "impact_answers.fallbak", "did you mean 'fallback'"),
        (lambda d: d.update(impact_answers={"fallback": "maybe"}), "impact_answers.fallback", "yes"),
        (
            lambda d: d.update(impact_answers={"vulnerable_groups": "no"}),
            "impact_answers.vulnerable_groups",
            "system.affected_groups",
        ),
    ],
)
def test_each_wrong_field_gets_its_path_and_fix(mutate, path: str, words: str) -> None:  # type: ignore[no-untyped-def]
    data = minimal()
    mutate(data)
    found = problems_of(data)
    assert path in found, found
    message, fix = found[path]
    assert words in message + " " + fix


def test_training_data_rules_are_checked_across_fields() -> None:
    data = minimal()
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "cnn",
            "licence": "other",
            "intended_use": "x",
            "limitations": "y",
        }
    ]
    data["training_data"] = {
        "modalities": [{"modality": "text", "size": "small"}, {"modality": "text", "size": "large"}],
        "sources": {},
        "processing": {"tdm_opt_out": "n/a", "illegal_content_removal": "n/a"},
        "personal_data_used": False,
        "biometric_data_used": True,
    }
    found = problems_of(data)
    assert "models[0].licence_url" in found
    assert "training_data.sources" in found
    data["training_data"]["sources"] = {
        "web_crawled": {
            "crawlers": ["bot"],
            "period": "2025",
            "respects_robots_txt": True,
            "top_domains": ["not a domain"],
        }
    }
    found = problems_of(data)
    assert "training_data.sources.web_crawled.top_domains[0]" in found
    data["training_data"]["sources"]["web_crawled"]["top_domains"] = ["Example.org"]
    found = problems_of(data)
    assert set(found) >= {"training_data.personal_data_used", "training_data.modalities[1].modality"}
    data["training_data"].update(personal_data_used=True, modalities=[{"modality": "text", "size": "small"}])
    found = problems_of(data)
    assert "training_data.personal_data_description" in found
    data["training_data"]["personal_data_description"] = "Names in crawled pages."
    data["models"][0]["licence_url"] = "https://example.org/licence"
    d = parse_disclosure(data)
    assert d.training_data is not None and d.training_data.sources.web_crawled is not None
    assert d.training_data.sources.web_crawled.top_domains == ["example.org"]


@pytest.mark.parametrize(
    ("licence", "normalised"),
    [
        ("apache-2.0", "Apache-2.0"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
        ("openrail++", "openrail++"),
        ("GPL-3.0+", "GPL-3.0-or-later"),
        ("LicenseRef-Acme-1", "LicenseRef-Acme-1"),
        ("Proprietary", "proprietary"),
    ],
)
def test_licences_are_normalised(licence: str, normalised: str) -> None:
    data = minimal()
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "cnn",
            "licence": licence,
            "intended_use": "x",
            "limitations": "y",
        }
    ]
    assert parse_disclosure(data).models[0].licence == normalised


# Blank ones too: license-expression turns "" into the string "None" (found by test_fuzz.test_mutated_examples).
@pytest.mark.parametrize("licence", ["MIT AND", "Apache-2.0 OR Foo", "LicenseRef-", "free for all", "", " ", "\u00a0"])
def test_bad_licences_are_refused(licence: str) -> None:
    data = minimal()
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "cnn",
            "licence": licence,
            "intended_use": "x",
            "limitations": "y",
        }
    ]
    assert "models[0].licence" in problems_of(data)


def test_exception_claims_must_name_a_rule_and_one_of_its_exceptions() -> None:
    claim = {"rule": "eu-art5-1f-emotion-work-educaton", "exception": "medical_or_safety", "justification": "x"}
    found = problems_of(make(claims=[claim]))
    assert "did you mean 'eu-art5-1f-emotion-work-education'" in found["exception_claims[0].rule"][1]
    claim["rule"] = "eu-art5-1f-emotion-work-education"
    claim["exception"] = "medical"
    found = problems_of(make(claims=[claim]))
    assert "medical_or_safety" in found["exception_claims[0].exception"][1]
    claim["rule"] = "eu-art5-1c-social-scoring"
    found = problems_of(make(claims=[claim]))
    assert "allows no exception" in found["exception_claims[0].rule"][0]
    ok = dict(claim, rule="eu-art5-1f-emotion-work-education", exception="medical_or_safety")
    found = problems_of(make(claims=[ok, ok]))
    assert "exception_claims[1].rule" in found


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"\xff\xfeschema_version: '1'", "UTF-8"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first given on line 1) (line 3"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("a: &x 1\nb: *x\n", "aliases"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("a: [1, 2\n", "not valid YAML at line"),
        ('{"a": [1, 2}', "not valid JSON at line 1"),
        ('{"a": NaN}', "not a JSON number"),
        ("", "empty"),
        ("   \n# only a comment\n", "empty"),
        ("- a\n- b\n", "is a list"),
        ("just text", "is a text"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("a:\n  " + "- " * 3000 + "x\n", "nested too deeply"),
        ("a: " + "{b: " * 3000 + "1" + "}" * 3000, "nested too deeply"),
        ("<<: {a: 1}\n", "merge keys"),
        ("? [1, 2]\n: x\n", "not text"),
        ("a: !!python/object:os.system x\n", "not valid YAML"),
    ],
)
def test_malformed_documents_get_one_clear_error(text: str | bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_disclosure(text)
    assert words in info.value.message, info.value.message
    assert info.value.hint and info.value.problems


def test_oversized_documents_are_refused_before_parsing() -> None:
    big = b"schema_version: '1'\n" + b"# padding\n" * 200
    with pytest.raises(InvalidInput) as info:
        parse_disclosure(big, max_bytes=100)
    assert "limit is 100" in info.value.message
    with pytest.raises(InvalidInput):
        parse_disclosure(big.decode(), max_bytes=100)


def test_yaml_scalars_follow_yaml_1_2_so_codes_and_dates_stay_text() -> None:
    text = yaml.safe_dump(make()).replace("jurisdiction: IE", "jurisdiction: NO").replace("- IE", "- 'NO'")
    text = text.replace("version: '1.0'", "version: 2026-01-01")
    d = parse_disclosure(text)
    assert d.provider.jurisdiction == "NO"  # Norway, not false (YAML 1.1 would read NO as a boolean)
    assert d.system.version == "2026-01-01"  # a date stays text in a text field


def test_utf8_bom_and_non_ascii_text_are_accepted() -> None:
    data = make()
    data["system"]["name"] = "Système d'aide à la décision – Ωmega"
    text = "\ufeff" + json.dumps(data, ensure_ascii=False)
    assert parse_disclosure(text.encode("utf-8")).system.name == data["system"]["name"]


def test_non_mapping_python_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_disclosure(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        parse_disclosure({1: "x"})  # type: ignore[dict-item]


def test_many_problems_are_capped() -> None:
    data = minimal()
    data["system"]["countries"] = [f"Q{i}" for i in range(150)]
    with pytest.raises(InvalidInput) as info:
        parse_disclosure(data)
    assert len(info.value.problems) <= 101


def test_json_schema_is_2020_12_with_a_stable_id_and_accepts_every_example() -> None:
    schema = disclosure_json_schema("https://register.example/")
    assert schema["$id"] == "https://register.example/schema/disclosure/v1.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for name in example_names():
        from assay.register.disclosure import _load_yaml

        document = _load_yaml((EXAMPLES / f"{name}.yaml").read_text(), name)
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_json_schema_rejects_what_the_parser_rejects() -> None:
    validator = jsonschema.Draft202012Validator(disclosure_json_schema("https://r.example"))
    good = make()
    assert validator.is_valid(good)
    for bad in (
        dict(good, capabilities=["mind_reading"]),
        dict(good, extra_field=1),
        dict(good, impact_answers={"fallback": "maybe"}),
        dict(good, impact_answers={"vulnerable_groups": "no"}),  # derived questions are not answerable
        dict(good, schema_version="2"),
    ):
        assert not validator.is_valid(bad)
        with pytest.raises(InvalidInput):
            parse_disclosure(bad)


def test_training_data_headline_is_one_plain_sentence() -> None:
    for name in example_names():
        line = training_data_headline(example(name))
        assert line.endswith(".") and line.count(". ") == 0 and len(line) < 300
    assert "very large amount of images" in training_data_headline(example("acme-imagegen"))
    assert "biometric data" in training_data_headline(example("eastmark-police-face-search"))
    assert "no trained model" in training_data_headline(parse_disclosure(minimal()))
    data = make()
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "cnn",
            "licence": "MIT",
            "intended_use": "x",
            "limitations": "y",
        }
    ]
    assert "not published" in training_data_headline(parse_disclosure(data))


def test_disclosure_is_immutable() -> None:
    d = parse_disclosure(minimal())
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        d.system.name = "Other"  # type: ignore[misc]
    copy.deepcopy(d)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &x 1\nb: *x\n", "aliases"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a:\n  " + "- " * 60 + "x\n", "nested too deeply"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("\x00a: 1", "not valid YAML"),
    ],
)
def test_the_libyaml_and_pure_python_loaders_refuse_the_same_things(monkeypatch, text: str, words: str) -> None:  # type: ignore[no-untyped-def]
    from assay.register import disclosure

    for loader in {disclosure._Loader, disclosure._YAML_LOADER}:
        monkeypatch.setattr(disclosure, "_YAML_LOADER", loader)
        with pytest.raises(InvalidInput) as info:
            parse_disclosure(text)
        assert words in info.value.message, (loader, info.value.message)


def test_the_libyaml_and_pure_python_loaders_read_examples_alike(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assay.register import disclosure

    fast = [example(n) for n in example_names()]
    monkeypatch.setattr(disclosure, "_YAML_LOADER", disclosure._Loader)
    assert [example(n) for n in example_names()] == fast
    assert (
        parse_disclosure(yaml.safe_dump(make()).replace("jurisdiction: IE", "jurisdiction: NO")).provider.jurisdiction
        == "NO"
    )
