"""The contract checks, one per rule, each with a stable id; ``run`` runs them all against one
driver process and returns the ``Report``.

Each check sends its own requests (built by ``requests.Requests`` from the driver's
description) and judges only its own rule, so that a broken driver fails the rule it breaks.
Every check but ``answers-within-deadline`` waits ``patience`` for an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2_contract import vocabulary
from ml2_driver_sdk.conformance import faults, probe, requests
from ml2_driver_sdk.conformance.report import Failure, Report, Result, result
from ml2_driver_sdk.runtime import auth, tls

DEFAULT_DEADLINE = 1.0
"""mechmgr's default deadline of one call to a driver (``MECHMGR_DRIVER_TIMEOUT_SECONDS``)."""
DEFAULT_HOST = "compute-1"
CONCURRENT_ROUNDS = 8


@dataclass
class Session:
    """What the checks share: the probe, the driver's description and the request builder."""

    kit: probe.Probe
    deadline: float
    description: pb.DescribeDriverResponse
    build: requests.Requests
    codes: frozenset[str]
    made: list[probe.Exchange] = field(default_factory=list)

    def propose(self, offer: requests.Offer, timeout: float | None = None) -> probe.Reply:
        """Sends an offer and keeps the exchange."""
        reply = self.kit.propose(offer.request, offer.note, timeout)
        self.made.append(reply[1])
        return reply


Rule = Callable[[Session], list[Failure]]


@dataclass(frozen=True)
class Check:
    """One rule of the driver contract."""

    id: str
    description: str
    rule: Rule


# ------------------------------------------------------------------------------- the rules


def describes_consistently(s: Session) -> list[Failure]:
    """Two DescribeDriver answers agree and are well-formed; every complete uses a vif_type
    and binds a network type the description lists."""
    d = s.description
    failures = [Failure(m, s.made[-1] if s.made else None) for m in faults.description_faults(d)]
    again, exchange = s.kit.describe("asked again")
    s.made.append(exchange)
    if again != d:
        failures.append(Failure("DescribeDriver answered differently the second time", exchange))
    for offer in s.build.bindable():
        reply, exchange = s.propose(offer)
        if reply is None or reply.WhichOneof("outcome") != "complete":
            continue
        done = reply.complete
        seg = next((x for x in offer.request.segments_to_bind if x.id == done.segment_id), None)
        if done.vif_type not in d.vif_types:
            failures.append(
                Failure(
                    f"offer {offer.note!r}: completed with vif_type {done.vif_type!r}, which it "
                    f"does not describe (vif_types: {', '.join(d.vif_types) or 'none'})",
                    exchange,
                )
            )
        if seg is not None and seg.network_type not in d.supported_network_types:
            failures.append(
                Failure(
                    f"offer {offer.note!r}: bound a {seg.network_type} segment, a network type "
                    "it does not describe",
                    exchange,
                )
            )
    return failures


def answers_within_deadline(s: Session) -> list[Failure]:
    """DescribeDriver and every offer are answered within the deadline."""
    failures = []
    _, exchange = s.kit.describe("within the deadline", timeout=s.deadline)
    s.made.append(exchange)
    exchanges = [exchange]
    for offer in s.build.bindable() + s.build.declining():
        exchanges.append(s.propose(offer, timeout=s.deadline)[1])
    for e in exchanges:
        if e.code == "DEADLINE_EXCEEDED" or e.seconds > s.deadline:
            what = e.note and f" ({e.note})"
            failures.append(Failure(f"{e.rpc}{what}: no answer within {s.deadline:g}s", e))
    return failures


def binds_only_offered_segments(s: Session) -> list[Failure]:
    """Every complete and continue names an offered segment (and a vif_type a driver may
    choose, a segment for the next level); at least one offer is bound."""
    failures = []
    bound = 0
    for offer in s.build.bindable() + s.build.declining():
        reply, exchange = s.propose(offer)
        if reply is None:
            failures.append(Failure(f"offer {offer.note!r}: {exchange.answer()}", exchange))
            continue
        fault = faults.proposal_fault(reply, offer.offered)
        if fault:
            failures.append(Failure(f"offer {offer.note!r}: {fault}", exchange))
        bound += reply.WhichOneof("outcome") in ("complete", "continued")
    if not bound and not failures:
        failures.append(
            Failure(
                "bound none of the offers it should be able to bind (each of its network types, "
                "with a live agent of its type that maps physnet1 and its tunnel types): the "
                "rule cannot be shown",
                s.made[-1] if s.made else None,
            )
        )
    return failures


