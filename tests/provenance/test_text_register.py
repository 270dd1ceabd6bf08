"""Text provenance in the register: keys per system, tokenizers, records, log entries (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from assay.errors import Conflict, Forbidden, InvalidInput, NotFound
from assay.provenance.text import (
    export_text_key,
    list_text_keys,
    load_keyring,
    record_texts,
    register_text_watermark,
    revoke_text_key,
    text_secret,
    text_sha256,
)
from assay.provenance.textmodels import TextKeyRecord, TextRecord
from assay.textmark import TextKey
from assay.transparency.models import LogEntry


def _tokenizer_json() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog " * 20], trainer=trainer)
    return tok.to_str().encode()


def _entries(db, kind):
    with db.read() as s:
        rows = s.scalars(select(LogEntry.data).order_by(LogEntry.idx)).all()
    return [json.loads(r) for r in rows if json.loads(r)["kind"] == kind]


def test_register_issues_a_derived_key_logs_it_and_exports_only_to_the_provider(register):
    acme = register.principal(register.acme_token)
    info = register_text_watermark(
        register.db, register.env, system_id="acme-writer", tokenizer_json=_tokenizer_json(), principal=acme
    )
    # h = 2 is the default for new keys since 2026-12 (bench/text/STEALING.md); keys issued before keep their 3.
    assert info.number == 1 and info.context_width == 2 and len(info.tokenizer_sha256) == 64
    key = export_text_key(register.db, register.env, system_id="acme-writer", principal=acme)
    assert isinstance(key, TextKey) and key.key_id == info.key_id and key.system_id == "acme-writer"
    assert key.secret == text_secret(register.env.keys.master, "acme-writer", 1)
    [entry] = _entries(register.db, "text.key.issued")
    assert entry["body"]["key_id"] == info.key_id and entry["body"]["system"] == "acme-writer"
    assert key.secret.hex() not in json.dumps(entry)
    other = register.principal(register.other_token)
    with pytest.raises(Forbidden):
        export_text_key(register.db, register.env, system_id="acme-writer", principal=other)


def test_a_new_key_revokes_the_old_one_and_both_stay_in_the_keyring(register):
    acme = register.principal(register.acme_token)
    data = _tokenizer_json()
    first = register_text_watermark(
        register.db, register.env, system_id="acme-writer", tokenizer_json=data, principal=acme
    )
    second = register_text_watermark(
        register.db, register.env, system_id="acme-writer", tokenizer_json=data, principal=acme, context_width=3
    )
    assert second.number == 2 and second.key_id != first.key_id
    assert (first.context_width, second.context_width) == (2, 3)
    with register.db.read() as s:
        keys = list_text_keys(s, system_id="acme-writer")
    assert [k.revoked_at is not None for k in keys] == [True, False]
    assert len(_entries(register.db, "text.key.revoked")) == 1
    ring = load_keyring(register.db, register.env.keys.master)
    assert ring.size == 2 and len(ring.groups) == 1  # one tokenizer, stored once
    assert sorted(k.context_width for k in ring.groups[0][1]) == [2, 3]  # each key keeps the width it was issued with
    revoke_text_key(register.db, system_id="acme-writer", principal=acme, reason="leaked")
    with pytest.raises(NotFound, match="no text key"):
        export_text_key(register.db, register.env, system_id="acme-writer", principal=acme)
    with pytest.raises(Conflict):
        revoke_text_key(register.db, system_id="acme-writer", principal=acme)


def test_refusals_write_nothing(register):
    acme = register.principal(register.acme_token)
    with pytest.raises(InvalidInput, match="not a Hugging Face tokenizer"):
        register_text_watermark(
            register.db, register.env, system_id="acme-writer", tokenizer_json=b"{}", principal=acme
        )
    with pytest.raises(Forbidden, match="synthetic_text"):
        register_text_watermark(
            register.db, register.env, system_id="acme-imagegen", tokenizer_json=_tokenizer_json(), principal=acme
        )
    with pytest.raises(Forbidden):
        register_text_watermark(
            register.db,
            register.env,
            system_id="acme-writer",
            tokenizer_json=_tokenizer_json(),
            principal=register.principal(register.other_token),
        )
    with pytest.raises(InvalidInput, match="context_width"):
        register_text_watermark(
            register.db, register.env, system_id="acme-writer", tokenizer_json=b"{}", principal=acme, context_width=0
        )
    with register.db.read() as s:
        assert s.scalars(select(TextKeyRecord)).all() == []
    assert _entries(register.db, "text.key.issued") == []


def test_records_hash_the_normalised_text_and_are_all_or_nothing(register):
    acme = register.principal(register.acme_token)
    register_text_watermark(
        register.db, register.env, system_id="acme-writer", tokenizer_json=_tokenizer_json(), principal=acme
    )
    out = record_texts(
        register.db, register.env, system_id="acme-writer", texts=["The  quick\nbrown fox. "], principal=acme
    )
    assert out[0]["sha256"] == text_sha256("The quick brown fox.") and out[0]["tokens"] > 0
    [entry] = _entries(register.db, "text.recorded")
    assert entry["body"]["sha256"] == out[0]["sha256"] and "fox" not in json.dumps(entry)
    with pytest.raises(InvalidInput, match="sha256 2"):
        record_texts(
            register.db,
            register.env,
            system_id="acme-writer",
            sha256s=["a" * 64, "not-a-hash"],
            principal=acme,
        )
    with register.db.read() as s:
        assert len(s.scalars(select(TextRecord)).all()) == 1
    with pytest.raises(Forbidden):
        record_texts(
            register.db,
            register.env,
            system_id="acme-writer",
            texts=["x"],
            principal=register.principal(register.other_token),
        )


def test_derivation_is_separate_per_system_and_number():
    master = bytes(32)
    a1, a2, b1 = text_secret(master, "a", 1), text_secret(master, "a", 2), text_secret(master, "b", 1)
    assert len({a1, a2, b1}) == 3 and text_secret(master, "a", 1) == a1
    # A zero byte ends the system id (ids never contain one), so ("ab", n) and ("a", m) cannot collide.
    assert text_secret(master, "ab", 1) != text_secret(master, "a", 1)


def test_the_cli_states_the_default_context_width_new_keys_get() -> None:
    # The CLI leaves the width to assay.textmark (None when not given); its help names the number, kept in step here.
    from assay.cli import command_tree
    from assay.textmark._keys import DEFAULT_CONTEXT_WIDTH

    register_cmd = command_tree().commands["text"].commands["register"]  # type: ignore[attr-defined]
    [option] = [p for p in register_cmd.params if p.name == "context_width"]
    assert option.default is None and f"default {DEFAULT_CONTEXT_WIDTH}," in (option.help or "")
