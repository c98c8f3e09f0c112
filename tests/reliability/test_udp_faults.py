"""The fault injector does what it says (pure decisions, seeded), so the fault tests prove something."""

from __future__ import annotations

import random

from tests.support.udp_faults import Faults, corrupt, plan_datagram

DATAGRAM = bytes(range(64))


def plans(faults: Faults, n: int = 2000, *, to_agent: bool = True, seed: int = 1) -> list[list]:
    rng = random.Random(seed)
    return [plan_datagram(DATAGRAM, faults, rng, to_agent=to_agent) for _ in range(n)]


def test_loss_drops_about_that_share_of_datagrams_and_passes_the_rest_untouched() -> None:
    out = plans(Faults(loss=0.3))
    lost = sum(1 for p in out if not p)
    assert 0.25 < lost / len(out) < 0.35
    assert all(p == [(0.0, DATAGRAM)] for p in out if p)


def test_a_black_hole_drops_everything() -> None:
    assert all(p == [] for p in plans(Faults(blackhole=True), 50))


def test_delay_and_jitter_hold_every_datagram_between_delay_and_delay_plus_jitter() -> None:
    delays = [d for p in plans(Faults(delay=2.0, jitter=0.5)) for d, _ in p]
    assert min(delays) >= 2.0 and max(delays) < 2.5 and len(set(delays)) > 100


def test_a_size_limit_drops_only_the_datagrams_above_it() -> None:
    rng = random.Random(1)
    assert plan_datagram(DATAGRAM, Faults(max_size=64), rng, to_agent=False) == [(0.0, DATAGRAM)]
    assert plan_datagram(DATAGRAM, Faults(max_size=63), rng, to_agent=False) == []


def test_duplication_sends_two_identical_copies() -> None:
    assert all(p == [(0.0, DATAGRAM), (0.0, DATAGRAM)] for p in plans(Faults(duplicate=1.0), 50))


def test_corruption_flips_only_within_the_span_and_always_changes_the_datagram() -> None:
    rng = random.Random(3)
    for _ in range(500):
        bad = corrupt(DATAGRAM, rng, count=1, span=20)
        diff = [i for i in range(len(DATAGRAM)) if bad[i] != DATAGRAM[i]]
        assert len(diff) == 1 and diff[0] < 20


def test_faults_for_one_direction_leave_the_other_alone() -> None:
    faults = Faults(blackhole=True, direction="reply")
    assert plans(faults, 10, to_agent=True) == [[(0.0, DATAGRAM)]] * 10
    assert plans(faults, 10, to_agent=False) == [[]] * 10


def test_the_same_seed_gives_the_same_faults() -> None:
    faults = Faults(loss=0.2, duplicate=0.2, corrupt=0.2, jitter=0.1)
    assert plans(faults, 300, seed=8) == plans(faults, 300, seed=8)