def declines_with_vocabulary(s: Session) -> list[Failure]:
    """What the driver cannot bind by its description is declined; every decline has reasons
    with vocabulary codes and messages, about offered segments only."""
    failures = []
    for offer in s.build.declining() + s.build.bindable():
        reply, exchange = s.propose(offer)
        if reply is None:
            if offer.must_decline:
                failures.append(Failure(f"offer {offer.note!r}: {exchange.answer()}", exchange))
            continue
        outcome = reply.WhichOneof("outcome")
        if outcome != "declined":
            if offer.must_decline:
                failures.append(
                    Failure(f"offer {offer.note!r}: answered {outcome}, not a decline", exchange)
                )
            continue
        found = dict.fromkeys(faults.decline_faults(reply.declined, offer.offered, s.codes))
        if found:
            failures.append(Failure(f"offer {offer.note!r}: {'; '.join(found)}", exchange))
    return failures


def tolerates_unknown_fields(s: Session) -> list[Failure]:
    """Unknown fields change no answer; an unknown vnic type number is refused or declined."""
    failures = []
    for offer in s.build.bindable()[:1] + s.build.declining()[:1]:
        plain, plain_exchange = s.propose(offer)
        data = _with_unknown_fields(offer.request)
        note = f"{offer.note}, with unknown fields in the request, its segments and agents"
        reply, exchange = s.kit.propose_bytes(data, probe.shown(offer.request), note)
        s.made.append(exchange)
        if reply is None or reply != plain:
            failures.append(
                Failure(
                    f"offer {offer.note!r} with unknown fields: answered {exchange.answer()}, "
                    f"not as without them ({plain_exchange.answer()})",
                    exchange,
                )
            )
    request = pb.ProposeBindingRequest()
    request.CopyFrom(s.build.bindable()[0].request)
    request.vnic_type = 4095  # type: ignore[assignment]
    reply, exchange = s.kit.propose(request, "vnic_type 4095, a number no contract defines")
    s.made.append(exchange)
    fault = faults.tolerance_fault(reply, exchange)
    if fault:
        failures.append(Failure(f"vnic_type 4095: {fault}", exchange))
    return failures


def _with_unknown_fields(request: pb.ProposeBindingRequest) -> bytes:
    copy = pb.ProposeBindingRequest()
    copy.CopyFrom(request)
    for seg in copy.segments_to_bind:
        seg.MergeFromString(probe.unknown_fields(900))
    for agent in copy.host_agents:
        agent.MergeFromString(probe.unknown_fields(900))
    return copy.SerializeToString() + probe.unknown_fields(990)


def tolerates_empty_request(s: Session) -> list[Failure]:
    """An empty request and one without segments are refused with a message (or declined),
    and the driver still answers."""
    failures = []
    empty = pb.ProposeBindingRequest()
    no_segments = pb.ProposeBindingRequest()
    no_segments.CopyFrom(s.build.bindable()[0].request)
    del no_segments.segments_to_bind[:]
    for request, note in ((empty, "an empty request"), (no_segments, "no segments to bind")):
        reply, exchange = s.kit.propose(request, note)
        s.made.append(exchange)
        fault = faults.tolerance_fault(reply, exchange)
        if not fault and reply is not None and reply.WhichOneof("outcome") != "declined":
            fault = f"answered {reply.WhichOneof('outcome')} with no segment offered"
        if fault:
            failures.append(Failure(f"{note}: {fault}", exchange))
    return failures + _still_answers(s)


