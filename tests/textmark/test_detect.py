"""Detection: the exact null, deduplication, windows, key rings, keys and tokenizers (numpy only, no torch)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from assay.errors import InvalidInput, NotFound
from assay.textmark import TextKey, TextTokenizer, detect
from assay.textmark._detect import _first_contexts, _windows, score_pairs
from assay.textmark._stats import gamma_log_sf


@pytest.mark.parametrize("n", [1, 2, 7, 50, 400, 3000])
def test_gamma_tail_matches_scipy(n):
    for x in [0.3 * n, n, 1.5 * n + 3, 2 * n + 20]:
        expected = stats.gamma.logsf(x, n)
        if np.isfinite(expected):  # scipy underflows to -inf below ~1e-308; see the next test for there
            assert gamma_log_sf(n, x) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_gamma_tail_edges():
    assert gamma_log_sf(0, 5.0) == 0.0
    assert gamma_log_sf(10, 0.0) == 0.0
    # Far in the tail the value stays finite (scipy's logsf underflows to -inf there): Poisson(x) <= n-1
    # is dominated by its last term, so log p ~ -x + (n-1) log x - log (n-1)! within log(n).
    n, x = 3000, 9020.0
    last = -x + (n - 1) * math.log(x) - math.lgamma(n)
    assert last <= gamma_log_sf(n, x) <= last + math.log(n)


def _sample_null(key, count, length, rng, vocab=5000):
    return np.array([detect(rng.integers(0, vocab, size=length), key, windowed=False).p_value for _ in range(count)])


def test_null_p_values_are_uniform():
    # Text written without the key: the whole-text p-value is exactly uniform (Gamma null), so a KS test passes.
    rng = np.random.default_rng(7)
    key = TextKey.generate()
    ps = _sample_null(key, 600, 120, rng)
    assert stats.kstest(ps, "uniform").pvalue > 1e-3
    # ... and the bound with windows and keys is conservative: never more alarms than the level.
    ring = [TextKey.generate() for _ in range(3)]
    adj = np.array([detect(rng.integers(0, 5000, size=300), ring).p_value for _ in range(300)])
    for level in (0.05, 0.2, 0.5):
        assert (adj <= level).mean() <= level + 0.03


# The one human text (a fortune cookie: "spagmumps, n.: Any of the millions of Styrofoam wads ...", 52 tokens of the
# bench tokenizer) that the bench's fixed key with h = 4 scored below 1e-6 (log10 p = -6.25, no windows).
_FORTUNE = [1153, 503, 77, 3488, 83, 12, 291, 14, 26, 2966, 297, 263, 289, 1971, 1108, 83, 297, 413, 793, 312, 1307,
            809, 277, 367, 83, 333, 523, 1392, 2781, 3229, 13, 669, 274, 2017, 14, 911, 571, 51, 78, 437, 268, 331,
            1710, 672, 447, 648, 402, 3596, 492, 395, 1499, 83]  # fmt: skip


def test_the_bench_fortune_false_alarm_is_chance_not_a_flaw_of_the_text_or_the_bound():
    # Over random keys the same text's p-value is uniform (what the bound promises), so nothing in the text
    # (repeats, a short or odd tokenisation) makes it score high: the bench key's 5.6e-7 is a draw of the tail.
    d = detect(_FORTUNE, TextKey(bytes(range(32)), context_width=4))
    assert d.windows_tested == 0 and d.scored == 48 and -6.3 < d.log10_p < -6.2
    # No runaway term either: 48 moderate values (the largest below 5), not one lucky pair repeated.
    terms = score_pairs(np.array(_FORTUNE, dtype=np.int64), d.key)
    assert terms.max() < 5 and _first_contexts(np.array(_FORTUNE), 4).all()
    rng = np.random.default_rng(2026)
    keys = [TextKey(rng.bytes(32), context_width=4) for _ in range(20_000)]
    lp = np.array([detect(_FORTUNE, keys[i]).log10_p for i in range(2000)])
    assert stats.kstest(10**lp, "uniform").pvalue > 1e-3
    from assay.textmark._detect import _scores

    total = _scores(np.array(_FORTUNE, dtype=np.int64), keys).sum(axis=1)
    tail = stats.gamma.logsf(total, 48) / math.log(10)
    # Binomial(20,000, 1e-2) and (20,000, 1e-3): 200 +- 3 SD and 20 +- 4 SD.
    assert 158 <= (tail <= -2).sum() <= 242 and (tail <= -3).sum() <= 38


def test_whole_text_and_windows_split_the_false_positive_budget_nine_to_one():
    key = TextKey.generate()
    rng = np.random.default_rng(3)
    text = rng.integers(0, 5000, size=400)
    d = detect(text, key)
    whole = detect(text, key, windowed=False)
    positions = 400 - key.context_width
    assert d.windows_tested == len(_windows(positions)) > 0
    if d.window is not None and d.window.end - d.window.start == positions:  # decided by the whole text
        assert d.log10_p == pytest.approx(min(0.0, whole.log10_p - math.log10(0.9)), abs=1e-9)
    # The reported p is min(p_text / 0.9, W p_best_window / 0.1), at most 1: never above the whole text's share,
    # and never below either term (a window can decide: then it is its own p times W / 0.1). The earlier form of
    # this check, p >= p_text / 0.9, failed for about 1 random key in 130, whenever a window decided.
    share = min(0.0, whole.log10_p - math.log10(0.9))
    assert d.log10_p <= share + 1e-9
    if d.window is not None and d.window.end - d.window.start < positions:  # decided by a window
        windows = len(_windows(positions))
        assert d.log10_p == pytest.approx(min(share, d.window.log10_p + math.log10(windows / 0.1)), abs=1e-9)


def test_repeated_pairs_are_counted_once():
    key = TextKey.generate(context_width=2)
    phrase = [11, 12, 13, 14, 15, 16, 17, 18]
    once = detect(phrase, key, windowed=False)
    many = detect(phrase * 50, key, windowed=False)
    # 8 tokens -> 6 pairs; repeating the phrase adds only the pairs that wrap around (18,11,12), (11,12,13)...
    assert once.scored == 6
    assert many.scored == 8
    mask = _first_contexts(np.array(phrase * 3, dtype=np.int64), 2)
    assert mask.sum() == 8 and mask[:6].all()


def test_a_repeated_context_counts_once_whatever_token_follows():
    # The generator samples a repeated context's step with true randomness: that step is noise, not mark.
    key = TextKey.generate(context_width=2)
    tokens = [1, 2, 3, 1, 2, 4]  # contexts (1,2) (2,3) (3,1) (1,2): the last one repeats, with another token
    assert detect(tokens, key, windowed=False).scored == 3
    mask = _first_contexts(np.array(tokens, dtype=np.int64), 2)
    assert mask.tolist() == [True, True, True, False]


def test_repetition_cannot_inflate_the_score():
    # The attack on detectors without deduplication: repeat a lucky high-scoring pair. Here it changes nothing.
    key = TextKey.generate(context_width=1)
    rng = np.random.default_rng(3)
    best = None
    for _ in range(2000):
        a, b = (int(x) for x in rng.integers(0, 5000, size=2))
        s = float(score_pairs(np.array([a, b], dtype=np.int64), key)[0])
        if best is None or s > best[0]:
            best = (s, a, b)
    _, a, b = best
    spam = detect([a, b] * 500, key)
    assert spam.scored <= 2 and not spam.marked


def test_window_finds_a_strong_span_and_pays_for_the_search():
    key = TextKey.generate(context_width=2)
    rng = np.random.default_rng(11)
    # Build a "marked" span by choosing, at each step, the best of 64 candidates under the key (a strong mark).
    human = list(rng.integers(0, 5000, size=600))
    span = list(rng.integers(0, 5000, size=2))
    for _ in range(100):
        cands = rng.integers(0, 5000, size=64)
        ctx = np.array(span[-2:], dtype=np.int64)
        scores = [score_pairs(np.concatenate([ctx, [c]]).astype(np.int64), key)[0] for c in cands]
        span.append(int(cands[int(np.argmax(scores))]))
    text = human[:300] + span + human[300:]
    d = detect(text, key)
    assert d.marked
    assert d.window is not None and d.window.end - d.window.start < len(text) - 10
    assert 250 <= d.window.end and d.window.start <= 420
    assert d.windows_tested == len(_windows(len(text) - 2))
    # The reported p-value includes the windows' Bonferroni factor (W / 0.1: they share a tenth of the
    # false-positive budget) over the window's own p-value.
    assert d.log10_p == pytest.approx(d.window.log10_p + math.log10(d.windows_tested / 0.1), abs=1e-6)
    plain = detect(text, key, windowed=False)
    assert plain.p_value > d.p_value


def test_key_ring_screens_all_keys_and_pays_for_them():
    keys = [TextKey.generate(system_id=f"sys-{i}") for i in range(5)]
    rng = np.random.default_rng(5)
    target = keys[3]
    h = target.context_width
    span = list(rng.integers(0, 5000, size=h))
    for _ in range(150):
        cands = rng.integers(0, 5000, size=32)
        ctx = np.array(span[-h:], dtype=np.int64)
        scores = [score_pairs(np.concatenate([ctx, [c]]).astype(np.int64), target)[0] for c in cands]
        span.append(int(cands[int(np.argmax(scores))]))
    d = detect(span, keys)
    assert d.marked and d.system_id == "sys-3" and d.keys_screened == 5
    alone = detect(span, target)
    assert d.log10_p == pytest.approx(alone.log10_p + math.log10(5), abs=1e-6)
    assert not detect(span, [k for k in keys if k is not target]).marked


def test_bad_token_input_is_refused_clearly():
    key = TextKey.generate()
    with pytest.raises(InvalidInput, match="flat sequence"):
        detect([[1, 2], [3, 4]], key)
    with pytest.raises(InvalidInput, match="non-negative"):
        detect([1, -2, 3], key)
    with pytest.raises(InvalidInput, match="integers"):
        detect([1.5, 2.5], key)
    with pytest.raises(InvalidInput, match="threshold"):
        detect([1, 2, 3], key, threshold=0)
    empty = detect([], key)
    assert not empty.marked and empty.scored == 0 and empty.p_value == 1.0
    assert not detect([1, 2, 3], []).marked


def test_key_file_round_trip_and_damage():
    key = TextKey.generate(context_width=4, system_id="acme-chat")
    again = TextKey.from_json(key.to_json())
    assert again == key and again.key_id == key.key_id and again.context_width == 4
    assert "secret" not in repr(key) and key.secret.hex() not in repr(key)
    d = json.loads(key.to_json())
    d["key_id"] = "0" * 16
    with pytest.raises(InvalidInput, match="does not match"):
        TextKey.from_json(json.dumps(d))
    with pytest.raises(InvalidInput, match="not an Assay text"):
        TextKey.from_json('{"format": "other"}')
    with pytest.raises(InvalidInput, match="not JSON"):
        TextKey.from_json("{")
    d = json.loads(key.to_json())
    d["context_width"] = 99
    with pytest.raises(InvalidInput, match="context_width"):
        TextKey.from_json(json.dumps(d))


def test_tokenizer_from_folder_file_and_bad_input(tmp_path):
    from .conftest import train_tokenizer

    tok = train_tokenizer()
    (tmp_path / "tokenizer.json").write_text(tok.to_str())
    a = TextTokenizer.from_path(tmp_path)
    b = TextTokenizer.from_path(tmp_path / "tokenizer.json")
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    ids = a.encode("The boats came back before dawn.")
    assert ids.dtype == np.int64 and a.decode(ids) == "The boats came back before dawn."
    with pytest.raises(NotFound, match="no tokenizer.json"):
        TextTokenizer.from_path(tmp_path.parent)
    with pytest.raises(InvalidInput, match="not a Hugging Face tokenizer"):
        TextTokenizer.from_bytes(b'{"not": "a tokenizer"}')
    with pytest.raises(NotFound):
        TextTokenizer.from_path(tmp_path / "missing.json")
