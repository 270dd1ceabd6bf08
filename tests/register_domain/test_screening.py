"""Red-line screening: every rule fires and does not fire; exceptions need justification and review."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from assay.errors import ConfigError, InvalidInput
from assay.register.screening import DEFAULT_RULES, OUTCOMES, load_rules, screen, severity

from .helpers import LONG_JUSTIFICATION, make, parsed

# For every rule: disclosures that must trigger it, and near misses that must not.
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "eu-art5-1a-manipulation": (
        [dict(capabilities=["manipulative_techniques"])],
        [dict(capabilities=["conversational_agent"], purposes=["recommendation"])],
    ),
    "eu-art5-1b-exploiting-vulnerabilities": (
        [dict(capabilities=["exploitation_of_vulnerabilities"])],
        [dict(groups=["children", "older_people"], purposes=["recommendation"])],
    ),
    "eu-art5-1c-social-scoring": (
        [dict(capabilities=["social_scoring"])],
        [dict(capabilities=["automated_scoring_of_people"], purposes=["creditworthiness"])],
    ),
    "eu-art5-1d-crime-prediction": (
        [dict(capabilities=["crime_risk_prediction_profiling"])],
        [dict(purposes=["offending_risk_assessment"], contexts=["law_enforcement"])],
    ),
    "eu-art5-1e-facial-scraping": (
        [dict(capabilities=["facial_image_scraping"])],
        [dict(capabilities=["remote_biometric_identification_post"])],
    ),
    "eu-art5-1f-emotion-work-education": (
        [
            dict(capabilities=["emotion_recognition"], contexts=["workplace"]),
            dict(capabilities=["emotion_recognition"], contexts=["education"]),
            dict(capabilities=["emotion_recognition"], contexts=["consumer_services"], groups=["students"]),
        ],
        [
            dict(capabilities=["emotion_recognition"], contexts=["consumer_services"], groups=["consumers"]),
            dict(capabilities=["automated_scoring_of_people"], contexts=["workplace"], groups=["workers"]),
        ],
    ),
    "eu-art5-1g-sensitive-biometric-categorisation": (
        [
            dict(capabilities=[c])
            for c in (
                "biometric_categorisation_race",
                "biometric_categorisation_religion",
                "biometric_categorisation_political_opinion",
                "biometric_categorisation_sexual_orientation",
                "biometric_categorisation_trade_union",
            )
        ],
        [dict(capabilities=["biometric_categorisation_other"]), dict(capabilities=["gender_inference"])],
    ),
    "eu-art5-1h-realtime-rbi-law-enforcement": (
        [
            dict(
                capabilities=["remote_biometric_identification_realtime"], contexts=["public_spaces", "law_enforcement"]
            ),
            dict(
                capabilities=["remote_biometric_identification_realtime"],
                contexts=["public_spaces"],
                purposes=["criminal_profiling"],
            ),
        ],
        [
            dict(capabilities=["remote_biometric_identification_realtime"], contexts=["public_spaces"]),
            dict(capabilities=["remote_biometric_identification_realtime"], contexts=["law_enforcement"]),
            dict(capabilities=["remote_biometric_identification_post"], contexts=["public_spaces", "law_enforcement"]),
        ],
    ),
    "eu-art26-10-untargeted-post-rbi": (
        [dict(capabilities=["remote_biometric_identification_post"], contexts=["law_enforcement"])],
        [
            dict(capabilities=["remote_biometric_identification_post"], contexts=["consumer_services"]),
            dict(capabilities=["biometric_verification"], contexts=["law_enforcement"]),
        ],
    ),
    "eu-annex3-1a-remote-biometric-identification": (
        [
            dict(capabilities=["remote_biometric_identification_post"]),
            dict(capabilities=["remote_biometric_identification_realtime"]),
        ],
        [dict(capabilities=["biometric_verification"], inputs=["biometric"])],
    ),
    "eu-annex3-1b-biometric-categorisation": (
        [
            dict(capabilities=["biometric_categorisation_other"]),
            dict(capabilities=["gender_inference"], inputs=["image"]),
        ],
        [dict(capabilities=["gender_inference"], inputs=["text"])],
    ),
    "eu-annex3-1c-emotion-recognition": (
        [dict(capabilities=["emotion_recognition"], contexts=["consumer_services"])],
        [dict(capabilities=["deception_detection"], contexts=["consumer_services"])],
    ),
    "eu-annex3-2-critical-infrastructure": (
        [dict(purposes=["critical_infrastructure_safety"])],
        [dict(contexts=["critical_infrastructure"], purposes=["productivity"])],
    ),
    "eu-annex3-3-education": (
        [
            dict(purposes=[p])
            for p in ("education_admission", "education_assessment", "education_level_assignment", "exam_proctoring")
        ],
        [dict(contexts=["education"], purposes=["translation"], groups=["students"])],
    ),
    "eu-annex3-4-employment": (
        [dict(purposes=["recruitment_selection"]), dict(purposes=["worker_management"])],
        [dict(contexts=["workplace"], purposes=["productivity"], groups=["workers"])],
    ),
    "eu-annex3-5a-public-benefits": (
        [dict(purposes=["benefits_eligibility"])],
        [dict(contexts=["essential_services"], purposes=["fraud_detection"], groups=["benefit_claimants"])],
    ),
    "eu-annex3-5b-creditworthiness": (
        [dict(purposes=["creditworthiness"])],
        [dict(contexts=["essential_services"], purposes=["fraud_detection"], groups=["borrowers_insured"])],
    ),
    "eu-annex3-5c-insurance": (
        [dict(purposes=["insurance_pricing"])],
        [dict(contexts=["essential_services"], purposes=["customer_service"], groups=["borrowers_insured"])],
    ),
    "eu-annex3-5d-emergency": (
        [dict(purposes=["emergency_triage"])],
        [dict(contexts=["health"], purposes=["medical_diagnosis"], groups=["patients"])],
    ),
    "eu-annex3-6-law-enforcement": (
        [
            dict(purposes=[p])
            for p in (
                "victim_risk_assessment",
                "evidence_evaluation",
                "offending_risk_assessment",
                "criminal_profiling",
            )
        ]
        + [dict(capabilities=["deception_detection"], contexts=["law_enforcement"])],
        [
            dict(capabilities=["deception_detection"], contexts=["consumer_services"]),
            dict(contexts=["law_enforcement"], purposes=["translation"]),
        ],
    ),
    "eu-annex3-7-migration-border": (
        [dict(purposes=[p]) for p in ("migration_risk_assessment", "asylum_visa_examination", "border_identification")]
        + [dict(capabilities=["deception_detection"], contexts=["migration_border"])],
        [dict(contexts=["migration_border"], purposes=["translation"], groups=["migrants_refugees"])],
    ),
    "eu-annex3-8-justice-democracy": (
        [dict(purposes=["judicial_assistance"]), dict(purposes=["election_influence"])],
        [dict(contexts=["justice_democracy"], purposes=["translation"], groups=["voters"])],
    ),
    "eu-art6-1-regulated-product": (
        [dict(safety=["medical_device"]), dict(safety=["toy", "machinery"])],
        [dict(purposes=["medical_diagnosis"], contexts=["health"])],
    ),
    "un-emotion-recognition": (
        [
            dict(capabilities=["emotion_recognition"], contexts=["consumer_services"]),
            dict(capabilities=["deception_detection"], contexts=["migration_border"]),
        ],
        [dict(capabilities=["conversational_agent", "synthetic_text"])],
    ),
    "un-gender-inference": (
        [dict(capabilities=["gender_inference"], inputs=["text"])],
        [dict(capabilities=["biometric_categorisation_other"])],
    ),
    "un-biometric-surveillance": (
        [
            dict(capabilities=["remote_biometric_identification_realtime"], contexts=["consumer_services"]),
            dict(capabilities=["facial_image_scraping"]),
            dict(purposes=["public_surveillance"], inputs=["video"]),
        ],
        [
            dict(purposes=["public_surveillance"], inputs=["geospatial"]),
            dict(capabilities=["biometric_verification"], inputs=["biometric"]),
        ],
    ),
    "un-humanitarian-biometrics": (
        [
            dict(capabilities=["humanitarian_biometric_collection"]),
            dict(contexts=["humanitarian_aid"], inputs=["biometric"]),
        ],
        [dict(contexts=["humanitarian_aid"], purposes=["aid_distribution"], inputs=["text"])],
    ),
    "eu-art50-1-interaction": (
        [dict(capabilities=["conversational_agent"])],
        [dict(capabilities=["synthetic_text"])],
    ),
    "eu-art50-2-synthetic-content": (
        [dict(capabilities=[c]) for c in ("synthetic_image", "synthetic_audio", "synthetic_video", "synthetic_text")],
        [dict(capabilities=["conversational_agent"]), dict(capabilities=["deep_fake"], outputs=["video"])],
    ),
    "eu-art50-3-emotion-categorisation-notice": (
        [
            dict(capabilities=["emotion_recognition"]),
            dict(capabilities=["biometric_categorisation_other"]),
            dict(capabilities=["gender_inference"], inputs=["video"]),
        ],
        [
            dict(capabilities=["gender_inference"], inputs=["text"]),
            dict(capabilities=["remote_biometric_identification_post"]),
        ],
    ),
    "eu-art50-4-deep-fakes": (
        [
            dict(capabilities=["deep_fake"], outputs=["video"]),
            dict(capabilities=["synthetic_text"], contexts=["media_information"]),
        ],
        [dict(capabilities=["synthetic_text"], contexts=["consumer_services"])],
    ),
}


def test_every_rule_has_firing_and_non_firing_cases() -> None:
    ids = {r.id for r in load_rules().rules}
    assert ids == set(CASES), f"untested rules: {ids - set(CASES)}; unknown cases: {set(CASES) - ids}"
    assert all(fire and miss for fire, miss in CASES.values())


def test_the_minimal_disclosure_triggers_nothing() -> None:
    result = screen(parsed(make()))
    assert result.outcome == "minimal" and result.findings == () and not result.needs_review


@pytest.mark.parametrize(
    ("rule_id", "facts"),
    [(rid, f) for rid, (fire, _) in CASES.items() for f in fire],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_rule_fires(rule_id: str, facts: dict[str, Any]) -> None:
    rule = load_rules().rule(rule_id)
    assert rule is not None
    result = screen(parsed(make(**facts)))
    finding = next((f for f in result.findings if f.rule_id == rule_id), None)
    assert finding is not None, f"{rule_id} did not fire for {facts}"
    assert finding.outcome == rule.outcome and finding.effective_outcome == rule.outcome
    assert severity(result.outcome) >= severity(rule.outcome)
    assert finding.sources and all(s.url.startswith("https://") for s in finding.sources)
    assert finding.triggered_by and "triggers it through" in finding.explanation
    assert finding.exception_status == "none"


@pytest.mark.parametrize(
    ("rule_id", "facts"),
    [(rid, f) for rid, (_, miss) in CASES.items() for f in miss],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_rule_does_not_fire(rule_id: str, facts: dict[str, Any]) -> None:
    result = screen(parsed(make(**facts)))
    assert rule_id not in [f.rule_id for f in result.findings]


def test_explanation_names_what_triggered_the_finding() -> None:
    result = screen(parsed(make(capabilities=["emotion_recognition"], contexts=["workplace"], groups=["workers"])))
    f = result.findings[0]
    assert f.rule_id == "eu-art5-1f-emotion-work-education"
    assert "\u201cEmotion recognition\u201d" in f.explanation and "\u201cWorkplace\u201d" in f.explanation
    assert ("contexts", "workplace") in f.triggered_by and ("capabilities", "emotion_recognition") in f.triggered_by


def test_un_red_line_flags_emotion_recognition_the_eu_act_allows() -> None:
    result = screen(
        parsed(make(capabilities=["emotion_recognition"], contexts=["consumer_services"], groups=["consumers"]))
    )
    ids = [f.rule_id for f in result.findings]
    assert result.outcome == "high_risk"
    assert "eu-art5-1f-emotion-work-education" not in ids
    assert "un-emotion-recognition" in ids
    un = next(f for f in result.findings if f.rule_id == "un-emotion-recognition")
    assert un.framework == "un_human_rights" and "ohchr.org" in un.sources[0].url


def test_outcome_is_the_most_severe_finding_and_findings_are_ordered() -> None:
    result = screen(parsed(make(capabilities=["social_scoring", "synthetic_text"], purposes=["creditworthiness"])))
    assert result.outcome == "prohibited"
    outcomes = [f.outcome for f in result.findings]
    assert outcomes == sorted(outcomes, key=lambda o: -severity(o))
    assert {"prohibited", "high_risk", "transparency"} == set(outcomes)


# --- Exceptions and reviews ---------------------------------------------------------------------------------

EMOTION_AT_WORK = dict(capabilities=["emotion_recognition"], contexts=["workplace"], groups=["workers"])
ART5F = "eu-art5-1f-emotion-work-education"


def claim(justification: str = LONG_JUSTIFICATION, **extra: str) -> dict[str, str]:
    return {"rule": ART5F, "exception": "medical_or_safety", "justification": justification, **extra}


def finding(result, rule_id: str = ART5F):  # type: ignore[no-untyped-def]
    return next(f for f in result.findings if f.rule_id == rule_id)


def test_a_substantive_claim_is_pending_review_and_the_outcome_stays_prohibited() -> None:
    d = parsed(make(**EMOTION_AT_WORK, claims=[claim()]))
    result = screen(d)
    f = finding(result)
    assert result.outcome == "prohibited" and result.needs_review
    assert f.exception_status == "claimed_pending_review" and f.exception == "medical_or_safety"
    assert f.effective_outcome == "prohibited" and f.review is None and f.claim_digest


@pytest.mark.parametrize(
    ("justification", "problem"),
    [
        ("It is for safety.", "at least 60"),
        (" ".join(["safety reasons apply here"] * 30), "repeats itself"),
    ],
)
def test_a_thin_justification_is_marked_missing(justification: str, problem: str) -> None:
    result = screen(parsed(make(**EMOTION_AT_WORK, claims=[claim(justification)])))
    f = finding(result)
    assert f.exception_status == "missing_justification"
    assert any(problem in p for p in f.exception_problems)
    assert result.outcome == "prohibited" and not result.needs_review


FRIA_FIELDS = (
    "process",
    "period_and_frequency",
    "affected_groups",
    "risks_of_harm",
    "human_oversight_measures",
    "measures_if_risks_materialise",
    "complaint_mechanism",
)


def test_law_enforcement_exceptions_need_legal_basis_authorisation_and_a_fria() -> None:
    facts = dict(
        capabilities=["remote_biometric_identification_realtime"], contexts=["public_spaces", "law_enforcement"]
    )
    rbi = {
        "rule": "eu-art5-1h-realtime-rbi-law-enforcement",
        "exception": "rbi_search_for_victims",
        "justification": LONG_JUSTIFICATION + " " + LONG_JUSTIFICATION.replace("system", "tool"),
    }
    f = finding(screen(parsed(make(**facts, claims=[rbi]))), "eu-art5-1h-realtime-rbi-law-enforcement")
    assert f.exception_status == "missing_justification"
    assert any("legal_basis" in p for p in f.exception_problems)
    assert any("authorisation" in p for p in f.exception_problems)
    rbi.update(legal_basis="Act X s. 5", authorisation="Court order 2026/114")
    # Art. 5(2): the use is authorised only after a fundamental-rights impact assessment (Art. 27).
    f = finding(screen(parsed(make(**facts, claims=[rbi]))), "eu-art5-1h-realtime-rbi-law-enforcement")
    assert f.exception_status == "missing_justification"
    assert f.exception_problems == (
        "the law requires this before the exception can apply: "
        "the disclosure includes a fundamental-rights impact assessment (due_diligence.fria)",
    )
    with_fria = make(**facts, claims=[rbi])
    with_fria["due_diligence"] = {"fria": {k: "Described in full." for k in FRIA_FIELDS}}
    result = screen(parsed(with_fria))
    assert finding(result, "eu-art5-1h-realtime-rbi-law-enforcement").exception_status == "claimed_pending_review"
    upheld = screen(parsed(with_fria), reviews={"eu-art5-1h-realtime-rbi-law-enforcement": "upheld"})
    assert upheld.outcome == "high_risk"  # still Annex III 1(a) and the UN line on biometric surveillance
    assert {"eu-annex3-1a-remote-biometric-identification", "un-biometric-surveillance"} <= {
        f.rule_id for f in upheld.findings
    }


def test_an_upheld_review_lowers_the_finding_but_keeps_it_visible() -> None:
    d = parsed(make(**EMOTION_AT_WORK, claims=[claim()]))
    result = screen(d, reviews={ART5F: "upheld"})
    f = finding(result)
    assert f.exception_status == "upheld" and f.review == "upheld"
    assert f.outcome == "prohibited" and f.effective_outcome == "high_risk"
    assert result.outcome == "high_risk" and not result.needs_review
    assert screen(d, reviews={ART5F: "accepted"}).outcome == "high_risk"  # the app's word for upheld


def test_a_rejected_review_keeps_the_system_prohibited() -> None:
    result = screen(parsed(make(**EMOTION_AT_WORK, claims=[claim()])), reviews={ART5F: "rejected"})
    assert finding(result).exception_status == "rejected" and result.outcome == "prohibited"
    assert not result.needs_review


def test_upholding_an_incomplete_claim_has_no_effect() -> None:
    result = screen(parsed(make(**EMOTION_AT_WORK, claims=[claim("Safety.")])), reviews={ART5F: "upheld"})
    f = finding(result)
    assert f.exception_status == "missing_justification" and result.outcome == "prohibited"
    assert any("no effect" in p for p in f.exception_problems)


def test_a_review_without_a_claim_is_ignored_and_unknown_decisions_are_refused() -> None:
    d = parsed(make(**EMOTION_AT_WORK))
    assert screen(d, reviews={ART5F: "upheld"}).outcome == "prohibited"
    with pytest.raises(InvalidInput) as info:
        screen(d, reviews={ART5F: "approved"})
    assert info.value.problems[0].path == f"reviews.{ART5F}"


def test_art_6_3_exception_is_unavailable_when_the_system_profiles_people() -> None:
    no_risk = {
        "rule": "eu-annex3-4-employment",
        "exception": "no_significant_risk",
        "justification": LONG_JUSTIFICATION,
    }
    d = parsed(make(purposes=["recruitment_selection"], profiling=True, claims=[no_risk]))
    f = finding(screen(d, reviews={"eu-annex3-4-employment": "upheld"}), "eu-annex3-4-employment")
    assert f.exception_status == "unavailable" and f.effective_outcome == "high_risk"
    assert any("profiles people" in p for p in f.exception_problems)
    d = parsed(make(purposes=["recruitment_selection"], profiling=False, claims=[no_risk]))
    result = screen(d, reviews={"eu-annex3-4-employment": "upheld"})
    assert result.outcome == "minimal"
    assert finding(result, "eu-annex3-4-employment").exception_status == "upheld"


def test_claims_for_rules_that_did_not_fire_are_reported() -> None:
    result = screen(parsed(make(claims=[claim()])))
    assert result.unmatched_claims == (ART5F,) and result.outcome == "minimal"


def test_claim_digest_changes_with_the_claim_text() -> None:
    a = finding(screen(parsed(make(**EMOTION_AT_WORK, claims=[claim()]))))
    b = finding(screen(parsed(make(**EMOTION_AT_WORK, claims=[claim(LONG_JUSTIFICATION + " Also audited.")]))))
    assert a.claim_digest != b.claim_digest


# --- The rule file ------------------------------------------------------------------------------------------


def test_bundled_rules_are_versioned_by_content() -> None:
    rules = load_rules()
    assert rules.version.startswith("2026-") and "+" in rules.version
    assert len(rules.as_data()) == len(rules.rules)
    assert all(r.outcome in OUTCOMES for r in rules.rules)


def write_rules(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    import yaml

    from assay.register.disclosure import _load_yaml

    data = _load_yaml(DEFAULT_RULES.read_text(), "red_lines.yaml")
    data = copy.deepcopy(data)
    edit(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        (
            lambda d: d["rules"][5]["when"]["all"][0].update(capabilities=["emotion_recog"]),
            "rules[5].when.all[0].capabilities[0]",
            "did you mean 'emotion_recognition'",
        ),
        (lambda d: d["rules"][0].update(sources=[]), "rules[0].sources", "at least one source"),
        (lambda d: d["rules"][1].update(id=d["rules"][0]["id"]), "rules[1].id", "duplicate"),
        (lambda d: d["rules"][3].update(exceptions=["no_such_exception"]), "rules[3].exceptions[0]", "unknown"),
        (lambda d: d["rules"][0].update(outcome="banned"), "rules[0].outcome", "unknown outcome"),
        (
            lambda d: d["rules"][0].update(when={"capabilitys": ["social_scoring"]}),
            "rules[0].when.capabilitys",
            "did you mean 'capabilities'",
        ),
        (lambda d: d["rules"][0].update(when={"all": []}), "rules[0].when.all", "non-empty"),
        (
            lambda d: d["rules"][0]["sources"][0].update(url="http://insecure.example"),
            "rules[0].sources[0].url",
            "https",
        ),
        (
            lambda d: d["exceptions"]["medical_or_safety"].update(outcome_when_upheld="prohibited"),
            "rules[5].exceptions[0]",
            "would not lower",
        ),
        (
            lambda d: d["exceptions"].update(spare=copy.deepcopy(d["exceptions"]["medical_or_safety"])),
            "exceptions.spare",
            "no rule refers",
        ),
        (
            lambda d: d["exceptions"]["medical_or_safety"].update(min_words=3),
            "exceptions.medical_or_safety.min_words",
            "20 to 1000",
        ),
        (
            lambda d: d["exceptions"]["medical_or_safety"].update(requires=["signature"]),
            "exceptions.medical_or_safety.requires",
            "legal_basis",
        ),
        (
            lambda d: d["exceptions"]["rbi_imminent_threat"].update(requires_facts=["fria_done"]),
            "exceptions.rbi_imminent_threat.requires_facts",
            "fria",
        ),
        (lambda d: d["rules"][0].update(colour="red"), "rules[0].colour", "unknown key"),
    ],
)
def test_a_bad_rule_file_fails_with_a_precise_error(tmp_path: Path, edit, path: str, words: str) -> None:  # type: ignore[no-untyped-def]
    bad = write_rules(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_rules(bad)
    found = {p.path: f"{p.message} {p.fix}" for p in info.value.problems}
    assert path in found, found
    assert words in found[path]


def test_rule_file_syntax_errors_and_duplicate_keys_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: '1'\nversion: '2'\nrules: []\n")
    with pytest.raises(ConfigError, match="duplicate key 'version'"):
        load_rules(path)
    path.write_text("version: [\n")
    with pytest.raises(ConfigError, match="not a valid YAML"):
        load_rules(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_an_edited_rule_file_gets_a_new_version_and_is_used(tmp_path: Path) -> None:
    def soften(d: dict[str, Any]) -> None:
        d["rules"] = [r for r in d["rules"] if r["id"] != "eu-art5-1c-social-scoring"]

    rules = load_rules(write_rules(tmp_path, soften))
    assert rules.version != load_rules().version
    d = parsed(make(capabilities=["social_scoring"]))
    assert screen(d, rules=rules).outcome == "minimal"
    assert screen(d).outcome == "prohibited"


# --- What kind of line: the law's prohibitions, its conditions, its obligations, the register's policy ----------


def _rule_index(rule_id: str) -> int:
    return next(i for i, r in enumerate(load_rules().rules) if r.id == rule_id)


def test_after_the_fact_police_face_search_is_conditional_not_prohibited() -> None:
    # EU AI Act Art. 26(10) sets conditions for the deployers of post-remote biometric identification; it is not
    # an Art. 5 prohibition (Art. 5(1)(h) covers real-time identification only). The register used to badge it
    # "Prohibited ... may not be placed on the market".
    result = screen(parsed(make(capabilities=["remote_biometric_identification_post"], contexts=["law_enforcement"])))
    assert result.outcome == "high_risk" and result.outcome_basis == "law"
    f = finding(result, "eu-art26-10-untargeted-post-rbi")
    assert f.kind == "condition" and f.outcome == "high_risk" and f.prohibits == ()
    assert f.as_dict()["kind_label"] == "Allowed by law only under conditions"
    assert "Art. 26(10)" in f.sources[0].cite and "48 hours" in f.explanation and "untargeted" in f.explanation
    assert all(x.outcome != "prohibited" for x in result.findings)


def test_every_prohibited_outcome_is_a_prohibition_of_the_law_that_says_what_it_forbids() -> None:
    rules = load_rules()
    for rule in rules.rules:
        assert (rule.kind == "prohibition") == (rule.outcome == "prohibited"), rule.id
        assert (rule.kind == "policy") == (rule.framework == "un_human_rights"), rule.id
        if rule.kind == "prohibition":
            assert rule.sources[0].cite.startswith("EU AI Act Art. 5(1)"), rule.id
            # Art. 5(1)(a)-(g) forbid placing on the market, putting into service and use; (h) only the use.
            expected = (
                ("use",)
                if rule.id.startswith("eu-art5-1h")
                else ("placing_on_the_market", "putting_into_service", "use")
            )
            assert rule.prohibits == expected, rule.id
    realtime = screen(
        parsed(
            make(
                capabilities=["remote_biometric_identification_realtime"], contexts=["public_spaces", "law_enforcement"]
            )
        )
    )
    assert finding(realtime, "eu-art5-1h-realtime-rbi-law-enforcement").as_dict()["prohibits"] == ["use"]


def test_an_outcome_reached_only_by_the_registers_policy_says_so() -> None:
    # Gender inference from text: no EU AI Act rule fires (Annex III 1(b) needs biometric input), the UN red line
    # does. The register's outcome is high-risk by its own policy; the law's alone is minimal.
    result = screen(parsed(make(capabilities=["gender_inference"], inputs=["text"])))
    assert result.outcome == "high_risk" and result.legal_outcome == "minimal"
    assert result.outcome_basis == "register_policy"
    assert [f.kind for f in result.findings] == ["policy"]
    assert result.as_dict()["outcome_basis"] == "register_policy"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda d: d["rules"][_rule_index("eu-art26-10-untargeted-post-rbi")].update(outcome="prohibited"),
            "only a prohibition",
        ),
        (lambda d: d["rules"][_rule_index("un-gender-inference")].update(kind="obligation"), "policy lines"),
        (lambda d: d["rules"][0].pop("prohibits"), "must list what the law forbids"),
        (lambda d: d["rules"][0].update(kind="ban"), "unknown kind"),
    ],
)
def test_a_rule_file_that_mixes_kinds_up_is_refused(tmp_path: Path, edit, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        load_rules(write_rules(tmp_path, edit))
    assert words in " ".join(p.message + " " + (p.fix or "") for p in err.value.problems)
