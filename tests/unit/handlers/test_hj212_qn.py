import datetime as dt

from handlers.hj212.server import QnSequence, new_qn

UTC = dt.timezone.utc


def test_qn_is_china_time_to_the_millisecond() -> None:
    assert new_qn(dt.datetime(2026, 7, 1, 0, 0, 0, 123456, tzinfo=UTC)) == "20260701080000123"


def test_commands_in_the_same_millisecond_get_different_qns() -> None:
    qns = QnSequence()
    at = dt.datetime(2026, 7, 1, 15, 59, 59, 999000, tzinfo=UTC)
    assert [qns.next(at) for _ in range(3)] == ["20260701235959999", "20260702000000000", "20260702000000001"]


def test_a_clock_that_steps_back_never_repeats_a_qn() -> None:
    qns = QnSequence()
    first = qns.next(dt.datetime(2026, 7, 1, 0, 0, 1, tzinfo=UTC))
    assert qns.next(dt.datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC)) > first