def tolerates_oversized_request(s: Session) -> list[Failure]:
    """Many segments and agents, a large profile and a 5 MiB request are answered or refused
    with a message, and the driver still answers."""
    failures = []
    many = s.build.oversized(segments=2000, agents=300)
    profiled = pb.ProposeBindingRequest()
    profiled.CopyFrom(s.build.bindable()[0].request)
    profiled.profile.update({f"key{i}": "x" * 100 for i in range(80)})
    huge = pb.ProposeBindingRequest()
    huge.CopyFrom(s.build.bindable()[0].request)
    huge.port_id = "p" * (5 * 1024 * 1024)
    for request, note in (
        (many, "2000 segments and 300 agents"),
        (profiled, "a profile of more than 8000 characters"),
        (huge, "5 MiB of port_id"),
    ):
        reply, exchange = s.kit.propose(request, note)
        s.made.append(exchange)
        fault = faults.tolerance_fault(reply, exchange)
        if fault:
            failures.append(Failure(f"{note}: {fault}", exchange))
    return failures + _still_answers(s)


def _still_answers(s: Session) -> list[Failure]:
    """Fails unless the driver still describes itself as before and answers a bindable offer."""
    described, exchange = s.kit.describe("afterwards")
    s.made.append(exchange)
    if described != s.description:
        return [Failure(f"afterwards, DescribeDriver answered {exchange.answer()}", exchange)]
    offer = s.build.bindable()[0]
    reply, exchange = s.propose(offer)
    if reply is None:
        return [Failure(f"afterwards, offer {offer.note!r}: {exchange.answer()}", exchange)]
    return []


def deterministic(s: Session) -> list[Failure]:
    """Every offer is answered the same way again, in another order, and in one batch."""
    offers = s.build.bindable() + s.build.declining()
    first = [s.propose(o)[0] for o in offers]
    later = [s.propose(o) for o in reversed(offers)][::-1]
    failures = []
    for offer, one, (two, exchange) in zip(offers, first, later, strict=True):
        if one != two:
            failures.append(
                Failure(
                    f"offer {offer.note!r}: answered {exchange.answer()} the second time, "
                    "not as the first time",
                    exchange,
                )
            )
    return failures + _batch_as_single(s, offers, first)


def _batch_as_single(
    s: Session, offers: list[requests.Offer], singles: list[pb.ProposeBindingResponse | None]
) -> list[Failure]:
    """Fails unless ProposeBindings answers every offer as ProposeBinding did (a driver that
    does not serve ProposeBindings, UNIMPLEMENTED, passes: mechmgr asks it one by one)."""
    reply, exchange = s.kit.propose_batch([o.request for o in offers], "every offer in one batch")
    s.made.append(exchange)
    if reply is None:
        if exchange.code == "UNIMPLEMENTED":
            return []
        return [Failure(f"ProposeBindings of every offer: {exchange.answer()}", exchange)]
    if len(reply.responses) != len(offers):
        return [
            Failure(
                f"ProposeBindings of {len(offers)} offers answered {len(reply.responses)}",
                exchange,
            )
        ]
    return [
        Failure(f"offer {offer.note!r} in a ProposeBindings batch: answered unlike alone", exchange)
        for offer, batched, single in zip(offers, reply.responses, singles, strict=True)
        if batched != single
    ][:1]


def concurrent_calls(s: Session) -> list[Failure]:
    """Rounds of every offer at once are answered as each alone."""
    offers = s.build.bindable() + s.build.declining()
    alone = [s.propose(o)[0] for o in offers]
    batch = [(o.request, f"{o.note}, among concurrent calls") for o in offers] * CONCURRENT_ROUNDS
    replies = s.kit.propose_many(batch)
    s.made.extend(e for _, e in replies)
    failures = []
    for i, (reply, exchange) in enumerate(replies):
        offer = offers[i % len(offers)]
        if reply is None or reply != alone[i % len(offers)]:
            failures.append(
                Failure(
                    f"offer {offer.note!r} among {len(batch)} concurrent calls: answered "
                    f"{exchange.answer()}, not as alone",
                    exchange,
                )
            )
    return failures


