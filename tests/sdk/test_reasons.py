"""Every reason code of the contract is documented once, with a meaning and what an operator
does about it, and docs/reason-codes.md is that table."""

from __future__ import annotations

from pathlib import Path

from ml2_contract import vocabulary
from ml2_driver_sdk import reasons

ROOT = Path(__file__).resolve().parents[2]


def _contract_codes() -> set[str]:
    """The reason codes ``ml2_contract.vocabulary`` defines: the string constants of its
    reason-code section that are codes (their value has the codes' form)."""
    source = (ROOT / "contract" / "ml2_contract" / "vocabulary.py").read_text()
    section = source.split("decline reason codes", 1)[1].split("\n# ---", 1)[0]
    names = [line.split(" = ")[0] for line in section.splitlines() if ' = "' in line]
    return {getattr(vocabulary, n) for n in names if reasons.is_valid_code(getattr(vocabulary, n))}


def test_every_code_of_the_vocabulary_is_documented_once() -> None:
    documented = [c.code for c in reasons.CODES]
    assert len(documented) == len(set(documented))
    assert set(documented) == _contract_codes()
    assert set(vocabulary.DRIVER_REASON_CODES) == reasons.DRIVER_CODES


def test_each_code_says_who_gives_it_what_it_means_and_what_to_do() -> None:
    for code in reasons.CODES:
        assert reasons.is_valid_code(code.code), code.code
        assert code.given_by in ("driver", "mechmgr", "portapi"), code.code
        assert code.meaning.endswith(".") and len(code.meaning) > 20, code.code
        assert code.action.endswith(".") and len(code.action) > 20, code.code


def test_the_code_form_is_upper_snake_case() -> None:
    assert reasons.is_valid_code("ACME_PORT_DOWN") and reasons.is_valid_code("E2E_FAIL")
    for bad in ("", "acme", "ACME-DOWN", "_ACME", "ACME_", "ACME__DOWN", "1ACME"):
        assert not reasons.is_valid_code(bad), bad


def test_docs_reason_codes_is_the_table() -> None:
    assert (ROOT / "docs" / "reason-codes.md").read_text() == reasons.markdown(), (
        "docs/reason-codes.md is stale: python -m ml2_driver_sdk.reasons > docs/reason-codes.md"
    )
