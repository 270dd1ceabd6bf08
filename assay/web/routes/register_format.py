"""Formatting for the register's pages (labels, badges, dates): the ``h`` every register template gets."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from assay.register.labels import level_numeral, outcome_label
from assay.web.routes.register_schemas import log_url


class _Helpers:
    """Formatting for the templates (labels, badges, dates), passed to every page as ``h``."""

    OUTCOME_CLASSES = {
        "prohibited": "prohibited",
        "high_risk": "high-risk",
        "transparency": "transparency",
        "minimal": "minimal",
    }

    def __init__(self) -> None:
        from assay.register.vocabulary import VOCABULARIES

        self._by_vocab = {name: {m.value: m.label for m in vocab} for name, vocab in VOCABULARIES.items()}
        counts: dict[str, int] = {}
        labels: dict[str, str] = {}
        for table in self._by_vocab.values():
            for value, label in table.items():
                counts[value] = counts.get(value, 0) + 1
                labels[value] = label
        # A bare value is labelled only if exactly one vocabulary uses it ("other" is ambiguous).
        self._unique = {v: labels[v] for v, n in counts.items() if n == 1}
        self._fields = {
            "capabilities": "capability",
            "deployment_contexts": "deployment_context",
            "contexts": "deployment_context",
            "purposes": "purpose",
            "affected_groups": "affected_group",
            "groups": "affected_group",
            "input_modalities": "modality",
            "output_modalities": "modality",
            "modality": "modality",
            "status": "status",
            "kind": "organisation_kind",
            "decision_role": "decision_role",
            "size": "size_range",
            "safety_component_of": "regulated_product",
            "capability": "capability",
            "context": "deployment_context",
            "ai_training": "output_use",
            "ai_generative_training": "output_use",
            "data_mining": "output_use",
            "ai_inference": "output_use",
        }

    def outcome_label(self, outcome: str) -> str:
        return outcome_label(outcome)

    def outcome_class(self, outcome: str) -> str:
        return self.OUTCOME_CLASSES.get(outcome, "")

    def finding_kind(self, finding: Any) -> str:
        """prohibition, condition, obligation or policy (findings stored before kinds existed included)."""
        from assay.register.screening import finding_kind

        return finding_kind(finding)

    def kind_label(self, kind: str) -> str:
        from assay.register.screening import KIND_LABELS

        return KIND_LABELS.get(kind, kind)

    def prohibited_acts(self, findings: Any) -> str:
        """What the law forbids, in words, for the effective prohibitions among the findings."""
        from assay.register.screening import PROHIBITED_ACTS

        acts: list[str] = []
        for f in findings or []:
            if self.finding_kind(f) == "prohibition" and f.get("effective_outcome", f.get("outcome")) == "prohibited":
                for a in f.get("prohibits") or list(PROHIBITED_ACTS):
                    label = PROHIBITED_ACTS.get(a, a)
                    if label not in acts:
                        acts.append(label)
        order = list(PROHIBITED_ACTS.values())
        acts.sort(key=lambda a: order.index(a) if a in order else len(order))
        return ", ".join(acts[:-1]) + (" and " if len(acts) > 1 else "") + acts[-1] if acts else ""

    def prohibition_cites(self, findings: Any) -> str:
        cites = [
            s.get("cite", "")
            for f in findings or []
            if self.finding_kind(f) == "prohibition" and f.get("effective_outcome", f.get("outcome")) == "prohibited"
            for s in f.get("sources") or []
        ]
        return "; ".join(dict.fromkeys(c for c in cites if c))

    def roman(self, level: Any) -> str:
        return level_numeral(level)

    def label(self, field: str, value: Any) -> str:
        if not isinstance(value, str):
            return "" if value is None else str(value)
        vocab = self._fields.get(field)
        if vocab and value in self._by_vocab.get(vocab, {}):
            return self._by_vocab[vocab][value]
        return value

    def vocab_label(self, vocab: str, value: str) -> str:
        return self._by_vocab.get(vocab, {}).get(value, value)

    def humanize(self, key: Any) -> str:
        special = {
            "fria": "Fundamental-rights impact assessment (EU AI Act Art. 27)",
            "dpia": "Data-protection impact assessment",
            "tdm_opt_out": "Text-and-data-mining opt-outs",
            "url": "Link",
            "id": "Identifier in this register",
            "respects_robots_txt": "Respects robots.txt",
            "public_url": "Public page",
            "output_reuse": "What others may do with the outputs",
            "ai_training": "Training AI models on them",
            "ai_generative_training": "Training generative AI models on them",
            "data_mining": "Text and data mining",
            "ai_inference": "Feeding them to an AI system",
        }
        if key in special:
            return special[key]
        text = str(key).replace("_", " ")
        return text[:1].upper() + text[1:]

    def is_url(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(("https://", "http://")) and " " not in value

    def date(self, value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d")
        return str(value or "")[:10]

    def datetime(self, value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return str(value or "")

    def iso(self, value: Any) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value or "")

    def log_url(self, index: Any) -> str | None:
        return log_url(index)

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)

    def answers(self, answers: Any) -> list[tuple[str, str, str]]:
        """Impact questionnaire answers as (question id, question text, chosen label)."""
        from assay.register.impact import load_questionnaire

        questions = {q.id: q for q in load_questionnaire().questions}
        rows = []
        for qid, choice in (answers or {}).items():
            q = questions.get(qid)
            label = next((c.label for c in q.choices if c.id == choice), choice) if q else choice
            rows.append((qid, q.text if q else qid, label))
        return rows

    def percent(self, part: Any, whole: Any) -> str:
        try:
            return f"{100 * float(part) / float(whole):.0f}%"
        except (TypeError, ValueError, ZeroDivisionError):
            return "–"

    def short(self, value: Any, limit: int = 160) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= limit else text[: limit - 1] + "…"


_HELPERS = _Helpers()