def health(s: Session) -> list[Failure]:
    """The standard health check says SERVING for the server and the driver service."""
    failures = []
    for service in ("", probe.SERVICE):
        status, exchange = s.kit.health(service)
        s.made.append(exchange)
        if status != probe.HEALTH_SERVING:
            what = f"service {service!r}" if service else "the server"
            failures.append(
                Failure(
                    f"grpc.health.v1 Check of {what}: {exchange.answer()}, not SERVING", exchange
                )
            )
    return failures


CHECKS: tuple[Check, ...] = (
    Check(
        "describes-consistently",
        "DescribeDriver is well-formed, stable, and matches what the driver binds",
        describes_consistently,
    ),
    Check(
        "answers-within-deadline",
        "every call is answered within the deadline",
        answers_within_deadline,
    ),
    Check(
        "binds-only-offered-segments",
        "completes and continues only on offered segments, with a vif_type it may choose",
        binds_only_offered_segments,
    ),
    Check(
        "declines-with-vocabulary",
        "declines what it cannot bind, with vocabulary codes and a message for each reason",
        declines_with_vocabulary,
    ),
    Check(
        "tolerates-unknown-fields",
        "ignores unknown fields and refuses unknown enum numbers without failing",
        tolerates_unknown_fields,
    ),
    Check(
        "tolerates-empty-request",
        "refuses an empty request with a status and a message, and keeps serving",
        tolerates_empty_request,
    ),
    Check(
        "tolerates-oversized-request",
        "answers or refuses oversized requests with a status and a message, and keeps serving",
        tolerates_oversized_request,
    ),
    Check(
        "deterministic",
        "answers the same request the same way every time, alone or in a ProposeBindings batch",
        deterministic,
    ),
    Check(
        "concurrent-calls",
        f"answers {CONCURRENT_ROUNDS} rounds of concurrent calls as it answers each alone",
        concurrent_calls,
    ),
    Check("health", "the standard health check answers SERVING", health),
)
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)


def run(
    address: str,
    *,
    deadline: float = DEFAULT_DEADLINE,
    host: str = DEFAULT_HOST,
    extra_codes: Iterable[str] = (),
    only: Iterable[str] = (),
    token: auth.TokenSource | None = None,
    tls_files: tls.TlsFiles | None = None,
) -> Report:
    """Runs the checks (all, or those in ``only``) against the driver at ``address`` and
    returns the report. ``extra_codes`` are the driver's own decline codes (UPPER_SNAKE_CASE),
    allowed besides the vocabulary's. ``token``, ``tls_files``: see ``probe.Probe``. Never
    raises for anything the driver does."""
    wanted = set(only) or set(CHECK_IDS)
    unknown = wanted - set(CHECK_IDS)
    if unknown:
        raise ValueError(f"unknown checks: {', '.join(sorted(unknown))}")
    extra = frozenset(extra_codes)
    bad = [c for c in extra if not faults.CODE.match(c)]
    if bad:
        raise ValueError(f"extra codes must be UPPER_SNAKE_CASE: {', '.join(sorted(bad))}")
    kit = probe.Probe(address, patience=max(10.0, 4 * deadline), token=token, tls_files=tls_files)
    try:
        description, described = kit.describe("the driver's description")
        results = []
        for check in CHECKS:
            if check.id not in wanted:
                continue
            if description is None:
                reason = f"DescribeDriver failed ({described.answer()}): nothing to build on"
                results.append(Result(check.id, check.description, False, reason, (described,)))
                continue
            session = Session(
                kit,
                deadline,
                description,
                requests.Requests(description, host),
                frozenset(vocabulary.DRIVER_REASON_CODES) | extra,
                [described],
            )
            results.append(_run_one(check, session))
        name = description.name if description is not None else ""
        return Report(address, name, deadline, tuple(results))
    finally:
        kit.close()


def _run_one(check: Check, session: Session) -> Result:
    try:
        failures = check.rule(session)
    except Exception as exc:  # a kit fault must not hide the other checks' results
        failures = [Failure(f"the check itself failed: {type(exc).__name__}: {exc}")]
    return result(check.id, check.description, failures, session.made)
