"""The LLM-judge tier of the faithfulness scorer: reading claim lists and verdicts out of what
models really write (well-formed, chatty, JSON, malformed), the fallbacks when they cannot be read,
and the whole judge end to end through a real llama.cpp server running the bundled SmolLM2 model.

The judge must never trust the model: a reply it cannot read becomes sentence claims or an
"unknown" verdict (counted as unsupported and reported), never a crash and never a pass.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from rag.errors import InputError, LLMError
from rag.evaluation.judge import (
    EXAMPLE_CLAIMS, NOT_SUPPORTED, SUPPORTED, UNKNOWN, ClaimJudge, combine, coverage, judge_records, parse_claims,
    parse_verdict, parse_verdicts,
)
from rag.llm import OpenAICompatible

ANSWER = ("Blue Bell has shut down its Broken Arrow, Oklahoma plant after listeria was found in a serving of ice "
          "cream. Five people in Kansas were infected and three died. The CDC says the investigation is ongoing.")
CONTEXT = ("Blue Bell ice cream has temporarily shut down one of its manufacturing plants, in Broken Arrow, "
           "Oklahoma, over the discovery of listeria contamination in a serving of ice cream. Five people were "
           "infected and three died in the past year in Kansas from listeria that might be linked to Blue Bell "
           "products, according to the CDC. \"Investigation to determine whether these illnesses are related to "
           "exposure to Blue Bell products is ongoing,\" the CDC said.")


# ------------------------------------------------------------------------------ claim lists
@pytest.mark.parametrize("reply, expected", [
    ("Here are the atomic claims:\n\n- Blue Bell has shut down its Broken Arrow plant.\n- The Broken Arrow plant "
     "is in Oklahoma.\n- Listeria was found in a serving of Blue Bell ice cream.\n- Five people in Kansas were "
     "infected.\n- Three people in Kansas died.\n- The CDC says the investigation is ongoing.\n\nI hope this helps!",
     ["Blue Bell has shut down its Broken Arrow plant.", "The Broken Arrow plant is in Oklahoma.",
      "Listeria was found in a serving of Blue Bell ice cream.", "Five people in Kansas were infected.",
      "Three people in Kansas died.", "The CDC says the investigation is ongoing."]),
    ("1. Blue Bell shut down its Broken Arrow, Oklahoma plant.\n2) Listeria was found in a serving of ice cream.\n"
     "Claim 3: Five people in Kansas were infected.\nStatement 4 - Three people died in Kansas.\n"
     "5. Three people died in Kansas.",  # a duplicate
     ["Blue Bell shut down its Broken Arrow, Oklahoma plant.", "Listeria was found in a serving of ice cream.",
      "Five people in Kansas were infected.", "Three people died in Kansas."]),
    ('Sure! ```json\n["Blue Bell shut down its Broken Arrow plant.", "Five people in Kansas were infected."]\n```',
     ["Blue Bell shut down its Broken Arrow plant.", "Five people in Kansas were infected."]),
    ('{"statements": [{"statement": "Blue Bell shut down its Broken Arrow plant."}, '
     '{"statement": "Three people died in Kansas."}]}',
     ["Blue Bell shut down its Broken Arrow plant.", "Three people died in Kansas."]),
], ids=["bullets-with-chatter", "numbered-mixed", "json-in-fence", "ragas-statements"])
def test_claim_lists_are_read_from_realistic_replies(reply: str, expected: list[str]) -> None:
    assert parse_claims(reply, ANSWER) == expected


def test_a_reply_that_echoes_the_answer_is_split_into_sentences() -> None:
    # SmolLM2-135M's usual "decomposition": the whole answer on one bullet.
    claims = parse_claims("- " + ANSWER, ANSWER)
    assert len(claims) == 3 and claims[1] == "Five people in Kansas were infected and three died."


@pytest.mark.parametrize("reply", [
    EXAMPLE_CLAIMS,  # the prompt's worked example copied back: not claims of this answer
    "I'm sorry, I can't help with that.",
    "",
    "```json\n[1, 2, 3]\n```",
    "Claims:\n-\n- \n- Yes.",
])
def test_unusable_claim_lists_come_back_empty(reply: str) -> None:
    assert parse_claims(reply, ANSWER) == []


def test_claims_are_capped_and_coverage_is_measured() -> None:
    many = "\n".join(f"- Blue Bell plant number {i} was shut down in Oklahoma." for i in range(40))
    assert len(parse_claims(many, ANSWER + " " + many, max_claims=7)) == 7
    assert coverage(["Five people in Kansas were infected."], ANSWER) < 0.5
    assert coverage(parse_claims("- " + ANSWER, ANSWER), ANSWER) == 1.0


# ------------------------------------------------------------------------------ verdicts
@pytest.mark.parametrize("reply, verdict", [
    ("SUPPORTED", SUPPORTED),
    ("**Verdict:** NOT SUPPORTED - the context dates the cup to April 2014", NOT_SUPPORTED),
    ("The claim is not supported by the context.", NOT_SUPPORTED),
    ("Unsupported.", NOT_SUPPORTED),
    ("NOT_SUPPORTED", NOT_SUPPORTED),
    ("The claim isn't supported.", NOT_SUPPORTED),
    ("The context does not support this claim.", NOT_SUPPORTED),
    ("The claim contradicts the context, which says three died.", NOT_SUPPORTED),
    ("Yes, the context states it.", SUPPORTED),
    ("No.", NOT_SUPPORTED),
    ('{"verdict": 1, "reason": "stated in the second sentence"}', SUPPORTED),
    ('```json\n{"verdict": "no", "reason": "not mentioned"}\n```', NOT_SUPPORTED),
    ("Verdict: supported", SUPPORTED),
    # what a 135M model says: the first verdict it states is the one taken
    ("The claim is SUPPORTED, while the context is NOT SUPPORTED.", SUPPORTED),
    ("The Spot is a popular restaurant located in Carpinteria, California", UNKNOWN),
    ("", UNKNOWN),
])
def test_verdicts_are_read_from_realistic_replies(reply: str, verdict: str) -> None:
    assert parse_verdict(reply)[0] == verdict


def test_a_reason_is_kept_with_its_verdict() -> None:
    assert parse_verdict("NOT SUPPORTED - the context says April 2014.") == (NOT_SUPPORTED, "the context says April 2014")


CLAIMS = ["Blue Bell shut down its Broken Arrow plant.", "Five people in Kansas died.", "The CDC is investigating."]


@pytest.mark.parametrize("reply, verdicts", [
    ("1. SUPPORTED - stated\n2. NOT SUPPORTED - three died, not five\n3. SUPPORTED",
     [SUPPORTED, NOT_SUPPORTED, SUPPORTED]),
    ("3. NOT SUPPORTED\n1. SUPPORTED", [SUPPORTED, UNKNOWN, NOT_SUPPORTED]),  # claim 2 skipped
    ('[{"statement": "Blue Bell shut down its Broken Arrow plant.", "reason": "stated", "verdict": 1}, '
     '{"statement": "Five people in Kansas died.", "reason": "three died", "verdict": 0}, '
     '{"statement": "The CDC is investigating.", "reason": "quoted", "verdict": 1}]',
     [SUPPORTED, NOT_SUPPORTED, SUPPORTED]),
    ('[{"statement": "The CDC is investigating.", "verdict": "yes"}]', [UNKNOWN, UNKNOWN, SUPPORTED]),
    ("1. Blue Bell shut down its Broken Arrow plant. - SUPPORTED\n2. Five people in Kansas died.\n"
     "Verdict: NOT SUPPORTED\n3. The CDC is investigating.", [SUPPORTED, NOT_SUPPORTED, UNKNOWN]),
    ("Claim 1: supported\nClaim 2: unsupported\nClaim 3: the context does not mention it.",
     [SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED]),
    ("SUPPORTED\nNOT SUPPORTED\nSUPPORTED", [SUPPORTED, NOT_SUPPORTED, SUPPORTED]),  # unnumbered, one a line
    ("SUPPORTED\nNOT SUPPORTED", [UNKNOWN, UNKNOWN, UNKNOWN]),  # unnumbered and one short: cannot be aligned
    ("The context talks about ice cream.", [UNKNOWN, UNKNOWN, UNKNOWN]),
], ids=["numbered", "out-of-order-and-skipped", "ragas-json", "json-by-statement", "claims-echoed",
        "claim-prefixes", "unnumbered", "unaligned", "garbage"])
def test_batch_verdicts_are_aligned_with_their_claims(reply: str, verdicts: list[str]) -> None:
    assert [v for v, _ in parse_verdicts(reply, CLAIMS)] == verdicts


# ------------------------------------------------------------------------ the judge's logic
class Replay:
    """A stand-in for the model (not for the judge): replies recorded from real models, in order."""

    name = "replay:test"
    prompt_passages = (6, 1400)

    def __init__(self, *replies: str | Exception):
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def stream(self, messages, max_tokens: int = 400) -> Iterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        yield from (reply[i:i + 7] for i in range(0, len(reply), 7))


def test_judge_scores_supported_claims_over_claims() -> None:
    gen = Replay("- Blue Bell shut down its Broken Arrow plant.\n- Five people in Kansas were infected.\n"
                 "- Three people in Kansas died.\n- The CDC says the investigation is ongoing.\n- The plant is in Texas.",
                 "1. SUPPORTED\n2. SUPPORTED\n3. SUPPORTED\n4. SUPPORTED\n5. NOT SUPPORTED - Oklahoma")
    result = ClaimJudge(gen).judge(CONTEXT, ANSWER + " The plant is in Texas.")
    assert result.score == pytest.approx(0.8) and result.hallucinated
    assert result.unsupported == ["The plant is in Texas."]
    assert result.decomposition == "llm"
    record = result.to_json()
    assert record["judge"]["claims"] == 5 and record["judge"]["supported"] == 4 and record["judge"]["unknown"] == 0
    assert record["judge"]["model"] == "replay:test"
    assert CONTEXT in gen.prompts[1][-1]["content"] and "5. The plant is in Texas." in gen.prompts[1][-1]["content"]


def test_malformed_claims_fall_back_to_sentences_and_unreadable_verdicts_count_against() -> None:
    gen = Replay(EXAMPLE_CLAIMS,  # copied the prompt's example: no claim of this answer
                 "SUPPORTED", "The Blue Bell plant is a plant.", "NOT SUPPORTED")
    result = ClaimJudge(gen, per_claim=True).judge(CONTEXT, ANSWER)
    assert result.decomposition.startswith("sentences (no usable claim list")
    assert [v.verdict for v in result.verdicts] == [SUPPORTED, UNKNOWN, NOT_SUPPORTED]
    assert result.score == pytest.approx(1 / 3) and result.hallucinated
    record = result.to_json()
    assert record["judge"]["unknown"] == 1
    assert record["unsupported"] == ["Five people in Kansas were infected and three died.",
                                     "The CDC says the investigation is ongoing."]


def test_partial_claim_lists_fall_back_to_sentences() -> None:
    gen = Replay("- Five people in Kansas were infected.", "1. SUPPORTED\n2. SUPPORTED\n3. SUPPORTED")
    result = ClaimJudge(gen).judge(CONTEXT, ANSWER)
    assert result.decomposition.startswith("sentences (the model's claims covered")
    assert len(result.verdicts) == 3 and not result.hallucinated


def test_claim_lists_that_drop_a_number_fall_back_to_sentences() -> None:
    # SmolLM2 over HTTP, asked to split "...in Houston, Texas, in 2019.": the year, the likeliest error, is gone.
    gen = Replay("- The Blue Bell shut down its plant in Houston, Texas.", "1. NOT SUPPORTED")
    result = ClaimJudge(gen).judge(CONTEXT, "Blue Bell shut down its plant in Houston, Texas, in 2019.")
    assert result.decomposition == "sentences (the model's claims dropped 2019)"
    assert result.unsupported == ["Blue Bell shut down its plant in Houston, Texas, in 2019."]


def test_an_answer_that_claims_nothing_asks_nothing() -> None:
    gen = Replay()
    result = ClaimJudge(gen).judge(CONTEXT, "Here is a summary of the article in 80 words:")
    assert result.verdicts == [] and result.score == 1.0 and not result.hallucinated and gen.prompts == []


def test_long_contexts_are_cut_to_fit_and_say_so() -> None:
    gen = Replay("- Blue Bell shut down its Broken Arrow plant.", "1. SUPPORTED")
    judge = ClaimJudge(gen, max_context_chars=200)
    result = judge.judge([CONTEXT] * 5, "Blue Bell shut down its Broken Arrow plant.")
    assert result.context_truncated and result.to_json()["judge"]["context_truncated"]
    assert len(gen.prompts[1][-1]["content"]) < 200 + 1000


def test_judge_many_reads_each_context_once_in_a_row_and_keeps_going_after_a_failure() -> None:
    other = "Ben & Jerry's opened a new plant in Vermont in 2020, its first in a decade."
    items = [(CONTEXT, "Blue Bell shut down its Broken Arrow plant.", None),
             (other, "Ben & Jerry's opened a plant in Vermont in 2020.", None),
             (CONTEXT, "Five people in Kansas were infected.", None),
             (other, "Ben & Jerry's closed its Vermont plant.", None)]
    gen = Replay("- Blue Bell shut down its Broken Arrow plant.",
                 "- Ben & Jerry's opened a plant in Vermont in 2020.",
                 "- Five people in Kansas were infected.",
                 LLMError("endpoint unavailable after 2 attempts"),
                 # verification goes by context ("Ben & Jerry's..." sorts first), then by item
                 "1. SUPPORTED", "1. SUPPORTED", "1. NOT SUPPORTED - not in the context")
    seen = []
    results = ClaimJudge(gen).judge_many(items, lambda stage, done, total: seen.append((stage, done, total)))
    assert isinstance(results[3], LLMError)
    assert [r.score for r in results[:3]] == [1.0, 1.0, 0.0]  # verdicts went back to their own answers
    verify_contexts = [CONTEXT in p[-1]["content"] for p in gen.prompts[4:]]
    assert verify_contexts == [False, True, True]  # one context's claims in a row
    assert seen[-1] == ("verify", 3, 3) and ("decompose", 4, 4) in seen


def test_combining_with_the_learned_scorer_keeps_both_verdicts() -> None:
    learned = {"score": 0.3, "hallucinated": True, "unsupported": ["The plant is in Texas."]}
    judged = {"score": 1.0, "hallucinated": False, "unsupported": [], "judge": {"claims": 2, "model": "m"}}
    both = combine(learned, judged, "and")
    assert not both["hallucinated"] and both["unsupported"] == [] and both["score"] == 0.65
    assert both["learned"] == learned and both["judge"]["claims"] == 2 and both["judge"]["hallucinated"] is False
    either = combine(learned, judged, "or")
    assert either["hallucinated"] and either["unsupported"] == ["The plant is in Texas."]
    with pytest.raises(ValueError):
        combine(learned, judged, "xor")


def test_records_in_records_out_with_the_learned_scorer_and_a_failing_model() -> None:
    from rag.faithfulness import default_scorer

    gen = Replay("- Blue Bell shut down its plant in Broken Arrow, Oklahoma.", "1. SUPPORTED",
                 LLMError("endpoint http://127.0.0.1:9/v1 unavailable after 2 attempts (ConnectError)"))
    records = [{"id": "a", "context": CONTEXT, "answer": "Blue Bell shut down its plant in Broken Arrow, Oklahoma."},
               {"context": CONTEXT, "answer": "Blue Bell shut down its plant in Houston, Texas, in 2019."}]
    out = list(judge_records(records, ClaimJudge(gen), "or", default_scorer()))
    assert out[0]["id"] == "a" and out[0]["judge"]["supported"] == 1 and out[0]["combine"] == "or"
    assert out[0]["hallucinated"] == out[0]["learned"]["hallucinated"]  # the judge passed it: the learned verdict rules
    assert out[1]["id"] == 1 and out[1]["error"].startswith("judge failed: endpoint")
    assert out[1]["learned"]["hallucinated"]  # the fast tier's verdict survives the judge's failure


# ------------------------------------------------------------ end to end: a real model over HTTP
ITEMS = [
    {"id": "faithful", "context": CONTEXT, "answer": "Blue Bell shut down its plant in Broken Arrow, Oklahoma."},
    {"id": "invented", "context": CONTEXT, "answer": "Blue Bell shut down its plant in Houston, Texas, in 2019."},
]


def _assert_record_schema(rec: dict) -> None:
    assert {"id", "score", "hallucinated", "unsupported", "judge"} <= set(rec)
    assert 0.0 <= rec["score"] <= 1.0 and isinstance(rec["hallucinated"], bool)
    j = rec["judge"]
    assert 1 <= j["claims"] <= 20 and 0 <= j["supported"] <= j["claims"] and 0 <= j["unknown"] <= j["claims"]
    assert j["model"].startswith("openai:") and "@http://127.0.0.1:" in j["model"]
    assert j["decomposition"] == "llm" or j["decomposition"].startswith("sentences (")
    assert len(j["verdicts"]) == j["claims"]
    assert all(v["verdict"] in (SUPPORTED, NOT_SUPPORTED, UNKNOWN) for v in j["verdicts"])
    assert rec["unsupported"] == [v["claim"] for v in j["verdicts"] if v["verdict"] != SUPPORTED]
    assert rec["score"] == round((j["claims"] - len(rec["unsupported"])) / j["claims"], 4)
    assert json.loads(json.dumps(rec)) == rec


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("per_claim", [False, True], ids=["all-claims-at-once", "one-request-a-claim"])
def test_real_llama_cpp_server_judges_within_bounded_requests(llama_server, per_claim: bool) -> None:
    gen = OpenAICompatible(base_url=llama_server, timeout=120, retries=1)
    judge = ClaimJudge(gen, per_claim=per_claim, max_tokens=96)
    for item in ITEMS:
        t0 = time.monotonic()
        result = judge.judge(item["context"], item["answer"])
        _assert_record_schema({"id": item["id"], **result.to_json()})
        # one request for the claims, then one for all verdicts or one per claim: nothing unbounded
        assert len(result.replies) == 1 + (len(result.verdicts) if per_claim else 1)
        assert time.monotonic() - t0 < 240
        print(f"\nSmolLM2 judged {item['id']!r}: {result.to_json()}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_judges_through_a_real_endpoint_and_combines_with_the_learned_scorer(llama_server, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    monkeypatch.setenv("RAG_LLM_RETRIES", "1")
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "faithfulness", "--input", str(path), "--judge", "openai",
                                      "--base-url", llama_server, "--combine", "and", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in records] == ["faithful", "invented"]
    for rec in records:
        assert rec["combine"] == "and"
        assert rec["hallucinated"] == (rec["learned"]["hallucinated"] and rec["judge"]["hallucinated"])
        assert set(rec["learned"]) == {"score", "hallucinated", "unsupported"}
        j = rec["judge"]  # the judge's own verdict, beside the learned one
        _assert_record_schema({"id": rec["id"], "score": j["score"], "hallucinated": j["hallucinated"],
                               "unsupported": j["unsupported"], "judge": j})
    assert not records[0]["learned"]["hallucinated"] and records[1]["learned"]["hallucinated"]


def test_cli_without_judge_is_unchanged_and_judge_flags_need_judge(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps(ITEMS[0]) + "\n", encoding="utf-8")
    plain = CliRunner().invoke(app, ["eval", "faithfulness", "--input", str(path), "--json"])
    assert plain.exit_code == 0, plain.output
    assert set(json.loads(plain.stdout)) == {"id", "score", "hallucinated", "unsupported"}
    for args in (["--combine", "and"], ["--judge", "remote"], ["--judge", "openai", "--base-url", ""]):
        bad = CliRunner().invoke(app, ["eval", "faithfulness", "--input", str(path), *args])
        assert bad.exit_code != 0 and isinstance(bad.exception, InputError), (args, bad.output)


def test_cli_reports_an_unreachable_judge_per_answer_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    from .conftest import free_port

    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}/v1"  # bound, then closed: nothing listens there
    env = {"RAG_LLM_RETRIES": "1", "RAG_LLM_TIMEOUT": "2"}
    t0 = time.monotonic()
    result = CliRunner(env=env).invoke(app, ["eval", "faithfulness", "--input", str(path), "--judge", "openai",
                                             "--base-url", url, "--json"])
    assert time.monotonic() - t0 < 30
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in records] == ["faithful", "invented"]
    assert all("unavailable after 2 attempts" in r["error"] for r in records)


# ------------------------------------------------------------------ the agreement measurement
def test_agreement_sample_is_fixed_stratified_and_never_qa() -> None:
    import sys

    root = Path(__file__).resolve().parents[1]
    if not (root.parent / "shared" / "datasets" / "ragtruth").is_dir():
        pytest.skip("../shared/datasets/ragtruth is absent: the agreement sample needs the shared datasets")
    sys.path.insert(0, str(root / "eval" / "faithfulness"))
    import judge_agreement as agreement
    import train

    assert set(train.SPLITS) == {"summary", "data2txt"}  # RAGTruth QA is a held-out test: never read
    pool = [r for r in train.load() if train.held_out(r)]
    first, again = agreement.stratified_sample(pool, 40, 0), agreement.stratified_sample(pool, 40, 0)
    assert [(r.group, r.model) for r in first] == [(r.group, r.model) for r in again]
    assert all(r.held_out for r in first)  # responses the learned scorer never trained on
    cells = {cell: sum((r.split, r.label) == cell for r in first) for cell in agreement.CELLS}
    assert cells == dict.fromkeys(agreement.CELLS, 10)
    other = agreement.stratified_sample(pool, 40, 1)
    assert {(r.group, r.model) for r in other} != {(r.group, r.model) for r in first}
