import logging

from poller.metrics.budget import BudgetNotice

log = logging.getLogger("test.budget")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _notice(clock: Clock) -> BudgetNotice:
    return BudgetNotice(
        log, "budget %d exceeded: %d dropped", "budget fine again", repeat_every=600, clock=clock
    )


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_a_count_that_wobbles_between_scrapes_is_not_logged_again(caplog):
    clock = Clock()
    notice = _notice(clock)
    with caplog.at_level(logging.INFO, logger="test.budget"):
        for n, dropped in enumerate((100, 101, 99, 150)):
            clock.now = 15.0 * n
            notice.observe(dropped, 1000)
    assert _messages(caplog) == ["budget 1000 exceeded: 100 dropped"]


def test_a_lasting_overrun_is_recalled_with_its_current_count(caplog):
    clock = Clock()
    notice = _notice(clock)
    with caplog.at_level(logging.INFO, logger="test.budget"):
        notice.observe(100, 1000)
        clock.now = 600.0
        notice.observe(130, 1000)
    assert _messages(caplog) == ["budget 1000 exceeded: 100 dropped", "budget 1000 exceeded: 130 dropped"]


def test_the_end_of_an_overrun_is_logged_once(caplog):
    notice = _notice(Clock())
    with caplog.at_level(logging.INFO, logger="test.budget"):
        notice.observe(0, 1000)  # never exceeded: nothing to say
        notice.observe(5, 1000)
        notice.observe(0, 1000)
        notice.observe(0, 1000)
    assert _messages(caplog) == ["budget 1000 exceeded: 5 dropped", "budget fine again"]
